//! The monitor's cgroup manager: the scope is made by the daemon, over the control socket.
//!
//! A monitor only creates: the engine asks its manager to `apply` init's pid (and, when a
//! later step fails, to `destroy`), and records `paths` in the state. Each of those is one
//! message to the daemon, which runs the real [`crate::systemd::Scope`] on its warm
//! connection. Every later verb runs in the daemon on its own managers, so the rest of the
//! trait answers [`RemoteScopeError::NotInMonitor`].

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::wire::{self, FromMonitor, ToMonitor, WireError};
use crate::cgroups::{CgroupManager, FreezerState, Stats};
use crate::config::{Cgroup, Resources};
use crate::factory::ManagerSource;
use crate::systemd::unit_name::UnitName;

/// A failure of a scope operation asked of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum RemoteScopeError {
    /// The daemon could not be asked, or did not answer.
    #[error("ask unitboxd to {what} scope `{unit}`")]
    Wire {
        /// `create` or `remove`.
        what: &'static str,
        /// The scope.
        unit: String,
        /// The cause.
        #[source]
        source: WireError,
    },
    /// The daemon tried and failed.
    #[error("unitboxd could not create scope `{unit}`: {message}")]
    Refused {
        /// The scope.
        unit: String,
        /// The daemon's error chain.
        message: String,
    },
    /// The daemon answered out of turn.
    #[error("unitboxd answered out of turn about scope `{unit}`")]
    Protocol {
        /// The scope.
        unit: String,
    },
    /// An operation only the daemon performs.
    #[error("`{operation}` of scope `{unit}` runs in unitboxd, not in its monitor")]
    NotInMonitor {
        /// The operation.
        operation: &'static str,
        /// The scope.
        unit: String,
    },
}

/// Managers that forward to the daemon over `control`.
#[derive(Debug)]
pub struct RemoteScopes {
    control: Arc<UnixStream>,
}

impl RemoteScopes {
    /// Managers talking over the monitor's control socket.
    pub fn new(control: Arc<UnixStream>) -> RemoteScopes {
        RemoteScopes { control }
    }
}

impl ManagerSource for RemoteScopes {
    fn manager(&self, _cgroup: &Cgroup, unit: UnitName) -> crate::Result<Box<dyn CgroupManager>> {
        Ok(Box::new(RemoteScope {
            unit: unit.as_str().to_owned(),
            control: self.control.clone(),
            paths: Mutex::new(None),
        }))
    }
}

/// One container's scope, made by the daemon.
#[derive(Debug)]
struct RemoteScope {
    unit: String,
    control: Arc<UnixStream>,
    paths: Mutex<Option<BTreeMap<String, PathBuf>>>,
}

impl RemoteScope {
    fn ask(&self, what: &'static str, message: &FromMonitor) -> crate::Result<ToMonitor> {
        let wire_error = |source| RemoteScopeError::Wire {
            what,
            unit: self.unit.clone(),
            source,
        };
        wire::send(&self.control, message, &[]).map_err(wire_error)?;
        let (answer, _) = wire::recv::<ToMonitor>(&self.control).map_err(wire_error)?;
        Ok(answer)
    }

    fn not_here<T>(&self, operation: &'static str) -> crate::Result<T> {
        Err(RemoteScopeError::NotInMonitor {
            operation,
            unit: self.unit.clone(),
        }
        .into())
    }
}

impl CgroupManager for RemoteScope {
    fn apply(&self, pid: i32) -> crate::Result<()> {
        match self.ask("create", &FromMonitor::Apply { pid })? {
            ToMonitor::Applied { paths } => {
                *self.paths.lock().unwrap_or_else(|p| p.into_inner()) = Some(paths);
                Ok(())
            }
            ToMonitor::ApplyFailed { message } => Err(RemoteScopeError::Refused {
                unit: self.unit.clone(),
                message,
            }
            .into()),
            _ => Err(RemoteScopeError::Protocol {
                unit: self.unit.clone(),
            }
            .into()),
        }
    }

    fn destroy(&self) -> crate::Result<()> {
        match self.ask("remove", &FromMonitor::Destroy)? {
            ToMonitor::Destroyed => Ok(()),
            _ => Err(RemoteScopeError::Protocol {
                unit: self.unit.clone(),
            }
            .into()),
        }
    }

    fn paths(&self) -> crate::Result<BTreeMap<String, PathBuf>> {
        match self.paths.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(paths) => Ok(paths),
            None => self.not_here("paths before apply"),
        }
    }

    fn unit_name(&self) -> &str {
        &self.unit
    }

    fn add_process(&self, _pid: i32) -> crate::Result<()> {
        self.not_here("add_process")
    }

    fn set(&self, _resources: &Resources) -> crate::Result<()> {
        self.not_here("set")
    }

    fn freeze(&self) -> crate::Result<()> {
        self.not_here("freeze")
    }

    fn thaw(&self) -> crate::Result<()> {
        self.not_here("thaw")
    }

    fn freezer_state(&self) -> crate::Result<FreezerState> {
        // A container the monitor just made is not frozen.
        Ok(FreezerState::Thawed)
    }

    fn pids(&self) -> crate::Result<Vec<i32>> {
        self.not_here("pids")
    }

    fn stats(&self) -> crate::Result<Stats> {
        self.not_here("stats")
    }

    fn kill_all(&self, _signal: i32) -> crate::Result<()> {
        self.not_here("kill_all")
    }
}
