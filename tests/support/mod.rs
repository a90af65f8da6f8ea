//! Test support: a real systemd for every integration test, and busybox bundles.
//!
//! Every integration test file includes this module with `mod support;`. Tests that
//! need systemd (and its system bus) wrap their body in [`in_systemd`]:
//!
//! ```ignore
//! mod support;
//!
//! #[test]
//! fn scope_appears() {
//!     support::in_systemd(|| {
//!         assert_eq!(support::systemctl_show("init.scope", "ActiveState"), "active");
//!     });
//! }
//! ```
//!
//! # Where the body runs
//! - When PID 1 of our pid namespace is systemd (a normal host, the VM lane, or we are
//!   already inside a test box), the body runs right away against that systemd.
//! - Otherwise this test binary boots its own *test box* once (lazily, shared by all its
//!   tests): a private systemd as PID 1 of fresh pid/mount/uts/ipc/cgroup namespaces, in
//!   its own sub-cgroup `unitbox-testbox-<pid>` of every hierarchy, with tmpfs `/run` and
//!   `/tmp`, journald and the system bus (`shared/design/systemd-box.md`). The test is then
//!   re-executed inside the box (`<exe> --exact <test> --nocapture --test-threads=1`, run
//!   by `nsenter` after joining the box's cgroups), its output is streamed, and the outer
//!   test fails with that output if the inner one fails, matches no test, or runs longer
//!   than `UNITBOX_TEST_TIMEOUT_SECS` (default 300).
//! - Inside the box the whole test function runs again from its start, so code before
//!   `in_systemd` runs twice (outside and inside): put setup in the body.
//! - The box dies with the test binary: a supervisor process notices the binary's exit,
//!   SIGKILLs the box and removes its cgroups. Boxes and run directories left by a
//!   killed run (their launcher pid is dead) are removed by the next boot.
//!
//! The box shares the host's filesystem and network namespace; `/run`, `/tmp` and
//! `/var/lib/containers` (podman's store) are its own tmpfs. Everything both sides must
//! see lives under `<target>/unitbox-test/` ([`test_area`]). In the box, podman works
//! with `--cgroup-manager=systemd --network=none` and images `podman import`ed from
//! [`busybox_rootfs`]; `systemd-machined` starts on demand (D-Bus activation). The box
//! boots `unitbox-test.target`: journald and the system bus only, none of the host's
//! `multi-user.target` and no early-boot unit that would write host state (sysctl,
//! tmpfiles, sysusers, ...); a test that needs another unit starts it.
//!
//! # Functions
//! - [`in_systemd`]`(body)`: run `body` where PID 1 is systemd (see above).
//! - [`bus_address`]`()`: the system bus address inside (`unix:path=/run/dbus/system_bus_socket`).
//! - [`systemctl`]`(args)`, [`systemctl_show`]`(unit, prop)`: run `systemctl` against that systemd.
//! - [`busybox_rootfs`]`()`: a cached read-only-by-convention rootfs built from Debian's
//!   `busybox-static` (`/bin` with every applet, `/etc/passwd` with root, `user` (1000)
//!   and `nobody`, `/etc/group`, empty `/proc /sys /dev /tmp /run /root /home/user`).
//! - [`bundle`]`(name)`: a fresh bundle directory with a copy of that rootfs in `rootfs/`;
//!   the test writes its `config.json` into it.
//! - [`scratch_dir`]`(name)`: a fresh empty directory, e.g. for a state root (`--root`).
//! - [`in_test_box`]`()`: whether this process is a test re-executed inside a box.
//! - [`is_cgroup2_only`]`()`, [`cgroup_dir`]`(controller, cgroup)`,
//!   [`read_cgroup_file`]`(controller, cgroup, file)`: a unit's cgroup files on v1/hybrid
//!   hosts (`/sys/fs/cgroup/memory/<cgroup>`) and cgroup2-only ones (`/sys/fs/cgroup/<cgroup>`).
#![allow(dead_code, unused_imports)]

mod busybox;
pub mod cgroup_layout;
mod reexec;
pub mod systemd_box;
pub mod test_area;

use std::process::{Command, Output};

pub use busybox::{bundle, busybox_rootfs, scratch_dir, socket_path};
pub use test_area::test_area;

/// Environment variable set on a test re-executed inside a box; its value is the box name.
pub const IN_BOX_ENV: &str = "UNITBOX_TEST_BOX";

/// The system bus socket inside the box (and on a normal systemd host).
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// Runs `body` where PID 1 is systemd: directly if it already is, else re-executes this
/// test inside this binary's private systemd box and asserts that it passed there.
pub fn in_systemd<F: FnOnce()>(body: F) {
    if pid1_is_systemd() {
        body();
        return;
    }
    if let Ok(name) = std::env::var(IN_BOX_ENV) {
        panic!("re-executed inside test box `{name}` but PID 1 is not systemd");
    }
    let test_box = systemd_box::shared_box();
    reexec::run_current_test_in(test_box);
}

/// Whether PID 1 of our pid namespace is systemd.
pub fn pid1_is_systemd() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|comm| comm.trim_end() == "systemd")
}

/// Whether this process is a test re-executed inside a test box.
pub fn in_test_box() -> bool {
    std::env::var_os(IN_BOX_ENV).is_some()
}

/// The D-Bus address of the system bus of the systemd the tests run against.
pub fn bus_address() -> String {
    format!("unix:path={SYSTEM_BUS_SOCKET}")
}

/// Runs `systemctl <args>` against the systemd we run under (call it inside [`in_systemd`]).
pub fn systemctl(args: &[&str]) -> Output {
    Command::new("systemctl")
        .args(args)
        .output()
        .expect("run `systemctl`")
}

/// One property of a unit, as `systemctl show <unit> -p <prop> --value` prints it.
pub fn systemctl_show(unit: &str, prop: &str) -> String {
    let out = systemctl(&["show", unit, "-p", prop, "--value"]);
    assert!(
        out.status.success(),
        "systemctl show {unit} -p {prop}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Whether cgroup2 is the only cgroup hierarchy (mounted at `/sys/fs/cgroup` itself).
pub fn is_cgroup2_only() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The directory of `cgroup` (a path like systemd's `ControlGroup` property, e.g.
/// `/machine.slice/x.scope`) for `controller`: `/sys/fs/cgroup/<controller><cgroup>` on a
/// v1 or hybrid host, `/sys/fs/cgroup<cgroup>` when cgroup2 is the only hierarchy.
pub fn cgroup_dir(controller: &str, cgroup: &str) -> std::path::PathBuf {
    let relative = cgroup.trim_start_matches('/');
    if is_cgroup2_only() {
        std::path::Path::new("/sys/fs/cgroup").join(relative)
    } else {
        std::path::Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(relative)
    }
}

/// The trimmed content of `file` in [`cgroup_dir`]`(controller, cgroup)`.
pub fn read_cgroup_file(controller: &str, cgroup: &str, file: &str) -> String {
    let path = cgroup_dir(controller, cgroup).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()))
        .trim_end()
        .to_string()
}
