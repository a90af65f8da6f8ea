//! Smoke test of the test harness: a transient scope created over zbus in the systemd
//! the harness provides, seen by `systemctl show` and cgroupfs, then stopped.

mod support;

use std::process::{Child, Command};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::{OwnedObjectPath, Variant};

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, Vec<(&str, Variant<'_>)>)],
    ) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn subscribe(&self) -> zbus::Result<()>;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

/// Kills and reaps the `sleep` when the test ends, whatever happens.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for `job`'s JobRemoved on a stream subscribed before the job was queued.
async fn job_result(removed: &mut JobRemovedStream, job: &OwnedObjectPath) -> String {
    let wait = async {
        while let Some(signal) = removed.next().await {
            let args = signal.args().expect("parse JobRemoved");
            if args.job == *job {
                return args.result;
            }
        }
        panic!("JobRemoved stream ended");
    };
    tokio::time::timeout(JOB_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no JobRemoved for `{}` within {JOB_TIMEOUT:?}",
                job.as_str()
            )
        })
}

#[test]
fn transient_scope_round_trip() {
    support::in_systemd(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let sleeper = Sleeper(Command::new("sleep").arg("300").spawn().unwrap());
            let pid = sleeper.0.id();
            let unit = format!("unitbox-smoke-{pid}.scope");

            let bus = zbus::Connection::system().await.unwrap();
            let manager = ManagerProxy::new(&bus).await.unwrap();
            manager.subscribe().await.unwrap();
            let mut removed = manager.receive_job_removed().await.unwrap();

            let properties = [
                ("PIDs", Variant::from(vec![pid])),
                ("Slice", Variant::from("machine.slice")),
                ("Delegate", Variant::from(true)),
                ("CollectMode", Variant::from("inactive-or-failed")),
                ("MemoryMax", Variant::from(64u64 << 20)),
            ];
            let job = manager
                .start_transient_unit(&unit, "fail", &properties, &[])
                .await
                .unwrap();
            assert_eq!(job_result(&mut removed, &job).await, "done");

            assert_eq!(support::systemctl_show(&unit, "ActiveState"), "active");
            assert_eq!(
                support::systemctl_show(&unit, "MemoryMax"),
                (64u64 << 20).to_string()
            );
            let cgroup = support::systemctl_show(&unit, "ControlGroup");
            assert_eq!(cgroup, format!("/machine.slice/{unit}"));
            let procs = support::read_cgroup_file("systemd", &cgroup, "cgroup.procs");
            assert!(
                procs.lines().any(|p| p == pid.to_string()),
                "pid {pid} not in {cgroup}: {procs}"
            );
            let limit_file = if support::is_cgroup2_only() {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            let limit = support::read_cgroup_file("memory", &cgroup, limit_file);
            assert_eq!(limit, (64u64 << 20).to_string());

            let job = manager.stop_unit(&unit, "fail").await.unwrap();
            assert_eq!(job_result(&mut removed, &job).await, "done");
            let load_state = support::systemctl_show(&unit, "LoadState");
            assert_eq!(
                load_state, "not-found",
                "unit {unit} still loaded after stop"
            );
            drop(sleeper);
        });
    });
}
