//! The exec fifo: how `create` leaves init blocked and `start` releases it.
//!
//! `start_init` makes `state_dir/exec.fifo` and hands init an `O_PATH` fd of it; init
//! reopens it `O_WRONLY` through `/proc/self/fd` (blocking until a reader comes), runs the
//! `startContainer` hooks, writes one byte and `execve`s; if a hook fails it writes its
//! `InitFailure` as JSON instead. [`release_exec_fifo`] is the reader: the `start` verb.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::ProcessError;
use crate::init::message::InitFailure;
use crate::sys::pidfd;

/// File name of the fifo in the container's state folder.
pub const EXEC_FIFO: &str = "exec.fifo";

/// Makes a fresh fifo in `state_dir` and opens it `O_PATH` for init.
pub(crate) fn create(state_dir: &Path) -> Result<OwnedFd, ProcessError> {
    let path = state_dir.join(EXEC_FIFO);
    let err = |action, source| ProcessError::ExecFifo {
        action,
        path: path.clone(),
        source,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("remove stale", e)),
    }
    // 0622 like runc: anyone may open the write side (init may run as a mapped uid in a
    // user namespace), only the owner may read, i.e. `start` it.
    let old = nix::sys::stat::umask(Mode::empty());
    let made = nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622));
    nix::sys::stat::umask(old);
    made.map_err(|e| err("create", e.into()))?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&path)
        .map_err(|e| err("open", e))?;
    Ok(file.into())
}

/// Releases a created container: reads the byte its init writes to `state_dir/exec.fifo`
/// (so init `execve`s the user process) and removes the fifo.
///
/// Fails with [`ProcessError::InitGone`] if the container's init (host pid `init_pid`)
/// exits instead of writing, with [`ProcessError::Init`] if it reported a failure (a
/// `startContainer` hook).
pub fn release_exec_fifo(state_dir: &Path, init_pid: i32) -> Result<(), ProcessError> {
    let path = state_dir.join(EXEC_FIFO);
    let err = |action, source| ProcessError::ExecFifo {
        action,
        path: path.clone(),
        source,
    };
    // The pidfd first: opening the fifo lets init write its byte, exec and (`/bin/true`)
    // exit and be reaped at once, after which its pid could no longer be opened.
    let init = pidfd::pidfd_open(init_pid).map_err(|_| ProcessError::InitGone { pid: init_pid })?;
    // Non-blocking open: a reader that blocked here would hang forever on a dead init.
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| err("open", e))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(init.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(err("poll", e.into())),
            Ok(_) => {}
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let init_exited = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            match read_release(&mut fifo).map_err(|e| err("read", e))? {
                Release::Pending => {}
                Release::Released => break,
                Release::Failed(failure) => return Err(ProcessError::Init { failure }),
            }
        } else if init_exited
            || fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
        {
            // Gone, or it opened the fifo and closed it without the byte: either way no
            // process will be released.
            return Err(ProcessError::InitGone { pid: init_pid });
        }
    }
    std::fs::remove_file(&path).map_err(|e| err("remove", e))
}

/// What init wrote on the fifo.
enum Release {
    /// Nothing yet.
    Pending,
    /// The release byte `0`: init execs the user process.
    Released,
    /// A failure after `start` opened the fifo (a `startContainer` hook), as JSON.
    Failed(InitFailure),
}

/// Reads the release byte, or the failure init wrote instead (in one write below
/// `PIPE_BUF`, so one read gets it whole).
fn read_release(fifo: &mut File) -> std::io::Result<Release> {
    let mut buf = [0u8; 4096];
    let n = match fifo.read(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Release::Pending),
        Err(e) => return Err(e),
    };
    match &buf[..n] {
        [] => Ok(Release::Pending),
        [b'0', ..] => Ok(Release::Released),
        text => serde_json::from_slice(text)
            .map(Release::Failed)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    }
}
