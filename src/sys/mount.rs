//! The fd-based mount API: `open_tree`, `move_mount`, `mount_setattr`, `fsopen`,
//! `fsconfig`, `fsmount` (Linux 5.2+; `mount_setattr` 5.12+).
//!
//! The rootfs code never hands the kernel a path it resolved by string: a mount is made
//! detached (from a filesystem context or a cloned tree), its attributes are set while it is
//! still invisible, and it is attached onto an `O_PATH` handle of the destination. So no
//! `/proc/self/fd/N` indirection is needed, and there is no window where a bind is
//! writable before its read-only remount.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use std::os::unix::ffi::OsStrExt;

/// `MOUNT_ATTR_*` flags: the per-mount (not per-superblock) attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountAttrFlags(u64);

impl MountAttrFlags {
    /// No attribute.
    pub const EMPTY: MountAttrFlags = MountAttrFlags(0);
    /// `MOUNT_ATTR_RDONLY`
    pub const RDONLY: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_RDONLY);
    /// `MOUNT_ATTR_NOSUID`
    pub const NOSUID: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NOSUID);
    /// `MOUNT_ATTR_NODEV`
    pub const NODEV: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NODEV);
    /// `MOUNT_ATTR_NOEXEC`
    pub const NOEXEC: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NOEXEC);
    /// `MOUNT_ATTR__ATIME`: the mask of the three atime modes (clear it to change them).
    pub const ATIME_MASK: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR__ATIME);
    /// `MOUNT_ATTR_RELATIME` (the value 0 inside the atime mask).
    pub const RELATIME: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_RELATIME);
    /// `MOUNT_ATTR_NOATIME`
    pub const NOATIME: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NOATIME);
    /// `MOUNT_ATTR_STRICTATIME`
    pub const STRICTATIME: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_STRICTATIME);
    /// `MOUNT_ATTR_NODIRATIME`
    pub const NODIRATIME: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NODIRATIME);
    /// `MOUNT_ATTR_NOSYMFOLLOW`
    pub const NOSYMFOLLOW: MountAttrFlags = MountAttrFlags(libc::MOUNT_ATTR_NOSYMFOLLOW);

    /// Flags from raw `MOUNT_ATTR_*` bits (as stored in the config's `rec_attr`).
    pub fn from_bits(bits: u64) -> MountAttrFlags {
        MountAttrFlags(bits)
    }

    /// The raw bits.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: MountAttrFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for MountAttrFlags {
    type Output = MountAttrFlags;
    fn bitor(self, rhs: MountAttrFlags) -> MountAttrFlags {
        MountAttrFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for MountAttrFlags {
    fn bitor_assign(&mut self, rhs: MountAttrFlags) {
        self.0 |= rhs.0;
    }
}

/// What `mount_setattr` changes: attributes to set and clear, and a propagation type
/// (`MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED` or `MS_UNBINDABLE`, or empty to leave it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountAttrChange {
    /// Attributes to set.
    pub set: MountAttrFlags,
    /// Attributes to clear.
    pub clear: MountAttrFlags,
    /// Propagation type to apply.
    pub propagation: MsFlags,
}

impl Default for MountAttrChange {
    fn default() -> MountAttrChange {
        MountAttrChange {
            set: MountAttrFlags::EMPTY,
            clear: MountAttrFlags::EMPTY,
            propagation: MsFlags::empty(),
        }
    }
}

impl MountAttrChange {
    /// Whether applying this change would be a no-op.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.clear.is_empty() && self.propagation.is_empty()
    }
}

/// `struct mount_attr` (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cstring(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

fn owned_fd_from(ret: libc::c_long) -> nix::Result<OwnedFd> {
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the syscall returned a new descriptor (>= 0, checked above) owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`—a detached copy
/// of the mount (tree) at the file `fd` names: a bind mount not yet attached anywhere.
///
/// # References
/// - [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html)
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is a static NUL-terminated empty string, read only by the kernel.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    owned_fd_from(ret)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE [| AT_RECURSIVE])`—a detached bind of a host
/// path (the source of a bind mount, which the configuration, not the image, controls).
///
/// # References
/// - [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html)
pub fn clone_tree_at_path(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let cpath = cstring(path)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: `cpath` is NUL-terminated and outlives the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cpath.as_ptr(), flags) };
    owned_fd_from(ret)
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`—attach
/// the detached mount `from` on top of the file or directory `to` names.
///
/// # References
/// - [`move_mount(2)`](https://man7.org/linux/man-pages/man2/move_mount.2.html)
pub fn attach_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are static NUL-terminated empty strings, read only by the kernel.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`—change the attributes
/// and propagation of the mount `fd` is the root of (attached or detached).
///
/// # References
/// - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
pub fn set_mount_attr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    change: MountAttrChange,
) -> nix::Result<()> {
    let attr = RawMountAttr {
        attr_set: change.set.bits(),
        attr_clr: change.clear.bits(),
        propagation: change.propagation.bits(),
        userns_fd: 0,
    };
    mount_setattr_raw(fd, recursive, &attr)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`—a new filesystem context of type `fstype`.
///
/// # References
/// - [`fsopen(2)`](https://man7.org/linux/man-pages/man2/fsopen.2.html)
pub fn fs_open(fstype: &str) -> nix::Result<OwnedFd> {
    let ctype = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `ctype` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, ctype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    owned_fd_from(ret)
}

/// `fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL, 0)`—set a flag parameter (`ro`, `newinstance`).
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fs_set_flag(fs: BorrowedFd<'_>, key: &str) -> nix::Result<()> {
    let ckey = CString::new(key).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `ckey` is NUL-terminated and outlives the call; value is NULL as the flag
    // command requires.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_FLAG,
            ckey.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0)`—set a string parameter (`mode=755`,
/// `source`).
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fs_set_string(fs: BorrowedFd<'_>, key: &str, value: &str) -> nix::Result<()> {
    let ckey = CString::new(key).map_err(|_| Errno::EINVAL)?;
    let cvalue = CString::new(value).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            ckey.as_ptr(),
            cvalue.as_ptr(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`—create the superblock.
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fs_create(fs: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: the create command takes no pointers (both NULL).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attrs)`—a detached mount of the created superblock.
///
/// # References
/// - [`fsmount(2)`](https://man7.org/linux/man-pages/man2/fsmount.2.html)
pub fn fs_mount(fs: BorrowedFd<'_>, attrs: MountAttrFlags) -> nix::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs.bits(),
        )
    };
    owned_fd_from(ret)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns})`—make
/// the detached mount `fd` an idmapped mount with the id mappings of `userns`.
///
/// # References
/// - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
pub fn set_mount_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> nix::Result<()> {
    let attr = RawMountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    mount_setattr_raw(fd, recursive, &attr)
}

/// A user namespace with the given `uid_map`/`gid_map` contents, as an nsfs fd: what an
/// idmapped mount takes its mappings from.
///
/// A child is cloned straight into a new user namespace (`clone(CLONE_NEWUSER)`, no
/// shared memory, so it only runs `pause()`, which is async-signal-safe), its maps are
/// written through `procfs` (an instance of the caller's pid namespace, so the pid
/// matches), its `ns/user` is opened, and it is killed and reaped.
///
/// # References
/// - [`user_namespaces(7)`](https://man7.org/linux/man-pages/man7/user_namespaces.7.html)
pub fn new_user_namespace(
    procfs: &super::procfs::ProcfsHandle,
    uid_map: &str,
    gid_map: &str,
) -> nix::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::waitpid;
    use nix::unistd::Pid;
    use std::io::Write;

    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a private copy
    // of the address space and only loops on pause(), which is async-signal-safe, until
    // the parent kills it; the parent continues normally.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if ret < 0 {
        return Err(Errno::last());
    }
    if ret == 0 {
        loop {
            // SAFETY: pause() has no preconditions and is async-signal-safe.
            unsafe { libc::pause() };
        }
    }
    let pid = Pid::from_raw(ret as i32);
    let write_map = |name: &str, map: &str| -> nix::Result<()> {
        let fd = procfs.open_beneath(Path::new(&format!("{pid}/{name}")), OFlag::O_WRONLY)?;
        std::fs::File::from(fd)
            .write_all(map.as_bytes())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    };
    let result = write_map("uid_map", uid_map)
        .and_then(|()| write_map("gid_map", gid_map))
        .and_then(|()| {
            // ns/user is a magic link, so it is opened with plain openat in our private procfs
            // rather than with RESOLVE_NO_MAGICLINKS.
            nix::fcntl::openat(
                procfs.root(),
                format!("{pid}/ns/user").as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
        });
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    result
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`, shared by the attribute
/// and the idmap changes.
fn mount_setattr_raw(fd: BorrowedFd<'_>, recursive: bool, attr: &RawMountAttr) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `attr` is a VER0-sized `struct mount_attr` alive for the call and the path is
    // a static empty string; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}
