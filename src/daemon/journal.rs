//! Journal streams: container stdout/stderr as journald's stdout stream protocol.
//!
//! journald attributes a stream to the unit of the process that connected it (read from
//! its cgroup when the first line arrives), and, once that process is gone, to the
//! `unit_id` the stream header names (root callers only; `journald-stream.c`,
//! `client_context_read_cgroup`). The monitor connects the streams and then moves into the
//! container's scope before init runs, so `journalctl -u unitbox-<id>.scope` shows the
//! lines either way. Mirrors `exec_connect_to_journal` of systemd's `execute.c`.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// journald's stream socket.
pub const STREAM_SOCKET: &str = "/run/systemd/journal/stdout";

/// syslog priority of stdout lines (`info`).
pub const PRIORITY_STDOUT: u8 = 6;

/// syslog priority of stderr lines (`err`).
pub const PRIORITY_STDERR: u8 = 3;

/// A failure to open a journal stream.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// connect(2) or the header write failed.
    #[error("connect journal stream `{socket}`")]
    Connect {
        /// The socket path.
        socket: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The stream header: identifier, unit id, priority, level prefix, forward to syslog,
/// kmsg, console (journald-stream.c `STDOUT_STREAM_*` order).
pub fn stream_header(identifier: &str, unit: &str, priority: u8) -> String {
    format!("{identifier}\n{unit}\n{priority}\n0\n0\n0\n0\n")
}

/// Connects one stream whose lines are tagged `identifier` at `priority`, for `unit`.
pub fn connect_stream(
    socket: &Path,
    identifier: &str,
    unit: &str,
    priority: u8,
) -> Result<OwnedFd, JournalError> {
    let wrap = |source| JournalError::Connect {
        socket: socket.display().to_string(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(wrap)?;
    stream.shutdown(std::net::Shutdown::Read).map_err(wrap)?;
    stream
        .write_all(stream_header(identifier, unit, priority).as_bytes())
        .map_err(wrap)?;
    Ok(stream.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_seven_lines_in_journald_order() {
        let header = stream_header("web", "unitbox-web.scope", PRIORITY_STDERR);
        let lines: Vec<_> = header.lines().collect();
        assert_eq!(lines, ["web", "unitbox-web.scope", "3", "0", "0", "0", "0"]);
    }
}
