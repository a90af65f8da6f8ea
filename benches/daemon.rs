//! unitboxd benchmark: create→start→exit→delete of a `/bin/true` container through D-Bus
//! (one persistent connection per client; 1 and 8 concurrent clients) against the crun
//! CLI doing the same, and the daemon's RSS idle and with many running containers.
//!
//! Both paths run in alternating blocks (D-Bus, crun, D-Bus, crun, …) so that a change of
//! load on a shared machine hits both alike; the D-Bus rows add the median of each step.
//! Every cycle must still end with exit status 0 and leave nothing behind. Run it with
//! `scripts/bench daemon` (release build; environment:
//! `UNITBOX_BENCH_CYCLES`, default 20 per client; `UNITBOX_BENCH_RUNNING`, default 50).
//! The daemon seals the `unitbox` binary once and runs every monitor (so every init) from
//! that memfd; a debug build still makes the debug numbers slow.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use daemon_support::*;
use futures_util::StreamExt;
use zbus::{MatchRule, MessageStream, Proxy};

type Options = std::collections::HashMap<&'static str, zbus::Variant<'static>>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The steps of one cycle: RunContainer's reply, then `Exited`, then DestroyContainer's
/// reply.
type Steps = [Duration; 3];

/// One create→start→exit→delete through the daemon; returns its wall time and steps.
async fn dbus_cycle(conn: &zbus::Connection, id: &str, bundle: &str) -> (Duration, Steps) {
    let m = Proxy::new(conn, BUS, MANAGER, MANAGER_IFACE).await.unwrap();
    let path = unitbox::daemon::path::container_path(id);
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(CONTAINER_IFACE)
        .member("Exited")
        .path(path.as_str().to_owned())
        .build()
        .unwrap();
    let mut exited = MessageStream::for_match_rule(rule, conn, std::num::NonZeroUsize::new(4))
        .await
        .unwrap();
    let start = Instant::now();
    let _: zbus::OwnedObjectPath = m
        .call("RunContainer", &(id, bundle, Options::new()))
        .await
        .unwrap();
    let ran = start.elapsed();
    let msg = exited.next().await.unwrap().unwrap();
    let (code, status): (i32, i32) = msg.body().deserialize().unwrap();
    assert_eq!((code, status), (1, 0), "{id} exited cleanly");
    let exited_at = start.elapsed();
    let _: () = m.call("DestroyContainer", &(id, 0u64)).await.unwrap();
    let total = start.elapsed();
    (total, [ran, exited_at - ran, total - exited_at])
}

/// `clients` concurrent clients, each with its own connection, `cycles` cycles each.
async fn dbus_round(
    bundle: &str,
    tag: &str,
    clients: usize,
    cycles: usize,
) -> (Vec<Duration>, Vec<Steps>, Duration) {
    let start = Instant::now();
    let tasks = (0..clients).map(|c| {
        let bundle = bundle.to_owned();
        let tag = tag.to_owned();
        async move {
            let conn = zbus::Connection::system().await.unwrap();
            let mut times = Vec::new();
            for i in 0..cycles {
                let id = format!("bench{tag}-{clients}-{c}-{i}");
                times.push(dbus_cycle(&conn, &id, &bundle).await);
            }
            times
        }
    });
    let cycles = futures_util::future::join_all(tasks).await.concat();
    let (times, steps) = cycles.into_iter().unzip();
    (times, steps, start.elapsed())
}

/// Medians of each step.
fn report_steps(steps: &[Steps]) {
    let median = |i: usize| {
        let mut v: Vec<Duration> = steps.iter().map(|s| s[i]).collect();
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "{:<28} RunContainer {:.1} ms, to Exited {:.1} ms, DestroyContainer {:.1} ms",
        "  steps (median)",
        median(0),
        median(1),
        median(2)
    );
}

/// The same cycle with the crun CLI (`crun run` creates, starts, waits and deletes).
fn crun_round(bundle: &str, tag: &str, clients: usize, cycles: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let times = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    (0..cycles)
                        .map(|i| {
                            let id = format!("crun{tag}-{clients}-{c}-{i}");
                            let t = Instant::now();
                            let out = run(
                                "crun",
                                &[
                                    "--systemd-cgroup",
                                    "--root",
                                    "/run/crun-bench",
                                    "run",
                                    "--bundle",
                                    bundle,
                                    &id,
                                ],
                            );
                            assert!(
                                out.status.success(),
                                "crun run: {}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    (times, start.elapsed())
}

fn report(what: &str, mut times: Vec<Duration>, total: Duration) {
    times.sort();
    let median = times[times.len() / 2];
    let rate = times.len() as f64 / total.as_secs_f64();
    println!(
        "{what:<28} n={:<4} median {:>7.1} ms   throughput {:>6.1} containers/s",
        times.len(),
        median.as_secs_f64() * 1000.0,
        rate
    );
}

/// CPU time (ms) of the shared services a lifecycle costs: systemd (PID 1 of the box),
/// dbus-daemon, journald, unitboxd with its monitors' predecessors reaped, and all of
/// the box (every process, the kernel's work for them included: what bounds throughput
/// on a machine with few cores).
#[derive(Debug, Default)]
struct ServiceCpu {
    ms: [f64; 5],
}

impl ServiceCpu {
    const NAMES: [&'static str; 5] = ["systemd", "dbus-daemon", "journald", "unitboxd", "all"];

    fn now() -> ServiceCpu {
        let main_pid = |unit: &str| {
            let out = run("systemctl", &["show", unit, "-p", "MainPID", "--value"]);
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .unwrap_or(0)
        };
        let pids = [
            1,
            main_pid("dbus.service"),
            main_pid("systemd-journald.service"),
            daemon_pid(),
        ];
        let mut ms = [0.0; 5];
        for (slot, pid) in ms.iter_mut().zip(pids) {
            *slot = cpu_ms(pid);
        }
        ms[4] = box_cpu_ms();
        ServiceCpu { ms }
    }

    fn add(&mut self, before: &ServiceCpu, after: &ServiceCpu) {
        for i in 0..5 {
            self.ms[i] += (after.ms[i] - before.ms[i]).max(0.0);
        }
    }

    fn report(&self, containers: f64) {
        let parts: Vec<String> = Self::NAMES
            .iter()
            .zip(self.ms)
            .map(|(name, ms)| format!("{name} {:.2}", ms / containers))
            .collect();
        println!("{:<28} CPU ms per container: {}", "", parts.join(", "));
    }
}

/// utime + stime of `pid` in ms (0 if unreadable), from `/proc/<pid>/stat`.
fn cpu_ms(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks * 1000.0 / 100.0
}

/// CPU time (ms) of everything in the box: its root cgroup (the box's cgroup namespace
/// makes that the box's own), v1 `cpuacct.usage` (ns) or v2 `cpu.stat` `usage_usec`.
fn box_cpu_ms() -> f64 {
    if let Ok(ns) = std::fs::read_to_string("/sys/fs/cgroup/cpuacct/cpuacct.usage") {
        return ns.trim().parse::<f64>().unwrap_or(0.0) / 1e6;
    }
    std::fs::read_to_string("/sys/fs/cgroup/cpu.stat")
        .ok()
        .and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0.0, |us| us / 1e3)
}

fn daemon_rss_kib() -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon_pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn main() {
    // `cargo test --all-targets` runs bench targets too, without `--bench`: this is a
    // benchmark, not a test, so it runs only from `cargo bench` or inside the box.
    if !std::env::args().any(|a| a == "--bench") && !support::in_test_box() {
        println!("daemon benchmark: run it with scripts/bench daemon");
        return;
    }
    if support::pid1_is_systemd() {
        bench_dbus_against_crun();
        // The box's runner wants libtest's summary line from the re-executed body.
        println!("test result: ok. 1 passed");
        return;
    }
    // The box runner re-executes the body named after the calling thread.
    std::thread::Builder::new()
        .name("bench_dbus_against_crun".to_owned())
        .spawn(|| support::in_systemd(bench_dbus_against_crun))
        .unwrap()
        .join()
        .map_err(|_| "benchmark failed")
        .unwrap();
}

fn bench_dbus_against_crun() {
    {
        // The installed unit's log level (debug logging costs the daemon and journald
        // more than the work measured); UNITBOX_BENCH_LOG=debug for the step timings.
        let log = std::env::var("UNITBOX_BENCH_LOG").unwrap_or_else(|_| "info".to_owned());
        install_service_logging(&log);
        let cycles = env_number("UNITBOX_BENCH_CYCLES", 20);
        let running = env_number("UNITBOX_BENCH_RUNNING", 50);
        let mut true_spec = spec("true");
        true_spec["process"]["args"] = serde_json::json!(["/bin/true"]);
        // Debian 12's crun knows runtime-spec versions up to 1.0.x.
        true_spec["ociVersion"] = "1.0.2".into();
        let bundle = bundle_with("daemon-bench", &true_spec);
        manager_ok("ListContainers", &[]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        // Warm up (sealed binary cache, systemd).
        rt.block_on(dbus_round(&bundle, "w", 1, 2));
        let idle = daemon_rss_kib();

        // The machine is shared: both paths run in alternating blocks, so a load change
        // hits both alike (UNITBOX_BENCH_BLOCKS, default 4).
        let blocks = env_number("UNITBOX_BENCH_BLOCKS", 4).max(1);
        for clients in [1, 8] {
            let per_block = if clients == 1 {
                cycles
            } else {
                cycles.div_ceil(2)
            }
            .div_ceil(blocks)
            .max(1);
            let (mut dbus, mut steps, mut dbus_total) = (Vec::new(), Vec::new(), Duration::ZERO);
            let (mut crun, mut crun_total) = (Vec::new(), Duration::ZERO);
            let (mut dbus_cpu, mut crun_cpu) = (ServiceCpu::default(), ServiceCpu::default());
            for block in 0..blocks {
                let tag = format!("b{block}");
                let before = ServiceCpu::now();
                let (t, s, total) = rt.block_on(dbus_round(&bundle, &tag, clients, per_block));
                dbus_cpu.add(&before, &ServiceCpu::now());
                dbus.extend(t);
                steps.extend(s);
                dbus_total += total;
                let before = ServiceCpu::now();
                let (t, total) = crun_round(&bundle, &tag, clients, per_block);
                crun_cpu.add(&before, &ServiceCpu::now());
                crun.extend(t);
                crun_total += total;
            }
            let n = (blocks * per_block * clients) as f64;
            let plural = if clients == 1 { "" } else { "s" };
            report(
                &format!("unitboxd D-Bus, {clients} client{plural}"),
                dbus,
                dbus_total,
            );
            report_steps(&steps);
            dbus_cpu.report(n);
            report(
                &format!("crun CLI, {clients} client{plural}"),
                crun,
                crun_total,
            );
            crun_cpu.report(n);
            println!(
                "{:<28} CPU of the whole box, D-Bus over crun: {:.2}",
                "",
                dbus_cpu.ms[4] / crun_cpu.ms[4].max(f64::MIN_POSITIVE)
            );
        }

        let sleeper = bundle_with("daemon-bench-sleep", &spec("sleep 100000"));
        let started = Instant::now();
        for i in 0..running {
            manager_ok(
                "RunContainer",
                &["ssa{sv}", &format!("run{i}"), &sleeper, "0"],
            );
        }
        let busy = daemon_rss_kib();
        println!(
            "daemon RSS: idle {idle} KiB, with {running} running containers {busy} KiB \
             (started in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let listed = manager_ok("ListContainers", &[]);
        assert_eq!(listed[0].as_array().unwrap().len(), running);
        destroy_all();
        let listed = manager_ok("ListContainers", &[]);
        assert!(listed[0].as_array().unwrap().is_empty());
    }
}
