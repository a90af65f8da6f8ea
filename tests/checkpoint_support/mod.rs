//! Shared pieces of the checkpoint/restore tests: the criu gate, a counter container's
//! bundle, and reading its counter and its scope.
//!
//! criu 3.17 fails `criu check` on kernels newer than 6.12 (the dev hosts run 6.18), so
//! every test that needs criu first asks the library's own probe and, when it fails,
//! prints `SKIPPED: <criu's message>` and returns. In the cgroup v2 VM lane
//! (`tests/vm/run --test checkpoint_cli`) criu works and the tests run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

/// The counter loop: increments `i` every 0.2 s and writes it to `/tmp/c` in the rootfs.
pub const COUNTER: &str = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.2; done";

/// The memory limit the counter containers get (64 MiB).
pub const MEMORY_MAX: u64 = 64 * 1024 * 1024;

/// TCG under load is slow: every wait is bounded by this, never a fixed sleep.
pub const WAIT: Duration = Duration::from_secs(90);

/// `Some(reason)` when criu cannot run here: the probe's error, criu's own message.
pub fn criu_unusable() -> Option<String> {
    unitbox::checkpoint::probe(Path::new(unitbox::checkpoint::DEFAULT_CRIU))
        .err()
        .map(|e| unitbox::cli::error_chain(&e))
}

/// Prints the skip reason and returns true when criu cannot run here.
pub fn skip_without_criu(test: &str) -> bool {
    match criu_unusable() {
        Some(reason) => {
            println!("SKIPPED: {test}: {reason}");
            true
        }
        None => false,
    }
}

/// Makes `config` a counter container: writable root, 64 MiB memory limit.
pub fn counter_config(config: &mut Value) {
    config["root"]["readonly"] = false.into();
    config["linux"]["resources"]["memory"]["limit"] = MEMORY_MAX.into();
}

/// The counter file of a bundle.
pub fn counter_file(bundle: &Path) -> PathBuf {
    bundle.join("rootfs/tmp/c")
}

/// The counter's value (0 when the file is missing or being written).
pub fn counter(bundle: &Path) -> u64 {
    std::fs::read_to_string(counter_file(bundle))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `cond` until it holds; panics naming `what` after [`WAIT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits for the counter to reach at least `n`; returns the value seen.
pub fn wait_counter_at_least(bundle: &Path, n: u64) -> u64 {
    let mut seen = 0;
    wait_until(&format!("counter >= {n}"), || {
        seen = counter(bundle);
        seen >= n
    });
    seen
}

/// Clears the counter file, then returns the first value a (restored) counter writes.
pub fn reset_counter(bundle: &Path) {
    std::fs::write(counter_file(bundle), "0\n").unwrap();
}

/// The first non-zero value written after [`reset_counter`].
pub fn first_value_after_reset(bundle: &Path) -> u64 {
    let mut seen = 0;
    wait_until("the restored counter to write", || {
        seen = counter(bundle);
        seen != 0
    });
    seen
}

/// Asserts that systemd no longer has `unit` active (it is gone or inactive).
pub fn assert_scope_gone(unit: &str) {
    wait_until(&format!("{unit} to go away"), || {
        let load = support::systemctl_show(unit, "LoadState");
        let active = support::systemctl_show(unit, "ActiveState");
        load == "not-found" || active == "inactive"
    });
}

/// Asserts that `unit` is active with the counter's memory limit, and that `pid` lives
/// in it with the limit on its own cgroup (v2: `memory.max` of `/proc/<pid>/cgroup`).
pub fn assert_in_limited_scope(unit: &str, pid: u64) {
    assert_eq!(support::systemctl_show(unit, "ActiveState"), "active");
    assert_eq!(
        support::systemctl_show(unit, "MemoryMax"),
        MEMORY_MAX.to_string()
    );
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no unified line in {cgroup}"));
    assert!(
        path.split('/').any(|c| c == unit),
        "pid {pid} is in {path}, not {unit}"
    );
    if support::is_cgroup2_only() {
        assert_eq!(
            support::read_cgroup_file("memory", path, "memory.max"),
            MEMORY_MAX.to_string()
        );
    }
}
