//! The daemon's containers: the table of [`Entry`]s and every verb, keyed by id.
//!
//! Both bus entry points (a Manager method with an id, a Container object method) call the
//! same function here, as machined's `redirect_method_to_machine` does. Verbs run the
//! synchronous library on the blocking pool, serialized per container by [`Entry::op`];
//! status changes go through [`Runtime::publish`], the one place that emits
//! PropertiesChanged, `StatusChanged` and `Exited`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;
use zbus::object_server::SignalEmitter;
use zbus::OwnedObjectPath;

use super::container::ContainerObject;
use super::error::{BusError, ErrorKind};
use super::manager::Manager;
use super::monitor::{self, ExitRecord, CLD_KILLED};
use super::path::{container_path, MANAGER_PATH};
use super::pool::{IdleMonitor, MonitorPool};
use super::scopes::DaemonScopes;
use super::watch::ExitWatcher;
use super::wire::{self, FromMonitor, MonitorRequest, ToMonitor};
use crate::cgroupfs::ScopePaths;
use crate::config::Config;
use crate::container::Container;
use crate::factory::{Factory, FactoryOptions};
use crate::process::{Process, Stdio};
use crate::systemd::connection::Systemd;
use crate::systemd::machined::{self, Registration};
use crate::systemd::properties::{Property, Value};
use crate::systemd::unit_name::{self, slice_cgroup_path, UnitName};
use crate::systemd::{Scope, ScopeOptions};

/// The Container interface name (PropertiesChanged names it).
const CONTAINER_INTERFACE: &str = "io.unitbox.runtime1.Container";

/// Longest wait for a killed container's init to be gone before reporting it stopped.
const INIT_GONE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a monitor may take to create a container (scope job included).
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a monitor may take to connect journal streams.
const JOURNAL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the daemon was started with.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The state root (one folder per container).
    pub root: PathBuf,
    /// The `unitbox` binary: monitors and exec helpers run from it.
    pub runtime_binary: PathBuf,
}

/// The live view of one container, read by property getters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// `creating`, `created`, `running`, `pausing`, `paused`, `stopped`.
    pub status: String,
    /// Host pid of init; 0 once stopped.
    pub init_pid: u32,
    /// How init ended, once it has.
    pub exit: Option<ExitRecord>,
}

/// One container the daemon manages.
#[derive(Debug)]
pub struct Entry {
    /// Container id.
    pub id: String,
    /// Its scope.
    pub unit: String,
    /// Its bundle.
    pub bundle: String,
    /// Creation time, µs since the epoch.
    pub created_usec: u64,
    /// Serializes verbs on this container.
    pub op: tokio::sync::Mutex<()>,
    live: Mutex<Live>,
    /// The container's journal streams (stdout, stderr), for exec'd processes.
    journal: Mutex<Option<(OwnedFd, OwnedFd)>>,
    /// The watch of its OOM kills, ended with the entry.
    oom: Mutex<Option<super::oom::OomWatch>>,
}

impl Entry {
    /// A snapshot of the live view.
    pub fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace_live(&self, live: Live) -> Live {
        std::mem::replace(
            &mut *self.live.lock().unwrap_or_else(|p| p.into_inner()),
            live,
        )
    }

    fn journal_copy(&self) -> Option<(OwnedFd, OwnedFd)> {
        let guard = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (out, err) = guard.as_ref()?;
        Some((out.try_clone().ok()?, err.try_clone().ok()?))
    }
}

/// A monitor process to watch for its end.
#[derive(Debug)]
pub enum Watched {
    /// By pid (a monitor taken over after a restart, checked alive by its record).
    Pid(i32),
    /// By the pidfd opened when we started it (no pid-reuse window).
    Fd(OwnedFd),
}

/// Where an exec'd process's stdio goes.
#[derive(Debug, Default)]
pub struct ExecStdio {
    /// stdin (`None`: `/dev/null`).
    pub stdin: Option<OwnedFd>,
    /// stdout (`None`: the container's journal stream, else `/dev/null`).
    pub stdout: Option<OwnedFd>,
    /// stderr (as stdout).
    pub stderr: Option<OwnedFd>,
}

/// Every container, the library handles and the bus connection.
pub struct Runtime {
    options: DaemonOptions,
    factory: Arc<Factory>,
    systemd: Arc<Systemd>,
    scopes: DaemonScopes,
    pool: Arc<MonitorPool>,
    /// Scopes we created in this run (referenced when made: no second `RefUnit`).
    referenced: Mutex<HashSet<String>>,
    entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    conn: OnceLock<zbus::Connection>,
    exec_counter: AtomicU64,
    exits: ExitWatcher,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("options", &self.options)
            .finish()
    }
}

impl Runtime {
    /// A runtime over `options.root`, talking to systemd through `systemd`, watching
    /// monitors with `exits`. Must run inside the daemon's Tokio runtime, which then
    /// drives every scope operation (the library's included).
    pub fn new(
        options: DaemonOptions,
        systemd: Systemd,
        exits: ExitWatcher,
    ) -> crate::Result<Runtime> {
        let systemd = Arc::new(systemd);
        let scopes = DaemonScopes::new(systemd.clone(), tokio::runtime::Handle::current())?;
        let factory = Factory::new(
            &options.root,
            FactoryOptions {
                init_binary: Some(options.runtime_binary.clone()),
            },
        )?
        .with_manager_source(Arc::new(scopes.clone()));
        let pool = Arc::new(MonitorPool::new(
            options.runtime_binary.clone(),
            options.root.clone(),
        ));
        Ok(Runtime {
            options,
            factory: Arc::new(factory),
            systemd,
            scopes,
            pool,
            referenced: Mutex::new(HashSet::new()),
            entries: Mutex::new(BTreeMap::new()),
            conn: OnceLock::new(),
            exec_counter: AtomicU64::new(0),
            exits,
        })
    }

    /// Hands the bus connection over once it is built (signals go out through it).
    pub fn set_connection(&self, conn: zbus::Connection) {
        let _ = self.conn.set(conn);
    }

    /// Starts the idle monitors creates take (after recovery, off the create path).
    pub fn start_monitors(&self) {
        self.pool.refill();
    }

    /// The options the daemon runs with.
    pub fn options(&self) -> &DaemonOptions {
        &self.options
    }

    /// The systemd client.
    pub fn systemd(&self) -> &Systemd {
        &self.systemd
    }

    /// The host's cgroup layout.
    pub fn cgroup_mode(&self) -> crate::cgroupfs::CgroupMode {
        self.scopes.mode()
    }

    /// The library factory.
    pub fn factory(&self) -> &Arc<Factory> {
        &self.factory
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The container `id`, or `NoSuchContainer`.
    pub fn entry(&self, id: &str) -> Result<Arc<Entry>, BusError> {
        self.table()
            .get(id)
            .cloned()
            .ok_or_else(|| BusError::no_such_container(id))
    }

    /// Every container, sorted by id.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.table().values().cloned().collect()
    }

    /// The container whose scope holds `pid`.
    pub fn entry_by_pid(&self, pid: u32) -> Result<Arc<Entry>, BusError> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|_| BusError::new(ErrorKind::NoSuchContainer, format!("no process {pid}")))?;
        let units: Vec<&str> = text
            .lines()
            .flat_map(|line| line.rsplit(':').next().unwrap_or("").split('/'))
            .collect();
        self.entries()
            .into_iter()
            .find(|e| units.contains(&e.unit.as_str()))
            .ok_or_else(|| {
                BusError::new(
                    ErrorKind::NoSuchContainer,
                    format!("process {pid} belongs to no container"),
                )
            })
    }

    // ---- create -------------------------------------------------------------------

    /// Creates container `id` from `bundle` through a new monitor; replies once the scope
    /// job is done and init waits on the exec fifo.
    pub async fn create(
        self: &Arc<Self>,
        id: &str,
        bundle: &str,
        options: CreateOptions,
    ) -> Result<OwnedObjectPath, BusError> {
        self.create_then(id, bundle, options, false).await
    }

    /// [`Runtime::create`], the monitor also starting the container when `start`.
    async fn create_then(
        self: &Arc<Self>,
        id: &str,
        bundle: &str,
        options: CreateOptions,
        start: bool,
    ) -> Result<OwnedObjectPath, BusError> {
        crate::config::validate_id(id).map_err(|e| BusError::from(crate::Error::from(e)))?;
        let bundle = check_bundle(bundle)?;
        // Claim the id in the table first: a concurrent create of the same id fails here.
        let placeholder = Arc::new(Entry {
            id: id.to_owned(),
            unit: String::new(),
            bundle: bundle.display().to_string(),
            created_usec: 0,
            op: tokio::sync::Mutex::new(()),
            live: Mutex::new(Live {
                status: "creating".to_owned(),
                init_pid: 0,
                exit: None,
            }),
            journal: Mutex::new(None),
            oom: Mutex::new(None),
        });
        {
            let mut table = self.table();
            if table.contains_key(id) {
                return Err(BusError::new(
                    ErrorKind::ContainerExists,
                    format!("container `{id}` exists"),
                ));
            }
            table.insert(id.to_owned(), placeholder);
        }
        let result = self.create_claimed(id, &bundle, options, start).await;
        match result {
            Ok(path) => Ok(path),
            Err(error) => {
                self.table().remove(id);
                Err(error)
            }
        }
    }

    async fn create_claimed(
        self: &Arc<Self>,
        id: &str,
        bundle: &Path,
        options: CreateOptions,
        start: bool,
    ) -> Result<OwnedObjectPath, BusError> {
        let started = std::time::Instant::now();
        // The config is read and checked here, so a bad one fails fast and names the
        // field; the monitor gets it ready to use. Reading one small file and parsing it
        // costs less than the hop to the blocking pool and back.
        let config = checked_config(bundle, options.config.as_deref(), options.slice.clone(), id)?;
        let unit = unit_name::for_container(&config.cgroups.scope_prefix, &config.cgroups.name);
        let monitor = self.pool.take().await?;
        tracing::debug!(
            id,
            us = started.elapsed().as_micros(),
            "config checked, monitor taken"
        );
        // The monitor joins the scope with init (one StartTransientUnit, no attach call):
        // it never stays in our cgroup once it has a container.
        let mut extra_properties = options.scope_properties;
        extra_properties.push(Property::new("PIDs", Value::U32s(vec![monitor.pid as u32])));
        let scope = self.scopes.scope(
            &config.cgroups,
            unit.clone(),
            ScopeOptions {
                extra_properties,
                // The reference is taken once the scope runs (see `Conversation::talk`).
                no_bus_reference: true,
                ..ScopeOptions::default()
            },
        );
        if scope.cached_paths().is_none() {
            if let Some(paths) = predicted_paths(&self.scopes, &config, &unit) {
                scope.remember_paths(paths);
            }
        }
        let request = MonitorRequest {
            id: id.to_owned(),
            journal: options.stdout.is_none() && options.stderr.is_none(),
            stdout: options.stdout.is_some(),
            stderr: options.stderr.is_some(),
            start,
            restore: options.restore,
            config,
        };
        let stdio: Vec<OwnedFd> = options.stdout.into_iter().chain(options.stderr).collect();
        let monitor_pid = monitor.pid;
        let watched = match monitor.pidfd.as_ref().map(|fd| fd.try_clone()) {
            Some(Ok(pidfd)) => Watched::Fd(pidfd),
            _ => Watched::Pid(monitor_pid),
        };
        let conversation = Conversation {
            runtime: self.clone(),
            monitor,
            scope,
        };
        let (init_pid, fds, applied) =
            tokio::task::spawn_blocking(move || conversation.run(request, stdio))
                .await
                .map_err(|e| BusError::failed("talk to monitor", &e))??;
        tracing::debug!(
            id,
            us = started.elapsed().as_micros(),
            "monitor created the container"
        );
        if applied {
            self.referenced_lock().insert(unit.as_str().to_owned());
        }
        // One small state file, read without a hop (see the config above).
        let container = self.factory.load(id).map_err(BusError::from)?;
        if options.register {
            self.register_machine(&container, init_pid).await?;
        }
        let journal = match <[OwnedFd; 2]>::try_from(fds) {
            Ok([out, err]) => Some((out, err)),
            Err(_) => None,
        };
        let entry = self.adopt(&container, Some(watched), journal, None).await;
        // systemd logs the scope's start; ours would only double the journal's work.
        tracing::debug!(
            id,
            init_pid,
            us = started.elapsed().as_micros(),
            "container created"
        );
        Ok(container_path(&entry.id))
    }

    fn referenced_lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.referenced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the new container's init with machined; on failure the container is
    /// undone (create is all or nothing).
    async fn register_machine(&self, container: &Container, init_pid: i32) -> Result<(), BusError> {
        let registration = Registration {
            name: container.id().to_owned(),
            root_directory: container.config().rootfs.display().to_string(),
        };
        let Err(error) = machined::register(&self.systemd, &registration, init_pid).await else {
            return Ok(());
        };
        let factory = self.factory.clone();
        let id = container.id().to_owned();
        if let Err(undo) = blocking(move || factory.load(&id)?.force_destroy()).await {
            tracing::warn!(id = %container.id(), error = %undo.message, "undo unregistered container");
        }
        Err(BusError::from(crate::Error::from(error)))
    }

    /// Adds a loaded container to the table and the bus, takes a unit reference and
    /// starts watching its monitor (alive). Used by create and by recovery.
    ///
    /// While the monitor lives, init's end is the monitor's to report: a container whose
    /// init is already gone (a quick `RunContainer`) shows as `running` until the monitor
    /// watcher publishes `stopped` with the exit status and `Exited`.
    pub async fn adopt(
        self: &Arc<Self>,
        container: &Container,
        monitor: Option<Watched>,
        journal: Option<(OwnedFd, OwnedFd)>,
        exit: Option<ExitRecord>,
    ) -> Arc<Entry> {
        let mut status = container.status();
        if status == crate::container::Status::Stopped && monitor.is_some() {
            status = crate::container::Status::Running;
        }
        let stopped = status == crate::container::Status::Stopped;
        let entry = Arc::new(Entry {
            id: container.id().to_owned(),
            unit: container.unit_name().to_owned(),
            bundle: container.bundle().display().to_string(),
            created_usec: created_usec(&container.state().created),
            op: tokio::sync::Mutex::new(()),
            live: Mutex::new(Live {
                status: status.as_str().to_owned(),
                init_pid: if stopped {
                    0
                } else {
                    container.state().init_pid as u32
                },
                exit: if stopped { exit } else { None },
            }),
            journal: Mutex::new(journal),
            oom: Mutex::new(None),
        });
        // A scope we just made carries our reference already; one taken over from an
        // earlier run needs it again (`RefUnit`).
        let fresh = self.referenced_lock().remove(&entry.unit);
        if !fresh {
            if let Err(error) = self.systemd.ref_unit(&entry.unit).await {
                tracing::debug!(unit = %entry.unit, error = %super::error::chain(&error), "unit not referenced");
            }
        }
        self.table().insert(entry.id.clone(), entry.clone());
        if let Some(conn) = self.conn.get() {
            let path = container_path(&entry.id);
            let object = ContainerObject::new(entry.clone(), self.clone());
            if let Err(error) = conn.object_server().at(path.clone(), object).await {
                tracing::warn!(id = %entry.id, %error, "serve container object");
            }
            if let Ok(emitter) = SignalEmitter::new(conn, MANAGER_PATH) {
                let _ = Manager::container_new(&emitter, &entry.id, path.as_ref()).await;
            }
        }
        if let Some(monitor) = monitor {
            self.watch_monitor(entry.clone(), monitor);
        }
        if let (Some(conn), false) = (self.conn.get(), stopped) {
            if let Some(paths) = self.scope_paths(container).await {
                let watch = super::oom::watch(conn.clone(), entry.id.clone(), &paths);
                *entry.oom.lock().unwrap_or_else(|p| p.into_inner()) = watch;
            }
        }
        entry
    }

    /// The directories of `container`'s scope: remembered, or asked of systemd once.
    async fn scope_paths(&self, container: &Container) -> Option<ScopePaths> {
        if let Some(paths) = self.scopes.known_paths(container.unit_name()) {
            return Some(paths);
        }
        let unit = UnitName::parse(container.unit_name()).ok()?;
        let scope = self
            .scopes
            .scope(&container.config().cgroups, unit, ScopeOptions::default());
        match scope.paths(&self.systemd).await {
            Ok(paths) => {
                self.scopes.note(&scope);
                Some(paths)
            }
            Err(error) => {
                tracing::debug!(unit = %container.unit_name(), error = %super::error::chain(&error), "no scope directories");
                None
            }
        }
    }

    /// Waits (without a thread) for the monitor to exit, then publishes the end of init.
    fn watch_monitor(self: &Arc<Self>, entry: Arc<Entry>, monitor: Watched) {
        let runtime = self.clone();
        let exited = match monitor {
            Watched::Pid(pid) => self.exits.exited(pid),
            Watched::Fd(pidfd) => self.exits.exited_pidfd(pidfd),
        };
        tokio::spawn(async move {
            let _ = exited.await;
            runtime.monitor_gone(&entry).await;
        });
    }

    /// The monitor left: init is dead; its record says how (no record: SIGKILL took both).
    async fn monitor_gone(self: &Arc<Self>, entry: &Arc<Entry>) {
        let dir = self.factory.store().container_dir(&entry.id);
        let recorded = monitor::read_exit(&dir);
        if recorded.is_none() {
            // Killed with init (`systemctl kill -s KILL` on the scope): init, PID 1 of its
            // namespace, may still be taking the namespace down. `stopped` waits until it
            // is gone, so that a destroy right after it finds nothing running (bounded: a
            // pid reused in between must not hold the report back).
            let init_pid = entry.live().init_pid;
            if init_pid > 0 {
                let gone = self.exits.exited(init_pid as i32);
                let _ = tokio::time::timeout(INIT_GONE_TIMEOUT, gone).await;
            }
        }
        let exit = recorded.unwrap_or(ExitRecord {
            code: CLD_KILLED,
            status: Signal::SIGKILL as i32,
        });
        self.publish(
            entry,
            Live {
                status: "stopped".to_owned(),
                init_pid: 0,
                exit: Some(exit),
            },
        )
        .await;
        monitor::mark_exit_reported(&dir);
    }

    /// Emits, once, the end of containers that stopped while no daemon ran: `Exited`,
    /// `StatusChanged` and PropertiesChanged, as if we had seen it happen. Called after
    /// the bus name is ours, so subscribers that match on it get them.
    pub async fn announce_exits(&self, entries: &[(Arc<Entry>, u32)]) {
        for (entry, init_pid) in entries {
            let live = entry.live();
            let before = Live {
                status: "running".to_owned(),
                init_pid: *init_pid,
                exit: None,
            };
            self.emit(entry, &before, &live).await;
            monitor::mark_exit_reported(&self.factory.store().container_dir(&entry.id));
        }
    }

    /// Stores a new live view and emits what changed.
    pub async fn publish(&self, entry: &Arc<Entry>, live: Live) {
        let old = entry.replace_live(live.clone());
        if old == live {
            return;
        }
        self.emit(entry, &old, &live).await;
    }

    /// Emits the signals of the change from `old` to `live`.
    async fn emit(&self, entry: &Arc<Entry>, old: &Live, live: &Live) {
        let Some(conn) = self.conn.get() else { return };
        let Ok(emitter) = SignalEmitter::new(conn, container_path(&entry.id)) else {
            return;
        };
        // One PropertiesChanged for everything that changed (zbus's per-property helpers
        // would send one message each), then the dedicated signals.
        let mut changed: HashMap<&str, zbus::Variant<'_>> = HashMap::new();
        if old.status != live.status {
            changed.insert("Status", live.status.as_str().into());
        }
        if old.init_pid != live.init_pid {
            changed.insert("InitPid", live.init_pid.into());
        }
        if old.exit != live.exit {
            changed.insert("ExitCode", live.exit.map_or(0, |e| e.code).into());
            changed.insert("ExitStatus", live.exit.map_or(0, |e| e.status).into());
        }
        if changed.is_empty() {
            return;
        }
        if let Ok(iface) = zbus::names::InterfaceName::try_from(CONTAINER_INTERFACE) {
            let _ = zbus::fdo::Properties::properties_changed(
                &emitter,
                iface,
                changed,
                std::borrow::Cow::Borrowed(&[]),
            )
            .await;
        }
        if old.status != live.status {
            let _ = ContainerObject::status_changed_sig(&emitter, &live.status).await;
        }
        if let (true, Some(exit)) = (old.exit != live.exit, live.exit) {
            let _ = ContainerObject::exited(&emitter, exit.code, exit.status).await;
        }
    }

    /// Publishes the status the library derived after a verb.
    async fn refresh(&self, entry: &Arc<Entry>, status: crate::container::Status, init_pid: i32) {
        let mut live = entry.live();
        if status == crate::container::Status::Stopped || live.exit.is_some() {
            // The monitor watcher publishes the end, with the exit status; a refresh that
            // raced with it must not bring the container back to life.
            return;
        }
        live.status = status.as_str().to_owned();
        live.init_pid = u32::try_from(init_pid).unwrap_or(0);
        self.publish(entry, live).await;
    }

    /// Runs `verb` on the loaded library container, serialized with other verbs.
    pub(super) async fn with_container<T: Send + 'static>(
        &self,
        id: &str,
        verb: impl FnOnce(&mut Container) -> crate::Result<T> + Send + 'static,
    ) -> Result<(Arc<Entry>, T), BusError> {
        let entry = self.entry(id)?;
        let op = entry.op.lock().await;
        if entry.live().status == "creating" {
            return Err(BusError::new(
                ErrorKind::InvalidState,
                format!("container `{id}` is being created"),
            ));
        }
        let factory = self.factory.clone();
        let id = id.to_owned();
        let (value, status, init_pid) = blocking(move || {
            let mut container = factory.load(&id)?;
            let value = verb(&mut container)?;
            // The status after the verb, from the same handle (no second load).
            let status = container.refresh_status();
            Ok((value, status, container.state().init_pid))
        })
        .await?;
        self.refresh(&entry, status, init_pid).await;
        drop(op);
        Ok((entry, value))
    }

    // ---- verbs ----------------------------------------------------------------------

    /// OCI start: releases init.
    pub async fn start(&self, id: &str) -> Result<(), BusError> {
        self.with_container(id, |c| c.start()).await.map(drop)
    }

    /// Create, then start.
    pub async fn run(
        self: &Arc<Self>,
        id: &str,
        bundle: &str,
        options: CreateOptions,
    ) -> Result<OwnedObjectPath, BusError> {
        let path = self.create_then(id, bundle, options, true).await?;
        // The monitor started it; if it could not, the start here reports why.
        if self.entry(id)?.live().status == "created" {
            if let Err(error) = self.start(id).await {
                let _ = self.destroy(id, DESTROY_FORCE).await;
                return Err(error);
            }
        }
        Ok(path)
    }

    /// Sends `signal` to init (`who` = `init`) or every process (`all`).
    pub async fn kill(&self, id: &str, who: &str, signal: i32) -> Result<(), BusError> {
        let all = match who {
            "init" | "" => false,
            "all" => true,
            other => {
                return Err(BusError::invalid_args(
                    "who",
                    format!("`{other}` is neither `init` nor `all`"),
                ))
            }
        };
        let signal = Signal::try_from(signal)
            .map_err(|_| BusError::invalid_args("signal", format!("{signal} is no signal")))?;
        self.with_container(id, move |c| c.signal(signal, all))
            .await
            .map(drop)
    }

    /// Freezes the container.
    pub async fn pause(&self, id: &str) -> Result<(), BusError> {
        self.with_container(id, |c| c.pause()).await.map(drop)
    }

    /// Thaws the container.
    pub async fn resume(&self, id: &str) -> Result<(), BusError> {
        self.with_container(id, |c| c.resume()).await.map(drop)
    }

    /// Applies OCI `linux.resources` JSON to the scope.
    pub async fn update(&self, id: &str, resources_json: &str) -> Result<(), BusError> {
        let resources = parse_resources(resources_json)?;
        self.with_container(id, move |c| c.set(resources))
            .await
            .map(drop)
    }

    /// Destroys the container (`flags` bit 0: whatever its status).
    pub async fn destroy(&self, id: &str, flags: u64) -> Result<(), BusError> {
        if flags & !DESTROY_FORCE != 0 {
            return Err(BusError::invalid_args(
                "flags",
                "only bit 0 (force) is defined",
            ));
        }
        let entry = self.entry(id)?;
        let op = entry.op.lock().await;
        if entry.live().status == "creating" {
            return Err(BusError::new(
                ErrorKind::InvalidState,
                format!("container `{id}` is being created"),
            ));
        }
        let factory = self.factory.clone();
        let id_owned = id.to_owned();
        let force = flags & DESTROY_FORCE != 0;
        blocking(move || {
            let container = factory.load(&id_owned)?;
            if force {
                container.force_destroy()
            } else {
                container.destroy()
            }
        })
        .await?;
        self.table().remove(id);
        drop(op);
        if let Some(conn) = self.conn.get() {
            let path = container_path(id);
            let _ = conn
                .object_server()
                .remove::<ContainerObject, _>(path.clone())
                .await;
            if let Ok(emitter) = SignalEmitter::new(conn, MANAGER_PATH) {
                let _ = Manager::container_removed(&emitter, id, path.as_ref()).await;
            }
        }
        tracing::debug!(id, "container destroyed");
        Ok(())
    }

    /// The OCI state JSON.
    pub async fn state_json(&self, id: &str) -> Result<String, BusError> {
        let entry = self.entry(id)?;
        let factory = self.factory.clone();
        let id = id.to_owned();
        let state = blocking(move || Ok(factory.load(&id)?.oci_state())).await?;
        let mut value =
            serde_json::to_value(&state).map_err(|e| BusError::failed("serialize state", &e))?;
        if let (Some(exit), Some(map)) = (entry.live().exit, value.as_object_mut()) {
            map.insert("exitCode".to_owned(), exit.code.into());
            map.insert("exitStatus".to_owned(), exit.status.into());
        }
        Ok(value.to_string())
    }

    /// Resource usage: systemd-named counters plus the whole libcontainer stats as JSON.
    pub async fn stats(&self, id: &str) -> Result<crate::cgroups::Stats, BusError> {
        self.entry(id)?;
        let factory = self.factory.clone();
        let id = id.to_owned();
        blocking(move || factory.load(&id)?.stats()).await
    }

    /// (cgroup, pid, command line) of every process in the scope.
    pub async fn processes(&self, id: &str) -> Result<Vec<(String, u32, String)>, BusError> {
        let entry = self.entry(id)?;
        self.systemd
            .unit_processes(&entry.unit)
            .await
            .map_err(|e| BusError::from(crate::Error::from(e)))
    }

    /// Starts `argv` in the container; returns its pid and an exec id.
    pub async fn exec(
        self: &Arc<Self>,
        id: &str,
        request: ExecRequest,
        stdio: ExecStdio,
    ) -> Result<(u32, String, Option<OwnedFd>), BusError> {
        if request.argv.is_empty() {
            return Err(BusError::invalid_args("argv", "must name a program"));
        }
        let entry = self.entry(id)?;
        let mut process = Process::new(request.argv);
        process.env = request.env;
        process.cwd = PathBuf::from(if request.cwd.is_empty() {
            "/"
        } else {
            &request.cwd
        });
        process.user = request.user;
        process.terminal = request.tty;
        let journal = match entry.journal_copy() {
            None if !request.tty && (stdio.stdout.is_none() || stdio.stderr.is_none()) => {
                self.open_journal(&entry).await
            }
            journal => journal,
        };
        process.stdin = stdio.stdin.map_or(Stdio::Null, Stdio::Fd);
        let (journal_out, journal_err) = match journal {
            Some((out, err)) => (Some(out), Some(err)),
            None => (None, None),
        };
        process.stdout = stdio.stdout.or(journal_out).map_or(Stdio::Null, Stdio::Fd);
        process.stderr = stdio.stderr.or(journal_err).map_or(Stdio::Null, Stdio::Fd);
        if request.tty {
            process.stdin = Stdio::Null;
            process.stdout = Stdio::Null;
            process.stderr = Stdio::Null;
        }
        let (_, mut process) = self
            .with_container(id, move |c| {
                c.exec(&mut process)?;
                Ok(process)
            })
            .await?;
        let pid = process.pid().unwrap_or(0) as u32;
        let console = process.take_console();
        let exec_id = format!(
            "{}-exec-{}",
            id,
            self.exec_counter.fetch_add(1, Ordering::Relaxed) + 1
        );
        self.reap_exec(entry, exec_id.clone(), process);
        Ok((pid, exec_id, console))
    }

    /// Journal streams for the container's scope, kept for later execs: a container
    /// created with output files, or taken over after a restart, has none yet. An idle
    /// monitor moved into the scope connects them (journald takes the unit from the
    /// connecting process's cgroup, then from the stream header once it is gone), hands
    /// them over and leaves. `None` (output to `/dev/null`) if that fails.
    async fn open_journal(&self, entry: &Arc<Entry>) -> Option<(OwnedFd, OwnedFd)> {
        let monitor = self.pool.take().await.ok()?;
        if let Err(error) = self
            .systemd
            .attach_processes(&entry.unit, &[monitor.pid as u32])
            .await
        {
            // Dropping the socket ends the monitor, still in our cgroup and idle.
            tracing::debug!(unit = %entry.unit, error = %super::error::chain(&error), "no journal helper");
            return None;
        }
        let request = ToMonitor::OpenJournal {
            id: entry.id.clone(),
            unit: entry.unit.clone(),
        };
        let received = tokio::task::spawn_blocking(move || {
            monitor
                .control
                .set_read_timeout(Some(JOURNAL_TIMEOUT))
                .ok()?;
            wire::send(&monitor.control, &request, &[]).ok()?;
            match wire::recv::<FromMonitor>(&monitor.control).ok()? {
                (FromMonitor::Journal, fds) => <[OwnedFd; 2]>::try_from(fds).ok(),
                _ => None,
            }
        })
        .await
        .ok()
        .flatten();
        let [out, err] = received?;
        let copies = (out.try_clone().ok()?, err.try_clone().ok()?);
        *entry.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some((out, err));
        Some(copies)
    }

    /// Reaps an exec'd process (it is our child) and signals its end.
    fn reap_exec(self: &Arc<Self>, entry: Arc<Entry>, exec_id: String, process: Process) {
        let runtime = self.clone();
        tokio::spawn(async move {
            let pid = process.pid().unwrap_or(0) as u32;
            let Ok(Ok(status)) = tokio::task::spawn_blocking(move || process.wait()).await else {
                return;
            };
            let record = ExitRecord::from(status);
            let Some(conn) = runtime.conn.get() else {
                return;
            };
            if let Ok(emitter) = SignalEmitter::new(conn, container_path(&entry.id)) {
                let _ = ContainerObject::exec_exited(
                    &emitter,
                    &exec_id,
                    pid,
                    record.code,
                    record.status,
                )
                .await;
            }
        });
    }
}

/// `Destroy` flag: destroy whatever the status (runc `delete --force`).
pub const DESTROY_FORCE: u64 = 1;

/// Options of CreateContainer/RunContainer.
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Inline config.json.
    pub config: Option<String>,
    /// stdout of init (`None` with stderr `None`: the journal).
    pub stdout: Option<OwnedFd>,
    /// stderr of init.
    pub stderr: Option<OwnedFd>,
    /// Register init as a machine with systemd-machined (`RegisterMachine`).
    pub register: bool,
    /// The scope's slice instead of the config's (`Slice`).
    pub slice: Option<String>,
    /// Further scope properties, checked (`ScopeProperties`).
    pub scope_properties: Vec<Property>,
    /// Restore from this checkpoint instead of creating (`RestoreContainer`).
    pub restore: Option<crate::checkpoint::CriuOpts>,
}

/// What to exec.
#[derive(Debug, Default)]
pub struct ExecRequest {
    /// argv.
    pub argv: Vec<String>,
    /// Environment `KEY=value`.
    pub env: Vec<String>,
    /// Working directory (empty: `/`).
    pub cwd: String,
    /// User (empty: root).
    pub user: String,
    /// Allocate a terminal and return its master.
    pub tty: bool,
}

/// A bundle path: absolute, no `..`, an existing folder.
pub fn check_bundle(bundle: &str) -> Result<PathBuf, BusError> {
    let path = Path::new(bundle);
    let invalid = |rule: &str| {
        BusError::new(
            ErrorKind::InvalidConfig,
            format!("bundle `{bundle}`: {rule}"),
        )
    };
    if !path.is_absolute() {
        return Err(invalid("must be an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(invalid("must not contain `..`"));
    }
    if !path.is_dir() {
        return Err(invalid("is not a directory"));
    }
    Ok(path.to_path_buf())
}

/// OCI `linux.resources` JSON → the library's `Resources` (through the spec converter).
pub fn parse_resources(json: &str) -> Result<crate::config::Resources, BusError> {
    let invalid =
        |what: String| BusError::new(ErrorKind::InvalidConfig, format!("resources: {what}"));
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid("must be a JSON object".to_owned()));
    }
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "/"},
        "linux": {"resources": value},
    });
    let spec: oci_spec::runtime::Spec =
        serde_json::from_value(spec).map_err(|e| invalid(e.to_string()))?;
    let config = crate::config::from_spec(&spec, Path::new("/"))
        .map_err(|e| invalid(super::error::chain(&e)))?;
    Ok(config.cgroups.resources)
}

/// RFC 3339 → µs since the epoch (0 if unreadable).
fn created_usec(rfc3339: &str) -> u64 {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return 0;
    };
    let parts: Vec<i64> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    let time: String = rest
        .chars()
        .take_while(|c| *c != 'Z' && *c != '+')
        .collect();
    let hms: Vec<f64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
    let (Ok([y, m, d]), Ok([h, min, s])) = (<[i64; 3]>::try_from(parts), <[f64; 3]>::try_from(hms))
    else {
        return 0;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days as f64 * 86400.0 + h * 3600.0 + min * 60.0 + s;
    (secs * 1e6).max(0.0) as u64
}

/// Runs library code on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, BusError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(BusError::from),
        Err(join) => Err(BusError::failed("run library call", &join)),
    }
}

/// The config of a create: read, with the `Slice` option and the id as the scope name
/// applied, checked.
fn checked_config(
    bundle: &Path,
    inline: Option<&str>,
    slice: Option<String>,
    id: &str,
) -> crate::Result<Config> {
    let mut config = monitor::load_config(bundle, inline)?;
    if !config.rootfs.is_dir() {
        return Err(crate::config::ConfigError::invalid(
            "root.path",
            format!("`{}` is not a directory", config.rootfs.display()),
        )
        .into());
    }
    if let Some(slice) = slice {
        config.cgroups.slice = slice;
    }
    if config.cgroups.name.is_empty() {
        config.cgroups.name = id.to_owned();
    }
    crate::config::validate(&config)?;
    Ok(config)
}

/// Where systemd will put the new scope: `<slice path>/<unit>`, when no component needs
/// systemd's `cg_escape`; `None` means ask systemd after the start.
fn predicted_paths(scopes: &DaemonScopes, config: &Config, unit: &UnitName) -> Option<ScopePaths> {
    let cgroup = format!(
        "{}/{}",
        slice_cgroup_path(&config.cgroups.slice),
        unit.as_str()
    );
    cgroup
        .split('/')
        .filter(|c| !c.is_empty())
        .all(needs_no_escape)
        .then(|| ScopePaths::new(scopes.mode(), &cgroup))
}

/// Whether systemd's `cg_escape` (cgroup-util.c) leaves a cgroup name as it is: it
/// prefixes `_` to names starting with `_` or `.`, kernel file names, and names whose part
/// before the last dot is a controller's.
fn needs_no_escape(name: &str) -> bool {
    const CONTROLLERS: &[&str] = &[
        "cpu",
        "cpuacct",
        "cpuset",
        "io",
        "blkio",
        "memory",
        "devices",
        "pids",
        "bpf-firewall",
        "bpf-devices",
        "bpf-foreign",
        "bpf-socket-bind",
        "bpf-restrict-network-interfaces",
    ];
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    !name.is_empty()
        && !name.starts_with(['_', '.'])
        && !name.starts_with("cgroup.")
        && !["notify_on_release", "release_agent", "tasks"].contains(&name)
        && !CONTROLLERS.contains(&stem)
}

/// One create through an idle monitor: send the request, make the scope when it asks,
/// undo it if the create fails, return init's pid and the journal streams.
struct Conversation {
    runtime: Arc<Runtime>,
    monitor: IdleMonitor,
    scope: Scope,
}

impl Conversation {
    /// Runs on the blocking pool; scope calls go to the daemon's runtime.
    fn run(
        self,
        request: MonitorRequest,
        stdio: Vec<OwnedFd>,
    ) -> Result<(i32, Vec<OwnedFd>, bool), BusError> {
        let mut applied = false;
        let result = self.talk(request, stdio, &mut applied);
        if result.is_err() && applied {
            // The monitor told us why (or died); now the scope, init and the monitor go.
            let handle = tokio::runtime::Handle::current();
            if let Err(error) =
                handle.block_on(super::scopes::destroy(&self.scope, &self.runtime.systemd))
            {
                tracing::warn!(unit = %self.scope.unit(), error = %super::error::chain(&error), "undo scope of failed create");
            }
            self.runtime.scopes.forget(self.scope.unit().as_str());
        }
        result.map(|(init_pid, fds)| (init_pid, fds, applied))
    }

    fn talk(
        &self,
        request: MonitorRequest,
        stdio: Vec<OwnedFd>,
        applied: &mut bool,
    ) -> Result<(i32, Vec<OwnedFd>), BusError> {
        let control = &self.monitor.control;
        let fail = |e: &dyn std::error::Error| BusError::failed("talk to monitor", e);
        control
            .set_read_timeout(Some(CREATE_TIMEOUT))
            .map_err(|e| fail(&e))?;
        let fds: Vec<_> = stdio.iter().map(|fd| fd.as_fd()).collect();
        wire::send(control, &ToMonitor::Create(Box::new(request)), &fds).map_err(|e| fail(&e))?;
        drop(stdio);
        let handle = tokio::runtime::Handle::current();
        let sd = &*self.runtime.systemd;
        // Why the scope could not be made: reported instead of the monitor's echo of it.
        let mut refusal = None;
        loop {
            let (message, fds) = match wire::recv::<FromMonitor>(control) {
                Ok(received) => received,
                Err(error) => {
                    return Err(refusal.unwrap_or_else(|| {
                        BusError::new(
                            ErrorKind::OperationFailed,
                            format!(
                                "monitor exited without an answer: {}",
                                super::error::chain(&error)
                            ),
                        )
                    }))
                }
            };
            let answer = match message {
                FromMonitor::Apply { pid } => {
                    tracing::debug!(unit = %self.scope.unit(), "monitor asks for the scope");
                    let made = handle.block_on(async {
                        self.scope.apply(sd, pid).await?;
                        // Our reference, taken after the start job rather than with
                        // `AddRef`: a unit with a bus reference has systemd broadcast
                        // every change of it, and the start makes most of them. The
                        // scope holds the monitor, which waits for our answer, so it
                        // cannot have ended and been collected in between.
                        if let Err(error) = sd.ref_unit(self.scope.unit().as_str()).await {
                            tracing::warn!(unit = %self.scope.unit(), error = %super::error::chain(&error), "scope not referenced");
                        }
                        self.scope.cgroup_paths(sd).await
                    });
                    self.runtime.scopes.note(&self.scope);
                    tracing::debug!(unit = %self.scope.unit(), ok = made.is_ok(), "scope made");
                    match made {
                        Ok(paths) => {
                            *applied = true;
                            ToMonitor::Applied { paths }
                        }
                        Err(error) => {
                            let message = super::error::chain(&error);
                            refusal = Some(BusError::from(error));
                            ToMonitor::ApplyFailed { message }
                        }
                    }
                }
                // Undone once the monitor has said why it failed: the scope holds the
                // monitor too, and removing it now would kill the messenger.
                FromMonitor::Destroy => ToMonitor::Destroyed,
                FromMonitor::Created { init_pid } => {
                    self.settle_monitor(*applied);
                    return Ok((init_pid, fds));
                }
                FromMonitor::Failed { code, message } => {
                    let code = crate::ErrorCode::ALL
                        .into_iter()
                        .find(|c| c.as_str() == code)
                        .unwrap_or(crate::ErrorCode::SystemError);
                    return Err(refusal.unwrap_or_else(|| {
                        BusError::new(super::error::name_for_code(code), message)
                    }));
                }
                FromMonitor::Journal => {
                    return Err(BusError::new(
                        ErrorKind::OperationFailed,
                        "monitor answered out of turn",
                    ))
                }
            };
            wire::send(control, &answer, &[]).map_err(|e| fail(&e))?;
        }
    }

    /// Makes sure the monitor has left our cgroup for the container's scope and tells it
    /// so (without the word it would connect to systemd and move itself). When the scope
    /// was made here, the monitor's pid was in its `PIDs` already; otherwise the monitor's
    /// library made the scope itself and we attach the monitor on our warm connection.
    fn settle_monitor(&self, applied: bool) {
        if !applied {
            let handle = tokio::runtime::Handle::current();
            let unit = self.scope.unit().as_str();
            let pid = self.monitor.pid as u32;
            if let Err(error) = handle.block_on(self.runtime.systemd.attach_processes(unit, &[pid]))
            {
                tracing::warn!(%unit, error = %super::error::chain(&error), "monitor left in the daemon's cgroup");
                return;
            }
        }
        // Best effort: a monitor that misses it moves itself.
        let _ = wire::send(&self.monitor.control, &ToMonitor::Attached, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_must_be_absolute_existing_and_without_dotdot() {
        for (bundle, rule) in [
            ("relative/dir", "absolute"),
            ("/tmp/../etc", "`..`"),
            ("/nonexistent/bundle/x", "not a directory"),
        ] {
            let error = check_bundle(bundle).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidConfig);
            assert!(error.message.contains(rule), "{bundle}: {}", error.message);
        }
        assert!(check_bundle("/tmp").is_ok());
    }

    #[test]
    fn resources_json_is_checked() {
        assert_eq!(
            parse_resources("{").unwrap_err().kind,
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            parse_resources("[]").unwrap_err().kind,
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            parse_resources(r#"{"pids": {"limit": "x"}}"#)
                .unwrap_err()
                .kind,
            ErrorKind::InvalidConfig
        );
        let r = parse_resources(r#"{"pids": {"limit": 50}}"#).unwrap();
        assert_eq!(r.pids_limit, Some(50));
    }

    #[test]
    fn cgroup_names_that_systemd_would_escape_are_not_predicted() {
        for (name, plain) in [
            ("unitbox-web.scope", true),
            ("machine.slice", true),
            ("cpu.scope", false),
            ("bpf-firewall.scope", false),
            ("_x.scope", false),
            ("cgroup.procs", false),
            ("tasks", false),
        ] {
            assert_eq!(needs_no_escape(name), plain, "{name}");
        }
    }

    #[test]
    fn created_time_is_microseconds_since_the_epoch() {
        assert_eq!(created_usec("1970-01-01T00:00:01Z"), 1_000_000);
        assert_eq!(created_usec("2000-03-01T00:00:00Z"), 951_868_800_000_000);
        assert_eq!(created_usec("garbage"), 0);
    }
}
