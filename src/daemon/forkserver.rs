//! The monitors' fork server: one single-threaded process that forks every monitor.
//!
//! The daemon is threaded, so it may not fork a monitor itself, and exec'ing a fresh
//! `unitbox monitor` per container costs loading and linking the binary (about 1 ms of
//! CPU each, the same again for its init). Instead the daemon starts `unitbox forkserver`
//! once, from its sealed copy of the binary; for each monitor it sends one end of a new
//! socketpair, and the fork server forks a child that becomes the monitor on that socket.
//! A monitor's `/proc/self/exe` is then the sealed memfd, as an exec'd one's was, and its
//! own init can in turn be a plain fork ([`crate::process`] checks both conditions).
//!
//! The fork server answers each request with the monitor's pid and a pidfd (taken while
//! the monitor is its unreaped child, so the pid cannot have been reused), and reaps the
//! monitors that end (a `signalfd` for `SIGCHLD` next to the request socket). It lives in
//! the daemon's cgroup and ends with the daemon (end-of-file on its socket, or the
//! service's stop); monitors with containers have left for their scopes by then and are
//! re-parented to PID 1, exactly like monitors of a daemon that restarted.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::error::BusError;
use super::wire;
use crate::sys::fork::{Forked, SingleThreaded};

/// Daemon → fork server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToForkServer {
    /// Fork a monitor whose control socket travels with this message.
    Monitor,
}

/// Fork server → daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromForkServer {
    /// The monitor runs; its pidfd travels with this message.
    Forked {
        /// Host pid.
        pid: i32,
    },
    /// No monitor: why.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Exit code of a forked monitor that could not set itself up.
const EXIT_MONITOR_SETUP: u8 = 122;

/// Entry point of `unitbox forkserver --root <root>` (argv after `forkserver`); its stdin
/// is the daemon's socket.
pub fn main(args: &[String]) -> ExitCode {
    let root = match args {
        [flag, root] if flag == "--root" => PathBuf::from(root),
        _ => {
            eprintln!("usage: unitbox forkserver --root <state root>");
            return ExitCode::from(2);
        }
    };
    // Forked monitors run any code: that is only sound while we have one thread.
    let Ok(proof) = crate::sys::fork::single_threaded() else {
        return ExitCode::FAILURE;
    };
    // Our own session: signals to the daemon's process group do not reach us.
    let _ = nix::unistd::setsid();
    // `comm` is the fd number we were exec'd through otherwise.
    let root_arg = root.display().to_string();
    let _ = crate::sys::procname::rename(
        "unitbox-forks",
        &["unitbox", "forkserver", "--root", &root_arg],
    );
    let Ok(control) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return ExitCode::FAILURE;
    };
    let control = UnixStream::from(control);
    match serve(&proof, &root, &control) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Forks a monitor for every request until the daemon closes the socket.
fn serve(proof: &SingleThreaded, root: &Path, control: &UnixStream) -> nix::Result<()> {
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), None)?;
    let children = SignalFd::with_flags(&sigchld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    loop {
        let mut fds = [
            PollFd::new(control.as_fd(), PollFlags::POLLIN),
            PollFd::new(children.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other?,
        };
        let request = fds[0].any().unwrap_or(true);
        if fds[1].any().unwrap_or(false) {
            while let Ok(Some(_)) = children.read_signal() {}
            reap();
        }
        if !request {
            continue;
        }
        let (message, mut received) = match wire::recv::<ToForkServer>(control) {
            Ok(got) => got,
            // The daemon went away (or broke the protocol): no one is left to serve.
            Err(_) => return Ok(()),
        };
        let (ToForkServer::Monitor, Some(monitor_control)) = (message, received.pop()) else {
            let failed = FromForkServer::Failed {
                message: "a monitor request without its socket".to_owned(),
            };
            let _ = wire::send(control, &failed, &[]);
            continue;
        };
        match crate::sys::fork::fork_copy(proof) {
            Ok(Forked::Child) => forked_monitor(root, monitor_control),
            Ok(Forked::Parent(pid)) => {
                drop(monitor_control);
                let answer = crate::sys::pidfd::pidfd_open(pid.as_raw())
                    .map_err(|e| format!("pidfd of monitor {pid}: {e}"));
                let sent = match &answer {
                    Ok(pidfd) => wire::send(
                        control,
                        &FromForkServer::Forked { pid: pid.as_raw() },
                        &[pidfd.as_fd()],
                    ),
                    Err(message) => {
                        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                        let failed = FromForkServer::Failed {
                            message: message.clone(),
                        };
                        wire::send(control, &failed, &[])
                    }
                };
                if sent.is_err() {
                    return Ok(());
                }
            }
            Err(e) => {
                let failed = FromForkServer::Failed {
                    message: format!("fork a monitor: {e}"),
                };
                if wire::send(control, &failed, &[]).is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Reaps every child that has ended.
fn reap() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

/// The forked child: drops what belongs to the fork server (its socket, signal mask and
/// `signalfd`), then is the monitor on `control`. Never returns.
fn forked_monitor(root: &Path, control: OwnedFd) -> ! {
    let run = std::panic::AssertUnwindSafe(|| {
        let prepared = (|| -> std::io::Result<()> {
            crate::sys::signal::reset_for_exec()?;
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            for target in 0..3 {
                crate::sys::fd::dup_onto(null.as_raw_fd(), target)?;
            }
            // Closed by its owner, before the sweep below closes its number.
            drop(null);
            Ok(crate::sys::fd::close_all_but_stdio_and(control.as_fd())?)
        })();
        match prepared {
            Ok(()) => super::monitor::run_forked(root, control),
            Err(_) => EXIT_MONITOR_SETUP,
        }
    });
    let code = std::panic::catch_unwind(run).unwrap_or(EXIT_MONITOR_SETUP);
    crate::sys::fork::exit_now(code)
}

/// The daemon's side: starts the fork server on first use (and again if it died) and asks
/// it for monitors, one request at a time.
#[derive(Debug)]
pub struct ForkServer {
    binary: PathBuf,
    root: PathBuf,
    server: tokio::sync::Mutex<Option<Arc<UnixStream>>>,
}

impl ForkServer {
    /// A fork server running `binary` (sealed first) over the state root `root`; started
    /// by the first [`ForkServer::monitor`].
    pub fn new(binary: PathBuf, root: PathBuf) -> ForkServer {
        ForkServer {
            binary,
            root,
            server: tokio::sync::Mutex::new(None),
        }
    }

    /// A new monitor on `control` (the monitor's end of its socket): its pid and pidfd.
    pub async fn monitor(&self, control: UnixStream) -> Result<(i32, OwnedFd), BusError> {
        let control = Arc::new(control);
        let mut server = self.server.lock().await;
        let mut last = None;
        // A fork server that died (killed, or its binary failed) is replaced once.
        for _ in 0..2 {
            let socket = match server.as_ref() {
                Some(socket) => socket.clone(),
                None => {
                    let socket = Arc::new(self.start()?);
                    *server = Some(socket.clone());
                    socket
                }
            };
            let theirs = control.clone();
            let asked = tokio::task::spawn_blocking(move || ask(&socket, &theirs))
                .await
                .map_err(|e| BusError::failed("ask the fork server", &e))?;
            match asked {
                Ok(forked) => return Ok(forked),
                Err(Asked::Refused(message)) => {
                    return Err(BusError::failed(
                        "fork a monitor",
                        &std::io::Error::other(message),
                    ))
                }
                Err(Asked::Gone(error)) => {
                    *server = None;
                    last = Some(error);
                }
            }
        }
        Err(BusError::failed(
            "ask the fork server",
            &last.unwrap_or(wire::WireError::Closed),
        ))
    }

    /// Starts `unitbox forkserver` from the daemon's sealed copy of the binary.
    fn start(&self) -> Result<UnixStream, BusError> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| BusError::failed("make fork server socket", &e))?;
        let sealed = crate::process::sealed_init_binary(Some(&self.binary))
            .map_err(|e| BusError::failed(&format!("seal `{}`", self.binary.display()), &e))?;
        let null = std::process::Stdio::null;
        let mut command =
            tokio::process::Command::new(format!("/proc/self/fd/{}", sealed.as_raw_fd()));
        command
            .arg0("unitbox")
            .arg("forkserver")
            .arg("--root")
            .arg(&self.root)
            .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
            .stdout(null())
            .stderr(null())
            .kill_on_drop(false);
        let mut child = command.spawn().map_err(|e| {
            BusError::failed(
                &format!("start the fork server `{}`", self.binary.display()),
                &e,
            )
        })?;
        // Reap it whenever it ends; a dead one is noticed on the next request.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(ours)
    }
}

/// Why a request got no monitor.
enum Asked {
    /// The fork server is gone (or talks nonsense): start another.
    Gone(wire::WireError),
    /// The fork server could not fork.
    Refused(String),
}

fn ask(server: &UnixStream, control: &UnixStream) -> Result<(i32, OwnedFd), Asked> {
    wire::send(server, &ToForkServer::Monitor, &[control.as_fd()]).map_err(Asked::Gone)?;
    let (answer, mut fds) = wire::recv::<FromForkServer>(server).map_err(Asked::Gone)?;
    match (answer, fds.pop()) {
        (FromForkServer::Forked { pid }, Some(pidfd)) => Ok((pid, pidfd)),
        (FromForkServer::Forked { .. }, None) => Err(Asked::Gone(wire::WireError::Closed)),
        (FromForkServer::Failed { message }, _) => Err(Asked::Refused(message)),
    }
}
