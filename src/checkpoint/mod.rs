//! Checkpoint and restore with CRIU: libcontainer's `Checkpoint` and `Restore`.
//!
//! Owns the criu options ([`CriuOpts`]), the probing of the `criu` binary ([`probe`]),
//! the RPC with `criu swrk` and the checkpoint's own record in the images folder
//! ([`ImageDescriptor`]). [`dump`] saves a container's process tree; [`restore`] brings
//! one back under a **new** `unitbox-<id>.scope`: the scope is created over D-Bus holding
//! the waiting criu worker, so every restored task lands in it, and criu runs with
//! `--manage-cgroups-mode ignore` by default so that it never re-creates the old cgroup
//! path behind systemd's back (`shared/design/vm-lane.md`, result 5b). Never mocks or
//! bypasses criu. Mirrors runc's `libcontainer/criu_linux.go`.

mod criu;
mod descriptor;
mod dump;
mod mounts;
mod options;
mod restore;
pub mod rpc;

use std::path::PathBuf;

pub use criu::{parse_version, probe, CriuVersion, MIN_VERSION};
pub use descriptor::{ImageDescriptor, DESCRIPTOR_FILE};
pub(crate) use dump::dump;
pub use options::{CriuOpts, EmptyNamespaces, ManageCgroupsMode, PageServer, DEFAULT_CRIU};
pub(crate) use restore::restore;

/// A checkpoint or restore that failed, or was refused before criu ran.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The criu binary is not there.
    #[error("find criu binary `{}`", path.display())]
    CriuMissing {
        /// The path or name asked for.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// criu is older than we can drive.
    #[error("criu `{}` is version {found}, older than the {needed} unitbox needs", path.display())]
    CriuTooOld {
        /// The binary.
        path: PathBuf,
        /// Its version.
        found: String,
        /// The minimum.
        needed: String,
    },
    /// `criu --version` printed no version.
    #[error("read the version of `{}`: it printed `{output}`", path.display())]
    CriuVersionUnreadable {
        /// The binary.
        path: PathBuf,
        /// What it printed.
        output: String,
    },
    /// `criu check` failed on this kernel; its own message says why.
    #[error("`{} check` failed: {message}", path.display())]
    CriuCheckFailed {
        /// The binary.
        path: PathBuf,
        /// criu's error lines.
        message: String,
    },
    /// criu could not be started or waited for.
    #[error("run `{}`", path.display())]
    RunCriu {
        /// The binary.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An option value breaks its rule.
    #[error("{option} `{value}`: {rule}")]
    InvalidOption {
        /// The option (runc's flag name).
        option: &'static str,
        /// The value given.
        value: String,
        /// The rule.
        rule: &'static str,
    },
    /// The images folder to restore from does not exist.
    #[error("images folder `{}` does not exist", path.display())]
    ImagesMissing {
        /// The folder.
        path: PathBuf,
    },
    /// The images folder holds no unitbox checkpoint.
    #[error("images folder `{}` is not a unitbox checkpoint (no `{DESCRIPTOR_FILE}`)", path.display())]
    NotACheckpoint {
        /// The folder.
        path: PathBuf,
    },
    /// The checkpoint was taken of a container whose config differs in a way criu cannot
    /// bridge.
    #[error("checkpoint `{}` does not match the config: {field} was {image}, is {config}", path.display())]
    IncompatibleConfig {
        /// The images folder.
        path: PathBuf,
        /// The config field.
        field: &'static str,
        /// Its value at checkpoint time.
        image: String,
        /// Its value now.
        config: String,
    },
    /// A folder or file of the checkpoint could not be made, opened or read.
    #[error("{action} `{}`", path.display())]
    Io {
        /// `create`, `open`, `read`, `write`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint record does not parse.
    #[error("parse `{}`", path.display())]
    ParseDescriptor {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The socket to `criu swrk` could not be made.
    #[error("create `criu swrk` socket")]
    Socket(#[source] nix::Error),
    /// The RPC with `criu swrk` broke.
    #[error("talk to `criu swrk` during {action}")]
    Rpc {
        /// `dump`, `pre-dump`, `restore`.
        action: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// criu answered something that is not a response.
    #[error("read `criu swrk` response")]
    Decode(#[from] rpc::DecodeError),
    /// The worker exited without answering.
    #[error("`criu swrk` exited before answering {action}")]
    CriuExited {
        /// What was asked.
        action: &'static str,
    },
    /// criu failed; its log's error lines say why.
    #[error("criu {action} failed: {message} (log `{}`)", log.display())]
    CriuFailed {
        /// `dump`, `pre-dump`, `restore`.
        action: &'static str,
        /// criu's error lines (or its `cr_errmsg`).
        message: String,
        /// The full log.
        log: PathBuf,
    },
    /// A successful restore named no task.
    #[error("criu restore reported no restored task")]
    NoRestoredPid,
    /// criu reported a terminal master but the process has no console socket.
    #[error("restore terminal of container `{id}`: needs a console socket")]
    ConsoleSocketNeeded {
        /// Container id.
        id: String,
    },
    /// The master of the restored terminal could not be handed over.
    #[error("send restored terminal to console socket `{}`", path.display())]
    ConsoleSocket {
        /// The socket.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The rootfs could not be bound where criu wants its root.
    #[error("bind rootfs `{}` onto `{}`", rootfs.display(), target.display())]
    BindRoot {
        /// The container's rootfs.
        rootfs: PathBuf,
        /// The mountpoint.
        target: PathBuf,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// init's stdio is a socket of another network namespace (a journal stream, say):
    /// criu only sees the sockets of the namespaces it dumps.
    #[error("checkpoint `{id}`: fd {fd} of init is a socket of another network namespace (`{link}`), which criu cannot dump; give the container pipes or files as stdio")]
    ForeignSocket {
        /// Container id.
        id: String,
        /// 0, 1 or 2.
        fd: i32,
        /// `socket:[<inode>]`.
        link: String,
    },
    /// A joined namespace file could not be inspected or opened.
    #[error("open namespace `{}`", path.display())]
    Namespace {
        /// The nsfs file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl CheckpointError {
    /// Whether the caller asked for something wrong (vs. the system failing).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            CheckpointError::InvalidOption { .. }
                | CheckpointError::ImagesMissing { .. }
                | CheckpointError::NotACheckpoint { .. }
                | CheckpointError::IncompatibleConfig { .. }
                | CheckpointError::ConsoleSocketNeeded { .. }
                | CheckpointError::ForeignSocket { .. }
        )
    }
}

/// Opens `path` as a folder (close-on-exec); criu reads it through `/proc/<us>/fd/<n>`.
pub(crate) fn open_dir(path: &std::path::Path) -> Result<std::fs::File, CheckpointError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .map_err(|source| CheckpointError::Io {
            action: "open",
            path: path.to_owned(),
            source,
        })
}

/// Makes `path` (and parents) with mode 0700 if missing.
pub(crate) fn make_dir(path: &std::path::Path) -> Result<(), CheckpointError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| CheckpointError::Io {
            action: "create",
            path: path.to_owned(),
            source,
        })
}
