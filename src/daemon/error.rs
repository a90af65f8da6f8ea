//! D-Bus error names: the one place where library failures become named bus errors.
//!
//! Every [`crate::ErrorCode`] has exactly one name here ([`name_for_code`], table-tested);
//! handlers never pick a name themselves. The message is the library error's chain, so a
//! busctl user sees what failed and why. Mirrors systemd's `bus-common-errors.c` table.

use zbus::message::{Header, Message};
use zbus::names::ErrorName;

use crate::ErrorCode;

/// The names of the errors the daemon answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No container with this id (or this pid).
    NoSuchContainer,
    /// A container with this id exists already.
    ContainerExists,
    /// The id breaks the id rules (e.g. a path separator).
    InvalidId,
    /// The container's status does not allow the call.
    InvalidState,
    /// The configuration (config.json, bundle, resources) is invalid.
    InvalidConfig,
    /// The process was not started by the runtime, so it cannot be waited for.
    NoProcessOps,
    /// A console exists already for this process.
    ConsoleExists,
    /// The system (a syscall, systemd, the filesystem) refused.
    OperationFailed,
    /// The caller may not call this method.
    AccessDenied,
    /// An argument breaks its rule.
    InvalidArgs,
}

impl ErrorKind {
    /// The D-Bus error name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NoSuchContainer => "io.unitbox.runtime1.NoSuchContainer",
            ErrorKind::ContainerExists => "io.unitbox.runtime1.ContainerExists",
            ErrorKind::InvalidId => "io.unitbox.runtime1.InvalidId",
            ErrorKind::InvalidState => "io.unitbox.runtime1.InvalidState",
            ErrorKind::InvalidConfig => "io.unitbox.runtime1.InvalidConfig",
            ErrorKind::NoProcessOps => "io.unitbox.runtime1.NoProcessOps",
            ErrorKind::ConsoleExists => "io.unitbox.runtime1.ConsoleExists",
            ErrorKind::OperationFailed => "io.unitbox.runtime1.OperationFailed",
            ErrorKind::AccessDenied => "org.freedesktop.DBus.Error.AccessDenied",
            ErrorKind::InvalidArgs => "org.freedesktop.DBus.Error.InvalidArgs",
        }
    }
}

/// The error name for a library error code.
pub fn name_for_code(code: ErrorCode) -> ErrorKind {
    match code {
        ErrorCode::IdInUse => ErrorKind::ContainerExists,
        ErrorCode::InvalidIdFormat => ErrorKind::InvalidId,
        ErrorCode::ContainerNotExists => ErrorKind::NoSuchContainer,
        ErrorCode::ContainerPaused
        | ErrorCode::ContainerNotStopped
        | ErrorCode::ContainerNotRunning
        | ErrorCode::ContainerNotPaused => ErrorKind::InvalidState,
        ErrorCode::NoProcessOps => ErrorKind::NoProcessOps,
        ErrorCode::ConfigInvalid => ErrorKind::InvalidConfig,
        ErrorCode::ConsoleExists => ErrorKind::ConsoleExists,
        ErrorCode::SystemError => ErrorKind::OperationFailed,
    }
}

/// A failed call as the caller sees it: a name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError {
    /// Which error.
    pub kind: ErrorKind,
    /// What failed, for humans.
    pub message: String,
}

impl BusError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> BusError {
        BusError {
            kind,
            message: message.into(),
        }
    }

    /// `NoSuchContainer` for `id`.
    pub fn no_such_container(id: &str) -> BusError {
        BusError::new(
            ErrorKind::NoSuchContainer,
            format!("no container `{id}` known"),
        )
    }

    /// `InvalidArgs`: `argument` breaks `rule`.
    pub fn invalid_args(argument: &str, rule: impl std::fmt::Display) -> BusError {
        BusError::new(ErrorKind::InvalidArgs, format!("{argument}: {rule}"))
    }

    /// `OperationFailed` with a cause's chain.
    pub fn failed(what: &str, cause: &dyn std::error::Error) -> BusError {
        BusError::new(
            ErrorKind::OperationFailed,
            format!("{what}: {}", chain(cause)),
        )
    }
}

impl From<crate::Error> for BusError {
    fn from(error: crate::Error) -> BusError {
        BusError::new(name_for_code(error.code()), chain(&error))
    }
}

impl From<zbus::Error> for BusError {
    fn from(error: zbus::Error) -> BusError {
        BusError::failed("talk on the bus", &error)
    }
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for BusError {}

impl zbus::DBusError for BusError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        Message::error(call, self.name()).build(&(self.message.as_str(),))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.kind.name())
    }

    fn description(&self) -> Option<&str> {
        Some(&self.message)
    }
}

/// An error and its causes, `: `-separated (the message D-Bus callers read).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_name() {
        let table = [
            (ErrorCode::IdInUse, "io.unitbox.runtime1.ContainerExists"),
            (ErrorCode::InvalidIdFormat, "io.unitbox.runtime1.InvalidId"),
            (
                ErrorCode::ContainerNotExists,
                "io.unitbox.runtime1.NoSuchContainer",
            ),
            (
                ErrorCode::ContainerPaused,
                "io.unitbox.runtime1.InvalidState",
            ),
            (
                ErrorCode::ContainerNotStopped,
                "io.unitbox.runtime1.InvalidState",
            ),
            (
                ErrorCode::ContainerNotRunning,
                "io.unitbox.runtime1.InvalidState",
            ),
            (
                ErrorCode::ContainerNotPaused,
                "io.unitbox.runtime1.InvalidState",
            ),
            (ErrorCode::NoProcessOps, "io.unitbox.runtime1.NoProcessOps"),
            (
                ErrorCode::ConfigInvalid,
                "io.unitbox.runtime1.InvalidConfig",
            ),
            (
                ErrorCode::ConsoleExists,
                "io.unitbox.runtime1.ConsoleExists",
            ),
            (
                ErrorCode::SystemError,
                "io.unitbox.runtime1.OperationFailed",
            ),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let (_, want) = table
                .iter()
                .find(|(c, _)| *c == code)
                .unwrap_or_else(|| panic!("{code:?} missing from the table"));
            assert_eq!(name_for_code(code).name(), *want, "{code:?}");
        }
    }

    #[test]
    fn every_name_is_a_valid_error_name() {
        for kind in [
            ErrorKind::NoSuchContainer,
            ErrorKind::ContainerExists,
            ErrorKind::InvalidId,
            ErrorKind::InvalidState,
            ErrorKind::InvalidConfig,
            ErrorKind::NoProcessOps,
            ErrorKind::ConsoleExists,
            ErrorKind::OperationFailed,
            ErrorKind::AccessDenied,
            ErrorKind::InvalidArgs,
        ] {
            assert!(ErrorName::try_from(kind.name()).is_ok(), "{}", kind.name());
        }
    }

    #[test]
    fn chain_does_not_repeat_a_cause_already_in_the_text() {
        let io = std::io::Error::other("disk on fire");
        assert_eq!(chain(&io), "disk on fire");
    }
}
