//! The sealed copy of the init binary that every init is exec'd from (CVE-2019-5736).
//!
//! Sealing copies the binary into a memfd once per process and per binary; later starts
//! reuse it, so a daemon pays the copy once and a CLI invocation pays it once (measured
//! in the report of `sealing_is_cheap`). A binary that already runs from a sealed memfd is
//! reused as is.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::ProcessError;
use crate::sys::memfd;

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

/// A sealed memfd holding `binary` (default [`SELF_EXE`]); cached per process.
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
    let sealed = memfd::sealed_copy(file.as_fd(), c"unitbox-init")
        .map_err(|e| seal_err(std::io::Error::from(e)))?;
    let sealed = Arc::new(sealed);
    *cache = Some((key, Arc::clone(&sealed)));
    Ok(sealed)
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
    fn a_missing_binary_names_its_path() {
        let err = sealed_init_binary(Some(Path::new("/nonexistent/unitbox"))).unwrap_err();
        assert_eq!(err.to_string(), "seal init binary `/nonexistent/unitbox`");
    }
}
