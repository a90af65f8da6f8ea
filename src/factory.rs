//! The factory: makes containers in a state root and loads them back.
//!
//! Owns the create sequence and its all-or-nothing promise: validate the id and the
//! config, claim the id's folder, start the scope and init, save the state. When any step
//! fails, everything the earlier steps made (init, the scope, the folder) is undone before
//! the error returns. Mirrors runc's `libcontainer/factory_linux.go` (`Create`, `Load`)
//! and the create half of `container_linux.go`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::cgroupfs::CgroupMode;
use crate::cgroups::CgroupManager;
use crate::config::id::validate_id;
use crate::config::validate::{validate, ConfigError};
use crate::config::{Cgroup, Config, NamespaceType};
use crate::container::{Container, Status};
use crate::hooks::{run_hooks, HookKind, OciState, OCI_VERSION};
use crate::process::{start_init, HookPoint, InitRequest, Process, Spawned};
use crate::store::{now_rfc3339, State, Store};
use crate::systemd::connection::{Bus, SystemdConnection};
use crate::systemd::unit_name::{self, UnitName};
use crate::systemd::{ScopeManager, ScopeOptions};

/// How a [`Factory`] starts containers.
#[derive(Debug, Clone, Default)]
pub struct FactoryOptions {
    /// The binary init runs from (sealed before use); `None`: our own executable. Tests and
    /// embedders whose executable is not `unitbox` point this at the `unitbox` binary.
    pub init_binary: Option<PathBuf>,
}

/// A source of cgroup managers: the seam through which a [`Factory`]'s caller decides how
/// scopes are made and driven.
pub trait ManagerSource: Send + Sync + std::fmt::Debug {
    /// The manager of the scope `unit` holding the container of `cgroup`; nothing is
    /// created until `apply`.
    fn manager(&self, cgroup: &Cgroup, unit: UnitName) -> crate::Result<Box<dyn CgroupManager>>;
}

/// Makes and loads containers under one state root.
///
/// Holds one systemd connection, opened on first use and shared by every container it
/// makes or loads (ARCHITECTURE.md: one D-Bus connection per process).
pub struct Factory {
    store: Store,
    options: FactoryOptions,
    systemd: OnceLock<Arc<SystemdConnection>>,
    managers: Option<Arc<dyn ManagerSource>>,
}

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factory")
            .field("root", &self.store.root())
            .field("options", &self.options)
            .finish()
    }
}

impl Factory {
    /// A factory over the state root `root` (created, mode 0700, if missing).
    pub fn new(root: impl Into<PathBuf>, options: FactoryOptions) -> crate::Result<Factory> {
        Ok(Factory {
            store: Store::open(root)?,
            options,
            systemd: OnceLock::new(),
            managers: None,
        })
    }

    /// The same factory taking its cgroup managers from `source` instead of making a
    /// `ScopeManager` on its own systemd connection (which it then never opens). unitboxd
    /// uses this so scopes are made through its one warm connection and its monitors
    /// never connect to systemd.
    pub fn with_manager_source(mut self, source: Arc<dyn ManagerSource>) -> Factory {
        self.managers = Some(source);
        self
    }

    /// The state store (for the lock the CLI and the daemon take around a verb).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates container `id` running the config's `process`, with inherited stdio; see
    /// [`Factory::create_with_process`].
    pub fn create(&self, id: &str, config: Config) -> crate::Result<Container> {
        let process = match &config.process {
            Some(process) => Process::from_config(process),
            None => {
                return Err(
                    ConfigError::invalid("process", "required to create a container").into(),
                )
            }
        };
        self.create_with_process(id, config, process)
    }

    /// Creates container `id` whose init will run `process`, and returns it created: init
    /// waits on the exec fifo for [`Container::start`].
    ///
    /// Order: validate id and config → claim `<root>/<id>` (IdInUse if taken) → connect the
    /// scope manager → start init (it joins the scope before it makes anything; the
    /// prestart and createRuntime hooks run when its namespaces exist) → save the state.
    /// A failure at any step kills init, removes the scope and the folder.
    pub fn create_with_process(
        &self,
        id: &str,
        mut config: Config,
        mut process: Process,
    ) -> crate::Result<Container> {
        let _span = tracing::info_span!("container", id = %id).entered();
        validate_id(id)?;
        if config.cgroups.name.is_empty() {
            config.cgroups.name = id.to_owned();
        }
        validate(&config)?;
        let bus = bus_for(&config);
        if bus == Bus::User && CgroupMode::detect()?.is_v1() {
            return Err(crate::systemd::SystemdError::RootlessOnV1.into());
        }
        let reservation = self.store.reserve(id)?;
        let unit = unit_name::for_container(&config.cgroups.scope_prefix, &config.cgroups.name);
        let manager: Box<dyn CgroupManager> = match &self.managers {
            Some(source) => source.manager(&config.cgroups, unit)?,
            None => {
                let systemd = self.systemd(bus)?;
                // The connection opens while init is spawned; the scope's start needs it first.
                systemd.connect_soon();
                // This process exits once init waits: a bus reference would die with it.
                Box::new(
                    ScopeManager::new(systemd, &config.cgroups, unit)?.with_options(ScopeOptions {
                        no_bus_reference: true,
                        ..ScopeOptions::default()
                    }),
                )
            }
        };
        let (bundle, annotations) = bundle_and_annotations(&config.labels);
        let creating = OciState {
            oci_version: OCI_VERSION.to_owned(),
            id: id.to_owned(),
            status: Status::Creating,
            pid: None,
            bundle,
            annotations,
        };
        let dir = reservation.lock().dir().to_owned();

        let spawned = start_init(InitRequest {
            id,
            config: &config,
            process: &mut process,
            state_dir: &dir,
            cgroup: manager.as_ref(),
            hooks: &mut |point, pid| run_runtime_hooks(&config, &creating, point, pid),
            hook_state: Some(&creating),
            init_binary: self.options.init_binary.as_deref(),
        });
        let spawned = match spawned {
            Ok(spawned) => spawned,
            Err(error) => {
                // start_init already killed and reaped what it started.
                destroy_scope(manager.as_ref());
                return Err(error);
            }
        };

        let state = State {
            id: id.to_owned(),
            init_pid: spawned.pid,
            init_start_time: spawned.start_time,
            created: now_rfc3339(),
            cgroup_paths: manager.paths().unwrap_or_default(),
            namespace_paths: namespace_paths(&config, &spawned),
            unit_name: manager.unit_name().to_owned(),
            rootless: config.rootless_euid,
            external_descriptors: external_descriptors(spawned.pid),
            bundle: creating.bundle,
            annotations: creating.annotations,
            paused: false,
            config,
        };
        if let Err(error) = self.store.save(reservation.lock(), &state) {
            kill_init(&spawned);
            destroy_scope(manager.as_ref());
            return Err(error.into());
        }
        drop(reservation.commit());
        tracing::info!(pid = spawned.pid, unit = %state.unit_name, "container created");
        let mut container = Container::new(
            self.store.clone(),
            state,
            manager,
            self.options.init_binary.clone(),
        );
        container.set_init_process(process);
        Ok(container)
    }

    /// Loads container `id` from its saved state, with its status derived afresh.
    pub fn load(&self, id: &str) -> crate::Result<Container> {
        validate_id(id)?;
        let state = self.store.load(id)?;
        let unit = UnitName::parse(&state.unit_name).map_err(crate::systemd::SystemdError::from)?;
        let manager: Box<dyn CgroupManager> = match &self.managers {
            Some(source) => source.manager(&state.config.cgroups, unit)?,
            None => Box::new(
                ScopeManager::load_in(
                    self.systemd(bus_for(&state.config))?,
                    unit,
                    &state.config.cgroups.slice,
                )?
                .with_recorded_paths(&state.cgroup_paths),
            ),
        };
        Ok(Container::new(
            self.store.clone(),
            state,
            manager,
            self.options.init_binary.clone(),
        ))
    }

    /// Restores container `id` with `config` from the checkpoint in `opts.images_dir`
    /// (libcontainer `Restore`): the restored tree lands in a new `<prefix>-<id>.scope`
    /// with the config's resources, its init a child of the caller; `process` gives the
    /// restored init's stdio (recorded stdio pipes are replaced by these) and console
    /// socket. Returns the container `running`, its state saved. See [`crate::checkpoint`].
    pub fn restore(
        &self,
        id: &str,
        config: Config,
        process: Process,
        opts: &crate::checkpoint::CriuOpts,
    ) -> crate::Result<Container> {
        crate::checkpoint::restore(self, id, config, process, opts)
    }

    /// The cgroup manager of the new scope `unit` for `cgroup`, nothing created until
    /// `apply` (the restore makes its scope as create does), on the config's bus.
    pub(crate) fn new_scope_manager(
        &self,
        config: &Config,
        unit: UnitName,
    ) -> crate::Result<Box<dyn CgroupManager>> {
        match &self.managers {
            Some(source) => source.manager(&config.cgroups, unit),
            None => Ok(Box::new(ScopeManager::new(
                self.systemd(bus_for(config))?,
                &config.cgroups,
                unit,
            )?)),
        }
    }

    /// The binary exec helpers run from.
    pub(crate) fn init_binary(&self) -> Option<&Path> {
        self.options.init_binary.as_deref()
    }

    /// The factory's systemd connection on `bus`, opened by its first call; a container
    /// on another bus than the first one gets a connection of its own.
    fn systemd(&self, bus: Bus) -> crate::Result<Arc<SystemdConnection>> {
        if let Some(conn) = self.systemd.get() {
            if *conn.systemd().bus() == bus {
                return Ok(conn.clone());
            }
            return Ok(SystemdConnection::lazy(bus)?);
        }
        let conn = SystemdConnection::lazy(bus)?;
        // Two threads may race to connect; the loser's connection is dropped.
        Ok(self.systemd.get_or_init(|| conn).clone())
    }

    /// Ids of every container in the root, sorted.
    pub fn list(&self) -> crate::Result<Vec<String>> {
        Ok(self.store.list()?)
    }
}

/// The bus of the systemd that holds the container's scope: the user's own systemd for
/// rootless cgroups (runc's systemd driver with `--rootless`), the system's otherwise.
fn bus_for(config: &Config) -> Bus {
    if config.rootless_cgroups {
        Bus::User
    } else {
        Bus::System
    }
}

/// Runs the runtime-namespace hooks init asks for at `point`; `pid` is the container
/// process (host pid).
fn run_runtime_hooks(
    config: &Config,
    creating: &OciState,
    point: HookPoint,
    pid: i32,
) -> crate::Result<()> {
    let state = OciState {
        pid: Some(pid),
        ..creating.clone()
    };
    match point {
        HookPoint::CreateRuntime => {
            // runc runs the legacy prestart hooks at the same point, first.
            run_hooks(HookKind::Prestart, &config.hooks.prestart, &state)?;
            run_hooks(
                HookKind::CreateRuntime,
                &config.hooks.create_runtime,
                &state,
            )?;
        }
    }
    Ok(())
}

/// Undoes the scope of a create that failed; the create's own error is what the caller
/// sees, so a failure here can only be logged.
fn destroy_scope(manager: &dyn CgroupManager) {
    match manager.destroy() {
        Ok(()) => {}
        // Systemd was never reached, so no scope was made: the create's own error (the
        // same failed connection) is the one line the user needs.
        Err(crate::Error::Systemd(crate::systemd::SystemdError::Connect { .. })) => {}
        Err(error) => {
            tracing::warn!(%error, unit = manager.unit_name(), "remove scope of failed create");
        }
    }
}

/// Kills and reaps the init of a create that failed after it started.
fn kill_init(spawned: &Spawned) {
    // Best effort: init may already be gone; the scope's destroy kills what is left.
    let _ = spawned.handle.signal(libc::SIGKILL);
    let _ = spawned.handle.wait();
}

/// The bundle and the annotations, which the OCI conversion keeps as `key=value` labels
/// (`bundle=<path>` last, as runc does).
pub(crate) fn bundle_and_annotations(labels: &[String]) -> (PathBuf, BTreeMap<String, String>) {
    let mut bundle = PathBuf::new();
    let mut annotations = BTreeMap::new();
    for label in labels {
        let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
        annotations.insert(key.to_owned(), value.to_owned());
    }
    if let Some(path) = annotations.remove("bundle") {
        bundle = PathBuf::from(path);
    }
    (bundle, annotations)
}

/// The namespace files the container's processes live in: the joined path for a joined
/// namespace, init's `/proc/<pid>/ns/<name>` for a new one.
fn namespace_paths(config: &Config, spawned: &Spawned) -> BTreeMap<NamespaceType, PathBuf> {
    config
        .namespaces
        .iter()
        .filter_map(|ns| {
            let path = match &ns.path {
                Some(path) => path.clone(),
                None => spawned.namespaces.get(&ns.kind)?.clone(),
            };
            Some((ns.kind, path))
        })
        .collect()
}

/// What init's fds 0–2 point to (`readlink /proc/<pid>/fd/N`), for checkpoint/restore.
pub(crate) fn external_descriptors(pid: i32) -> Vec<String> {
    (0..3)
        .map(|fd| {
            std::fs::read_link(Path::new(&format!("/proc/{pid}/fd/{fd}")))
                .map(|target| target.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_bundle_and_annotations() {
        let labels = vec![
            "org.example.a=1".to_owned(),
            "odd".to_owned(),
            "with=equals=inside".to_owned(),
            "bundle=/srv/bundle".to_owned(),
        ];
        let (bundle, annotations) = bundle_and_annotations(&labels);
        assert_eq!(bundle, PathBuf::from("/srv/bundle"));
        assert_eq!(
            annotations,
            BTreeMap::from([
                ("org.example.a".to_owned(), "1".to_owned()),
                ("odd".to_owned(), String::new()),
                ("with".to_owned(), "equals=inside".to_owned()),
            ])
        );
    }
}
