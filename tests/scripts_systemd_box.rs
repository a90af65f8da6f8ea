//! Tests of `scripts/systemd-box run -- CMD…`: CMD runs under a private systemd that is
//! up, CMD's exit code is the script's, and the box's cgroups are gone afterwards, also
//! when the script is stopped by a signal mid-run (even SIGKILL, which runs no trap).
//!
//! The script boots its own box whatever PID 1 is, so these run the same on any root host.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::cgroup_layout::CgroupLayout;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/systemd-box")
}

/// Every directory of the box the script with pid `pid` made (`unitbox-box-<pid>`), in
/// any hierarchy.
fn box_cgroups(pid: u32) -> Vec<PathBuf> {
    let name = format!("unitbox-box-{pid}");
    CgroupLayout::discover()
        .hierarchies
        .iter()
        .flat_map(|h| h.box_parents())
        .map(|parent| parent.join(&name))
        .filter(|dir| dir.exists())
        .collect()
}

/// `scripts/systemd-box run -- args…`, stderr captured for failure messages.
fn box_command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(script());
    cmd.arg("run")
        .arg("--")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `scripts/systemd-box run -- args…`; returns its output and the box cgroups left.
fn run_in_box(args: &[&str]) -> (Output, Vec<PathBuf>) {
    let child = box_command(args).stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (out, box_cgroups(pid))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn command_sees_a_running_systemd_and_the_box_is_removed() {
    let (out, left) = run_in_box(&["systemctl", "is-system-running"]);
    let state = text(&out.stdout);
    assert!(
        out.status.success() && matches!(state.trim(), "running" | "degraded"),
        "status {:?}, stdout {state:?}, stderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    assert!(left.is_empty(), "box cgroups left: {left:?}");
}

#[test]
fn command_runs_as_a_child_of_the_box_systemd() {
    // PID 1 of the command's pid namespace is the box's systemd, in its own cgroup root.
    let (out, left) = run_in_box(&[
        "sh",
        "-c",
        "cat /proc/1/comm; grep '^0::' /proc/self/cgroup",
    ]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "systemd\n0::/\n");
    assert!(left.is_empty(), "box cgroups left: {left:?}");
}

#[test]
fn failing_command_exit_code_propagates() {
    let (out, left) = run_in_box(&["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "stderr:\n{}", text(&out.stderr));
    assert!(left.is_empty(), "box cgroups left: {left:?}");

    let (out, left) = run_in_box(&["systemctl", "is-active", "no-such-unit.service"]);
    assert_eq!(out.status.code(), Some(3), "stderr:\n{}", text(&out.stderr));
    assert!(left.is_empty(), "box cgroups left: {left:?}");
}

#[test]
fn usage_errors_boot_nothing() {
    for args in [
        &[][..],
        &["run"][..],
        &["run", "--"][..],
        &["start", "true"][..],
    ] {
        let out = Command::new(script()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(
            text(&out.stderr).contains("usage: scripts/systemd-box run -- CMD"),
            "args {args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// Starts `scripts/systemd-box run -- sh -c 'touch <marker>; sleep 600'` and returns once
/// the command runs inside the box (the box's cgroups exist then).
fn start_holding_box(name: &str) -> std::process::Child {
    // The marker lives where both sides see it: the box has its own /tmp and /run.
    let marker = support::scratch_dir(name).join("started");
    let hold = format!("touch {}; exec sleep 600", marker.display());
    let mut child = box_command(&["sh", "-c", &hold])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "systemd-box exited before the command started"
        );
        assert!(Instant::now() < deadline, "command did not start in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !box_cgroups(child.id()).is_empty(),
        "no box cgroups while running"
    );
    child
}

#[test]
fn sigterm_mid_command_tears_the_box_down() {
    let child = start_holding_box("systemd-box-term");
    let pid = child.id();
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "stderr:\n{}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "teardown waited for the command"
    );
    let left = box_cgroups(pid);
    assert!(left.is_empty(), "box cgroups left: {left:?}");
}

#[test]
fn sigkilled_script_still_loses_its_box() {
    // No trap runs on SIGKILL: the supervisor sees its stdin close and removes the box.
    let mut child = start_holding_box("systemd-box-kill");
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = box_cgroups(pid);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "box cgroups left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
