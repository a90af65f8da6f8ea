//! What may be mounted on and inside `/proc` (CVE-2019-19921 and its regressions
//! CVE-2023-27561, CVE-2023-28642; runc `checkProcMount`, 3291d66b9, 457e1ffa4).
//!
//! procfs must land on a real directory: if the destination is a symlink (for instance
//! swapped in through a volume shared with another container), the proc mount would end
//! up somewhere else and later writes to `/proc/self/attr/*` would go to a fake file.
//! Only procfs may cover `/proc`, and inside `/proc` only the few files lxcfs emulates.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::SFlag;

use super::mount::{file_type, host_path_of, is_bind, mount_error, mountpoint, verify_inside};
use super::{RootContext, RootfsError};
use crate::config::Mount;
use crate::sys::path::{clean_in_root, open_in_root};
use crate::sys::procfs::is_procfs;

/// Files inside `/proc` that may be covered (what lxcfs emulates), relative to the root.
const LXCFS_PROC_FILES: &[&str] = &[
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "proc/loadavg",
    "proc/slabinfo",
    "proc/net/dev",
    "proc/sys/kernel/ns_last_pid",
];

/// Where a destination (cleaned, relative to the container root) stands towards `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcPlace {
    /// Not `/proc` and not under it.
    Outside,
    /// `/proc` itself.
    ProcRoot,
    /// Under `/proc`, one of the lxcfs files.
    AllowedInside,
    /// Under `/proc`, anything else.
    Forbidden,
}

/// Classify a root-relative, cleaned destination.
pub(crate) fn proc_place(dest: &Path) -> ProcPlace {
    if dest == Path::new("proc") {
        ProcPlace::ProcRoot
    } else if !dest.starts_with("proc") {
        ProcPlace::Outside
    } else if LXCFS_PROC_FILES.iter().any(|f| dest == Path::new(f)) {
        ProcPlace::AllowedInside
    } else {
        ProcPlace::Forbidden
    }
}

/// The rules on a destination as written in the config (before anything is mounted).
pub(crate) fn check_lexical_destination(m: &Mount) -> Result<(), RootfsError> {
    check_place(m, &clean_in_root(&m.destination))
}

fn check_place(m: &Mount, dest: &Path) -> Result<(), RootfsError> {
    match proc_place(dest) {
        ProcPlace::Outside | ProcPlace::AllowedInside => Ok(()),
        ProcPlace::ProcRoot if m.device == "proc" || is_bind(m) => Ok(()),
        ProcPlace::ProcRoot => Err(RootfsError::NotProcOnProc {
            src: m.source.clone(),
        }),
        ProcPlace::Forbidden => Err(RootfsError::InsideProc {
            destination: m.destination.clone(),
        }),
    }
}

/// The same rules on where the destination handle really resolved (a symlink in the image
/// may point into `/proc`), and for a bind onto `/proc` the source must be the root of a
/// procfs.
pub(crate) fn check_resolved_destination(
    ctx: &RootContext,
    m: &Mount,
    target: BorrowedFd<'_>,
) -> Result<(), RootfsError> {
    let host = host_path_of(target).map_err(|source| RootfsError::Mountpoint {
        path: m.destination.clone(),
        source,
    })?;
    let inside = host.strip_prefix(&ctx.path).unwrap_or(&host).to_path_buf();
    check_place(m, &inside)?;
    if proc_place(&inside) == ProcPlace::ProcRoot
        && is_bind(m)
        && !is_proc_root(Path::new(&m.source))?
    {
        return Err(RootfsError::NotProcOnProc {
            src: m.source.clone(),
        });
    }
    Ok(())
}

fn is_proc_root(path: &Path) -> Result<bool, RootfsError> {
    crate::sys::procfs::ProcfsHandle::open_mounted(path).map_or_else(
        |e| match e {
            Errno::EXDEV => Ok(false),
            other => Err(RootfsError::Mount {
                src: path.display().to_string(),
                destination: PathBuf::from("/proc"),
                syscall: "open",
                source: other,
            }),
        },
        |_| Ok(true),
    )
}

/// The mount point of a proc mount: an existing real directory (never a symlink or a
/// file), or one made by the in-root walk; the handle returned is what gets mounted on, so
/// the destination cannot be swapped after the check.
pub(crate) fn proc_mountpoint(ctx: &RootContext, m: &Mount) -> Result<OwnedFd, RootfsError> {
    let refuse = |reason| RootfsError::ProcDestination {
        destination: m.destination.clone(),
        reason,
    };
    let target = match open_in_root(ctx.fd(), &m.destination, true) {
        Ok(fd) => {
            let kind = file_type(fd.as_fd()).map_err(|e| mount_error(m, "fstat", e))?;
            if kind == SFlag::S_IFLNK {
                return Err(refuse("it is a symlink"));
            }
            if kind != SFlag::S_IFDIR {
                return Err(refuse("it is not a directory"));
            }
            verify_inside(ctx, &m.destination, fd.as_fd())?;
            fd
        }
        Err(Errno::ENOENT) => mountpoint(ctx, &m.destination, true)?,
        Err(Errno::ENOTDIR) => return Err(refuse("a parent is not a directory")),
        Err(source) => {
            return Err(RootfsError::Mountpoint {
                path: m.destination.clone(),
                source,
            })
        }
    };
    check_resolved_destination(ctx, m, target.as_fd())?;
    if is_procfs(target.as_fd()).unwrap_or(false) {
        // Mounting proc inside an already mounted procfs is what the attack wants.
        return Err(refuse("it is inside a mounted procfs"));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_place_table() {
        const CASES: &[(&str, ProcPlace)] = &[
            ("/proc", ProcPlace::ProcRoot),
            ("/proc/", ProcPlace::ProcRoot),
            ("/./proc", ProcPlace::ProcRoot),
            ("/proc/cpuinfo", ProcPlace::AllowedInside),
            ("/proc/sys/kernel/ns_last_pid", ProcPlace::AllowedInside),
            ("/proc/sys", ProcPlace::Forbidden),
            ("/proc/../proc/self/attr", ProcPlace::Forbidden),
            ("/processes", ProcPlace::Outside),
            ("/sys", ProcPlace::Outside),
            ("/", ProcPlace::Outside),
        ];
        for &(dest, want) in CASES {
            assert_eq!(proc_place(&clean_in_root(Path::new(dest))), want, "{dest}");
        }
    }

    #[test]
    fn only_proc_may_cover_proc() {
        let mount = |device: &str, dest: &str| Mount {
            source: device.into(),
            destination: dest.into(),
            device: device.into(),
            ..Mount::default()
        };
        assert!(check_lexical_destination(&mount("proc", "/proc")).is_ok());
        assert!(matches!(
            check_lexical_destination(&mount("tmpfs", "/proc")),
            Err(RootfsError::NotProcOnProc { .. })
        ));
        assert!(matches!(
            check_lexical_destination(&mount("tmpfs", "/proc/sys")),
            Err(RootfsError::InsideProc { .. })
        ));
        assert!(check_lexical_destination(&mount("bind", "/proc/meminfo")).is_ok());
        assert!(check_lexical_destination(&mount("tmpfs", "/tmp")).is_ok());
    }
}
