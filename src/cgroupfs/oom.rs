//! OOM-kill notifications of a scope. systemd sends no D-Bus signal for OOM kills
//! (`scope_notify_cgroup_oom_event` only logs), so unitbox watches the cgroup itself:
//! v1 `memory.oom_control` through an eventfd registered in `cgroup.event_control`,
//! v2 `memory.events` (`oom_kill`) through poll's file-modified events.
//!
//! [`OomNotifier`] is the watch without a thread: the caller waits on its fd (an event
//! loop, or a thread blocked in `poll`) and asks it what changed. [`watch`] is that
//! thread, ending when the cgroup goes away or the receiver is dropped.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::delegated::write_file;
use super::stats::key_values;
use super::{CgroupfsError, Controller, ScopePaths};

/// One OOM event of the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomEvent {
    /// How many processes the OOM killer has killed in the cgroup so far.
    pub oom_kills: u64,
}

/// Starts watching the scope for OOM kills in a background thread.
pub fn watch(paths: &ScopePaths) -> Result<Receiver<OomEvent>, CgroupfsError> {
    let (tx, rx) = mpsc::channel();
    let mut notifier = OomNotifier::open(paths)?;
    spawn("unitbox-oom", move || loop {
        let interest = if notifier.by_priority() {
            PollFlags::POLLPRI | PollFlags::POLLERR
        } else {
            PollFlags::POLLIN
        };
        let mut fds = [PollFd::new(notifier.fd(), interest)];
        // v2 signals no removal: a bounded wait lets `after_wake` find the file gone.
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            return;
        }
        match notifier.after_wake() {
            Ok(Some(event)) => {
                if tx.send(event).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(CgroupGone) => return,
        }
    });
    Ok(rx)
}

/// The watched cgroup was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupGone;

/// OOM kills of one scope, told by the kernel: wait until [`OomNotifier::fd`] is readable
/// (v1: an eventfd registered on `memory.oom_control`) or has priority data (v2:
/// `memory.events` changed, [`OomNotifier::by_priority`]), then call
/// [`OomNotifier::after_wake`]. The fd never blocks a read, so spurious wake-ups are harmless.
#[derive(Debug)]
pub struct OomNotifier {
    source: Source,
}

#[derive(Debug)]
enum Source {
    V1 {
        efd: EventFd,
        control: PathBuf,
    },
    V2 {
        events: File,
        path: PathBuf,
        seen: u64,
    },
}

impl OomNotifier {
    /// Registers for the OOM kills of the scope at `paths`.
    pub fn open(paths: &ScopePaths) -> Result<OomNotifier, CgroupfsError> {
        let source = if paths.mode.is_v1() {
            let dir = paths.controller(Controller::Memory);
            let efd = register_v1_event(&dir, "memory.oom_control", None, "OOM", true)?;
            Source::V1 {
                efd,
                control: dir.join("memory.oom_control"),
            }
        } else {
            let path = paths.tracking().join("memory.events");
            let events = File::open(&path).map_err(|source| watch_error(&path, "OOM", source))?;
            let seen = read_oom_kills(&path).unwrap_or(0);
            Source::V2 { events, path, seen }
        };
        Ok(OomNotifier { source })
    }

    /// The descriptor to wait on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { efd, .. } => efd.as_fd(),
            Source::V2 { events, .. } => events.as_fd(),
        }
    }

    /// Whether [`OomNotifier::fd`] signals with priority data (`POLLPRI`, v2) rather than
    /// as readable (v1).
    pub fn by_priority(&self) -> bool {
        matches!(self.source, Source::V2 { .. })
    }

    /// After a wake-up: the OOM kill count if it grew, nothing if not (a spurious wake-up,
    /// another event of `memory.events`), or [`CgroupGone`] once the cgroup was removed
    /// (v1: the kernel signals the eventfd on removal too).
    pub fn after_wake(&mut self) -> Result<Option<OomEvent>, CgroupGone> {
        match &mut self.source {
            Source::V1 { efd, control } => {
                let mut counter = [0u8; 8];
                match nix::unistd::read(efd.as_fd(), &mut counter) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                    Err(_) => return Err(CgroupGone),
                }
                let text = std::fs::read_to_string(control).map_err(|_| CgroupGone)?;
                let oom_kills = key_values(&text).get("oom_kill").copied().unwrap_or(0);
                Ok(Some(OomEvent { oom_kills }))
            }
            Source::V2 { path, seen, .. } => {
                let now = read_oom_kills(path).ok_or(CgroupGone)?;
                if now > *seen {
                    *seen = now;
                    return Ok(Some(OomEvent { oom_kills: now }));
                }
                Ok(None)
            }
        }
    }
}

/// Registers an eventfd for a v1 memory event file (`cgroup.event_control`:
/// `<eventfd> <fd of file> [args]`); reads of a `nonblocking` one never wait.
pub(crate) fn register_v1_event(
    dir: &Path,
    file: &str,
    args: Option<&str>,
    what: &'static str,
    nonblocking: bool,
) -> Result<EventFd, CgroupfsError> {
    let path = dir.join(file);
    let target = File::open(&path).map_err(|source| watch_error(&path, what, source))?;
    let flags = if nonblocking {
        EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK
    } else {
        EfdFlags::EFD_CLOEXEC
    };
    let efd = EventFd::from_flags(flags).map_err(|e| watch_error(&path, what, e.into()))?;
    let mut line = format!("{} {}", efd.as_raw_fd(), target.as_raw_fd());
    if let Some(a) = args {
        line.push(' ');
        line.push_str(a);
    }
    // The kernel keeps its own reference to `target` once registered.
    write_file(&dir.join("cgroup.event_control"), &line, what)?;
    Ok(efd)
}

pub(crate) fn watch_error(
    path: &Path,
    what: &'static str,
    source: std::io::Error,
) -> CgroupfsError {
    CgroupfsError::Watch {
        path: path.to_owned(),
        what,
        source,
    }
}

pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    // A thread that fails to start means no notifications; the receiver then reports
    // disconnection, which callers treat as "cgroup gone".
    let _ = thread::Builder::new().name(name.to_owned()).spawn(f);
}

fn read_oom_kills(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    Some(key_values(&text).get("oom_kill").copied().unwrap_or(0))
}
