//! Namespaces of init: joined by path, created with `unshare`, or (exec) joined through
//! the pidfd of the container's init.
//!
//! Order (runc's `nsexec.c`): open every path first (they are host paths and stop
//! resolving once we change mount namespace), join the user namespace before the others
//! (the rest are owned by it), create a new user namespace and let the parent write its
//! maps, then create the others in one `unshare`. PID and time namespaces apply to
//! children only, hence the fork that follows in `init`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;

use crate::config::{Config, NamespaceType, TimeClock};

/// A namespace operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// Opening a namespace path failed.
    #[error("open {} namespace `{}`", kind.oci_name(), path.display())]
    Open {
        /// Kind.
        kind: NamespaceType,
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `setns` failed.
    #[error("join {} namespace `{}`", kind.oci_name(), path.display())]
    Join {
        /// Kind.
        kind: NamespaceType,
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `setns(pidfd)` of an exec failed.
    #[error("join namespaces {kinds:?} of the container")]
    JoinContainer {
        /// Kinds asked for.
        kinds: Vec<&'static str>,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `unshare` failed.
    #[error("unshare {kinds:?}")]
    Unshare {
        /// Kinds asked for.
        kinds: Vec<&'static str>,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// Writing the time namespace offsets failed.
    #[error("write `/proc/self/timens_offsets`")]
    TimeOffsets(#[source] std::io::Error),
    /// Becoming root in the new user namespace failed.
    #[error("become root in the new user namespace")]
    BecomeRoot(#[source] nix::Error),
}

/// The `CLONE_NEW*` flag of a namespace kind.
pub fn clone_flag(kind: NamespaceType) -> CloneFlags {
    match kind {
        NamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        NamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        NamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        NamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        NamespaceType::Network => CloneFlags::CLONE_NEWNET,
        NamespaceType::User => CloneFlags::CLONE_NEWUSER,
        NamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        // nix has no CLONE_NEWTIME constant.
        NamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Whether the config creates (not joins) a namespace of `kind`.
pub fn creates(config: &Config, kind: NamespaceType) -> bool {
    config
        .namespaces
        .iter()
        .any(|ns| ns.kind == kind && ns.path.is_none())
}

/// Joins every namespace the config gives a path for, user namespace first.
pub fn join_paths(config: &Config) -> Result<(), NamespaceError> {
    let mut opened = Vec::new();
    for kind in NamespaceType::ALL {
        for ns in config.namespaces.iter().filter(|ns| ns.kind == kind) {
            if let Some(path) = &ns.path {
                let file = File::open(path).map_err(|source| NamespaceError::Open {
                    kind,
                    path: path.clone(),
                    source,
                })?;
                opened.push((kind, path.clone(), file));
            }
        }
    }
    // NamespaceType::ALL starts with the user namespace.
    for (kind, path, file) in opened {
        nix::sched::setns(file.as_fd(), clone_flag(kind))
            .map_err(|source| NamespaceError::Join { kind, path, source })?;
    }
    Ok(())
}

/// Joins the `kinds` namespaces of the process behind `pidfd` in one `setns` (the kernel
/// orders the user namespace first and switches all or none).
pub fn join_container(
    pidfd: &std::os::fd::OwnedFd,
    kinds: &[NamespaceType],
) -> Result<(), NamespaceError> {
    if kinds.is_empty() {
        return Ok(());
    }
    let flags = kinds
        .iter()
        .fold(CloneFlags::empty(), |f, k| f | clone_flag(*k));
    nix::sched::setns(pidfd.as_fd(), flags).map_err(|source| NamespaceError::JoinContainer {
        kinds: kinds.iter().map(|k| k.oci_name()).collect(),
        source,
    })
}

/// `unshare(CLONE_NEWUSER)`.
pub fn unshare_user() -> Result<(), NamespaceError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|source| NamespaceError::Unshare {
        kinds: vec!["user"],
        source,
    })
}

/// After the maps are written: root (0:0) inside the new user namespace, so the
/// namespaces created next are owned by it and init has its full capabilities there.
pub fn become_root() -> Result<(), NamespaceError> {
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(NamespaceError::BecomeRoot)?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(NamespaceError::BecomeRoot)
}

/// Creates every other new namespace of the config in one `unshare`.
pub fn unshare_others(config: &Config) -> Result<(), NamespaceError> {
    let kinds: Vec<NamespaceType> = NamespaceType::ALL
        .into_iter()
        .filter(|&k| k != NamespaceType::User && creates(config, k))
        .collect();
    if kinds.is_empty() {
        return Ok(());
    }
    let flags = kinds
        .iter()
        .fold(CloneFlags::empty(), |f, k| f | clone_flag(*k));
    nix::sched::unshare(flags).map_err(|source| NamespaceError::Unshare {
        kinds: kinds.iter().map(|k| k.oci_name()).collect(),
        source,
    })
}

/// The text of `/proc/self/timens_offsets` for the config's offsets.
pub fn time_offsets_text(config: &Config) -> String {
    config
        .time_offsets
        .iter()
        .map(|(clock, offset)| {
            let name = match clock {
                TimeClock::Monotonic => "monotonic",
                TimeClock::Boottime => "boottime",
            };
            format!("{name} {} {}\n", offset.secs, offset.nanosecs)
        })
        .collect()
}

/// Writes the time namespace offsets: after `unshare(CLONE_NEWTIME)` and before the fork,
/// as the kernel only accepts them while no process has entered the namespace.
pub fn write_time_offsets(config: &Config) -> Result<(), NamespaceError> {
    let text = time_offsets_text(config);
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", text).map_err(NamespaceError::TimeOffsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Namespace, TimeOffset};

    #[test]
    fn time_offsets_render_per_clock() {
        let mut config = Config::default();
        assert_eq!(time_offsets_text(&config), "");
        config.time_offsets.insert(
            TimeClock::Monotonic,
            TimeOffset {
                secs: 86400,
                nanosecs: 5,
            },
        );
        config.time_offsets.insert(
            TimeClock::Boottime,
            TimeOffset {
                secs: -7,
                nanosecs: 0,
            },
        );
        assert_eq!(
            time_offsets_text(&config),
            "monotonic 86400 5\nboottime -7 0\n"
        );
    }

    #[test]
    fn only_pathless_namespaces_are_created() {
        let config = Config {
            namespaces: vec![
                Namespace {
                    kind: NamespaceType::Pid,
                    path: None,
                },
                Namespace {
                    kind: NamespaceType::Network,
                    path: Some("/proc/1/ns/net".into()),
                },
            ],
            ..Default::default()
        };
        assert!(creates(&config, NamespaceType::Pid));
        assert!(!creates(&config, NamespaceType::Network));
        assert!(!creates(&config, NamespaceType::Mount));
    }

    #[test]
    fn every_kind_has_its_clone_flag() {
        let all = NamespaceType::ALL
            .iter()
            .fold(0, |acc, k| acc | clone_flag(*k).bits());
        let want = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWTIME;
        assert_eq!(all, want);
    }
}
