//! `pidfd_open`, `pidfd_send_signal`, `waitid(P_PIDFD)`: process handles that cannot be
//! confused with a recycled pid.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal (this number) killed it.
    Signal(i32),
}

/// `pidfd_open(pid, 0)`—Opens a handle on process `pid`.
///
/// # References
/// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers and returns a new fd or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let raw = Errno::result(rc)?;
    // SAFETY: the kernel returned a new fd that nobody else owns (fds fit in c_int).
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`—Signals the process behind `pidfd`.
///
/// # References
/// - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> nix::Result<()> {
    // SAFETY: a null siginfo is allowed; the fd is kept open by the borrow.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// `waitid(P_PIDFD, pidfd, WEXITED [| WNOHANG])`—Reaps the child behind `pidfd`.
///
/// Returns `None` when `block` is false and the child is still running.
///
/// # References
/// - [`waitid(2)`](https://man7.org/linux/man-pages/man2/waitid.2.html)
pub fn wait_pidfd(pidfd: BorrowedFd<'_>, block: bool) -> nix::Result<Option<Exit>> {
    let mut options = libc::WEXITED;
    if !block {
        options |= libc::WNOHANG;
    }
    loop {
        // SAFETY: siginfo_t is plain data; all zeroes is valid and lets us see WNOHANG's
        // "nothing yet" (si_pid stays 0).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`, which we own.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                options,
            )
        };
        match Errno::result(rc) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // SAFETY: waitid succeeded, so the SIGCHLD fields of the union are initialised
        // (si_pid is 0 only when WNOHANG found nothing).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => Exit::Code(status),
            _ => Exit::Signal(status),
        }));
    }
}
