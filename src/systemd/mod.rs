//! Transient scopes: one systemd scope per container, created and changed over D-Bus.
//!
//! Owns the unit name (`unit_name`), the StartTransientUnit/JobRemoved handshake
//! (`connection`, `job`), the Resources→property mapping (`properties`) and the
//! `CgroupManager` the engine uses (`scope::ScopeManager`). Never writes cgroupfs itself:
//! the files systemd does not manage are `cgroupfs::`'s. Mirrors opencontainers/cgroups
//! `systemd/` and crun's `cgroup-systemd.c`.
//!
//! Two faces: the async [`Systemd`] client (the daemon calls it on its own runtime) and
//! the sync [`ScopeManager`], which owns a private Tokio runtime through
//! [`SystemdConnection`] because the engine is synchronous.

pub mod accounting;
pub mod connection;
pub mod job;
pub mod machined;
pub mod properties;
pub mod proxy;
pub mod scope;
pub mod slice_anchor;
pub mod unit_name;

pub use accounting::UnitAccounting;
pub use connection::{Bus, Systemd, SystemdConnection};
pub use properties::{unit_properties, MappingError, Property, Value};
pub use scope::{Scope, ScopeManager, ScopeOptions};
pub use unit_name::{for_container, UnitName, UnitNameError};

/// Errors of the systemd cgroup manager: which unit, which method, which job, and the
/// D-Bus error name systemd answered with.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// No bus, or no systemd on it.
    #[error(
        "connect to the systemd bus at `{address}` (is systemd running and is this the right bus?)"
    )]
    Connect {
        /// The D-Bus address tried.
        address: String,
        /// The cause.
        #[source]
        source: Box<zbus::Error>,
    },
    /// A method call failed.
    #[error("call `{method}` for unit `{unit}`: {error_name}")]
    Call {
        /// The systemd method.
        method: &'static str,
        /// The unit.
        unit: String,
        /// The D-Bus error name (`org.freedesktop.systemd1.NoSuchUnit`), or `transport` when
        /// the call never got an answer.
        error_name: String,
        /// The cause.
        #[source]
        source: Box<zbus::Error>,
    },
    /// A method call got no answer in time.
    #[error("call `{method}` for unit `{unit}`: no answer within {seconds} s")]
    Timeout {
        /// The systemd method.
        method: &'static str,
        /// The unit.
        unit: String,
        /// The timeout.
        seconds: u64,
    },
    /// A job finished with something other than `done`.
    #[error("job `{job}` ({method}) for unit `{unit}` finished with result `{result}`")]
    JobFailed {
        /// The method that queued the job.
        method: &'static str,
        /// The unit.
        unit: String,
        /// The job object path.
        job: String,
        /// systemd's result word (`failed`, `canceled`, `timeout`, …).
        result: String,
    },
    /// A job did not finish in time.
    #[error("job `{job}` ({method}) for unit `{unit}`: not finished within {seconds} s")]
    JobTimeout {
        /// The method that queued the job.
        method: &'static str,
        /// The unit.
        unit: String,
        /// The job object path.
        job: String,
        /// The timeout.
        seconds: u64,
    },
    /// The signal stream ended while waiting for a job (the bus went away).
    #[error("job `{job}` ({method}) for unit `{unit}`: the bus connection closed while waiting")]
    JobLost {
        /// The method that queued the job.
        method: &'static str,
        /// The unit.
        unit: String,
        /// The job object path.
        job: String,
    },
    /// A unit property had an unexpected type.
    #[error("read property `{property}` of unit `{unit}`: unexpected type")]
    PropertyType {
        /// The unit.
        unit: String,
        /// The property.
        property: &'static str,
    },
    /// The private Tokio runtime could not be built.
    #[error("start the D-Bus runtime thread")]
    Runtime(#[source] std::io::Error),
    /// Resources could not be mapped to properties.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// A unit name is invalid.
    #[error(transparent)]
    UnitName(#[from] UnitNameError),
    /// Rootless cgroups (the user's systemd) asked for on a cgroup v1 host, where systemd
    /// cannot delegate to a user manager (runc's wording).
    #[error("cannot use rootless systemd cgroups manager on cgroup v1")]
    RootlessOnV1,
}

impl SystemdError {
    /// The D-Bus error name systemd answered with, if it answered with one.
    pub fn dbus_error_name(&self) -> Option<&str> {
        match self {
            SystemdError::Call { error_name, .. } if error_name != connection::TRANSPORT => {
                Some(error_name)
            }
            _ => None,
        }
    }
}
