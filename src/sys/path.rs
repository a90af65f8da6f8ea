//! Path resolution that cannot leave a root: `openat2(2)` and an in-root `mkdir -p`.
//!
//! Every path the container's image controls is resolved here, relative to a directory fd
//! and with the kernel's `RESOLVE_*` scoping, never by joining strings and calling `open`.
//! That is the defence against CVE-2021-30465 (a symlink swapped into a mount destination)
//! and CVE-2024-45310 (`mkdir -p`/`O_CREAT` following a symlink and creating files on the
//! host): see runc 0ca91f44f, d40b3439a and 63c290816 (`MkdirAllInRoot`).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};

/// `RESOLVE_*` flags of `openat2(2)`: how far path resolution may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resolve(u64);

impl Resolve {
    /// No restriction beyond what `openat(2)` does.
    pub const NONE: Resolve = Resolve(0);
    /// `RESOLVE_NO_XDEV`: never cross a mount point.
    pub const NO_XDEV: Resolve = Resolve(libc::RESOLVE_NO_XDEV);
    /// `RESOLVE_NO_MAGICLINKS`: refuse `/proc/<pid>/fd/N`-style links.
    pub const NO_MAGICLINKS: Resolve = Resolve(libc::RESOLVE_NO_MAGICLINKS);
    /// `RESOLVE_NO_SYMLINKS`: refuse every symlink.
    pub const NO_SYMLINKS: Resolve = Resolve(libc::RESOLVE_NO_SYMLINKS);
    /// `RESOLVE_BENEATH`: fail when resolution would leave the directory.
    pub const BENEATH: Resolve = Resolve(libc::RESOLVE_BENEATH);
    /// `RESOLVE_IN_ROOT`: treat the directory as `/` (`..` and absolute symlinks stay in it).
    pub const IN_ROOT: Resolve = Resolve(libc::RESOLVE_IN_ROOT);

    /// The raw bits for `struct open_how`.
    pub fn bits(self) -> u64 {
        self.0
    }
}

impl std::ops::BitOr for Resolve {
    type Output = Resolve;
    fn bitor(self, rhs: Resolve) -> Resolve {
        Resolve(self.0 | rhs.0)
    }
}

/// `struct open_how` from `linux/openat2.h`; libc's copy is `non_exhaustive`, so we keep
/// our own with the same layout.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How many times `openat2` is retried when the kernel reports `EAGAIN` (a concurrent
/// rename made `RESOLVE_IN_ROOT`/`RESOLVE_BENEATH` unable to prove safety).
const EAGAIN_RETRIES: usize = 32;

/// `openat2(dir, path, how)`—open a path with scoped resolution.
///
/// `O_CLOEXEC` is always added. An empty `path` opens `dir` itself again (`"."`).
///
/// # References
/// - [`openat2(2)`](https://man7.org/linux/man-pages/man2/openat2.2.html)
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    mode: Mode,
    resolve: Resolve,
) -> nix::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | OFlag::O_CLOEXEC).bits() as u64,
        mode: u64::from(mode.bits()),
        resolve: resolve.bits(),
    };
    let mut attempts = 0;
    loop {
        // SAFETY: `cpath` is a NUL-terminated string and `how` a properly sized `open_how`,
        // both alive for the call; the kernel reads them and writes nothing back.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            // SAFETY: openat2 returned a new descriptor (>= 0) that nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        let err = Errno::last();
        if err == Errno::EAGAIN && attempts < EAGAIN_RETRIES {
            attempts += 1;
            continue;
        }
        return Err(err);
    }
}

/// Open `path` inside `root` as an `O_PATH` handle, resolved as if `root` were `/`
/// (`RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`). The last component is followed when it
/// is a symlink (inside the root) unless `nofollow` is set.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, nofollow: bool) -> nix::Result<OwnedFd> {
    let mut flags = OFlag::O_PATH;
    if nofollow {
        flags |= OFlag::O_NOFOLLOW;
    }
    openat2(
        root,
        &clean_in_root(path),
        flags,
        Mode::empty(),
        Resolve::IN_ROOT | Resolve::NO_MAGICLINKS,
    )
}

/// Lexically clean a container path into root-relative components: drops `/` and `.`,
/// resolves `..` against what precedes it and clamps it at the root, as `filepath.Clean`
/// on an absolute path does. The result never starts with `/` or contains `..`.
pub fn clean_in_root(path: &Path) -> PathBuf {
    let mut parts: Vec<&OsStr> = Vec::new();
    for comp in path.components() {
        match comp {
            Component::Normal(name) => parts.push(name),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    parts.iter().collect()
}

/// `mkdir -p` inside `root`: make every missing directory of `path`, never following a
/// symlink out of the root, and return an `O_PATH` handle of the final directory.
///
/// The existing part of the path is resolved with `RESOLVE_IN_ROOT` (so a symlink such
/// as `mnt -> /` points at the root, not the host); each missing component is made with
/// `mkdirat` in its parent's fd and reopened with `O_NOFOLLOW` + `RESOLVE_NO_SYMLINKS`,
/// so a symlink raced into its place fails instead of being followed (CVE-2024-45310).
/// Nothing is ever created outside `root`.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> nix::Result<OwnedFd> {
    let clean = clean_in_root(path);
    let comps: Vec<OsString> = clean.iter().map(OsStr::to_os_string).collect();
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let mut existing = comps.len();
    let mut current = loop {
        let prefix: PathBuf = comps[..existing].iter().collect();
        match openat2(
            root,
            &prefix,
            dir_flags,
            Mode::empty(),
            Resolve::IN_ROOT | Resolve::NO_MAGICLINKS,
        ) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if existing > 0 => existing -= 1,
            Err(err) => return Err(err),
        }
    };
    for name in &comps[existing..] {
        match nix::sys::stat::mkdirat(&current, name.as_os_str(), mode) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(err) => return Err(err),
        }
        current = openat2(
            current.as_fd(),
            Path::new(name),
            dir_flags | OFlag::O_NOFOLLOW,
            Mode::empty(),
            Resolve::NO_SYMLINKS | Resolve::NO_MAGICLINKS | Resolve::BENEATH,
        )?;
    }
    Ok(current)
}

/// Make an empty regular file at `path` inside `root` (its parents with
/// [`mkdir_all_in_root`]) with `mknodat`, which never follows a symlink, and return an
/// `O_PATH` handle of whatever is now at `path` (resolved in the root). An existing
/// entry is kept. Used for file mount points and `/dev/console`.
pub fn mkfile_in_root(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> nix::Result<OwnedFd> {
    let clean = clean_in_root(path);
    let (parent, name) = split_parent(&clean)?;
    let dir = mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
    match nix::sys::stat::mknodat(&dir, name, SFlag::S_IFREG, mode, 0) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(err) => return Err(err),
    }
    open_in_root(root, &clean, false)
}

/// Split a cleaned root-relative path into its parent and its last component; the root
/// itself has no last component (`EINVAL`).
pub fn split_parent(clean: &Path) -> nix::Result<(&Path, &OsStr)> {
    let name = clean.file_name().ok_or(Errno::EINVAL)?;
    let parent = clean.parent().unwrap_or(Path::new(""));
    Ok((parent, name))
}

/// The `/proc/self/fd/N` path of `fd`, for the rare interfaces that only take a path
/// (`fchmodat` before `fchmodat2`).
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)`—change the mode of the file an `O_PATH` handle
/// names, without resolving any path (falls back to the handle's `/proc/self/fd` link on
/// kernels older than 6.6).
///
/// # References
/// - [`fchmodat2(2)`](https://man7.org/linux/man-pages/man2/fchmodat.2.html)
pub fn fchmod_handle(fd: BorrowedFd<'_>, mode: Mode) -> nix::Result<()> {
    // SAFETY: the path is a static NUL-terminated empty string; the kernel only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::c_uint::from(mode.bits()),
            libc::AT_EMPTY_PATH,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::ENOSYS => nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &proc_fd_path(fd),
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        ),
        err => Err(err),
    }
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH)`—change the owner of the file an `O_PATH`
/// handle names, without resolving any path.
///
/// # References
/// - [`fchownat(2)`](https://man7.org/linux/man-pages/man2/fchownat.2.html)
pub fn fchown_handle(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> nix::Result<()> {
    // SAFETY: the path is a static NUL-terminated empty string; the kernel only reads it.
    let ret = unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    Errno::result(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_in_root_clamps_and_strips() {
        const CASES: &[(&str, &str)] = &[
            ("/", ""),
            ("/proc", "proc"),
            ("/./dev//pts/", "dev/pts"),
            ("/../../etc", "etc"),
            ("/a/b/../c", "a/c"),
            ("relative/x", "relative/x"),
            ("/a/..", ""),
        ];
        for &(input, want) in CASES {
            assert_eq!(
                clean_in_root(Path::new(input)),
                Path::new(want),
                "input {input:?}"
            );
        }
    }

    /// A scratch directory standing in for a rootfs (no mounts: safe in the threaded
    /// test harness).
    fn scratch_root(name: &str) -> (PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!("unitbox-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fd = nix::fcntl::open(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        (dir, fd)
    }

    #[test]
    fn mkdir_all_follows_symlinks_only_inside_the_root() {
        let (dir, root) = scratch_root("mkdir");
        let probe = format!("unitbox-mkdir-probe-{}", std::process::id());
        std::os::unix::fs::symlink("/", dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../..", dir.join("up")).unwrap();
        let mode = Mode::from_bits_truncate(0o755);
        mkdir_all_in_root(
            root.as_fd(),
            &Path::new("/abs").join(&probe).join("x"),
            mode,
        )
        .unwrap();
        mkdir_all_in_root(root.as_fd(), &Path::new("up/tmp").join(&probe), mode).unwrap();
        assert!(dir.join(&probe).join("x").is_dir());
        assert!(dir.join("tmp").join(&probe).is_dir());
        assert!(
            !Path::new("/").join(&probe).exists(),
            "created on the host root"
        );
        assert!(
            !Path::new("/tmp").join(&probe).exists(),
            "created in the host /tmp"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mkdir_all_refuses_dangling_and_file_components() {
        let (dir, root) = scratch_root("dangling");
        let probe = format!("/tmp/unitbox-dangling-probe-{}", std::process::id());
        std::os::unix::fs::symlink(&probe, dir.join("dangling")).unwrap();
        std::fs::write(dir.join("file"), "").unwrap();
        let mode = Mode::from_bits_truncate(0o755);
        assert!(mkdir_all_in_root(root.as_fd(), Path::new("/dangling"), mode).is_err());
        assert!(mkdir_all_in_root(root.as_fd(), Path::new("/dangling/x"), mode).is_err());
        assert_eq!(
            mkdir_all_in_root(root.as_fd(), Path::new("/file/x"), mode).err(),
            Some(Errno::ENOTDIR)
        );
        assert!(!Path::new(&probe).exists(), "created on the host");
        assert!(
            !dir.join(probe.trim_start_matches('/')).exists(),
            "symlink target created"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mkfile_makes_a_file_inside_through_symlinked_parents() {
        let (dir, root) = scratch_root("mkfile");
        std::os::unix::fs::symlink("/", dir.join("abs")).unwrap();
        let fd = mkfile_in_root(
            root.as_fd(),
            Path::new("/abs/etc/hosts"),
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let st = nix::sys::stat::fstat(&fd).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
        assert!(dir.join("etc/hosts").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_in_root_never_leaves_the_root() {
        let (dir, root) = scratch_root("open");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
        assert_eq!(
            open_in_root(root.as_fd(), Path::new("/passwd"), false).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            open_in_root(root.as_fd(), Path::new("/../../etc/passwd"), false).err(),
            Some(Errno::ENOENT)
        );
        let link = open_in_root(root.as_fd(), Path::new("/passwd"), true).unwrap();
        let st = nix::sys::stat::fstat(&link).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn split_parent_of_root_is_an_error() {
        assert_eq!(split_parent(Path::new("")), Err(Errno::EINVAL));
        let (parent, name) = split_parent(Path::new("dev/console")).unwrap();
        assert_eq!((parent, name), (Path::new("dev"), OsStr::new("console")));
        let (parent, name) = split_parent(Path::new("x")).unwrap();
        assert_eq!((parent, name), (Path::new(""), OsStr::new("x")));
    }
}
