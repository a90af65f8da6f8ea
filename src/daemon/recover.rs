//! Recovery: the daemon's normal startup re-adopts every container of the state root.
//!
//! For each saved container: load it, take a unit reference again (`RefUnit`; the old one
//! died with the previous connection), serve its object, and watch its monitor. A monitor
//! that is gone means init ended while we were away: its `exit.json` says how. Mirrors
//! machined's `manager_startup()` ("Deserialize state", then start everything).

use std::sync::Arc;

use super::monitor;
use super::runtime::Runtime;

/// Re-adopts every container under the state root; returns how many.
pub async fn recover(runtime: &Arc<Runtime>) -> usize {
    let factory = runtime.factory().clone();
    let ids = match tokio::task::spawn_blocking(move || factory.store().list()).await {
        Ok(Ok(ids)) => ids,
        Ok(Err(error)) => {
            tracing::warn!(error = %super::error::chain(&error), "list saved containers");
            return 0;
        }
        Err(_) => return 0,
    };
    let mut adopted = 0;
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
            ))
        })
        .await;
        let (container, record, exit) = match loaded {
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
        runtime.adopt(&container, monitor_pid, None, exit).await;
        adopted += 1;
    }
    adopted
}
