//! Tests of the test harness itself: what a box boots, that boxes do not see each
//! other, and that boxes are removed when their test binary exits or is killed, or
//! (leftovers of a killed run) by the next boot.
//!
//! The lifecycle tests only mean something where boxes are used, i.e. when PID 1 is
//! not systemd; on a systemd host they say so and return.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cgroup_layout::CgroupLayout;
use support::systemd_box::{SystemdBox, BOX_PREFIX};

/// When set, `box_runs_minimal_systemd` writes this file inside the box and then waits,
/// so `killed_test_binary_leaves_no_box` can kill its test binary mid-test.
const HOLD_ENV: &str = "UNITBOX_TEST_HOLD_MARKER";
/// When set, `box_runs_minimal_systemd` fails inside the box, so
/// `failure_inside_fails_the_test` can check how the failure is reported outside.
const FAIL_ENV: &str = "UNITBOX_TEST_FAIL_INSIDE";

fn boxes_are_used() -> bool {
    if support::pid1_is_systemd() {
        eprintln!("PID 1 is systemd: tests run against it, no test boxes to check");
        return false;
    }
    true
}

/// Every directory of box `name` that exists, in any hierarchy.
fn box_cgroups(name: &str) -> Vec<PathBuf> {
    CgroupLayout::discover()
        .hierarchies
        .iter()
        .flat_map(|h| h.box_parents())
        .map(|parent| parent.join(name))
        .filter(|dir| dir.exists())
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills a helper child when a test ends early.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn box_runs_minimal_systemd() {
    support::in_systemd(|| {
        // Probes of the tests below, first so that a loaded machine does not delay them.
        if std::env::var_os(FAIL_ENV).is_some() {
            panic!("deliberate failure inside the box");
        }
        if let Ok(marker) = std::env::var(HOLD_ENV) {
            std::fs::write(&marker, "held").unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        let state = support::systemctl(&["is-system-running"]);
        let state = String::from_utf8_lossy(&state.stdout);
        let failed = support::systemctl(&["--failed", "--no-legend", "--plain"]);
        let failed = String::from_utf8_lossy(&failed.stdout);
        assert_eq!(state.trim(), "running", "failed units:\n{failed}");
        for unit in ["dbus.service", "systemd-journald.service", "init.scope"] {
            assert_eq!(
                support::systemctl_show(unit, "ActiveState"),
                "active",
                "{unit}"
            );
        }
        assert!(Path::new(support::SYSTEM_BUS_SOCKET).exists());
        if support::in_test_box() {
            // Nothing of the host's multi-user.target or early-boot writers runs here.
            for unit in [
                "multi-user.target",
                "timers.target",
                "systemd-sysctl.service",
            ] {
                assert_eq!(
                    support::systemctl_show(unit, "ActiveState"),
                    "inactive",
                    "{unit}"
                );
            }
            // The cgroup namespace makes the box's sub-cgroup our root.
            let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
            assert!(
                !cgroup.contains(BOX_PREFIX),
                "box cgroup visible inside:\n{cgroup}"
            );
        }
    });
}

#[test]
fn two_boxes_do_not_see_each_other() {
    if !boxes_are_used() {
        return;
    }
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(SystemdBox::boot);
        let b = s.spawn(SystemdBox::boot);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_ne!(a.name, b.name);
    assert_ne!(a.pid1, b.pid1);

    let out = a.run(
        "systemd-run",
        &["--unit=harness-only-in-a", "--", "sleep", "300"],
    );
    assert!(
        out.contains("harness-only-in-a"),
        "systemd-run in box a: {out}"
    );
    assert_eq!(
        a.run("systemctl", &["is-active", "harness-only-in-a.service"])
            .trim(),
        "active"
    );
    let in_b = b.run("systemctl", &["is-active", "harness-only-in-a.service"]);
    assert_eq!(in_b.trim(), "inactive", "box b sees box a's unit");
    // Each box's systemd keeps its units inside its own sub-cgroup of the host's.
    let a_unit = box_cgroups(&a.name)
        .into_iter()
        .any(|dir| dir.join("system.slice/harness-only-in-a.service").is_dir());
    assert!(a_unit, "unit cgroup not under box a's cgroup");
    assert!(box_cgroups(&b.name)
        .iter()
        .all(|dir| !dir.join("system.slice/harness-only-in-a.service").exists()));

    for test_box in [&a, &b] {
        test_box.shut_down();
        assert!(
            box_cgroups(&test_box.name).is_empty(),
            "box {} left cgroups: {:?}",
            test_box.name,
            box_cgroups(&test_box.name)
        );
        assert!(!Path::new(&format!("/proc/{}", test_box.pid1)).exists());
    }
    let journal = std::fs::read_to_string(a.state_dir.join("journal.log")).unwrap();
    assert!(
        journal.contains("harness-only-in-a"),
        "box a's saved journal:\n{journal}"
    );
}

#[test]
fn next_boot_removes_a_killed_runs_box() {
    if !boxes_are_used() {
        return;
    }
    // The "launcher" of the stale box: alive while we build the box (so no concurrent
    // boot removes it half-made), then killed and reaped like a killed test binary.
    let mut launcher = Reaped(Command::new("sleep").arg("300").spawn().unwrap());
    let dead = launcher.0.id();
    let name = format!("{BOX_PREFIX}{dead}");
    let layout = CgroupLayout::discover();
    let mut procs_files = Vec::new();
    for h in &layout.hierarchies {
        let child = h.own_dir.join(&name).join("system.slice");
        std::fs::create_dir_all(&child).unwrap();
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = std::fs::read_to_string(h.own_dir.join(file)) {
                std::fs::write(h.own_dir.join(&name).join(file), value.trim()).unwrap();
                std::fs::write(child.join(file), value.trim()).unwrap();
            }
        }
        procs_files.push(child.join("cgroup.procs"));
    }
    // A process left behind in the stale box, as a killed box would leave it.
    let script = r#"for f; do echo $$ >"$f"; done; exec sleep 300"#;
    let straggler = Reaped(
        Command::new("sh")
            .args(["-c", script, "straggler"])
            .args(&procs_files)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let run_dir = support::test_area().join(format!("run-box-{dead}"));
    std::fs::create_dir_all(run_dir.join("box")).unwrap();
    let old = std::time::SystemTime::now() - support::test_area::KEEP_DEAD_RUNS * 2;
    std::fs::File::open(&run_dir)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A run that ended a moment ago stays for its post-mortem.
    let recent_run_dir = support::test_area().join(format!("run-box-{dead}-1"));
    std::fs::create_dir_all(&recent_run_dir).unwrap();
    wait_until(
        "straggler joins the stale box",
        Duration::from_secs(10),
        || {
            procs_files.iter().all(|f| {
                std::fs::read_to_string(f)
                    .is_ok_and(|p| p.lines().any(|l| l == straggler.0.id().to_string()))
            })
        },
    );

    launcher.0.kill().unwrap();
    launcher.0.wait().unwrap();

    let fresh = SystemdBox::boot().unwrap();
    assert!(
        box_cgroups(&name).is_empty(),
        "stale box left: {:?}",
        box_cgroups(&name)
    );
    assert!(!run_dir.exists(), "stale run dir left");
    assert!(recent_run_dir.exists(), "a recent run dir was removed");
    std::fs::remove_dir(&recent_run_dir).unwrap();
    let mut straggler = straggler;
    let status = straggler.0.wait().unwrap();
    assert!(!status.success(), "straggler was not killed");
    fresh.shut_down();
}

#[test]
fn killed_test_binary_leaves_no_box() {
    if !boxes_are_used() {
        return;
    }
    let marker = support::scratch_dir("hold").join("held");
    let child = Reaped(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "box_runs_minimal_systemd",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD_ENV, &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let name = format!("{BOX_PREFIX}{}", child.0.id());
    wait_until(
        "the child's box runs its test",
        Duration::from_secs(120),
        || marker.exists(),
    );
    assert!(!box_cgroups(&name).is_empty(), "no cgroups for box {name}");
    drop(child); // SIGKILL: no destructor, no atexit; only the supervisor can clean up.
    wait_until(
        "the killed binary's box is removed",
        Duration::from_secs(30),
        || box_cgroups(&name).is_empty(),
    );
}

#[test]
fn machined_starts_on_demand() {
    support::in_systemd(|| {
        let out = Command::new("machinectl")
            .args(["list", "--no-legend", "--no-pager"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "machinectl list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            support::systemctl_show("systemd-machined.service", "ActiveState"),
            "active"
        );
    });
}

/// Runs `box_runs_minimal_systemd` in a child test binary with `envs`; its exit status
/// and output.
fn run_probe(envs: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "box_runs_minimal_systemd", "--test-threads=1"])
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn failure_inside_fails_the_test() {
    if !boxes_are_used() {
        return;
    }
    let (passed, output) = run_probe(&[(FAIL_ENV, "1".as_ref())]);
    assert!(
        !passed,
        "a failure inside the box passed outside:\n{output}"
    );
    assert!(output.contains("failed (exit status: 101)"), "{output}");
    assert!(
        output.contains("deliberate failure inside the box"),
        "{output}"
    );
}

#[test]
fn hang_inside_times_out() {
    if !boxes_are_used() {
        return;
    }
    let marker = support::scratch_dir("hang").join("held");
    let (passed, output) = run_probe(&[
        (HOLD_ENV, marker.as_os_str()),
        ("UNITBOX_TEST_TIMEOUT_SECS", "5".as_ref()),
    ]);
    assert!(!passed, "a hang inside the box passed outside:\n{output}");
    assert!(output.contains("timed out after 5s"), "{output}");
    assert!(marker.exists(), "the body never ran:\n{output}");
}

/// Podman is the reference the container tests compare with; it must work in a box
/// (offline: the image is imported from the busybox rootfs; `--network none` because
/// the box shares the host's network namespace).
#[test]
fn podman_runs_in_the_box() {
    support::in_systemd(|| {
        let tar = support::scratch_dir("podman").join("rootfs.tar");
        let packed = Command::new("tar")
            .arg("-C")
            .arg(support::busybox_rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(packed.success());
        let podman = |args: &[&str]| {
            let out = Command::new("podman").args(args).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "podman {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            text
        };
        podman(&[
            "import",
            tar.to_str().unwrap(),
            "localhost/unitbox-busybox:test",
        ]);
        let cgroup = podman(&[
            "--cgroup-manager=systemd",
            "run",
            "--rm",
            "--network=none",
            "localhost/unitbox-busybox:test",
            "cat",
            "/proc/self/cgroup",
        ]);
        assert!(cgroup.contains("machine.slice/libpod-"), "{cgroup}");
    });
}
