//! The daemon ↔ monitor conversation: JSON lines on a socketpair, descriptors alongside.
//!
//! The two sides take strict turns (each message but the last answers the previous one),
//! so reading up to the first newline never swallows part of the next message. A monitor
//! waits idle in the daemon's pool for a [`ToMonitor::Create`] (or
//! [`ToMonitor::OpenJournal`]); while it creates, it asks the daemon to make and unmake the
//! scope ([`FromMonitor::Apply`], [`FromMonitor::Destroy`]) with the daemon's warm systemd
//! connection, and it never connects to systemd itself.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::config::Config;

/// Longest message accepted (a config with many mounts and rules stays far below).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// What the daemon asks a monitor to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorRequest {
    /// The container id.
    pub id: String,
    /// The checked config (bundle or inline config.json, with the create options applied).
    pub config: Config,
    /// Open journal streams for stdout/stderr.
    pub journal: bool,
    /// A descriptor for init's stdout travels with the request.
    pub stdout: bool,
    /// A descriptor for init's stderr travels with the request (after stdout's).
    pub stderr: bool,
    /// Start the container once created (`RunContainer`): the monitor releases init
    /// itself, saving the daemon a round of load and start.
    #[serde(default)]
    pub start: bool,
    /// Restore the container from this checkpoint instead of creating it
    /// (`RestoreContainer`); the restored container is running, so `start` is moot.
    #[serde(default)]
    pub restore: Option<crate::checkpoint::CriuOpts>,
}

/// Daemon → monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToMonitor {
    /// Create this container and become the parent of its init.
    Create(Box<MonitorRequest>),
    /// Connect journal streams for `unit` (the daemon moved us into its scope first),
    /// hand them over and leave.
    OpenJournal {
        /// The identifier of the lines (the container id).
        id: String,
        /// The scope.
        unit: String,
    },
    /// The scope holds the pid of [`FromMonitor::Apply`]; these are its directories.
    Applied {
        /// Controller → cgroup directory, as `CgroupManager::paths`.
        paths: BTreeMap<String, PathBuf>,
    },
    /// The scope could not be made (the daemon keeps and reports the cause).
    ApplyFailed {
        /// What went wrong.
        message: String,
    },
    /// The scope of a failed create is gone.
    Destroyed,
    /// The daemon moved the monitor into the container's scope.
    Attached,
}

/// Monitor → daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromMonitor {
    /// Make the scope holding `pid` (init, blocked before it does anything).
    Apply {
        /// Host pid.
        pid: i32,
    },
    /// Undo the scope: the create failed after [`FromMonitor::Apply`].
    Destroy,
    /// The container exists, init waits on the exec fifo. The journal streams, if any,
    /// travel with this message.
    Created {
        /// Host pid of init.
        init_pid: i32,
    },
    /// Nothing was made (the library undid every step).
    Failed {
        /// The library's `ErrorCode` name.
        code: String,
        /// The error chain.
        message: String,
    },
    /// The journal streams of [`ToMonitor::OpenJournal`] travel with this message.
    Journal,
}

/// A failure of the conversation.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("talk over the monitor socket")]
    Io(#[source] std::io::Error),
    /// The peer closed the socket before a whole message.
    #[error("the monitor socket closed")]
    Closed,
    /// A message that is not what the protocol says.
    #[error("read a monitor message")]
    Json(#[source] serde_json::Error),
    /// A message beyond the longest accepted (16 MiB).
    #[error("monitor message over {MAX_MESSAGE} bytes")]
    TooLong,
}

/// Sends one message with `fds` attached.
pub fn send<T: Serialize>(
    sock: &UnixStream,
    message: &T,
    fds: &[BorrowedFd<'_>],
) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(message).map_err(WireError::Json)?;
    line.push(b'\n');
    let mut sent = 0;
    while sent < line.len() {
        // Descriptors go with the first chunk only.
        let attach = if sent == 0 { fds } else { &[] };
        sent += crate::sys::scm::send_with_fds(sock.as_fd(), &line[sent..], attach)
            .map_err(|e| WireError::Io(e.into()))?;
    }
    Ok(())
}

/// Receives one message and the descriptors that came with it.
pub fn recv<T: DeserializeOwned>(sock: &UnixStream) -> Result<(T, Vec<OwnedFd>), WireError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut text = Vec::new();
    let mut fds = Vec::new();
    loop {
        let received = crate::sys::scm::recv_with_fds(sock.as_fd(), &mut buf)
            .map_err(|e| WireError::Io(e.into()))?;
        fds.extend(received.fds);
        if received.len == 0 {
            return Err(WireError::Closed);
        }
        text.extend_from_slice(&buf[..received.len]);
        if text.ends_with(b"\n") {
            break;
        }
        if text.len() > MAX_MESSAGE {
            return Err(WireError::TooLong);
        }
    }
    let message = serde_json::from_slice(&text).map_err(WireError::Json)?;
    Ok((message, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_descriptors_cross_a_socketpair() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send(&a, &FromMonitor::Created { init_pid: 42 }, &[file.as_fd()]).unwrap();
        let (message, fds) = recv::<FromMonitor>(&b).unwrap();
        assert!(matches!(message, FromMonitor::Created { init_pid: 42 }));
        assert_eq!(fds.len(), 1);
        drop(a);
        assert!(matches!(recv::<ToMonitor>(&b), Err(WireError::Closed)));
    }
}
