//! OOM kills as the Container's `OOM(count)` signal.
//!
//! systemd emits nothing on D-Bus for an OOM kill in a scope, so the library watches the
//! cgroup (`cgroupfs::oom`: v1 eventfd on `memory.oom_control`, v2 `memory.events`) and
//! this module forwards each event to the bus. One small thread per container waits on the
//! library's channel; it ends when the scope goes away.

use std::sync::{Arc, OnceLock};

use zbus::object_server::SignalEmitter;

use super::container::ContainerObject;
use super::path::container_path;
use crate::systemd::connection::{Bus, SystemdConnection};
use crate::systemd::unit_name::UnitName;
use crate::systemd::ScopeManager;

/// Stack of a forwarding thread: it only moves a counter onto the runtime.
const FORWARDER_STACK: usize = 256 * 1024;

/// The blocking systemd connection the watches are set up with (one for all of them,
/// opened by the first watch).
static SYSTEMD: OnceLock<Arc<SystemdConnection>> = OnceLock::new();

/// Starts forwarding OOM events of `unit` (in `slice`) as `OOM` on container `id`'s
/// object; a scope that cannot be watched is logged and left alone.
pub fn watch(conn: zbus::Connection, id: String, unit: String, slice: String) {
    let handle = tokio::runtime::Handle::current();
    // Setting up the watch talks to systemd: on the blocking pool, not on the small thread.
    tokio::task::spawn_blocking(move || {
        let events = match open(&SYSTEMD, &unit, &slice) {
            Ok(events) => events,
            Err(error) => {
                tracing::debug!(%unit, error = %super::error::chain(&error), "no OOM watch");
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
    });
}

fn open(
    systemd: &OnceLock<Arc<SystemdConnection>>,
    unit: &str,
    slice: &str,
) -> Result<std::sync::mpsc::Receiver<crate::cgroupfs::oom::OomEvent>, crate::Error> {
    let conn = match systemd.get() {
        Some(conn) => conn.clone(),
        None => {
            let conn = SystemdConnection::connect(Bus::System)?;
            systemd.get_or_init(|| conn).clone()
        }
    };
    let unit = UnitName::parse(unit).map_err(crate::systemd::SystemdError::from)?;
    ScopeManager::load_in(conn, unit, slice)?.notify_oom()
}
