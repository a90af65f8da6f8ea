//! Waiting for a systemd job: the `JobRemoved` half of the start/stop handshake.
//!
//! The caller subscribes *before* queueing the job, because systemd may emit
//! `JobRemoved` before the method reply; the job object is gone afterwards, so the
//! signal is the only record of its result (man `org.freedesktop.systemd1(5)`).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use zbus::OwnedObjectPath;

use super::proxy::JobRemoved;
use super::SystemdError;

/// The result word of a successful job.
pub const DONE: &str = "done";

/// Waits for `JobRemoved` of `job` on `signals` and requires the result `done`.
pub async fn wait<S>(
    mut signals: S,
    method: &'static str,
    unit: &str,
    job: &OwnedObjectPath,
    timeout: Duration,
) -> Result<(), SystemdError>
where
    S: Stream<Item = JobRemoved> + Unpin,
{
    let job_name = job.to_string();
    let result = tokio::time::timeout(timeout, async {
        while let Some(signal) = signals.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.job.as_str() == job.as_str() {
                return Some(args.result.clone());
            }
        }
        None
    })
    .await;
    match result {
        Ok(Some(r)) if r == DONE => Ok(()),
        Ok(Some(result)) => Err(SystemdError::JobFailed {
            method,
            unit: unit.to_owned(),
            job: job_name,
            result,
        }),
        Ok(None) => Err(SystemdError::JobLost {
            method,
            unit: unit.to_owned(),
            job: job_name,
        }),
        Err(_) => Err(SystemdError::JobTimeout {
            method,
            unit: unit.to_owned(),
            job: job_name,
            seconds: timeout.as_secs(),
        }),
    }
}
