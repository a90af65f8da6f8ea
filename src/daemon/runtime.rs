//! The daemon's containers: the table of [`Entry`]s and every verb, keyed by id.
//!
//! Both bus entry points (a Manager method with an id, a Container object method) call the
//! same function here, as machined's `redirect_method_to_machine` does. Verbs run the
//! synchronous library on the blocking pool, serialized per container by [`Entry::op`];
//! status changes go through [`Runtime::publish`], the one place that emits
//! PropertiesChanged, `StatusChanged` and `Exited`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
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
use super::monitor::{self, ExitRecord, MonitorReply, MonitorRequest, CLD_KILLED};
use super::path::{container_path, MANAGER_PATH};
use super::watch::ExitWatcher;
use crate::container::Container;
use crate::factory::{Factory, FactoryOptions};
use crate::process::{Process, Stdio};
use crate::systemd::connection::Systemd;
use crate::systemd::machined::{self, Registration};

/// How long a monitor may take to create a container (scope job included).
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

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
    systemd: Systemd,
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
    /// monitors with `exits`.
    pub fn new(
        options: DaemonOptions,
        systemd: Systemd,
        exits: ExitWatcher,
    ) -> crate::Result<Runtime> {
        let factory = Factory::new(
            &options.root,
            FactoryOptions {
                init_binary: Some(options.runtime_binary.clone()),
            },
        )?;
        Ok(Runtime {
            options,
            factory: Arc::new(factory),
            systemd,
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

    /// The options the daemon runs with.
    pub fn options(&self) -> &DaemonOptions {
        &self.options
    }

    /// The systemd client.
    pub fn systemd(&self) -> &Systemd {
        &self.systemd
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
        let result = self.create_claimed(id, &bundle, options).await;
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
    ) -> Result<OwnedObjectPath, BusError> {
        // Check the config here too, so a bad one fails fast and names the field.
        let check_bundle = bundle.to_path_buf();
        let inline = options.config.clone();
        blocking(move || {
            let config = monitor::load_config(&check_bundle, inline.as_deref())?;
            if !config.rootfs.is_dir() {
                return Err(crate::config::ConfigError::invalid(
                    "root.path",
                    format!("`{}` is not a directory", config.rootfs.display()),
                )
                .into());
            }
            crate::config::validate(&config)?;
            Ok(())
        })
        .await?;

        let request = MonitorRequest {
            bundle: bundle.to_path_buf(),
            config: options.config,
            journal: options.stdout.is_none() && options.stderr.is_none(),
            restore: options.restore,
        };
        let launch = Launch {
            binary: self.options.runtime_binary.clone(),
            root: self.options.root.clone(),
            id: id.to_owned(),
            request,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let (monitor_pid, reply, fds, control) = launch.run().await?;
        let init_pid = match reply {
            MonitorReply::Created { init_pid } => init_pid,
            MonitorReply::Failed { code, message } => {
                let code = crate::ErrorCode::ALL
                    .into_iter()
                    .find(|c| c.as_str() == code)
                    .unwrap_or(crate::ErrorCode::SystemError);
                return Err(BusError::new(super::error::name_for_code(code), message));
            }
        };
        let id_owned = id.to_owned();
        let factory = self.factory.clone();
        let container = blocking(move || factory.load(&id_owned)).await?;
        // The monitor joins the scope through our warm connection (it never connects to
        // systemd itself); the ack tells it so. Without the ack (we failed or died) it
        // attaches itself, so it never stays in our cgroup.
        match self
            .systemd
            .attach_processes(container.unit_name(), &[monitor_pid as u32])
            .await
        {
            Ok(()) => {
                let _ = (&control).write_all(monitor::ATTACHED_ACK);
            }
            Err(error) => {
                tracing::debug!(unit = %container.unit_name(), error = %super::error::chain(&error), "monitor not attached");
            }
        }
        drop(control);
        if options.register {
            self.register_machine(&container, init_pid).await?;
        }
        let journal = match <[OwnedFd; 2]>::try_from(fds) {
            Ok([out, err]) => Some((out, err)),
            Err(_) => None,
        };
        let entry = self
            .adopt(&container, Some(monitor_pid), journal, None)
            .await;
        tracing::info!(id, init_pid, "container created");
        Ok(container_path(&entry.id))
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
    /// starts watching its monitor. Used by create and by recovery.
    pub async fn adopt(
        self: &Arc<Self>,
        container: &Container,
        monitor_pid: Option<i32>,
        journal: Option<(OwnedFd, OwnedFd)>,
        exit: Option<ExitRecord>,
    ) -> Arc<Entry> {
        let status = container.status();
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
        });
        if let Err(error) = self.systemd.ref_unit(&entry.unit).await {
            tracing::debug!(unit = %entry.unit, error = %super::error::chain(&error), "unit not referenced");
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
        if let Some(pid) = monitor_pid.filter(|_| !stopped) {
            self.watch_monitor(entry.clone(), pid);
        }
        if let (Some(conn), false) = (self.conn.get(), stopped) {
            super::oom::watch(
                conn.clone(),
                entry.id.clone(),
                entry.unit.clone(),
                container.config().cgroups.slice.clone(),
            );
        }
        entry
    }

    /// Waits (without a thread) for the monitor to exit, then publishes the end of init.
    fn watch_monitor(self: &Arc<Self>, entry: Arc<Entry>, pid: i32) {
        let runtime = self.clone();
        tokio::spawn(async move {
            let _ = runtime.exits.exited(pid).await;
            runtime.monitor_gone(&entry).await;
        });
    }

    /// The monitor left: init is dead; its record says how (no record: SIGKILL took both).
    async fn monitor_gone(self: &Arc<Self>, entry: &Arc<Entry>) {
        let dir = self.factory.store().container_dir(&entry.id);
        let exit = monitor::read_exit(&dir).unwrap_or(ExitRecord {
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
    }

    /// Stores a new live view and emits what changed.
    pub async fn publish(&self, entry: &Arc<Entry>, live: Live) {
        let old = entry.replace_live(live.clone());
        if old == live {
            return;
        }
        let Some(conn) = self.conn.get() else { return };
        let path = container_path(&entry.id);
        let Ok(iface) = conn
            .object_server()
            .interface::<_, ContainerObject>(path)
            .await
        else {
            return;
        };
        let emitter = iface.signal_emitter();
        let object = iface.get().await;
        if old.status != live.status {
            let _ = object.status_changed(emitter).await;
            let _ = ContainerObject::status_changed_sig(emitter, &live.status).await;
        }
        if old.init_pid != live.init_pid {
            let _ = object.init_pid_changed(emitter).await;
        }
        if old.exit != live.exit {
            let _ = object.exit_code_changed(emitter).await;
            let _ = object.exit_status_changed(emitter).await;
            if let Some(exit) = live.exit {
                let _ = ContainerObject::exited(emitter, exit.code, exit.status).await;
            }
        }
    }

    /// Re-derives the status from the library and publishes it.
    async fn refresh(&self, entry: &Arc<Entry>) {
        let factory = self.factory.clone();
        let id = entry.id.clone();
        let Ok(container) = blocking(move || factory.load(&id)).await else {
            return;
        };
        let mut live = entry.live();
        let status = container.status();
        if status == crate::container::Status::Stopped || live.exit.is_some() {
            // The monitor watcher publishes the end, with the exit status; a refresh that
            // raced with it must not bring the container back to life.
            return;
        }
        live.status = status.as_str().to_owned();
        live.init_pid = container.state().init_pid as u32;
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
        let value = blocking(move || {
            let mut container = factory.load(&id)?;
            verb(&mut container)
        })
        .await?;
        self.refresh(&entry).await;
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
        let path = self.create(id, bundle, options).await?;
        if let Err(error) = self.start(id).await {
            let _ = self.destroy(id, DESTROY_FORCE).await;
            return Err(error);
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
        let _ = self.systemd.unref_unit(&entry.unit).await;
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
        tracing::info!(id, "container destroyed");
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
        let journal = entry.journal_copy();
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

/// One monitor start: spawn, send the request, read the reply (and journal fds).
struct Launch {
    binary: PathBuf,
    root: PathBuf,
    id: String,
    request: MonitorRequest,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl Launch {
    async fn run(self) -> Result<(i32, MonitorReply, Vec<OwnedFd>, UnixStream), BusError> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| BusError::failed("make monitor socket", &e))?;
        // The monitor runs from the daemon's one sealed copy of the binary: its init then
        // reuses that memfd (`/proc/self/exe` is sealed) instead of copying the binary on
        // every create, and a replaced binary on disk cannot reach a running container.
        let sealed = crate::process::sealed_init_binary(Some(&self.binary)).map_err(|e| {
            BusError::failed(&format!("seal monitor `{}`", self.binary.display()), &e)
        })?;
        let null = || std::process::Stdio::null();
        let mut command =
            tokio::process::Command::new(format!("/proc/self/fd/{}", sealed.as_raw_fd()));
        command
            .arg0("unitbox")
            .arg("monitor")
            .arg("--root")
            .arg(&self.root)
            .arg("--id")
            .arg(&self.id)
            .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
            .stdout(self.stdout.map_or_else(null, std::process::Stdio::from))
            .stderr(self.stderr.map_or_else(null, std::process::Stdio::from))
            .kill_on_drop(false);
        let mut child = command.spawn().map_err(|e| {
            BusError::failed(&format!("start monitor `{}`", self.binary.display()), &e)
        })?;
        drop(sealed);
        let pid = child.id().map_or(0, |p| p as i32);
        // Reap the monitor whenever it ends; exit detection uses its pidfd.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let request = self.request;
        tokio::task::spawn_blocking(move || exchange(ours, &request))
            .await
            .map_err(|e| BusError::failed("talk to monitor", &e))?
            .map(|(reply, fds, sock)| (pid, reply, fds, sock))
    }
}

/// Sends the request line and reads the reply line with its descriptors.
fn exchange(
    sock: UnixStream,
    request: &MonitorRequest,
) -> Result<(MonitorReply, Vec<OwnedFd>, UnixStream), BusError> {
    use std::os::fd::AsFd;
    let fail = |e: &dyn std::error::Error| BusError::failed("talk to monitor", e);
    let mut line = serde_json::to_vec(request).map_err(|e| fail(&e))?;
    line.push(b'\n');
    (&sock).write_all(&line).map_err(|e| fail(&e))?;
    sock.set_read_timeout(Some(CREATE_TIMEOUT))
        .map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut text = Vec::new();
    let mut fds = Vec::new();
    loop {
        let received =
            crate::sys::scm::recv_with_fds(sock.as_fd(), &mut buf).map_err(|e| fail(&e))?;
        fds.extend(received.fds);
        if received.len == 0 {
            break;
        }
        text.extend_from_slice(&buf[..received.len]);
        if text.ends_with(b"\n") {
            break;
        }
    }
    if text.is_empty() {
        return Err(BusError::new(
            ErrorKind::OperationFailed,
            "monitor exited without an answer",
        ));
    }
    let reply = serde_json::from_slice(&text).map_err(|e| fail(&e))?;
    Ok((reply, fds, sock))
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
    fn created_time_is_microseconds_since_the_epoch() {
        assert_eq!(created_usec("1970-01-01T00:00:01Z"), 1_000_000);
        assert_eq!(created_usec("2000-03-01T00:00:00Z"), 951_868_800_000_000);
        assert_eq!(created_usec("garbage"), 0);
    }
}
