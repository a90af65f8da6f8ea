//! The exec fifo: `<state dir>/exec.fifo`, on which a created container's init waits.
//!
//! init opens the fifo for writing (which blocks until a reader comes) and writes one
//! byte; `start` opens it for reading, takes the byte and removes the fifo, so "the fifo
//! exists" means "created, not started" to every later process (runc's `exec.fifo`).
//! The reader never blocks blindly: it polls and gives up when init dies meanwhile.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::ContainerError;
use crate::store::InitLiveness;

/// File name of the fifo in the container's state folder.
pub const EXEC_FIFO: &str = "exec.fifo";

/// How often the reader checks that init is still alive while it waits.
const LIVENESS_INTERVAL: u16 = 50;

/// How long `start` waits for init to reach the fifo (it is normally there already).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The fifo of the container whose state folder is `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(EXEC_FIFO)
}

/// Lets init exec: reads its byte from the fifo, then removes the fifo.
///
/// `init` is init's pid and start time, checked while waiting so a dead init is an error
/// rather than a hang.
pub fn release(dir: &Path, init: (i32, u64)) -> Result<(), ContainerError> {
    let path = path(dir);
    let fifo_err = |source| ContainerError::ExecFifo {
        path: path.clone(),
        source,
    };
    // Non-blocking open: a reader must not wait forever for a writer that died.
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(fifo_err)?;
    wait_for_byte(&mut fifo, init).map_err(|e| match e {
        WaitError::Io(source) => fifo_err(source),
        WaitError::InitGone => ContainerError::InitDied { pid: init.0 },
        WaitError::TimedOut => ContainerError::ExecFifoTimeout { path: path.clone() },
    })?;
    fs::remove_file(&path).map_err(fifo_err)
}

enum WaitError {
    Io(io::Error),
    InitGone,
    TimedOut,
}

fn wait_for_byte(fifo: &mut File, (pid, start_time): (i32, u64)) -> Result<(), WaitError> {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, PollTimeout::from(LIVENESS_INTERVAL)) {
            Ok(n) => n > 0,
            Err(nix::errno::Errno::EINTR) => false,
            Err(errno) => return Err(WaitError::Io(errno.into())),
        };
        if ready {
            let mut byte = [0u8; 1];
            match fifo.read(&mut byte) {
                Ok(1) => return Ok(()),
                // The writer closed without writing: it died (or exec'd) on its way.
                Ok(_) => return Err(WaitError::InitGone),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(WaitError::Io(e)),
            }
        }
        if InitLiveness::of(pid, start_time) == InitLiveness::Gone {
            return Err(WaitError::InitGone);
        }
        if Instant::now() >= deadline {
            return Err(WaitError::TimedOut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("unitbox-fifo-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(&path(&dir), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        dir
    }

    fn me() -> (i32, u64) {
        let pid = std::process::id() as i32;
        (pid, crate::store::pid_start_time(pid).unwrap())
    }

    #[test]
    fn release_takes_the_byte_and_removes_the_fifo() {
        let dir = scratch("ok");
        let fifo = path(&dir);
        let mut writer = Command::new("sh")
            .arg("-c")
            .arg(format!("printf 0 > {}", fifo.display()))
            .spawn()
            .unwrap();
        release(&dir, me()).unwrap();
        assert!(writer.wait().unwrap().success());
        assert!(!fifo.exists());
    }

    #[test]
    fn release_fails_when_init_is_gone() {
        let dir = scratch("dead");
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = crate::store::pid_start_time(pid).unwrap_or(1);
        child.wait().unwrap();
        let err = release(&dir, (pid, start)).unwrap_err();
        assert!(matches!(err, ContainerError::InitDied { .. }), "{err:?}");
        assert!(
            path(&dir).exists(),
            "a failed start keeps the container created"
        );
    }

    #[test]
    fn missing_fifo_is_an_error_naming_it() {
        let dir = scratch("missing");
        fs::remove_file(path(&dir)).unwrap();
        let err = release(&dir, me()).unwrap_err();
        assert!(err.to_string().contains(EXEC_FIFO), "{err}");
    }
}
