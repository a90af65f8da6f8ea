//! OOM kills as the Container's `OOM(count)` signal.
//!
//! systemd emits nothing on D-Bus for an OOM kill in a scope, so the library watches the
//! cgroup (`cgroupfs::oom`: v1 eventfd on `memory.oom_control`, v2 `memory.events`) and
//! this module forwards each event to the bus. One small thread per container waits on the
//! library's channel; it ends when the scope goes away.

use zbus::object_server::SignalEmitter;

use super::container::ContainerObject;
use super::path::container_path;
use crate::cgroupfs::ScopePaths;

/// Stack of a forwarding thread: it only moves a counter onto the runtime.
const FORWARDER_STACK: usize = 256 * 1024;

/// Starts forwarding OOM events of the scope at `paths` as `OOM` on container `id`'s
/// object; a scope that cannot be watched is logged and left alone.
pub fn watch(conn: zbus::Connection, id: String, paths: ScopePaths) {
    let handle = tokio::runtime::Handle::current();
    let events = match crate::cgroupfs::oom::watch(&paths) {
        Ok(events) => events,
        Err(error) => {
            tracing::debug!(%id, error = %super::error::chain(&error), "no OOM watch");
            return;
        }
    };
    let forward = move || {
        while let Ok(event) = events.recv() {
            let (conn, id) = (conn.clone(), id.clone());
            handle.spawn(async move {
                if let Ok(emitter) = SignalEmitter::new(&conn, container_path(&id)) {
                    let _ = ContainerObject::oom(&emitter, event.oom_kills).await;
                }
            });
        }
    };
    let _ = std::thread::Builder::new()
        .name("unitboxd-oom".to_owned())
        .stack_size(FORWARDER_STACK)
        .spawn(forward);
}
