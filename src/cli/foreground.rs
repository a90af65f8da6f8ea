//! What `run` and `exec` do while they wait in the foreground, as runc does: forward the
//! signals we get to the process, and relay its terminal when no console socket took it.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::Pid;

use super::CliError;

/// Signals runc's foreground forwards to the container (SIGCHLD and SIGWINCH are ours).
const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// A foreground process being attended: its terminal output relay, if any, and our own
/// terminal's settings to restore.
pub struct Attended {
    output: Option<JoinHandle<()>>,
    saved: Option<Termios>,
}

impl Attended {
    /// Starts forwarding signals to `pid` and, with `console`, relaying the terminal.
    pub fn start(id: &str, pid: i32, console: Option<OwnedFd>) -> Result<Attended, CliError> {
        forward_signals(pid);
        let Some(master) = console else {
            return Ok(Attended {
                output: None,
                saved: None,
            });
        };
        let fail = |source| CliError::Terminal {
            id: id.to_owned(),
            source,
        };
        let saved = raw_stdin().map_err(fail)?;
        let mut input = File::from(master.try_clone().map_err(|e| fail(io_errno(&e)))?);
        let mut output = File::from(master);
        std::thread::spawn(move || {
            // Ends with our stdin; a write error means the process is gone.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
        });
        let relay = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut stdout = std::io::stdout();
            // EIO once every holder of the pty's other side has closed it.
            while let Ok(n) = output.read(&mut buf) {
                if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        });
        Ok(Attended {
            output: Some(relay),
            saved,
        })
    }

    /// After the process exited: drains its terminal output and restores ours.
    pub fn finish(self) {
        if let Some(relay) = self.output {
            let _ = relay.join();
        }
        if let Some(saved) = self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &saved);
        }
    }
}

/// Puts our stdin in raw mode when it is a terminal; returns the settings to restore.
fn raw_stdin() -> nix::Result<Option<Termios>> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(None);
    }
    let saved = termios::tcgetattr(&stdin)?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
    Ok(Some(saved))
}

fn io_errno(error: &std::io::Error) -> nix::Error {
    nix::Error::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// Relays the signals in [`FORWARDED`] to `pid` from a thread of its own (tokio's signal
/// handling installs the handlers without `unsafe` here).
fn forward_signals(pid: i32) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            tracing::warn!(pid, "cannot forward signals: no runtime");
            return;
        };
        runtime.block_on(async move {
            let mut streams = Vec::new();
            for signal in FORWARDED {
                let kind = tokio::signal::unix::SignalKind::from_raw(signal as i32);
                match tokio::signal::unix::signal(kind) {
                    Ok(stream) => streams.push((signal, stream)),
                    Err(error) => tracing::warn!(%error, ?signal, "cannot forward signal"),
                }
            }
            let waits = streams.into_iter().map(|(signal, mut stream)| {
                Box::pin(async move {
                    loop {
                        if stream.recv().await.is_none() {
                            return;
                        }
                        tracing::debug!(?signal, pid, "forwarding signal");
                        let _ = kill(Pid::from_raw(pid), signal);
                    }
                })
            });
            futures_util::future::join_all(waits).await;
        });
    });
}
