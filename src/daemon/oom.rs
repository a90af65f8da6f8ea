//! OOM kills as the Container's `OOM(count)` signal.
//!
//! systemd emits nothing on D-Bus for an OOM kill in a scope, so the daemon watches the
//! cgroup itself ([`crate::cgroupfs::oom::OomNotifier`]: v1 eventfd on
//! `memory.oom_control`, v2 `memory.events`) with one task on the runtime per container:
//! no thread waits for an event that almost never comes. The task ends when the cgroup
//! goes away, or when its [`OomWatch`] is dropped with the container's entry.

use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use zbus::object_server::SignalEmitter;

use super::container::ContainerObject;
use super::path::container_path;
use crate::cgroupfs::oom::OomNotifier;
use crate::cgroupfs::ScopePaths;

/// The running watch of one container; dropping it ends the watch.
#[derive(Debug)]
pub struct OomWatch(tokio::task::AbortHandle);

impl Drop for OomWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts signalling OOM kills of the scope at `paths` as `OOM` on container `id`'s
/// object; a scope that cannot be watched is logged and left alone. Call it on the
/// daemon's runtime.
pub fn watch(conn: zbus::Connection, id: String, paths: &ScopePaths) -> Option<OomWatch> {
    let notifier = match OomNotifier::open(paths) {
        Ok(notifier) => notifier,
        Err(error) => {
            tracing::debug!(%id, error = %super::error::chain(&error), "no OOM watch");
            return None;
        }
    };
    let interest = if notifier.by_priority() {
        Interest::PRIORITY
    } else {
        Interest::READABLE
    };
    // The reactor waits on a duplicate: same file description, so the same events.
    let registered = match notifier
        .fd()
        .try_clone_to_owned()
        .and_then(|fd| crate::sys::reactor::register(fd, interest))
    {
        Ok(registered) => registered,
        Err(error) => {
            tracing::debug!(%id, %error, "no OOM watch");
            return None;
        }
    };
    let task = tokio::spawn(forward(notifier, registered, interest, conn, id));
    Some(OomWatch(task.abort_handle()))
}

async fn forward(
    mut notifier: OomNotifier,
    registered: AsyncFd<OwnedFd>,
    interest: Interest,
    conn: zbus::Connection,
    id: String,
) {
    loop {
        let Ok(mut ready) = registered.ready(interest).await else {
            return;
        };
        let next = notifier.after_wake();
        ready.clear_ready();
        match next {
            Ok(Some(event)) => {
                if let Ok(emitter) = SignalEmitter::new(&conn, container_path(&id)) {
                    let _ = ContainerObject::oom(&emitter, event.oom_kills).await;
                }
            }
            Ok(None) => {}
            Err(_gone) => return,
        }
    }
}
