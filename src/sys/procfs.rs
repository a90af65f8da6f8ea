//! A procfs handle nobody can redirect: writes to `/proc/sys/*` and reads of
//! `/proc/self/*` go through it, never through the path `/proc/...`.
//!
//! CVE-2025-52881: a container that controls its mounts can race bind mounts over
//! `/proc/sys/...` or `/proc/self/attr/...` so a runtime's write by path lands in another
//! procfs file. The defence (runc fdcc9d3ca, ed6b1693b, 77d217c7c; pathrs `ProcfsHandle`):
//! use a private procfs instance made with `fsopen("proc")` + `fsmount`, which is detached
//! and so cannot be over-mounted, or, where that is refused, the mounted `/proc` after
//! checking it is the root of a real procfs; then resolve every path below it with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, so a mount over
//! any component makes the open fail instead of silently succeeding elsewhere.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::mount::{fs_create, fs_mount, fs_open, MountAttrFlags};
use super::path::{openat2, Resolve};

/// Inode number of the root directory of every procfs instance (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// Where the handle came from, for error messages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcfsSource {
    /// A private, detached `fsopen("proc")` instance.
    Private,
    /// The mounted `/proc`, verified to be the root of a procfs.
    Mounted,
}

/// A handle on the root of a procfs instance.
#[derive(Debug)]
pub struct ProcfsHandle {
    root: OwnedFd,
    source: ProcfsSource,
}

impl ProcfsHandle {
    /// A private procfs instance if the kernel allows one here, else the verified `/proc`.
    ///
    /// The instance belongs to the caller's pid namespace (and `/proc/sys/net` to its
    /// network namespace when opened), so call this in the container's namespaces.
    pub fn open() -> nix::Result<ProcfsHandle> {
        match ProcfsHandle::open_private() {
            Ok(handle) => Ok(handle),
            Err(errno) => {
                // Expected in some user namespaces (a fully visible procfs is required).
                tracing::debug!(%errno, "private procfs refused, using the verified /proc");
                ProcfsHandle::open_mounted(Path::new("/proc"))
            }
        }
    }

    /// `fsopen("proc")` + `fsconfig(CREATE)` + `fsmount`: a detached procfs mount.
    pub fn open_private() -> nix::Result<ProcfsHandle> {
        let fs = fs_open("proc")?;
        fs_create(fs.as_fd())?;
        let mnt = fs_mount(
            fs.as_fd(),
            MountAttrFlags::NOSUID | MountAttrFlags::NODEV | MountAttrFlags::NOEXEC,
        )?;
        let root = verify_proc_root(mnt)?;
        Ok(ProcfsHandle {
            root,
            source: ProcfsSource::Private,
        })
    }

    /// The procfs mounted at `path`, refused (`EXDEV`) unless `path` is the root directory
    /// of a procfs (CVE-2019-16884: an image can put something else at `/proc`).
    pub fn open_mounted(path: &Path) -> nix::Result<ProcfsHandle> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let root = verify_proc_root(fd)?;
        Ok(ProcfsHandle {
            root,
            source: ProcfsSource::Mounted,
        })
    }

    /// Where this handle came from.
    pub fn source(&self) -> ProcfsSource {
        self.source
    }

    /// The root directory of the instance.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Open `path` (relative to the procfs root, e.g. `sys/net/ipv4/ip_forward` or
    /// `self/mountinfo`) without leaving this procfs instance, crossing a mount or
    /// following a magic link, and check the result still is procfs.
    pub fn open_beneath(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let fd = openat2(
            self.root.as_fd(),
            path,
            flags,
            Mode::empty(),
            Resolve::BENEATH | Resolve::NO_MAGICLINKS | Resolve::NO_XDEV,
        )?;
        if !is_procfs(fd.as_fd())? {
            return Err(Errno::EXDEV);
        }
        Ok(fd)
    }

    /// Open `/proc/sys/<key path>` (`net/ipv4/ip_forward`).
    pub fn open_sys(&self, key_path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        self.open_beneath(&Path::new("sys").join(key_path), flags)
    }

    /// Open `/proc/self/<path>` (`mountinfo`, `cgroup`, `attr/exec`).
    pub fn open_self(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        self.open_beneath(&Path::new("self").join(path), flags)
    }

    /// Read all of `/proc/self/<path>` as text.
    pub fn read_self(&self, path: &Path) -> nix::Result<String> {
        use std::io::Read;
        let fd = self.open_self(path, OFlag::O_RDONLY)?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut text)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(text)
    }
}

/// Whether `fd` lives on a procfs.
pub fn is_procfs(fd: BorrowedFd<'_>) -> nix::Result<bool> {
    Ok(fstatfs(fd)?.filesystem_type() == PROC_SUPER_MAGIC)
}

fn verify_proc_root(fd: OwnedFd) -> nix::Result<OwnedFd> {
    let st = nix::sys::stat::fstat(&fd)?;
    if !is_procfs(fd.as_fd())? || st.st_ino != PROC_ROOT_INO {
        return Err(Errno::EXDEV);
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_of_a_procfs_is_accepted() {
        assert_eq!(
            ProcfsHandle::open_mounted(Path::new("/proc/sys")).err(),
            Some(Errno::EXDEV)
        );
        assert_eq!(
            ProcfsHandle::open_mounted(Path::new("/")).err(),
            Some(Errno::EXDEV)
        );
        let proc = ProcfsHandle::open_mounted(Path::new("/proc")).unwrap();
        assert_eq!(proc.source(), ProcfsSource::Mounted);
        assert!(proc
            .read_self(Path::new("mountinfo"))
            .unwrap()
            .contains(" / "));
    }

    #[test]
    fn private_instance_opens_sys_and_self() {
        let proc = ProcfsHandle::open().unwrap();
        assert_eq!(proc.source(), ProcfsSource::Private);
        let ostype = proc
            .open_sys(Path::new("kernel/ostype"), OFlag::O_RDONLY)
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(ostype), &mut text).unwrap();
        assert_eq!(text.trim(), "Linux");
        assert!(proc
            .read_self(Path::new("status"))
            .unwrap()
            .contains("Pid:"));
    }

    #[test]
    fn paths_may_not_leave_the_instance() {
        let proc = ProcfsHandle::open().unwrap();
        assert!(proc
            .open_beneath(Path::new("../etc/passwd"), OFlag::O_RDONLY)
            .is_err());
        assert!(proc
            .open_beneath(Path::new("/etc/passwd"), OFlag::O_RDONLY)
            .is_err());
        // A magic link: refused by RESOLVE_NO_MAGICLINKS.
        assert_eq!(
            proc.open_self(Path::new("exe"), OFlag::O_RDONLY).err(),
            Some(Errno::ELOOP)
        );
    }
}
