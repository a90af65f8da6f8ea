//! Terminals: a pty from the container's devpts, handed out through `--console-socket`.
//!
//! init opens `/dev/ptmx` *after* `pivot_root`, so the pty belongs to the container's own
//! devpts instance, and gets the peer with `TIOCGPTPEER` instead of opening a
//! `/dev/pts/N` path the image could have replaced with a symlink (CVE-2025-52565). Both
//! ends are checked to live on a devpts filesystem. The master goes to the console socket
//! in runc's protocol: one message, the name as payload, the fd as `SCM_RIGHTS`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};

use crate::config::ConsoleSize;
use crate::sys::{pty, scm};

/// The name sent with the master, as runc sends it.
pub const MASTER_NAME: &str = "/dev/ptmx";

/// A terminal failure.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A pty syscall failed.
    #[error("`{call}` on the pty")]
    Pty {
        /// `open /dev/ptmx`, `TIOCSPTLCK`, `TIOCGPTPEER`, `TIOCSWINSZ`, `TIOCSCTTY`, `dup2`.
        call: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// A pty end is not on devpts.
    #[error("pty {end} is not on a devpts filesystem")]
    NotDevpts {
        /// `master` or `peer`.
        end: &'static str,
    },
    /// Sending or receiving over the console socket failed.
    #[error("{action} pty master over the console socket")]
    Socket {
        /// `send` or `receive`.
        action: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// The console socket peer sent no fd (or more than one).
    #[error("console socket message carried {0} descriptors, expected 1")]
    BadMessage(usize),
}

fn pty_err(call: &'static str) -> impl Fn(nix::Error) -> ConsoleError {
    move |source| ConsoleError::Pty { call, source }
}

/// Both ends of a new pty.
#[derive(Debug)]
pub struct Pty {
    /// The master: the runtime side.
    pub master: OwnedFd,
    /// The peer: the process's stdio and `/dev/console`.
    pub peer: OwnedFd,
}

/// Opens a pty from the devpts of the current root (`/dev/ptmx`).
pub fn open_pty(size: Option<ConsoleSize>) -> Result<Pty, ConsoleError> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(pty_err("open `/dev/ptmx`"))?;
    check_devpts(master.as_fd(), "master")?;
    pty::unlock(master.as_fd()).map_err(pty_err("TIOCSPTLCK"))?;
    let peer = pty::open_peer(master.as_fd()).map_err(pty_err("TIOCGPTPEER"))?;
    check_devpts(peer.as_fd(), "peer")?;
    if let Some(size) = size {
        pty::set_window_size(master.as_fd(), size.height, size.width)
            .map_err(pty_err("TIOCSWINSZ"))?;
    }
    Ok(Pty { master, peer })
}

fn check_devpts(fd: BorrowedFd<'_>, end: &'static str) -> Result<(), ConsoleError> {
    let fs = fstatfs(fd).map_err(pty_err("fstatfs"))?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(ConsoleError::NotDevpts { end });
    }
    Ok(())
}

/// Makes `peer` the caller's stdin, stdout, stderr and controlling terminal (the caller
/// must be a session leader).
pub fn attach_stdio(peer: &OwnedFd) -> Result<(), ConsoleError> {
    nix::unistd::dup2_stdin(peer).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stdout(peer).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stderr(peer).map_err(pty_err("dup2"))?;
    pty::set_controlling_terminal(peer.as_fd()).map_err(pty_err("TIOCSCTTY"))
}

/// Sends the pty master over a connected console socket (runc's protocol).
pub fn send_master(socket: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<(), ConsoleError> {
    scm::send_with_fds(socket, MASTER_NAME.as_bytes(), &[master])
        .map(drop)
        .map_err(|source| ConsoleError::Socket {
            action: "send",
            source,
        })
}

/// Receives a pty master from an accepted console-socket connection: what
/// `--console-socket` listeners (runc's `recvtty`) do. Returns the name and the fd.
pub fn receive_master(connection: BorrowedFd<'_>) -> Result<(String, OwnedFd), ConsoleError> {
    let mut name = [0u8; 4096];
    let mut got =
        scm::recv_with_fds(connection, &mut name).map_err(|source| ConsoleError::Socket {
            action: "receive",
            source,
        })?;
    if got.fds.len() != 1 {
        return Err(ConsoleError::BadMessage(got.fds.len()));
    }
    let master = got.fds.remove(0);
    Ok((
        String::from_utf8_lossy(&name[..got.len]).into_owned(),
        master,
    ))
}
