//! OOM-kill notifications of a scope. systemd sends no D-Bus signal for OOM kills
//! (`scope_notify_cgroup_oom_event` only logs), so unitbox watches the cgroup itself:
//! v1 `memory.oom_control` through an eventfd registered in `cgroup.event_control`,
//! v2 `memory.events` (`oom_kill`) through poll's file-modified events.
//!
//! Each watch runs in a background thread that ends when the cgroup goes away or the
//! receiver is dropped.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
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

/// Starts watching the scope for OOM kills.
pub fn watch(paths: &ScopePaths) -> Result<Receiver<OomEvent>, CgroupfsError> {
    let (tx, rx) = mpsc::channel();
    if paths.mode.is_v1() {
        let dir = paths.controller(Controller::Memory);
        let efd = register_v1_event(&dir, "memory.oom_control", None, "OOM")?;
        spawn("unitbox-oom", move || watch_v1(&dir, &efd, &tx));
    } else {
        let dir = paths.tracking();
        let file = dir.join("memory.events");
        let events = File::open(&file).map_err(|source| watch_error(&file, "OOM", source))?;
        spawn("unitbox-oom", move || watch_v2(&file, &events, &tx));
    }
    Ok(rx)
}

/// Registers an eventfd for a v1 memory event file (`cgroup.event_control`:
/// `<eventfd> <fd of file> [args]`).
pub(crate) fn register_v1_event(
    dir: &Path,
    file: &str,
    args: Option<&str>,
    what: &'static str,
) -> Result<EventFd, CgroupfsError> {
    let path = dir.join(file);
    let target = File::open(&path).map_err(|source| watch_error(&path, what, source))?;
    let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC)
        .map_err(|e| watch_error(&path, what, e.into()))?;
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

fn watch_v1(dir: &Path, efd: &EventFd, tx: &Sender<OomEvent>) {
    let control = dir.join("memory.oom_control");
    // The kernel also signals the eventfd when the cgroup is removed: then stop.
    while efd.read().is_ok() {
        let Ok(text) = std::fs::read_to_string(&control) else {
            return;
        };
        let oom_kills = key_values(&text).get("oom_kill").copied().unwrap_or(0);
        if tx.send(OomEvent { oom_kills }).is_err() {
            return;
        }
    }
}

fn watch_v2(file: &Path, events: &File, tx: &Sender<OomEvent>) {
    let mut seen = read_oom_kills(file).unwrap_or(0);
    loop {
        let mut fds = [PollFd::new(
            events.as_fd(),
            PollFlags::POLLPRI | PollFlags::POLLERR,
        )];
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            return;
        }
        let Some(now) = read_oom_kills(file) else {
            return;
        };
        if now > seen {
            seen = now;
            if tx.send(OomEvent { oom_kills: now }).is_err() {
                return;
            }
        }
    }
}

fn read_oom_kills(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    Some(key_values(&text).get("oom_kill").copied().unwrap_or(0))
}
