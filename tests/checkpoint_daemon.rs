//! unitboxd's `Checkpoint` / `CheckpointContainer` / `RestoreContainer` through `busctl`:
//! a busybox counter is pre-dumped, dumped on top of that (its scope goes away and the
//! object is removed), restored under a new scope with its memory limit and the monitor
//! as the restored init's parent, and checkpointed once more left running.
//!
//! Needs a kernel criu works on: on the 6.18 dev hosts the criu test prints
//! `SKIPPED: <criu check's message>`; it runs in the cgroup v2 VM lane
//! (`tests/vm/run --test checkpoint_daemon`). The option checks run everywhere.

mod checkpoint_support;
mod daemon_support;
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use checkpoint_support::*;
use daemon_support::*;

/// `busctl --timeout=300 --json=short call …`: criu under TCG takes seconds.
fn call(path: &str, iface: &str, method: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "--timeout=300",
        "--json=short",
        "--",
        "call",
        BUS,
        path,
        iface,
        method,
    ];
    all.extend_from_slice(args);
    run("busctl", &all)
}

fn call_ok(path: &str, iface: &str, method: &str, args: &[&str]) -> serde_json::Value {
    let out = call(path, iface, method, args);
    assert!(
        out.status.success(),
        "{method} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str::<serde_json::Value>(text.trim()).unwrap()["data"].clone()
}

fn call_err(path: &str, iface: &str, method: &str, args: &[&str]) -> String {
    let out = call(path, iface, method, args);
    assert!(!out.status.success(), "{method} {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The counter spec, with `/tmp` in the (writable) rootfs so the test reads the counter.
fn counter_spec() -> serde_json::Value {
    let mut spec = spec(COUNTER);
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/tmp");
    counter_config(&mut spec);
    spec
}

fn init_pid(id: &str) -> u64 {
    property(id, "InitPid").as_u64().unwrap()
}

/// The parent of `pid` and its command line.
fn parent_cmdline(pid: u64) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let ppid: u64 = after.split(' ').nth(1).unwrap().parse().unwrap();
    std::fs::read_to_string(format!("/proc/{ppid}/cmdline"))
        .unwrap()
        .replace('\0', " ")
}

#[test]
fn checkpoint_and_restore_through_the_bus() {
    if skip_without_criu("checkpoint_and_restore_through_the_bus") {
        return;
    }
    support::in_systemd(|| {
        install_service();
        let monitor_log = support::scratch_dir("ckptd-monitor").join("signals.json");
        let mut monitor = Command::new("busctl")
            .args(["monitor", "--json=short", BUS])
            .stdout(std::fs::File::create(&monitor_log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let id = "ckptd";
        let unit = "unitbox-ckptd.scope";
        let bundle = bundle_with(id, &counter_spec());
        let rootfs = Path::new(&bundle);
        let parent = support::scratch_dir("ckptd-parent");
        let images = support::scratch_dir("ckptd-images");
        let again = support::scratch_dir("ckptd-again");

        // Files as stdio: criu records them as external and the restore hands over its own
        // (a journal stream socket lives in the host's network namespace, out of criu's
        // reach; see the refusal below).
        let out = support::scratch_dir("ckptd-out").join("out.log");
        let out = out.to_str().unwrap();
        let stdio = ["2", "StdoutPath", "s", out, "StderrPath", "s", out];
        let mut args = vec!["ssa{sv}", id, &bundle];
        args.extend(stdio);
        let path = manager_ok("RunContainer", &args);
        let path = path[0].as_str().unwrap().to_owned();
        wait_counter_at_least(rootfs, 3);
        assert_in_limited_scope(unit, init_pid(id));

        // Pre-dump through the id-keyed twin: it keeps running.
        call_ok(
            MANAGER,
            MANAGER_IFACE,
            "CheckpointContainer",
            &[
                "ssa{sv}",
                id,
                parent.to_str().unwrap(),
                "1",
                "PreDump",
                "b",
                "true",
            ],
        );
        assert_eq!(status(id), "running");
        let after_pre = counter(rootfs);
        wait_counter_at_least(rootfs, after_pre + 2);

        // The dump on top of it, on the Container object: stopped, removed, scope gone.
        let relative = format!("../{}", parent.file_name().unwrap().to_str().unwrap());
        call_ok(
            &path,
            CONTAINER_IFACE,
            "Checkpoint",
            &[
                "sa{sv}",
                images.to_str().unwrap(),
                "1",
                "ParentPath",
                "s",
                &relative,
            ],
        );
        assert_scope_gone(unit);
        let err = manager_err("GetContainer", &["s", id]);
        assert!(err.contains("no container"), "{err}");
        assert!(
            images.join("parent").exists(),
            "criu links the parent images"
        );
        let dumped = counter(rootfs);

        // Restore under a new scope, the monitor as the restored init's parent.
        reset_counter(rootfs);
        let mut args = vec!["sssa{sv}", id, &bundle, images.to_str().unwrap()];
        args.extend(stdio);
        let restored = call_ok(MANAGER, MANAGER_IFACE, "RestoreContainer", &args);
        assert_eq!(
            restored[0].as_str().unwrap(),
            path,
            "same id, same object path"
        );
        assert_eq!(status(id), "running");
        let pid = init_pid(id);
        assert_in_limited_scope(unit, pid);
        let parent_cmd = parent_cmdline(pid);
        assert!(
            parent_cmd.contains("monitor"),
            "parent of init: {parent_cmd}"
        );
        let first = first_value_after_reset(rootfs);
        assert!(
            first > dumped,
            "restored counter wrote {first}, saved was {dumped}"
        );

        // Left running: same process, same scope, still counting.
        call_ok(
            &path,
            CONTAINER_IFACE,
            "Checkpoint",
            &[
                "sa{sv}",
                again.to_str().unwrap(),
                "1",
                "LeaveRunning",
                "b",
                "true",
            ],
        );
        assert_eq!(status(id), "running");
        assert_eq!(init_pid(id), pid);
        let now = counter(rootfs);
        wait_counter_at_least(rootfs, now + 2);
        assert!(again.join("unitbox-checkpoint.json").is_file());

        manager_ok("DestroyContainer", &["st", id, "1"]);
        assert_scope_gone(unit);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = monitor.kill();
        let _ = monitor.wait();
        let signals = std::fs::read_to_string(&monitor_log).unwrap();
        for member in [
            "ContainerNew",
            "StatusChanged",
            "Exited",
            "ContainerRemoved",
        ] {
            assert!(
                signals.contains(&format!("\"member\":\"{member}\"")),
                "signal {member} not seen in:\n{signals}"
            );
        }
    });
}

/// Runs everywhere: every refusal comes before criu would run.
#[test]
fn bad_checkpoint_and_restore_requests_are_refused() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with("ckptd-bad", &counter_spec());
        let images = support::scratch_dir("ckptd-bad-images");
        let images = images.to_str().unwrap();
        let rows: &[(&str, &[&str], &str)] = &[
            (
                "CheckpointContainer",
                &["ssa{sv}", "nobody", images, "1", "Bogus", "b", "true"],
                "Bogus",
            ),
            (
                "CheckpointContainer",
                &["ssa{sv}", "nobody", images, "1", "LeaveRunning", "s", "yes"],
                "LeaveRunning",
            ),
            (
                "CheckpointContainer",
                &["ssa{sv}", "nobody", "relative/dir", "0"],
                "image_dir",
            ),
            (
                "RestoreContainer",
                &[
                    "sssa{sv}",
                    "ckptd-bad",
                    &bundle,
                    images,
                    "1",
                    "PreDump",
                    "b",
                    "true",
                ],
                "PreDump",
            ),
            (
                "RestoreContainer",
                &[
                    "sssa{sv}",
                    "ckptd-bad",
                    &bundle,
                    images,
                    "1",
                    "ManageCgroupsMode",
                    "s",
                    "all",
                ],
                "ManageCgroupsMode",
            ),
        ];
        for (method, args, key) in rows {
            let err = call_err(MANAGER, MANAGER_IFACE, method, args);
            assert!(err.contains(&format!("{key}:")), "{method} {args:?}: {err}");
        }
        let err = call_err(
            MANAGER,
            MANAGER_IFACE,
            "RestoreContainer",
            &[
                "sssa{sv}",
                "ckptd-bad",
                &bundle,
                images,
                "1",
                "CriuPath",
                "s",
                "/nonexistent/criu",
            ],
        );
        assert!(
            err.contains("find criu binary `/nonexistent/criu`"),
            "{err}"
        );
        let err = manager_err("GetContainer", &["s", "ckptd-bad"]);
        assert!(err.contains("no container"), "nothing half-made: {err}");

        // init's output goes to the journal by default: a socket criu cannot dump. The
        // refusal names it before criu runs, and the container keeps running.
        let journal = bundle_with("ckptd-journal", &spec("sleep 1000"));
        manager_ok("RunContainer", &["ssa{sv}", "ckptd-journal", &journal, "0"]);
        let err = call_err(
            MANAGER,
            MANAGER_IFACE,
            "CheckpointContainer",
            &["ssa{sv}", "ckptd-journal", images, "0"],
        );
        assert!(err.contains("socket of another network namespace"), "{err}");
        assert_eq!(status("ckptd-journal"), "running");
        manager_ok("DestroyContainer", &["st", "ckptd-journal", "1"]);

        // Only root: the bus policy refuses everybody else before the daemon's own check.
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "busctl"];
        for (method, args) in [
            ("CheckpointContainer", vec!["ssa{sv}", "x", images, "0"]),
            (
                "RestoreContainer",
                vec!["sssa{sv}", "x", &bundle, images, "0"],
            ),
        ] {
            let mut all = nobody.to_vec();
            all.extend(["--", "call", BUS, MANAGER, MANAGER_IFACE, method]);
            all.extend(args);
            let out = run("setpriv", &all);
            assert!(!out.status.success(), "{method} as nobody succeeded");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("denied"), "{method} as nobody: {err}");
        }
    });
}
