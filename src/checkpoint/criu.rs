//! The `criu` binary: probing it (`--version`, `check`) and driving one `criu swrk`.
//!
//! Dump and restore go through criu's RPC worker (`criu swrk 3`, as runc does) rather
//! than its command line: the worker waits for its request, so a restore can first put
//! the worker into the container's new scope (nothing it forks escapes), and the restored
//! root task becomes *our* child (`rst_sibling`). criu's own log lands in the work
//! folder; a failure reports criu's error lines from it.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::rpc::{ReqType, Request, Response};
use super::CheckpointError;

/// The oldest criu we drive: 3.14 restores cgroup v2 hosts and has every RPC field used.
pub const MIN_VERSION: CriuVersion = CriuVersion {
    major: 3,
    minor: 14,
    sublevel: 0,
};

/// The fd the worker finds its socket at (`criu swrk 3`).
const SWRK_FD: i32 = 3;

/// First fd number for descriptors placed in the worker: clear of stdio and the socket.
const HIGH_FD: i32 = 10;

/// Largest response packet we accept (runc reads 10 pages).
const RESPONSE_MAX: usize = 10 * 4096;

/// A criu version (`Version: 3.17.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CriuVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Sublevel (0 when not printed).
    pub sublevel: u32,
}

impl std::fmt::Display for CriuVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.sublevel)
    }
}

/// Parses the `Version: X.Y[.Z]` line of `criu --version`.
pub fn parse_version(output: &str) -> Option<CriuVersion> {
    let line = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))?;
    let mut parts = line.trim().split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let sublevel = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some(CriuVersion {
        major,
        minor,
        sublevel,
    })
}

/// Checks that `criu` exists, is new enough and that `criu check` passes on this kernel;
/// returns its version. A success is remembered for the life of the process.
pub fn probe(criu: &Path) -> Result<CriuVersion, CheckpointError> {
    static PASSED: OnceLock<Mutex<HashSet<(PathBuf, CriuVersion)>>> = OnceLock::new();
    let passed = PASSED.get_or_init(|| Mutex::new(HashSet::new()));
    if let Some((_, v)) = passed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(p, _)| p == criu)
    {
        return Ok(*v);
    }
    let version = usable_version(criu)?;
    check(criu)?;
    passed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((criu.to_owned(), version));
    Ok(version)
}

/// The cheap half of [`probe`], run before every dump and restore: `criu` exists and is
/// new enough. `criu check` costs as much as a dump's own kernel probing (seconds under
/// emulation), so it runs only to explain a failed request ([`explain`]).
pub fn usable_version(criu: &Path) -> Result<CriuVersion, CheckpointError> {
    let version = version(criu)?;
    if version < MIN_VERSION {
        return Err(CheckpointError::CriuTooOld {
            path: criu.to_owned(),
            found: version.to_string(),
            needed: MIN_VERSION.to_string(),
        });
    }
    Ok(version)
}

/// A failed request's error, or `criu check`'s verdict when the kernel is the reason
/// (criu's log then only says that it could not initialize).
pub fn explain(criu: &Path, error: CheckpointError) -> CheckpointError {
    match check(criu) {
        Err(check_failed @ CheckpointError::CriuCheckFailed { .. }) => check_failed,
        _ => error,
    }
}

/// `criu --version`.
fn version(criu: &Path) -> Result<CriuVersion, CheckpointError> {
    let out = run(criu, &["--version"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| CheckpointError::CriuVersionUnreadable {
        path: criu.to_owned(),
        output: text.trim().to_owned(),
    })
}

/// `criu check`: criu's own verdict on the kernel, its error lines as the message.
fn check(criu: &Path) -> Result<(), CheckpointError> {
    let out = run(criu, &["check"])?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(CheckpointError::CriuCheckFailed {
        path: criu.to_owned(),
        message: error_lines(&text).unwrap_or_else(|| text.trim().to_owned()),
    })
}

fn run(criu: &Path, args: &[&str]) -> Result<std::process::Output, CheckpointError> {
    Command::new(criu)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                CheckpointError::CriuMissing {
                    path: criu.to_owned(),
                    source,
                }
            }
            _ => CheckpointError::RunCriu {
                path: criu.to_owned(),
                source,
            },
        })
}

/// criu's `Error (file:line): …` lines of `text`, the last few joined with `; `.
pub fn error_lines(text: &str) -> Option<String> {
    let errors: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("Error (") || l.starts_with("Error"))
        .collect();
    if errors.is_empty() {
        return None;
    }
    let tail = &errors[errors.len().saturating_sub(4)..];
    Some(tail.join("; "))
}

/// The error lines of criu's log `log`, or a pointer to it.
pub fn log_message(log: &Path) -> String {
    match std::fs::read(log) {
        Ok(bytes) => error_lines(&String::from_utf8_lossy(&bytes))
            .unwrap_or_else(|| "no error lines in its log".to_owned()),
        Err(_) => "it wrote no log".to_owned(),
    }
}

/// The error for a failed `action`: criu's `cr_errmsg`, else the error lines of `log`.
pub fn failure(action: &'static str, resp: &Response, log: PathBuf) -> CheckpointError {
    let message = resp
        .cr_errmsg
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| log_message(&log));
    CheckpointError::CriuFailed {
        action,
        message,
        log,
    }
}

/// The worker's stdio and the other descriptors it inherits.
#[derive(Debug, Default)]
pub struct WorkerFds {
    /// fd 0, 1, 2 of the worker (restored tasks inherit the recorded pipes from these).
    pub stdio: [Option<OwnedFd>; 3],
    /// Descriptors placed at fd 4, 5, … of the worker (`inherit_fd` for namespaces).
    pub extra: Vec<OwnedFd>,
}

/// The fd number the worker sees extra descriptor `index` at.
pub fn extra_fd_number(index: usize) -> i32 {
    SWRK_FD + 1 + index as i32
}

/// What handles a criu notification (with the descriptors that came with it).
pub type NotifyHandler<'a> = dyn FnMut(&Response, Vec<OwnedFd>) -> Result<(), CheckpointError> + 'a;

/// One running `criu swrk`; killed and reaped if dropped unfinished.
#[derive(Debug)]
pub struct Worker {
    child: Option<Child>,
    sock: Option<OwnedFd>,
    criu: PathBuf,
}

impl Worker {
    /// Starts `criu swrk 3` with `fds` (stdio `None`: `/dev/null`).
    pub fn start(criu: &Path, fds: WorkerFds) -> Result<Worker, CheckpointError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(CheckpointError::Socket)?;
        let spawn_err = |source| CheckpointError::RunCriu {
            path: criu.to_owned(),
            source,
        };
        let high = |fd: &OwnedFd| {
            crate::sys::fd::dup_at_least(fd.as_fd(), HIGH_FD).map_err(|e| spawn_err(e.into()))
        };
        let theirs = high(&theirs)?;
        let extra: Vec<OwnedFd> = fds.extra.iter().map(high).collect::<Result<_, _>>()?;
        let [stdin, stdout, stderr] = fds.stdio;
        let stdio = |fd: Option<OwnedFd>| fd.map_or_else(std::process::Stdio::null, Into::into);
        let mut command = Command::new(criu);
        command
            .args(["swrk", &SWRK_FD.to_string()])
            .stdin(stdio(stdin))
            .stdout(stdio(stdout))
            .stderr(stdio(stderr));
        crate::sys::spawn::place_fd_in_child(&mut command, theirs.as_raw_fd(), SWRK_FD);
        for (i, fd) in extra.iter().enumerate() {
            crate::sys::spawn::place_fd_in_child(&mut command, fd.as_raw_fd(), extra_fd_number(i));
        }
        let child = command.spawn().map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CheckpointError::CriuMissing {
                path: criu.to_owned(),
                source,
            },
            _ => spawn_err(source),
        })?;
        drop((theirs, extra));
        Ok(Worker {
            child: Some(child),
            sock: Some(ours),
            criu: criu.to_owned(),
        })
    }

    /// The worker's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `req` and returns criu's final answer. Notifications on the way go to
    /// `on_notify` (with the descriptors that came along) and are acknowledged with its
    /// verdict.
    pub fn call(
        &mut self,
        req: &Request,
        on_notify: &mut NotifyHandler<'_>,
    ) -> Result<Response, CheckpointError> {
        let action = req.kind.as_str();
        let sock = self
            .sock
            .as_ref()
            .ok_or(CheckpointError::CriuExited { action })?;
        crate::sys::scm::send_with_fds(sock.as_fd(), &req.encode(), &[])
            .map_err(|source| CheckpointError::Rpc { action, source })?;
        let mut buf = vec![0u8; RESPONSE_MAX];
        loop {
            let got = crate::sys::scm::recv_with_fds(sock.as_fd(), &mut buf)
                .map_err(|source| CheckpointError::Rpc { action, source })?;
            if got.len == 0 {
                return Err(CheckpointError::CriuExited { action });
            }
            let resp = Response::decode(&buf[..got.len])?;
            if !resp.is_notify() {
                return Ok(resp);
            }
            let verdict = on_notify(&resp, got.fds);
            let ack = Request {
                kind: ReqType::Notify,
                opts: None,
                notify_success: verdict.is_ok(),
            };
            crate::sys::scm::send_with_fds(sock.as_fd(), &ack.encode(), &[])
                .map_err(|source| CheckpointError::Rpc { action, source })?;
            verdict?;
        }
    }

    /// Closes the socket and reaps the worker (it exits once its request is done).
    pub fn finish(mut self) -> Result<(), CheckpointError> {
        drop(self.sock.take());
        if let Some(mut child) = self.child.take() {
            child.wait().map_err(|source| CheckpointError::RunCriu {
                path: self.criu.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.sock.take());
        if let Some(mut child) = self.child.take() {
            // An unfinished worker: the operation failed; best effort.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_criu_output() {
        let rows = [
            ("Version: 3.17.1\n", Some((3, 17, 1))),
            ("Version: 3.19\nGitID: v3.19\n", Some((3, 19, 0))),
            ("Version: 4.0-rc1\n", Some((4, 0, 0))),
            ("criu: unknown option\n", None),
        ];
        for (text, want) in rows {
            let got = parse_version(text).map(|v| (v.major, v.minor, v.sublevel));
            assert_eq!(got, want, "{text:?}");
        }
        assert!(parse_version("Version: 3.13.0").unwrap() < MIN_VERSION);
        assert!(parse_version("Version: 3.17.1").unwrap() >= MIN_VERSION);
    }

    #[test]
    fn error_lines_are_criu_errors_only() {
        let text = "Warn (criu/kerndat.c:1): x\n\
                    Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                    (00.1) something\n\
                    Error (criu/crtools.c:260): Could not initialize kernel features detection.\n";
        assert_eq!(
            error_lines(text).unwrap(),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; \
             Error (criu/crtools.c:260): Could not initialize kernel features detection."
        );
        assert_eq!(error_lines("Looks good.\n"), None);
    }

    #[test]
    fn a_missing_criu_is_named() {
        let err = probe(Path::new("/nonexistent/criu")).unwrap_err();
        assert!(
            matches!(err, CheckpointError::CriuMissing { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("/nonexistent/criu"), "{err}");
    }
}
