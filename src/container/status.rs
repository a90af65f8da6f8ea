//! The container status machine: Creating → Created → Running → (Pausing → Paused) → Stopped.
//!
//! Status is derived, never trusted from disk: init's liveness, the exec fifo and the
//! freezer state decide it (as machined derives a machine's state from its scope job).
//! Each verb asks one exhaustive predicate, so a new status does not compile until it is
//! decided for every verb (youki `container/state.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cgroups::FreezerState;
use crate::store::InitLiveness;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created: init exists but the create has not finished.
    Creating,
    /// Created: init waits on the exec fifo for `start`.
    Created,
    /// The user process runs.
    Running,
    /// A freeze was asked for and is not complete.
    Pausing,
    /// Every process is frozen.
    Paused,
    /// init is gone.
    Stopped,
}

/// A container verb whose legality depends on the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `start`
    Start,
    /// `kill` / `signal`
    Signal,
    /// `pause`
    Pause,
    /// `resume`
    Resume,
    /// `delete` without force
    Delete,
    /// `exec`
    Exec,
    /// `update` / `set`
    Set,
    /// `checkpoint`
    Checkpoint,
}

impl Verb {
    /// The word used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Signal => "signal",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Delete => "delete",
            Verb::Exec => "exec in",
            Verb::Set => "update",
            Verb::Checkpoint => "checkpoint",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Status {
    /// The OCI/runc word for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Pausing => "pausing",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// Derives the status from what the system shows.
    ///
    /// `fifo_exists`: the exec fifo is still in the state folder (init has not been
    /// started). `freezer`: the cgroup's freezer state, when it could be read.
    pub fn derive(
        liveness: InitLiveness,
        fifo_exists: bool,
        freezer: Option<FreezerState>,
    ) -> Status {
        match (liveness, freezer) {
            (InitLiveness::Gone, _) => Status::Stopped,
            (InitLiveness::Alive, Some(FreezerState::Frozen)) => Status::Paused,
            (InitLiveness::Alive, Some(FreezerState::Freezing)) => Status::Pausing,
            (InitLiveness::Alive, Some(FreezerState::Thawed) | None) if fifo_exists => {
                Status::Created
            }
            (InitLiveness::Alive, Some(FreezerState::Thawed) | None) => Status::Running,
        }
    }

    /// `start` needs init waiting on the fifo.
    pub fn can_start(self) -> bool {
        match self {
            Status::Created => true,
            Status::Creating
            | Status::Running
            | Status::Pausing
            | Status::Paused
            | Status::Stopped => false,
        }
    }

    /// Signals reach any live container, frozen ones included (runc `kill` of a paused one).
    pub fn can_kill(self) -> bool {
        match self {
            Status::Created | Status::Running | Status::Pausing | Status::Paused => true,
            Status::Creating | Status::Stopped => false,
        }
    }

    /// runc pauses created and running containers.
    pub fn can_pause(self) -> bool {
        match self {
            Status::Created | Status::Running => true,
            Status::Creating | Status::Pausing | Status::Paused | Status::Stopped => false,
        }
    }

    /// Only a frozen (or freezing) container can be resumed.
    pub fn can_resume(self) -> bool {
        match self {
            Status::Pausing | Status::Paused => true,
            Status::Creating | Status::Created | Status::Running | Status::Stopped => false,
        }
    }

    /// A plain delete takes stopped containers and never-started ones (runc `delete`).
    pub fn can_delete(self) -> bool {
        match self {
            Status::Created | Status::Stopped => true,
            Status::Creating | Status::Running | Status::Pausing | Status::Paused => false,
        }
    }

    /// exec joins a live, unfrozen container.
    pub fn can_exec(self) -> bool {
        match self {
            Status::Created | Status::Running => true,
            Status::Creating | Status::Pausing | Status::Paused | Status::Stopped => false,
        }
    }

    /// Resources change while the cgroup exists.
    pub fn can_set(self) -> bool {
        match self {
            Status::Created | Status::Running | Status::Pausing | Status::Paused => true,
            Status::Creating | Status::Stopped => false,
        }
    }

    /// criu dumps a running tree; a created init has not exec'd its process yet, and a
    /// frozen one cannot be seized by criu (runc refuses both).
    pub fn can_checkpoint(self) -> bool {
        match self {
            Status::Running => true,
            Status::Creating
            | Status::Created
            | Status::Pausing
            | Status::Paused
            | Status::Stopped => false,
        }
    }

    /// Whether `verb` is legal in this status.
    pub fn allows(self, verb: Verb) -> bool {
        match verb {
            Verb::Start => self.can_start(),
            Verb::Signal => self.can_kill(),
            Verb::Pause => self.can_pause(),
            Verb::Resume => self.can_resume(),
            Verb::Delete => self.can_delete(),
            Verb::Exec => self.can_exec(),
            Verb::Set => self.can_set(),
            Verb::Checkpoint => self.can_checkpoint(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The libcontainer error for `verb` refused in `status`.
pub fn refusal(id: &str, verb: Verb, status: Status) -> crate::Error {
    crate::Error::IncorrectStatus {
        id: id.to_owned(),
        verb,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const ALL: [Status; 6] = [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Pausing,
        Status::Paused,
        Status::Stopped,
    ];

    /// (status, start, kill, pause, resume, delete, exec, set, checkpoint)
    #[rustfmt::skip]
    const PREDICATES: [(Status, [bool; 8]); 6] = [
        (Status::Creating, [false, false, false, false, false, false, false, false]),
        (Status::Created,  [true,  true,  true,  false, true,  true,  true,  false]),
        (Status::Running,  [false, true,  true,  false, false, true,  true,  true ]),
        (Status::Pausing,  [false, true,  false, true,  false, false, true,  false]),
        (Status::Paused,   [false, true,  false, true,  false, false, true,  false]),
        (Status::Stopped,  [false, false, false, false, true,  false, false, false]),
    ];

    const VERBS: [Verb; 8] = [
        Verb::Start,
        Verb::Signal,
        Verb::Pause,
        Verb::Resume,
        Verb::Delete,
        Verb::Exec,
        Verb::Set,
        Verb::Checkpoint,
    ];

    #[test]
    fn predicates_follow_the_table() {
        for (status, row) in PREDICATES {
            for (verb, want) in VERBS.iter().zip(row) {
                assert_eq!(status.allows(*verb), want, "{status} {verb}");
            }
        }
        assert_eq!(PREDICATES.map(|(s, _)| s), ALL);
    }

    #[test]
    fn status_is_derived_from_liveness_fifo_and_freezer() {
        use FreezerState::*;
        use InitLiveness::*;
        #[rustfmt::skip]
        let rows = [
            (Gone,  true,  None,           Status::Stopped),
            (Gone,  false, Some(Frozen),   Status::Stopped),
            (Alive, true,  None,           Status::Created),
            (Alive, true,  Some(Thawed),   Status::Created),
            (Alive, false, None,           Status::Running),
            (Alive, false, Some(Thawed),   Status::Running),
            (Alive, false, Some(Freezing), Status::Pausing),
            (Alive, false, Some(Frozen),   Status::Paused),
            (Alive, true,  Some(Frozen),   Status::Paused),
        ];
        for (liveness, fifo, freezer, want) in rows {
            assert_eq!(
                Status::derive(liveness, fifo, freezer),
                want,
                "{liveness:?} fifo={fifo} {freezer:?}"
            );
        }
    }

    #[test]
    fn refusals_carry_libcontainer_codes() {
        #[rustfmt::skip]
        let rows = [
            (Verb::Start,  Status::Stopped, ErrorCode::ContainerNotRunning),
            (Verb::Start,  Status::Running, ErrorCode::ContainerNotStopped),
            (Verb::Start,  Status::Paused,  ErrorCode::ContainerPaused),
            (Verb::Signal, Status::Stopped, ErrorCode::ContainerNotRunning),
            (Verb::Pause,  Status::Stopped, ErrorCode::ContainerNotRunning),
            (Verb::Pause,  Status::Paused,  ErrorCode::ContainerPaused),
            (Verb::Resume, Status::Running, ErrorCode::ContainerNotPaused),
            (Verb::Resume, Status::Stopped, ErrorCode::ContainerNotPaused),
            (Verb::Delete, Status::Running, ErrorCode::ContainerNotStopped),
            (Verb::Delete, Status::Paused,  ErrorCode::ContainerPaused),
            (Verb::Exec,   Status::Paused,  ErrorCode::ContainerPaused),
            (Verb::Exec,   Status::Stopped, ErrorCode::ContainerNotRunning),
            (Verb::Checkpoint, Status::Created, ErrorCode::ContainerNotRunning),
            (Verb::Checkpoint, Status::Stopped, ErrorCode::ContainerNotRunning),
            (Verb::Checkpoint, Status::Paused,  ErrorCode::ContainerPaused),
        ];
        for (verb, status, want) in rows {
            assert!(!status.allows(verb), "{verb} {status} must be refused");
            let err = refusal("c1", verb, status);
            assert_eq!(err.code(), want, "{verb} {status}");
            let text = err.to_string();
            assert!(
                text.contains("`c1`") && text.contains(status.as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn status_serializes_as_oci_word() {
        for status in ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
