//! File-descriptor plumbing: `close_range`, `dup2`, `F_DUPFD_CLOEXEC`, `FD_CLOEXEC`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`—Marks every fd from `first` up close-on-exec.
///
/// Marking instead of closing lets the process keep using its channel and exec fifo until
/// `execve`, while nothing of ours reaches the container (CVE-2024-21626).
///
/// # References
/// - [`close_range(2)`](https://man7.org/linux/man-pages/man2/close_range.2.html)
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range takes plain integers and touches only this process's fd table.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(rc).map(drop)
}

/// `close_range(2)`—Closes every fd from 3 up except `keep`: what a process forked from
/// a runtime keeps of its parent's descriptors is stdio and its channel.
///
/// Owners of the closed numbers may still exist in the caller's frames (the fork's copy of
/// its parent); the caller must never return to them, only exec or `_exit`.
///
/// # References
/// - [`close_range(2)`](https://man7.org/linux/man-pages/man2/close_range.2.html)
pub fn close_all_but_stdio_and(keep: BorrowedFd<'_>) -> nix::Result<()> {
    let keep = keep.as_raw_fd() as u32;
    let ranges = [(3, keep.checked_sub(1)), (keep + 1, Some(u32::MAX))];
    for (first, last) in ranges {
        let Some(last) = last.filter(|last| *last >= first) else {
            continue;
        };
        // SAFETY: close_range takes plain integers and touches only this process's fd
        // table; the caller gave up every descriptor in the range (see above).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        Errno::result(rc)?;
    }
    Ok(())
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`—Duplicates `fd` to the lowest free number `>= min`.
///
/// # References
/// - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> nix::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`, which the borrow keeps open.
    let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    let raw = Errno::result(raw)?;
    // SAFETY: fcntl returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `dup2(old, new)`—Places `old` at number `new` (without close-on-exec).
///
/// Async-signal-safe: this is what a `pre_exec` closure may call between fork and exec.
/// The caller owns fd number `new` afterwards; nothing here tracks it.
///
/// # References
/// - [`dup2(2)`](https://man7.org/linux/man-pages/man2/dup2.2.html)
pub fn dup_onto(old: RawFd, new: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 is async-signal-safe and only changes the fd table entry `new`, which
    // the caller declared its own.
    let rc = unsafe { libc::dup2(old, new) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of the one fd number this process inherited through `exec` for it
/// (init's channel), after checking that it is open and above stdio.
///
/// Only the first call succeeds (later ones get `EBUSY`), so no two owners can exist;
/// call it at process start, before anything else could have opened that number.
pub fn adopt_inherited(raw: RawFd) -> nix::Result<OwnedFd> {
    static ADOPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if raw < 3 {
        return Err(Errno::EBADF);
    }
    // SAFETY: F_GETFD only queries the descriptor.
    Errno::result(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    if ADOPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(Errno::EBUSY);
    }
    // SAFETY: the fd is open, was inherited for this purpose (the exec'ing parent put it
    // there), and the flag above makes this the only owner this process ever creates.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `fcntl(fd, F_SETFD, FD_CLOEXEC)`—Marks one fd close-on-exec.
///
/// # References
/// - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub fn set_cloexec(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: F_SETFD only changes a flag of the borrowed descriptor.
    Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// Places `fd` at number `target` for good: the descriptor is given up (consumed) and
/// number `target` now refers to it, without close-on-exec.
///
/// Used by init to lay out the preserved fds (3, 4, …) just before `execve`.
pub fn install_at(fd: OwnedFd, target: RawFd) -> nix::Result<()> {
    if fd.as_raw_fd() == target {
        // dup2 onto itself would keep FD_CLOEXEC; clear it instead.
        // SAFETY: F_SETFD only changes a flag of the descriptor we own.
        Errno::result(unsafe { libc::fcntl(target, libc::F_SETFD, 0) })?;
        std::mem::forget(fd);
        return Ok(());
    }
    // SAFETY: dup2 only changes fd table entry `target`, which the caller gives to `fd`.
    Errno::result(unsafe { libc::dup2(fd.as_raw_fd(), target) })?;
    Ok(())
}

/// Takes ownership of `count` descriptors starting at 3 that the caller of this process
/// passed on for a container (runc `--preserve-fds`), after checking each is open.
///
/// Call it once, at process start (the CLI does, before anything could have opened
/// those numbers); the fds are set close-on-exec in us, the spawn dup2s them into place.
pub fn take_preserved(count: u32) -> nix::Result<Vec<OwnedFd>> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(Errno::EBUSY);
    }
    let mut fds = Vec::new();
    for raw in 3..3 + count as RawFd {
        // SAFETY: F_GETFD only queries the descriptor.
        Errno::result(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
        // SAFETY: the fd is open, was inherited from our caller for the container, and the
        // flag above makes this the only owner this process ever creates of it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_cloexec(fd.as_fd())?;
        fds.push(fd);
    }
    Ok(fds)
}
