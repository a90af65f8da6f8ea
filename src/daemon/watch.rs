//! Process-exit watching without a thread per process: one epoll thread over pidfds.
//!
//! A pidfd becomes readable when its process exits, whether or not it is our child (a
//! monitor re-adopted after a daemon restart is not). Tokio's `AsyncFd` constructors for
//! raw fds are deprecated (I/O safety), so one plain thread waits on an epoll set and wakes
//! each waiter through a oneshot channel.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use tokio::sync::oneshot;

type Waiters = Mutex<HashMap<u64, (OwnedFd, oneshot::Sender<()>)>>;

/// The set of watched processes.
#[derive(Debug)]
pub struct ExitWatcher {
    epoll: Arc<Epoll>,
    waiters: Arc<Waiters>,
    next: AtomicU64,
}

impl ExitWatcher {
    /// Starts the watcher thread.
    pub fn start() -> std::io::Result<ExitWatcher> {
        let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        let waiters: Arc<Waiters> = Arc::default();
        let (thread_epoll, thread_waiters) = (epoll.clone(), waiters.clone());
        std::thread::Builder::new()
            .name("unitboxd-exits".to_owned())
            .spawn(move || wake_loop(&thread_epoll, &thread_waiters))?;
        Ok(ExitWatcher {
            epoll,
            waiters,
            next: AtomicU64::new(1),
        })
    }

    /// Resolves when process `pid` has exited (at once if it is already gone).
    pub fn exited(&self, pid: i32) -> oneshot::Receiver<()> {
        match crate::sys::pidfd::pidfd_open(pid) {
            Ok(pidfd) => self.exited_pidfd(pidfd),
            Err(_) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(());
                rx
            }
        }
    }

    /// Resolves when the process of `pidfd` has exited.
    pub fn exited_pidfd(&self, pidfd: OwnedFd) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .epoll
            .add(&pidfd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .is_err()
        {
            let _ = tx.send(());
            return rx;
        }
        waiters.insert(token, (pidfd, tx));
        rx
    }
}

fn wake_loop(epoll: &Epoll, waiters: &Waiters) {
    let mut events = [EpollEvent::empty(); 64];
    loop {
        let n = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        let mut table = waiters.lock().unwrap_or_else(|p| p.into_inner());
        for event in &events[..n] {
            if let Some((pidfd, tx)) = table.remove(&event.data()) {
                let _ = epoll.delete(&pidfd);
                let _ = tx.send(());
            }
        }
    }
}
