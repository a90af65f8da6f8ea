//! `memfd_create` + `F_ADD_SEALS`: an immutable in-memory copy of an executable.
//!
//! The runtime never executes its own binary file inside a container's reach: it runs a
//! sealed copy, so a container process that opens `/proc/<pid>/exe` for writing gets
//! `EPERM` instead of overwriting the host binary (CVE-2019-5736).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::fstat;

/// The seals that make a memfd immutable for good.
const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)` + `sendfile` + `F_ADD_SEALS`—
/// Copies the whole of `source` into a new memfd and seals it against every change.
///
/// The copy stays in the kernel (`sendfile`, no user-space buffer).
///
/// # References
/// - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
/// - [`sendfile(2)`](https://man7.org/linux/man-pages/man2/sendfile.2.html)
pub fn sealed_copy(source: BorrowedFd<'_>, name: &std::ffi::CStr) -> nix::Result<OwnedFd> {
    let size = usize::try_from(fstat(source)?.st_size).map_err(|_| nix::Error::EFBIG)?;
    let memfd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut offset: libc::off64_t = 0;
    let mut left = size;
    while left > 0 {
        // SAFETY: both fds are open for the call; the kernel updates `offset`, ours.
        let rc =
            unsafe { libc::sendfile64(memfd.as_raw_fd(), source.as_raw_fd(), &mut offset, left) };
        let n = match Errno::result(rc) {
            Err(Errno::EINTR) => continue,
            other => other? as usize,
        };
        if n == 0 {
            // The file shrank under us: refuse a truncated binary.
            return Err(nix::Error::EIO);
        }
        left -= n;
    }
    fcntl(memfd.as_fd(), FcntlArg::F_ADD_SEALS(SEALS))?;
    Ok(memfd)
}

/// `fcntl(F_GET_SEALS)`—Whether `fd` carries every seal [`sealed_copy`] sets.
///
/// # References
/// - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub fn is_sealed(fd: BorrowedFd<'_>) -> bool {
    fcntl(fd, FcntlArg::F_GET_SEALS)
        .map(|bits| SealFlag::from_bits_truncate(bits).contains(SEALS))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_sealed_copy_is_identical_and_refuses_every_change() {
        let mut source = tempfile_with(b"#!/bin/true\nbinary bytes\n");
        let sealed = sealed_copy(source.as_fd(), c"test-seal").unwrap();
        assert!(is_sealed(sealed.as_fd()));
        assert!(!is_sealed(source.as_fd()));

        let path = format!("/proc/self/fd/{}", sealed.as_raw_fd());
        let mut copy = String::new();
        File::open(&path)
            .unwrap()
            .read_to_string(&mut copy)
            .unwrap();
        assert_eq!(copy, "#!/bin/true\nbinary bytes\n");

        // Writing, growing and shrinking all fail: CVE-2019-5736's overwrite included.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert_eq!(
            writer.write(b"pwned").unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(writer.set_len(0).is_err());
        assert!(writer.set_len(1 << 20).is_err());
        source.write_all(b"later change").unwrap();
        let mut again = String::new();
        File::open(&path)
            .unwrap()
            .read_to_string(&mut again)
            .unwrap();
        assert_eq!(again, copy);
    }

    fn tempfile_with(bytes: &[u8]) -> File {
        let fd = memfd_create(c"source", MFdFlags::MFD_CLOEXEC).unwrap();
        let mut file = File::from(fd);
        file.write_all(bytes).unwrap();
        file
    }
}
