//! The descriptors init receives with its bootstrap, and the fd table it leaves to the
//! container process: 0–2, the preserved fds at 3…, nothing else (CVE-2024-21626).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::message::FdLayout;
use super::InitError;
use crate::sys::fd;

/// The bootstrap's descriptors, by role.
#[derive(Debug, Default)]
pub struct BootFds {
    /// `exec.fifo`, `O_PATH` (init only).
    pub exec_fifo: Option<OwnedFd>,
    /// pidfd of the container's init (exec only).
    pub container_pidfd: Option<OwnedFd>,
    /// Connected console socket.
    pub console_socket: Option<OwnedFd>,
    /// Files for fds 3, 4, ….
    pub extra_files: Vec<OwnedFd>,
}

impl BootFds {
    /// Splits the received fds per `layout` (see [`FdLayout`] for the order).
    pub fn split(layout: &FdLayout, fds: Vec<OwnedFd>) -> Result<Self, InitError> {
        let want = usize::from(layout.exec_fifo)
            + usize::from(layout.container_pidfd)
            + usize::from(layout.console_socket)
            + layout.extra_files;
        if fds.len() != want {
            return Err(InitError::FdCount {
                want,
                got: fds.len(),
            });
        }
        let mut fds = fds.into_iter();
        let mut take = |present: bool| if present { fds.next() } else { None };
        let exec_fifo = take(layout.exec_fifo);
        let container_pidfd = take(layout.container_pidfd);
        let console_socket = take(layout.console_socket);
        Ok(BootFds {
            exec_fifo,
            container_pidfd,
            console_socket,
            extra_files: fds.collect(),
        })
    }
}

/// Moves `fd` to a number `>= min` (close-on-exec), so installing the preserved fds at
/// 3… cannot overwrite it.
pub fn move_above(fd: OwnedFd, min: i32) -> Result<OwnedFd, InitError> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    fd::dup_at_least(fd.as_fd(), min).map_err(|source| InitError::Syscall {
        call: "fcntl(F_DUPFD_CLOEXEC)",
        source,
    })
}

/// Installs `extra` at 3, 4, … and marks every fd above them close-on-exec.
///
/// Every fd the caller still needs must already sit above `3 + extra.len()` (see
/// [`move_above`]); they close at `execve`.
pub fn install_preserved(extra: Vec<OwnedFd>) -> Result<(), InitError> {
    let first_free = 3 + extra.len() as i32;
    let moved: Vec<OwnedFd> = extra
        .into_iter()
        .map(|f| move_above(f, first_free))
        .collect::<Result<_, _>>()?;
    for (i, file) in moved.into_iter().enumerate() {
        fd::install_at(file, 3 + i as i32).map_err(|source| InitError::Syscall {
            call: "dup2",
            source,
        })?;
    }
    fd::cloexec_from(first_free as u32).map_err(|source| InitError::Syscall {
        call: "close_range",
        source,
    })
}
