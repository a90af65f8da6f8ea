//! A container: its derived status, its saved state, and the verbs (one verb per file).
//!
//! A [`Container`] is a handle on one folder of the state store plus the cgroup manager of
//! its scope. Every verb that changes the container takes the store's lock for its whole
//! run, refreshes the status, and asks the status machine ([`status`]) before acting, as
//! youki's `container_*.rs` do. Mirrors runc's `libcontainer/container_linux.go`.

mod checkpoint;
mod destroy;
mod exec;
mod pause;
mod set;
mod signal;
mod start;
mod stats;
pub mod status;

use std::path::{Path, PathBuf};

use crate::cgroups::CgroupManager;
use crate::config::Config;
use crate::hooks::{OciState, OCI_VERSION};
use crate::process::{ExitStatus, Process};
use crate::store::{ContainerLock, InitLiveness, State, Store};

pub use status::{Status, Verb};

/// One container: state on disk, scope in systemd, processes in the kernel.
pub struct Container {
    store: Store,
    state: State,
    status: Status,
    manager: Box<dyn CgroupManager>,
    /// The binary exec helpers run from (see `FactoryOptions::init_binary`).
    init_binary: Option<PathBuf>,
    /// init's process handle, when this handle created the container (init is our child).
    init: Option<Process>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.state.id)
            .field("status", &self.status)
            .field("unit", &self.manager.unit_name())
            .finish()
    }
}

impl Container {
    /// A handle on a container whose state was just saved or loaded; derives its status.
    pub(crate) fn new(
        store: Store,
        state: State,
        manager: Box<dyn CgroupManager>,
        init_binary: Option<PathBuf>,
    ) -> Container {
        let mut container = Container {
            store,
            state,
            status: Status::Stopped,
            manager,
            init_binary,
            init: None,
        };
        container.refresh_status();
        container
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The status as of the last refresh (every verb refreshes it first).
    pub fn status(&self) -> Status {
        self.status
    }

    /// Re-derives the status from init's liveness, the exec fifo and the freezer.
    pub fn refresh_status(&mut self) -> Status {
        let liveness = self.state.init_liveness();
        let fifo_exists = self.dir().join(crate::process::EXEC_FIFO).exists();
        let freezer = match liveness {
            // A scope whose processes are gone has no freezer worth asking about.
            InitLiveness::Gone => None,
            InitLiveness::Alive => self.manager.freezer_state().ok(),
        };
        self.status = Status::derive(liveness, fifo_exists, freezer);
        self.status
    }

    /// The saved state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The configuration the container was created from.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The container's state folder.
    pub fn dir(&self) -> PathBuf {
        self.store.container_dir(&self.state.id)
    }

    /// The bundle the container was created from.
    pub fn bundle(&self) -> &Path {
        &self.state.bundle
    }

    /// The systemd unit that holds the container.
    pub fn unit_name(&self) -> &str {
        self.manager.unit_name()
    }

    /// Host pid of init while the container is not stopped.
    pub fn init_pid(&self) -> Option<i32> {
        match self.status {
            Status::Stopped => None,
            Status::Creating
            | Status::Created
            | Status::Running
            | Status::Pausing
            | Status::Paused => Some(self.state.init_pid),
        }
    }

    /// The OCI state (what hooks read on stdin and `unitbox state` prints).
    pub fn oci_state(&self) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_owned(),
            id: self.state.id.clone(),
            status: self.status,
            pid: self.init_pid(),
            bundle: self.state.bundle.clone(),
            annotations: self.state.annotations.clone(),
        }
    }

    /// Keeps init's process handle (the factory that started init hands it over).
    pub(crate) fn set_init_process(&mut self, process: Process) {
        self.init = Some(process);
    }

    /// init's process, when this handle created the container (its pty master, if any,
    /// is there: [`Process::take_console`]).
    pub fn init_process(&mut self) -> Option<&mut Process> {
        self.init.as_mut()
    }

    /// Waits for init to exit and returns how it ended; only the handle that created the
    /// container can (init is its child), others get `NoProcessOps`.
    pub fn wait(&mut self) -> crate::Result<ExitStatus> {
        let status = match &self.init {
            Some(init) => init.wait()?,
            None => return Err(crate::Error::NoProcessOps),
        };
        self.refresh_status();
        Ok(status)
    }

    /// Locks the container, refreshes its status and checks that `verb` is allowed.
    fn lock_for(&mut self, verb: Verb) -> crate::Result<ContainerLock> {
        let lock = self.store.lock(&self.state.id)?;
        let status = self.refresh_status();
        if !status.allows(verb) {
            return Err(status::refusal(&self.state.id, verb, status));
        }
        Ok(lock)
    }
}

/// A container verb that the system refused.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A signal could not be sent to init.
    #[error("send {signal} to init (pid {pid})")]
    Signal {
        /// Host pid of init.
        pid: i32,
        /// The signal.
        signal: nix::sys::signal::Signal,
        /// Cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// The network counters of the container's namespace cannot be read.
    #[error("read `{}`", path.display())]
    NetDev {
        /// `/proc/<pid>/net/dev`.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}
