//! The cgroup files of a container's scope: reading them, and writing only what systemd
//! does not manage.
//!
//! systemd owns the scope (`systemd::`); this module reads its counters (stats, pids,
//! OOM and pressure events) and, on cgroup v1, runs the controllers systemd leaves alone:
//! the freezer (for pause), the cpuset, and the knobs that have no unit property
//! (`delegated`). systemd never writes those files, so `systemctl daemon-reload` keeps
//! them. Mirrors runc's libcontainer/cgroups/fs and fs2, reduced to that job.

pub mod delegated;
pub mod freezer;
pub mod mode;
pub mod oom;
pub mod pids;
pub mod pressure;
pub mod stats;

use std::path::PathBuf;

pub use mode::{CgroupMode, Controller, ScopePaths};

/// Errors of cgroup file access.
#[derive(Debug, thiserror::Error)]
pub enum CgroupfsError {
    /// A cgroup file could not be read.
    #[error("read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file could not be written.
    #[error("write `{value}` to `{}` (for `{field}`)", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The config field the value came from.
        field: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file held something we could not parse.
    #[error("parse `{}`: unexpected content `{content}`", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held (first line).
        content: String,
    },
    /// A resource needs a v1 hierarchy that is not mounted on this host.
    #[error("set `{field}`: the cgroup v1 `{controller}` hierarchy is not mounted at `{}`", path.display())]
    NotMounted {
        /// The config field.
        field: String,
        /// The controller.
        controller: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A cgroup directory could not be created.
    #[error("create cgroup `{}`", path.display())]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("remove cgroup `{}`", path.display())]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The freezer did not reach `FROZEN` in time; the cgroup was thawed again.
    #[error("freeze `{}`: still `{state}` after {waited_ms} ms", path.display())]
    FreezeTimeout {
        /// The freezer directory.
        path: PathBuf,
        /// The last state seen.
        state: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The cgroup filesystem type could not be read.
    #[error("statfs `{}`", path.display())]
    Statfs {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// An event notification (eventfd, poll, PSI trigger) could not be set up.
    #[error("watch `{}` for {what}", path.display())]
    Watch {
        /// The cgroup file watched.
        path: PathBuf,
        /// Which event.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A memory limit below what the container uses now would OOM-kill it.
    #[error("set `{field}` to {limit} bytes: the container uses {usage} bytes now; lower its usage first")]
    LimitBelowUsage {
        /// The config field.
        field: String,
        /// The limit asked for.
        limit: u64,
        /// Current usage.
        usage: u64,
    },
}

/// Reads a cgroup file as a string.
pub(crate) fn read_string(path: &std::path::Path) -> Result<String, CgroupfsError> {
    std::fs::read_to_string(path).map_err(|source| CgroupfsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a cgroup file holding one number (`max` is `u64::MAX`).
pub(crate) fn read_u64(path: &std::path::Path) -> Result<u64, CgroupfsError> {
    let text = read_string(path)?;
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupfsError::Parse {
        path: path.to_owned(),
        content: t.to_owned(),
    })
}
