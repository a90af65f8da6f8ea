//! Recovery: the daemon's normal startup re-adopts every container of the state root.
//!
//! For each saved container: load it, take a unit reference again (`RefUnit`; the old one
//! died with the previous connection), serve its object, and watch its monitor. A monitor
//! that is gone means init ended while we were away: its `exit.json` says how, and unless
//! a daemon already said so (`exit.reported`), the caller signals that end once the bus
//! name is ours ([`Runtime::announce_exits`]). Mirrors machined's `manager_startup()`
//! ("Deserialize state", then start everything).

use std::sync::Arc;

use super::monitor;
use super::runtime::{Entry, Runtime};

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Containers re-adopted.
    pub adopted: usize,
    /// Containers whose end nobody has signalled yet, with their init's pid.
    pub unreported: Vec<(Arc<Entry>, u32)>,
}

/// Re-adopts every container under the state root.
pub async fn recover(runtime: &Arc<Runtime>) -> Recovered {
    let mut recovered = Recovered::default();
    let factory = runtime.factory().clone();
    let ids = match tokio::task::spawn_blocking(move || factory.store().list()).await {
        Ok(Ok(ids)) => ids,
        Ok(Err(error)) => {
            tracing::warn!(error = %super::error::chain(&error), "list saved containers");
            return recovered;
        }
        Err(_) => return recovered,
    };
    for id in ids {
        let factory = runtime.factory().clone();
        let id_owned = id.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let container = factory.load(&id_owned)?;
            let dir = container.dir();
            Ok::<_, crate::Error>((
                container,
                monitor::read_record(&dir),
                monitor::read_exit(&dir),
                monitor::exit_reported(&dir),
            ))
        })
        .await;
        let (container, record, exit, reported) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(error)) => {
                tracing::warn!(%id, error = %super::error::chain(&error), "skip unloadable container");
                continue;
            }
            Err(_) => continue,
        };
        let monitor_pid = record.filter(|r| r.is_alive()).map(|r| r.pid);
        let exit = exit.or_else(|| {
            // No record: the monitor died with init (SIGKILL to the whole scope).
            monitor_pid.is_none().then_some(monitor::ExitRecord {
                code: monitor::CLD_KILLED,
                status: nix::sys::signal::Signal::SIGKILL as i32,
            })
        });
        let monitor = monitor_pid.map(super::runtime::Watched::Pid);
        let entry = runtime.adopt(&container, monitor, None, exit).await;
        if entry.live().exit.is_some() && !reported {
            let init_pid = u32::try_from(container.state().init_pid).unwrap_or(0);
            recovered.unreported.push((entry, init_pid));
        }
        recovered.adopted += 1;
    }
    recovered
}
