//! Read-only paths and the read-only remounts of `/dev` and `/` (runc `readonlyPath`,
//! `setReadonly`).
//!
//! A read-only path is a recursive bind of itself, made read-only while still detached
//! (`mount_setattr` on the `open_tree` clone) and then attached on top of the path, so
//! there is no moment where the new mount is writable.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::RootfsError;
use crate::sys::mount::{
    attach_mount, clone_tree, set_mount_attr, MountAttrChange, MountAttrFlags,
};
use crate::sys::path::open_in_root;

const READ_ONLY: MountAttrChange = MountAttrChange {
    set: MountAttrFlags::RDONLY,
    clear: MountAttrFlags::EMPTY,
    propagation: nix::mount::MsFlags::empty(),
};

/// Cover `path` (inside `root`) with a recursively read-only bind of itself; a missing
/// path is skipped.
pub(crate) fn make_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), RootfsError> {
    let fail = |syscall, source| RootfsError::Readonly {
        path: path.to_path_buf(),
        syscall,
        source,
    };
    let target = match open_in_root(root, path, false) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(fail("openat2", e)),
    };
    let tree = clone_tree(target.as_fd(), true).map_err(|e| fail("open_tree", e))?;
    set_mount_attr(tree.as_fd(), true, READ_ONLY).map_err(|e| fail("mount_setattr", e))?;
    attach_mount(tree.as_fd(), target.as_fd()).map_err(|e| fail("move_mount", e))
}

/// Make the mount at `path` (a mount point inside `root`) read-only, not recursively.
pub(crate) fn remount_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), RootfsError> {
    let fail = |syscall, source| RootfsError::Readonly {
        path: path.to_path_buf(),
        syscall,
        source,
    };
    let target = open_in_root(root, path, false).map_err(|e| fail("openat2", e))?;
    set_mount_attr(target.as_fd(), false, READ_ONLY).map_err(|e| fail("mount_setattr", e))
}
