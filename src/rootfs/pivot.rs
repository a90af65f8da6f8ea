//! Switching into the rootfs: `pivot_root(2)`, or `MS_MOVE` + `chroot` for `--no-pivot`.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir};

use super::RootfsError;

/// `pivot_root(".", ".")` inside the rootfs, then detach the old root.
///
/// This is runc's trick (`pivotRoot`, from lxc): pivoting a directory onto itself stacks
/// the old root *under* the new one at the same place, so no `put_old` directory has to
/// exist in the image (and no host-visible directory is created). With cwd back on the old
/// root we make it rslave, so the detach below cannot propagate an unmount to the host,
/// and lazily unmount it; what remains at `/` is the rootfs.
pub(crate) fn pivot_root(rootfs: BorrowedFd<'_>, rootfs_path: &Path) -> Result<(), RootfsError> {
    let fail = |syscall, source| RootfsError::Pivot {
        rootfs: rootfs_path.to_path_buf(),
        syscall,
        source,
    };
    let old_root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("open old root", e))?;
    fchdir(rootfs).map_err(|e| fail("fchdir", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| fail("pivot_root", e))?;
    fchdir(old_root.as_fd()).map_err(|e| fail("fchdir old root", e))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail("make old root rslave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| fail("umount2 old root", e))?;
    chdir("/").map_err(|e| fail("chdir", e))
}

/// The `--no-pivot` root switch (runc `msMoveRoot`): move the rootfs mount onto `/` and
/// `chroot` into it, for roots `pivot_root` cannot handle (an initramfs). The host's
/// other mounts stay in the namespace, hidden under the rootfs; this is weaker than
/// `pivot_root` and only used when asked for.
pub(crate) fn move_root(rootfs_path: &Path) -> Result<(), RootfsError> {
    let fail = |syscall, source: Errno| RootfsError::Pivot {
        rootfs: rootfs_path.to_path_buf(),
        syscall,
        source,
    };
    chdir(rootfs_path).map_err(|e| fail("chdir", e))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(|e| fail("mount MS_MOVE", e))?;
    chroot(".").map_err(|e| fail("chroot", e))?;
    chdir("/").map_err(|e| fail("chdir", e))
}
