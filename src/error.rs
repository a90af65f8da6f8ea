//! The library's public error and libcontainer's error codes.
//!
//! Every module has its own `thiserror` enum carrying the context of its failures; this
//! [`Error`] wraps them, and [`Error::code`] is the only place that knows libcontainer's
//! [`ErrorCode`]s. The CLI maps codes to exit statuses (`cli/`), the daemon to D-Bus error
//! names (`daemon/error.rs`); neither looks inside the variants.

use std::fmt;

/// libcontainer's error codes: what a caller may act on, independent of the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A container with this id already exists.
    IdInUse,
    /// The id breaks the id rules.
    InvalidIdFormat,
    /// No container with this id.
    ContainerNotExists,
    /// The container is paused and the operation needs it not to be.
    ContainerPaused,
    /// The container is not stopped and the operation needs it to be.
    ContainerNotStopped,
    /// The container is not running and the operation needs it to be.
    ContainerNotRunning,
    /// The container is not paused and the operation needs it to be.
    ContainerNotPaused,
    /// The process was not started by us, so it cannot be waited for or signalled.
    NoProcessOps,
    /// The configuration is invalid.
    ConfigInvalid,
    /// A console already exists for this process.
    ConsoleExists,
    /// Anything the system refused (a syscall, systemd, the filesystem).
    SystemError,
}

impl ErrorCode {
    /// Every code, for table tests of the CLI and D-Bus mappings.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::IdInUse,
        ErrorCode::InvalidIdFormat,
        ErrorCode::ContainerNotExists,
        ErrorCode::ContainerPaused,
        ErrorCode::ContainerNotStopped,
        ErrorCode::ContainerNotRunning,
        ErrorCode::ContainerNotPaused,
        ErrorCode::NoProcessOps,
        ErrorCode::ConfigInvalid,
        ErrorCode::ConsoleExists,
        ErrorCode::SystemError,
    ];

    /// The name libcontainer uses for the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::IdInUse => "IdInUse",
            ErrorCode::InvalidIdFormat => "InvalidIdFormat",
            ErrorCode::ContainerNotExists => "ContainerNotExists",
            ErrorCode::ContainerPaused => "ContainerPaused",
            ErrorCode::ContainerNotStopped => "ContainerNotStopped",
            ErrorCode::ContainerNotRunning => "ContainerNotRunning",
            ErrorCode::ContainerNotPaused => "ContainerNotPaused",
            ErrorCode::NoProcessOps => "NoProcessOps",
            ErrorCode::ConfigInvalid => "ConfigInvalid",
            ErrorCode::ConsoleExists => "ConsoleExists",
            ErrorCode::SystemError => "SystemError",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The library's error: one variant per module error, plus the state-machine refusals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container id is taken.
    #[error("container `{0}` already exists")]
    IdInUse(String),
    /// A container id breaks the rules.
    #[error(transparent)]
    InvalidId(#[from] crate::config::validate::IdError),
    /// No such container in the state root.
    #[error("container `{0}` does not exist")]
    ContainerNotExists(String),
    /// The operation needs a container that is not paused.
    #[error("container `{0}` is paused")]
    ContainerPaused(String),
    /// The operation needs a stopped container.
    #[error("container `{id}` is {status}, not stopped")]
    ContainerNotStopped {
        /// Container id.
        id: String,
        /// Its current status word.
        status: String,
    },
    /// The operation needs a running (or created) container.
    #[error("container `{id}` is {status}, not running")]
    ContainerNotRunning {
        /// Container id.
        id: String,
        /// Its current status word.
        status: String,
    },
    /// The operation needs a paused container.
    #[error("container `{id}` is {status}, not paused")]
    ContainerNotPaused {
        /// Container id.
        id: String,
        /// Its current status word.
        status: String,
    },
    /// The process handle cannot be waited for or signalled from here.
    #[error("process was not started by this handle")]
    NoProcessOps,
    /// A console was requested twice.
    #[error("console already exists")]
    ConsoleExists,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::validate::ConfigError),
    /// A verb that the container's status does not allow.
    #[error("cannot {verb} container `{id}`: it is {status}")]
    IncorrectStatus {
        /// Container id.
        id: String,
        /// What was asked.
        verb: crate::container::Verb,
        /// The status that refused it.
        status: crate::container::Status,
    },
    /// A container verb failed in the system.
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    /// An OCI hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The command line itself failed (writing a spec, opening the log).
    #[error(transparent)]
    Cli(#[from] crate::cli::CliError),
    /// Starting or handling a container process failed.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// Building the container's root filesystem failed.
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    /// systemd refused or failed a scope operation.
    #[error(transparent)]
    Systemd(#[from] crate::systemd::SystemdError),
    /// A cgroup file of a scope could not be read or written.
    #[error(transparent)]
    Cgroupfs(#[from] crate::cgroupfs::CgroupfsError),
    /// unitboxd's monitor could not have its scope made by the daemon.
    #[error(transparent)]
    RemoteScope(#[from] crate::daemon::remote_scope::RemoteScopeError),
    /// A checkpoint or restore failed or was refused.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
}

impl Error {
    /// The libcontainer error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::IdInUse(_) => ErrorCode::IdInUse,
            Error::InvalidId(_) => ErrorCode::InvalidIdFormat,
            Error::ContainerNotExists(_) => ErrorCode::ContainerNotExists,
            Error::ContainerPaused(_) => ErrorCode::ContainerPaused,
            Error::ContainerNotStopped { .. } => ErrorCode::ContainerNotStopped,
            Error::ContainerNotRunning { .. } => ErrorCode::ContainerNotRunning,
            Error::ContainerNotPaused { .. } => ErrorCode::ContainerNotPaused,
            Error::NoProcessOps => ErrorCode::NoProcessOps,
            Error::ConsoleExists => ErrorCode::ConsoleExists,
            Error::Config(_) => ErrorCode::ConfigInvalid,
            Error::IncorrectStatus { verb, status, .. } => refusal_code(*verb, *status),
            Error::Hook(_) => ErrorCode::SystemError,
            Error::Container(_) => ErrorCode::SystemError,
            Error::Store(e) => match e {
                crate::store::StoreError::IdInUse(_) => ErrorCode::IdInUse,
                crate::store::StoreError::NotExists(_) => ErrorCode::ContainerNotExists,
                _ => ErrorCode::SystemError,
            },
            Error::Cli(_) => ErrorCode::SystemError,
            Error::Process(crate::process::ProcessError::NoArgs) => ErrorCode::ConfigInvalid,
            Error::Process(_) => ErrorCode::SystemError,
            Error::Rootfs(e) if e.is_invalid_config() => ErrorCode::ConfigInvalid,
            Error::Rootfs(_) => ErrorCode::SystemError,
            Error::Systemd(
                crate::systemd::SystemdError::Mapping(_)
                | crate::systemd::SystemdError::UnitName(_),
            ) => ErrorCode::ConfigInvalid,
            Error::Systemd(_) => ErrorCode::SystemError,
            Error::Cgroupfs(_) => ErrorCode::SystemError,
            Error::RemoteScope(_) => ErrorCode::SystemError,
            Error::Checkpoint(e) if e.is_invalid_input() => ErrorCode::ConfigInvalid,
            Error::Checkpoint(_) => ErrorCode::SystemError,
        }
    }
}

/// libcontainer's code for `verb` refused in `status`: what the caller would have to change.
fn refusal_code(verb: crate::container::Verb, status: crate::container::Status) -> ErrorCode {
    use crate::container::{Status, Verb};
    match (verb, status) {
        (Verb::Resume, _) => ErrorCode::ContainerNotPaused,
        (Verb::Checkpoint, Status::Created) => ErrorCode::ContainerNotRunning,
        (_, Status::Paused | Status::Pausing) => ErrorCode::ContainerPaused,
        (_, Status::Stopped | Status::Creating) => ErrorCode::ContainerNotRunning,
        (_, Status::Created | Status::Running) => ErrorCode::ContainerNotStopped,
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
