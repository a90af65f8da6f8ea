//! The sealed image of the init binary that every init is exec'd from (CVE-2019-5736).
//!
//! A process in the container can reach the runtime's binary through `/proc/<pid>/exe` of
//! init (or of an exec helper) and would overwrite the host binary through it. Two ways
//! to make that file unwritable, as runc 1.2's `exeseal` has them:
//! - **copy** (the default): the binary copied into a memfd sealed against every change,
//!   once per process and per binary; later starts reuse it, so a daemon pays the copy
//!   once. A CLI invocation pays it on every create or exec: ~4 ms for an 8 MB binary.
//! - **overlay** ([`seal_with_overlay`], what the CLI uses): the binary opened through a
//!   detached overlayfs mount without an upper layer, mounted read-only. Nothing is
//!   copied (~0.1 ms), and unlike a read-only bind mount it cannot be made writable again:
//!   the overlay superblock itself has nowhere to write. Needs `CAP_SYS_ADMIN` and Linux
//!   6.8 (`lowerdir+`); where overlayfs refuses, the copy is made instead.
//!
//! A binary that already runs from a sealed memfd is reused as is.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use super::ProcessError;
use crate::sys::memfd;
use crate::sys::mount::{self, MountAttrFlags};

/// The binary init runs from unless the caller names another: ourselves.
pub const SELF_EXE: &str = "/proc/self/exe";

/// Identity of a binary file: a changed binary gets a new sealed copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

static CACHE: Mutex<Option<(FileKey, Arc<OwnedFd>)>> = Mutex::new(None);

/// The spare lower layer of the overlay, once [`seal_with_overlay`] chose that method.
static OVERLAY_SPARE_LAYER: OnceLock<PathBuf> = OnceLock::new();

/// From now on this process seals init binaries with a read-only overlayfs instead of a
/// memfd copy (see the module docs). overlayfs without an upper layer needs two lower
/// layers: the binary's directory on top, and under it a spare directory that neither
/// contains nor lies inside the binary's directory: `spare_layer` (the CLI passes its
/// state root, as runc does), or `/dev` when `spare_layer` overlaps (no runtime binary
/// lives under `/dev`). Nothing of the spare layer is ever reachable: only the binary is
/// opened from the mount, which is never attached anywhere. The first call wins.
pub fn seal_with_overlay(spare_layer: &Path) {
    let _ = OVERLAY_SPARE_LAYER.set(spare_layer.to_owned());
}

/// Whether this process runs from a sealed memfd (a unitboxd monitor does).
pub fn self_is_sealed() -> bool {
    File::open(SELF_EXE).is_ok_and(|exe| memfd::is_sealed(exe.as_fd()))
}

/// An fd of `binary` (default [`SELF_EXE`]) that no one can write through: a read-only
/// overlayfs view (after [`seal_with_overlay`]) or a sealed memfd copy; cached per process.
pub fn sealed_init_binary(binary: Option<&Path>) -> Result<Arc<OwnedFd>, ProcessError> {
    let path = binary.unwrap_or(Path::new(SELF_EXE));
    let seal_err = |source| ProcessError::Seal {
        path: PathBuf::from(path),
        source,
    };
    let file = File::open(path).map_err(seal_err)?;
    if memfd::is_sealed(file.as_fd()) {
        return Ok(Arc::new(OwnedFd::from(file)));
    }
    let meta = file.metadata().map_err(seal_err)?;
    let key = FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    };
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((cached, fd)) = cache.as_ref() {
        if *cached == key {
            return Ok(Arc::clone(fd));
        }
    }
    let overlay =
        OVERLAY_SPARE_LAYER
            .get()
            .and_then(|spare| match overlay_view(path, spare, meta.size()) {
                Ok(fd) => Some(fd),
                Err(error) => {
                    tracing::debug!(%error, "overlayfs seal refused; copying the binary instead");
                    None
                }
            });
    let sealed = match overlay {
        Some(fd) => fd,
        None => memfd::sealed_copy(file.as_fd(), c"unitbox-init")
            .map_err(|e| seal_err(std::io::Error::from(e)))?,
    };
    let sealed = Arc::new(sealed);
    *cache = Some((key, Arc::clone(&sealed)));
    Ok(sealed)
}

/// `binary` opened `O_PATH` through a new detached, read-only overlayfs mount whose lower
/// layers are the binary's directory and `spare` (runc's `sealedOverlayfs`). `size` is
/// the binary's, as a check that the view shows the same file.
fn overlay_view(binary: &Path, spare: &Path, size: u64) -> nix::Result<OwnedFd> {
    // overlayfs needs the real directory: `/proc/self/exe` is a magic link.
    let real = std::fs::canonicalize(binary).map_err(|_| nix::Error::ENOENT)?;
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(nix::Error::EINVAL);
    };
    // overlayfs refuses (and logs) layers inside one another: check first.
    let spare = [spare, Path::new("/dev")]
        .into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .find(|p| !p.starts_with(dir) && !dir.starts_with(p))
        .ok_or(nix::Error::ELOOP)?;
    let fs = mount::fs_open("overlay")?;
    mount::fs_set_string(fs.as_fd(), "lowerdir+", &dir.to_string_lossy())?;
    mount::fs_set_string(fs.as_fd(), "lowerdir+", &spare.to_string_lossy())?;
    // Inode-number remapping is of no use here and logs noise when layers differ in fs.
    let _ = mount::fs_set_string(fs.as_fd(), "xino", "off");
    mount::fs_create(fs.as_fd())?;
    let attrs = MountAttrFlags::RDONLY | MountAttrFlags::NOSUID | MountAttrFlags::NODEV;
    let mnt = mount::fs_mount(fs.as_fd(), attrs)?;
    let fd = openat(
        mnt.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let meta = File::from(fd.try_clone().map_err(|_| nix::Error::EBADF)?)
        .metadata()
        .map_err(|_| nix::Error::EIO)?;
    if !meta.is_file() || meta.size() != size {
        return Err(nix::Error::EIO);
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_binary_is_sealed_once_per_process() {
        let started = Instant::now();
        let first = sealed_init_binary(None).unwrap();
        let sealing = started.elapsed();
        let started = Instant::now();
        let second = sealed_init_binary(None).unwrap();
        let reuse = started.elapsed();
        assert!(Arc::ptr_eq(&first, &second));
        assert!(memfd::is_sealed(first.as_fd()));
        let size = std::fs::metadata(SELF_EXE).unwrap().len();
        eprintln!("sealing {size} bytes took {sealing:?}, reuse {reuse:?}");
    }

    #[test]
    fn the_overlay_view_is_the_binary_and_refuses_writes() {
        let spare = std::env::temp_dir().join(format!("unitbox-seal-{}", std::process::id()));
        std::fs::create_dir_all(&spare).unwrap();
        let size = std::fs::metadata(SELF_EXE).unwrap().len();
        let started = Instant::now();
        let view = overlay_view(Path::new(SELF_EXE), &spare, size).unwrap();
        let took = started.elapsed();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&view));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(SELF_EXE).unwrap()
        );
        // CVE-2019-5736's writes: the mount and the overlay superblock are read-only.
        for truncate in [false, true] {
            let err = std::fs::OpenOptions::new()
                .write(true)
                .truncate(truncate)
                .open(&path)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        }
        // A spare layer that overlaps the binary's directory gives way to `/dev`.
        let real = std::fs::canonicalize(SELF_EXE).unwrap();
        overlay_view(Path::new(SELF_EXE), real.parent().unwrap(), size).unwrap();
        std::fs::remove_dir(&spare).unwrap();
        eprintln!("overlay view of {size} bytes took {took:?}");
    }

    #[test]
    fn a_missing_binary_names_its_path() {
        let err = sealed_init_binary(Some(Path::new("/nonexistent/unitbox"))).unwrap_err();
        assert_eq!(err.to_string(), "seal init binary `/nonexistent/unitbox`");
    }
}
