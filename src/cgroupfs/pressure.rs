//! Memory pressure notifications of a scope: v1 `memory.pressure_level` through an
//! eventfd, v2 PSI triggers on `memory.pressure` (Documentation/accounting/psi.rst).
//! Background threads end when the cgroup goes away or the receiver is dropped.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::oom::{register_v1_event, spawn, watch_error};
use super::{CgroupfsError, Controller, ScopePaths};

/// A memory pressure level (libcontainer `PressureLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressureLevel {
    /// Reclaiming memory for new allocations.
    Low,
    /// Swapping, or caches being dropped.
    Medium,
    /// About to OOM.
    Critical,
}

impl PressureLevel {
    /// The v1 `memory.pressure_level` argument.
    pub fn v1_name(self) -> &'static str {
        match self {
            PressureLevel::Low => "low",
            PressureLevel::Medium => "medium",
            PressureLevel::Critical => "critical",
        }
    }

    /// The v2 PSI trigger (`<some|full> <stall µs> <window µs>`). Windows of 2 s, the
    /// granularity unprivileged triggers need too.
    pub fn psi_trigger(self) -> &'static str {
        match self {
            PressureLevel::Low => "some 100000 2000000",
            PressureLevel::Medium => "some 300000 2000000",
            PressureLevel::Critical => "full 500000 2000000",
        }
    }
}

/// Starts watching the scope for memory pressure of at least `level`; one message per
/// event.
pub fn watch(
    paths: &ScopePaths,
    level: PressureLevel,
) -> Result<Receiver<PressureLevel>, CgroupfsError> {
    let (tx, rx) = mpsc::channel();
    if paths.mode.is_v1() {
        let dir = paths.controller(Controller::Memory);
        let efd = register_v1_event(
            &dir,
            "memory.pressure_level",
            Some(level.v1_name()),
            "memory pressure",
            false,
        )?;
        spawn("unitbox-pressure", move || {
            while efd.read().is_ok() {
                // The eventfd also fires when the cgroup is removed.
                if !dir.exists() || tx.send(level).is_err() {
                    return;
                }
            }
        });
    } else {
        let file = paths.tracking().join("memory.pressure");
        let mut trigger = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
            .map_err(|e| watch_error(&file, "memory pressure", e))?;
        trigger
            .write_all(level.psi_trigger().as_bytes())
            .map_err(|e| watch_error(&file, "memory pressure", e))?;
        spawn("unitbox-pressure", move || loop {
            let mut fds = [PollFd::new(trigger.as_fd(), PollFlags::POLLPRI)];
            if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
                return;
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            // POLLERR: the cgroup (and with it the trigger) is gone.
            if revents.contains(PollFlags::POLLERR) || !file.exists() {
                return;
            }
            if revents.contains(PollFlags::POLLPRI) && tx.send(level).is_err() {
                return;
            }
        });
    }
    Ok(rx)
}
