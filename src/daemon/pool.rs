//! A few monitors started ahead of need, so no fork is on the create path.
//!
//! An idle monitor is a process forked by the fork server, blocked on its control socket, in the
//! daemon's cgroup until it gets work: the daemon moves it into the container's scope as
//! soon as the scope exists (and it moves itself if no word comes), so a monitor with a
//! container never stays in the daemon's cgroup. Taking one starts a replacement in the
//! background. An idle monitor whose daemon goes away reads end-of-file and exits.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::error::BusError;
use super::forkserver::ForkServer;

/// Idle monitors kept ready.
pub const POOL_SIZE: usize = 4;

/// One started, idle monitor.
#[derive(Debug)]
pub struct IdleMonitor {
    /// Host pid.
    pub pid: i32,
    /// The daemon's end of its control socket.
    pub control: UnixStream,
    /// Its pidfd, opened while it was our unreaped child (its pid cannot be reused yet).
    pub pidfd: Option<OwnedFd>,
}

/// The idle monitors.
#[derive(Debug)]
pub struct MonitorPool {
    forks: ForkServer,
    idle: Mutex<Vec<IdleMonitor>>,
    starting: AtomicUsize,
}

impl MonitorPool {
    /// A pool of monitors forked from `binary` over the state root `root`; empty until
    /// [`MonitorPool::refill`].
    pub fn new(binary: PathBuf, root: PathBuf) -> MonitorPool {
        MonitorPool {
            forks: ForkServer::new(binary, root),
            idle: Mutex::new(Vec::new()),
            starting: AtomicUsize::new(0),
        }
    }

    /// An idle monitor: a ready one, or one started now if none is; a replacement starts
    /// in the background either way.
    pub async fn take(self: &Arc<Self>) -> Result<IdleMonitor, BusError> {
        let ready = self.lock().pop();
        self.refill();
        match ready {
            Some(monitor) => Ok(monitor),
            None => self.start().await,
        }
    }

    /// Starts monitors in the background until [`POOL_SIZE`] are idle or starting.
    pub fn refill(self: &Arc<Self>) {
        loop {
            let starting = self.starting.load(Ordering::Acquire);
            if self.lock().len() + starting >= POOL_SIZE {
                return;
            }
            if self
                .starting
                .compare_exchange(starting, starting + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            let pool = self.clone();
            tokio::spawn(async move {
                let started = pool.start().await;
                pool.starting.fetch_sub(1, Ordering::AcqRel);
                match started {
                    Ok(monitor) => pool.lock().push(monitor),
                    Err(error) => tracing::warn!(error = %error.message, "start idle monitor"),
                }
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IdleMonitor>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts one monitor: a fork of the fork server, which runs from the daemon's sealed
    /// copy of the binary, so its init reuses that memfd (`/proc/self/exe` is sealed)
    /// and a replaced binary on disk cannot reach a running container.
    async fn start(&self) -> Result<IdleMonitor, BusError> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| BusError::failed("make monitor socket", &e))?;
        let (pid, pidfd) = self.forks.monitor(theirs).await?;
        Ok(IdleMonitor {
            pid,
            control: ours,
            pidfd: Some(pidfd),
        })
    }
}
