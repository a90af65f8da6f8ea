//! The cgroup v2 paths of the systemd cgroup manager, for real: `ScopeManager` puts a
//! plain `sleep` in a transient scope and the limits are read back from the unified
//! hierarchy's files (`memory.max`, `cpu.max`, `cpu.weight`, `pids.max`, `cpuset.cpus`…);
//! pause/resume go through `FreezeUnit`/`ThawUnit` (`cgroup.freeze`, `cgroup.events`); an
//! OOM kill shows in `memory.events` and the OOM watch; `memory.high` throttling shows as
//! PSI memory pressure.
//!
//! These need a cgroup-v2-only host. On a v1 or hybrid host every test prints
//! `SKIPPED: needs cgroup v2 …` and returns; the VM lane runs them for real:
//! `tests/vm/run --test cgroup_v2_scope`.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use unitbox::cgroupfs::pressure::PressureLevel;
use unitbox::cgroups::{CgroupManager, FreezerState};
use unitbox::config::{Cgroup, Resources};
use unitbox::systemd::{for_container, Bus, ScopeManager, SystemdConnection};

/// Generous: TCG runs 2–4× slower under host load (vm-lane.md).
const EVENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether `/sys/fs/cgroup` is the unified (v2-only) hierarchy.
fn cgroup_v2() -> bool {
    statfs("/sys/fs/cgroup").is_ok_and(|st| st.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// True (after saying so) when this host cannot run the v2 tests. Written straight to
/// stderr, past libtest's capture, so the skip is visible in a normal `cargo test`.
fn skipped(test: &str) -> bool {
    if cgroup_v2() {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: needs cgroup v2 (run in the VM lane: tests/vm/run --test cgroup_v2_scope): {test}"
    );
    true
}

/// A scope made by `ScopeManager` around a `sleep`, destroyed (with every process in it)
/// when the test ends, whatever happens.
struct Scope {
    mgr: ScopeManager,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Scope {
    fn start(name: &str, resources: Resources) -> Scope {
        let sleeper = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = i32::try_from(sleeper.id()).unwrap();
        let cgroup = Cgroup {
            scope_prefix: "unitbox-v2test".to_owned(),
            name: format!("{name}-{pid}"),
            resources,
            ..Cgroup::default()
        };
        let unit = for_container(&cgroup.scope_prefix, &cgroup.name);
        let conn = SystemdConnection::connect(Bus::System).unwrap();
        let mgr = ScopeManager::new(conn, &cgroup, unit).unwrap();
        let mut scope = Scope {
            mgr,
            dir: PathBuf::new(),
            children: vec![sleeper],
        };
        scope.mgr.apply(pid).unwrap();
        scope.dir = scope.mgr.paths().unwrap().remove("").unwrap();
        assert!(
            scope.dir.starts_with("/sys/fs/cgroup/machine.slice"),
            "unexpected scope dir {}",
            scope.dir.display()
        );
        assert_eq!(scope.mgr.pids().unwrap(), vec![pid]);
        scope
    }

    /// A file of the scope's cgroup, trimmed.
    fn read(&self, file: &str) -> String {
        read_trimmed(&self.dir.join(file))
    }

    /// Starts `sh -c <script>` and moves it into the scope with `add_process`; the script
    /// should first `read` a line, so nothing runs before it is inside.
    fn add_shell(&mut self, script: &str) -> (i32, ChildStdin) {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let stdin = child.stdin.take().unwrap();
        self.children.push(child);
        self.mgr.add_process(pid).unwrap();
        assert!(self.mgr.pids().unwrap().contains(&pid));
        (pid, stdin)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let destroyed = self.mgr.destroy();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            destroyed.unwrap();
            assert!(!self.dir.exists(), "{} left behind", self.dir.display());
        }
    }
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim_end()
        .to_owned()
}

/// `key value` lines (`memory.events`, `cgroup.events`) as a map.
fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Polls `cond` until it holds or `EVENT_TIMEOUT` passes; no fixed sleeps in assertions.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < EVENT_TIMEOUT,
            "{what}: not within {EVENT_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The CPU the tests pin to: the last one, so the mask differs from the default.
fn last_cpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
}

const MIB: i64 = 1 << 20;

#[test]
fn limits_read_back_from_the_unified_hierarchy() {
    if skipped("limits_read_back_from_the_unified_hierarchy") {
        return;
    }
    support::in_systemd(|| {
        let cpu = last_cpu();
        let resources = Resources {
            memory: Some(64 * MIB),
            memory_reservation: Some(32 * MIB),
            memory_swap: Some(96 * MIB),
            cpu_shares: Some(2048),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpu_burst: Some(10_000),
            pids_limit: Some(32),
            cpuset_cpus: Some(cpu.to_string()),
            unified: [("memory.high".to_owned(), (48 * MIB).to_string())].into(),
            ..Resources::default()
        };
        let scope = Scope::start("limits", resources);
        let unit = scope.mgr.unit_name().to_owned();

        assert_eq!(scope.read("memory.max"), (64 * MIB).to_string());
        assert_eq!(scope.read("memory.low"), (32 * MIB).to_string());
        // v2 swap is swap alone: memory+swap 96 MiB − memory 64 MiB.
        assert_eq!(scope.read("memory.swap.max"), (32 * MIB).to_string());
        assert_eq!(scope.read("memory.high"), (48 * MIB).to_string());
        // shares 2048 → weight ⌈10^((11²+125·11)/612 − 7/34)⌉ = 174.
        assert_eq!(scope.read("cpu.weight"), "174");
        assert_eq!(scope.read("cpu.max"), "50000 100000");
        // No unit property: written by cgroupfs::delegated on v2.
        assert_eq!(scope.read("cpu.max.burst"), "10000");
        assert_eq!(scope.read("pids.max"), "32");
        // AllowedCPUs went over D-Bus as a bitmask; the kernel reads it back as a list.
        assert_eq!(scope.read("cpuset.cpus"), cpu.to_string());
        assert_eq!(scope.read("cpuset.cpus.effective"), cpu.to_string());
        assert_eq!(
            support::systemctl_show(&unit, "AllowedCPUs"),
            cpu.to_string()
        );
        let allowed =
            std::fs::read_to_string(format!("/proc/{}/status", scope.mgr.pids().unwrap()[0]))
                .unwrap();
        assert!(
            allowed
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["Cpus_allowed_list:", &cpu.to_string()]),
            "the sleep is not pinned to CPU {cpu}:\n{allowed}"
        );
        assert_eq!(support::systemctl_show(&unit, "Delegate"), "yes");

        let stats = scope.mgr.stats().unwrap();
        assert_eq!(stats.memory.usage.limit, (64 * MIB).unsigned_abs());
        assert_eq!(stats.pids.limit, 32);
        assert_eq!(stats.pids.current, 1);
    });
}

#[test]
fn delegated_subtree_follows_the_v2_rules() {
    if skipped("delegated_subtree_follows_the_v2_rules") {
        return;
    }
    support::in_systemd(|| {
        let scope = Scope::start(
            "delegate",
            Resources {
                memory: Some(64 * MIB),
                pids_limit: Some(32),
                ..Resources::default()
            },
        );
        let pid = scope.mgr.pids().unwrap()[0];
        let sub = scope.dir.join("container");
        std::fs::create_dir(&sub).unwrap();
        // No internal processes: controllers cannot be handed down while the scope itself
        // holds a process…
        let subtree = scope.dir.join("cgroup.subtree_control");
        let busy = std::fs::write(&subtree, "+memory +pids");
        assert_eq!(
            busy.as_ref().map_err(|e| e.raw_os_error()),
            Err(Some(libc::EBUSY)),
            "enabling controllers on a scope with its own process"
        );
        // …but the delegated scope is ours to rearrange: move the process down, then enable.
        std::fs::write(sub.join("cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(&subtree, "+memory +pids").unwrap();
        std::fs::write(sub.join("memory.max"), (16 * MIB).to_string()).unwrap();
        assert_eq!(
            read_trimmed(&sub.join("memory.max")),
            (16 * MIB).to_string()
        );
        // The scope's own limit still caps the subtree, and the manager sees every process.
        assert_eq!(scope.read("memory.max"), (64 * MIB).to_string());
        assert_eq!(scope.mgr.pids().unwrap(), vec![pid]);
        assert_eq!(scope.mgr.stats().unwrap().pids.current, 1);
        // Freezing the unit freezes the subtree.
        scope.mgr.freeze().unwrap();
        wait_for("the sub-cgroup frozen", || {
            key_values(&read_trimmed(&sub.join("cgroup.events"))).get("frozen") == Some(&1)
        });
        scope.mgr.thaw().unwrap();
        wait_for("the sub-cgroup thawed", || {
            key_values(&read_trimmed(&sub.join("cgroup.events"))).get("frozen") == Some(&0)
        });
        // Drop destroys the scope: the sub-cgroup must go with it.
    });
}

#[test]
fn set_changes_the_running_scope() {
    if skipped("set_changes_the_running_scope") {
        return;
    }
    support::in_systemd(|| {
        let mut scope = Scope::start(
            "update",
            Resources {
                memory: Some(64 * MIB),
                pids_limit: Some(32),
                ..Resources::default()
            },
        );
        scope
            .mgr
            .set(&Resources {
                memory: Some(128 * MIB),
                pids_limit: Some(-1),
                cpu_quota: Some(20_000),
                cpu_period: Some(50_000),
                cpu_idle: Some(1),
                ..Resources::default()
            })
            .unwrap();
        assert_eq!(scope.read("memory.max"), (128 * MIB).to_string());
        assert_eq!(scope.read("pids.max"), "max");
        assert_eq!(scope.read("cpu.max"), "20000 50000");
        // cpu.idle maps to CPUWeight=0, which systemd 252 writes as cpu.idle=1.
        assert_eq!(scope.read("cpu.idle"), "1");
        // A limit below what the scope uses now is refused, and nothing changes. Memory
        // stays charged where it was allocated (the sleep's pages stayed with the test's
        // cgroup), so something allocates inside first: a shell holding a 4 MB string.
        let (_, mut go) =
            scope.add_shell("read _ && x=$(head -c 4000000 /dev/zero | tr '\\0' a) && sleep 600");
        writeln!(go, "go").unwrap();
        wait_for("memory.current above 2 MiB", || {
            scope.read("memory.current").parse::<i64>().unwrap() > 2 * MIB
        });
        let refused = scope.mgr.set(&Resources {
            memory: Some(MIB),
            memory_check_before_update: Some(true),
            ..Resources::default()
        });
        assert!(
            refused.is_err(),
            "a 1 MiB limit under current usage was accepted"
        );
        assert_eq!(scope.read("memory.max"), (128 * MIB).to_string());
    });
}

#[test]
fn freeze_and_thaw_through_systemd() {
    if skipped("freeze_and_thaw_through_systemd") {
        return;
    }
    support::in_systemd(|| {
        let scope = Scope::start("freeze", Resources::default());
        let unit = scope.mgr.unit_name().to_owned();
        assert_eq!(scope.mgr.freezer_state().unwrap(), FreezerState::Thawed);

        scope.mgr.freeze().unwrap();
        assert_eq!(scope.read("cgroup.freeze"), "1");
        wait_for("cgroup.events frozen 1", || {
            key_values(&scope.read("cgroup.events")).get("frozen") == Some(&1)
        });
        assert_eq!(scope.mgr.freezer_state().unwrap(), FreezerState::Frozen);
        assert_eq!(support::systemctl_show(&unit, "FreezerState"), "frozen");

        scope.mgr.thaw().unwrap();
        assert_eq!(scope.read("cgroup.freeze"), "0");
        wait_for("cgroup.events frozen 0", || {
            key_values(&scope.read("cgroup.events")).get("frozen") == Some(&0)
        });
        assert_eq!(scope.mgr.freezer_state().unwrap(), FreezerState::Thawed);
        assert_eq!(support::systemctl_show(&unit, "FreezerState"), "running");
    });
}

#[test]
fn oom_kill_is_seen_in_memory_events() {
    if skipped("oom_kill_is_seen_in_memory_events") {
        return;
    }
    support::in_systemd(|| {
        let mut scope = Scope::start(
            "oom",
            Resources {
                memory: Some(32 * MIB),
                memory_swap: Some(32 * MIB),
                ..Resources::default()
            },
        );
        assert_eq!(scope.read("memory.swap.max"), "0");
        let oom = scope.mgr.notify_oom().unwrap();
        // `tail` of an endless line keeps it all in memory: it grows until the OOM kill.
        let (hog, mut go) = scope.add_shell("read _ && exec tail /dev/zero");
        writeln!(go, "go").unwrap();

        let event = oom
            .recv_timeout(EVENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("no OOM event within {EVENT_TIMEOUT:?}: {e}"));
        assert!(event.oom_kills >= 1, "{event:?}");
        let hog_child = scope
            .children
            .iter_mut()
            .find(|c| c.id() == hog.unsigned_abs())
            .unwrap();
        let status = hog_child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        // The scope outlives the kill: the sleep is still in it, and the counters stay.
        let events = key_values(&scope.read("memory.events"));
        assert!(
            events.get("oom_kill").copied().unwrap_or(0) >= 1,
            "{events:?}"
        );
        assert!(events.get("max").copied().unwrap_or(0) >= 1, "{events:?}");
        assert_eq!(
            scope.mgr.stats().unwrap().memory.oom_kill,
            events["oom_kill"]
        );
    });
}

#[test]
fn memory_high_throttling_shows_as_psi_pressure() {
    if skipped("memory_high_throttling_shows_as_psi_pressure") {
        return;
    }
    support::in_systemd(|| {
        let mut scope = Scope::start(
            "pressure",
            Resources {
                memory: Some(256 * MIB),
                memory_swap: Some(256 * MIB),
                unified: [("memory.high".to_owned(), (8 * MIB).to_string())].into(),
                ..Resources::default()
            },
        );
        let pressure = scope
            .mgr
            .notify_memory_pressure(PressureLevel::Low)
            .unwrap();
        // Nothing allocates yet: no event.
        match pressure.recv_timeout(Duration::from_millis(200)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("pressure before any allocation: {other:?}"),
        }
        // Without swap, anonymous memory above memory.high cannot be reclaimed: the kernel
        // throttles the allocator, and that stall is PSI memory pressure.
        let (_, mut go) = scope.add_shell("read _ && exec tail /dev/zero");
        writeln!(go, "go").unwrap();
        let level = pressure
            .recv_timeout(EVENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("no PSI event within {EVENT_TIMEOUT:?}: {e}"));
        assert_eq!(level, PressureLevel::Low);
        let psi = scope.read("memory.pressure");
        let some_total: u64 = psi
            .lines()
            .find(|l| l.starts_with("some "))
            .and_then(|l| l.rsplit_once("total="))
            .and_then(|(_, t)| t.parse().ok())
            .unwrap_or_else(|| panic!("no `some … total=` in memory.pressure:\n{psi}"));
        assert!(some_total > 0, "memory.pressure:\n{psi}");
        let events = key_values(&scope.read("memory.events"));
        assert!(events.get("high").copied().unwrap_or(0) >= 1, "{events:?}");
    });
}

#[test]
fn destroying_a_frozen_scope_leaves_nothing() {
    if skipped("destroying_a_frozen_scope_leaves_nothing") {
        return;
    }
    support::in_systemd(|| {
        // `unitbox delete --force` of a paused container: frozen tasks must still die.
        let scope = Scope::start("frozen-delete", Resources::default());
        scope.mgr.freeze().unwrap();
        wait_for("cgroup.events frozen 1", || {
            key_values(&scope.read("cgroup.events")).get("frozen") == Some(&1)
        });
        let unit = scope.mgr.unit_name().to_owned();
        drop(scope); // destroy, then asserts the cgroup directory is gone
        assert_eq!(support::systemctl_show(&unit, "LoadState"), "not-found");
    });
}

#[test]
fn tasks_max_is_enforced() {
    if skipped("tasks_max_is_enforced") {
        return;
    }
    support::in_systemd(|| {
        let mut scope = Scope::start(
            "tasks",
            Resources {
                pids_limit: Some(4),
                ..Resources::default()
            },
        );
        assert_eq!(scope.read("pids.max"), "4");
        // The sleep and this shell make 2: of its 5 background sleeps at most 2 start
        // (how many exactly depends on how the shell forks).
        let (_, mut go) = scope.add_shell(
            "exec 2>/dev/null; read _ && for i in 1 2 3 4 5; do sleep 600 & done; exec sleep 600",
        );
        writeln!(go, "go").unwrap();
        wait_for("pids.events max", || {
            key_values(&scope.read("pids.events"))
                .get("max")
                .copied()
                .unwrap_or(0)
                >= 1
        });
        let current: usize = scope.read("pids.current").parse().unwrap();
        assert!((3..=4).contains(&current), "pids.current {current}");
        assert!(scope.mgr.pids().unwrap().len() <= 4);
    });
}
