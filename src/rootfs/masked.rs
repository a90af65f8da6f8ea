//! Masked paths: files covered by the container's `/dev/null`, directories by an empty
//! read-only tmpfs (runc `maskPath`).
//!
//! CVE-2025-31133: if the image (or a racing container) replaces `/dev/null` with a
//! symlink to, say, `/proc/sys/kernel/core_pattern`, binding "/dev/null" by path would
//! expose that file writable instead of hiding the masked one. So `/dev/null` is opened
//! once without following symlinks, checked to be the character device 1:3
//! (`verifyDevNull`, runc 8476df83b), and every mask is a clone of *that* handle.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::SFlag;

use super::mount::empty_readonly_tmpfs;
use super::RootfsError;
use crate::sys::mount::{attach_mount, clone_tree};
use crate::sys::path::open_in_root;

/// Mask every path of `paths` under `root`; missing paths are skipped.
pub(crate) fn mask_paths(root: BorrowedFd<'_>, paths: &[PathBuf]) -> Result<(), RootfsError> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut dev_null: Option<OwnedFd> = None;
    for path in paths {
        let fail = |syscall, source| RootfsError::Mask {
            path: path.clone(),
            syscall,
            source,
        };
        let target = match open_in_root(root, path, false) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(fail("openat2", e)),
        };
        let st = nix::sys::stat::fstat(&target).map_err(|e| fail("fstat", e))?;
        let mask = if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
        {
            empty_readonly_tmpfs().map_err(|(syscall, e)| fail(syscall, e))?
        } else {
            if dev_null.is_none() {
                dev_null = Some(verified_dev_null(root)?);
            }
            let null = dev_null
                .as_ref()
                .map(AsFd::as_fd)
                .ok_or_else(|| fail("open_tree", Errno::EBADF))?;
            clone_tree(null, false).map_err(|e| fail("open_tree", e))?
        };
        attach_mount(mask.as_fd(), target.as_fd()).map_err(|e| fail("move_mount", e))?;
    }
    Ok(())
}

/// `/dev/null` of the container, opened without following a final symlink and refused
/// unless it is the character device 1:3.
pub(crate) fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd, RootfsError> {
    let path = Path::new("/dev/null");
    let fd = open_in_root(root, path, true).map_err(|source| RootfsError::Mask {
        path: path.to_path_buf(),
        syscall: "openat2",
        source,
    })?;
    let st = nix::sys::stat::fstat(&fd).map_err(|source| RootfsError::Mask {
        path: path.to_path_buf(),
        syscall: "fstat",
        source,
    })?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let numbers = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    match describe_non_null(kind, numbers) {
        None => Ok(fd),
        Some(found) => Err(RootfsError::DevNullNotVerified { found }),
    }
}

/// `None` for the null device, else what the node is instead.
pub(crate) fn describe_non_null(kind: SFlag, (major, minor): (u32, u32)) -> Option<String> {
    match kind {
        SFlag::S_IFCHR if (major, minor) == (1, 3) => None,
        SFlag::S_IFCHR => Some(format!("the char device {major}:{minor}")),
        SFlag::S_IFLNK => Some("a symlink".to_string()),
        SFlag::S_IFREG => Some("a regular file".to_string()),
        SFlag::S_IFDIR => Some("a directory".to_string()),
        SFlag::S_IFBLK => Some(format!("the block device {major}:{minor}")),
        _ => Some("a special file".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_char_1_3_is_null() {
        assert_eq!(describe_non_null(SFlag::S_IFCHR, (1, 3)), None);
        let cases = [
            (SFlag::S_IFCHR, (1, 5), "the char device 1:5"),
            (SFlag::S_IFLNK, (0, 0), "a symlink"),
            (SFlag::S_IFREG, (0, 0), "a regular file"),
            (SFlag::S_IFBLK, (1, 3), "the block device 1:3"),
        ];
        for (kind, numbers, want) in cases {
            assert_eq!(describe_non_null(kind, numbers).as_deref(), Some(want));
        }
    }
}
