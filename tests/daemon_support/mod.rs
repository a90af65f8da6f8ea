//! Shared pieces of the unitboxd tests: install the real unit, bus policy and activation
//! file into the test box, and drive the daemon with `busctl`.
//!
//! The unit is the committed `units/unitboxd.service` with only `ExecStart=` pointed at the
//! built binaries (written to `/run/systemd/system.control`, the box's own, which outranks
//! a unit that `scripts/install-daemon` put in the shared `/etc/systemd/system`: the test
//! must run the binaries it built, never an installed copy). The policy and the
//! activation file go where `scripts/install-daemon` puts them (the box shares the host's
//! `/etc` and `/usr`); the bus is told to reload, and the first call activates the daemon.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BUS: &str = "io.unitbox.runtime1";
pub const MANAGER: &str = "/io/unitbox/runtime1";
pub const MANAGER_IFACE: &str = "io.unitbox.runtime1.Manager";
pub const CONTAINER_IFACE: &str = "io.unitbox.runtime1.Container";

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Writes `content` to `path` unless it is already there (atomically: other test
/// binaries may install at the same time); whether it wrote.
fn install_file(path: &str, content: &str) -> bool {
    if std::fs::read_to_string(path).is_ok_and(|c| c == content) {
        return false;
    }
    let path = Path::new(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
    true
}

/// Installs unit, policy and activation file, reloads bus and systemd; stops a daemon
/// left by an earlier test of this box so that every test starts by activation. The
/// daemon logs at debug level (for post-mortems in the box's journal).
pub fn install_service() {
    install_service_logging("debug");
}

/// [`install_service`] with the daemon's log filter `filter` (`info` is the installed
/// unit's default; the benchmark measures with it).
pub fn install_service_logging(filter: &str) {
    let unit = std::fs::read_to_string(format!("{REPO}/units/unitboxd.service")).unwrap();
    let exec = format!(
        "ExecStart={} --runtime {}",
        env!("CARGO_BIN_EXE_unitboxd"),
        env!("CARGO_BIN_EXE_unitbox")
    );
    let unit: String = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                exec.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + &format!("\nEnvironment=UNITBOXD_LOG={filter}\n");
    assert!(unit.contains("Type=dbus"));
    // The tests of one binary share a box and start together: one installs and reloads
    // while the others wait, and nothing reloads again once the files are in place. A
    // `daemon-reload` and a `ReloadConfig` racing another test's `StartTransientUnit`
    // can stall systemd and dbus-daemon on each other until the 25 s D-Bus timeout.
    let lock = std::fs::File::create("/run/unitbox-test-install.lock").unwrap();
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map(|held| {
            let mut changed = install_file("/run/systemd/system.control/unitboxd.service", &unit);
            changed |= install_file(
                "/etc/dbus-1/system.d/io.unitbox.runtime1.conf",
                &std::fs::read_to_string(format!(
                    "{REPO}/dbus-interfaces/io.unitbox.runtime1.conf"
                ))
                .unwrap(),
            );
            changed |= install_file(
                "/usr/share/dbus-1/system-services/io.unitbox.runtime1.service",
                &std::fs::read_to_string(format!(
                    "{REPO}/dbus-interfaces/io.unitbox.runtime1.service"
                ))
                .unwrap(),
            );
            if changed {
                run_ok("systemctl", &["daemon-reload"]);
                run_ok(
                    "busctl",
                    &[
                        "call",
                        "org.freedesktop.DBus",
                        "/",
                        "org.freedesktop.DBus",
                        "ReloadConfig",
                    ],
                );
            }
            drop(held);
        })
        .map_err(|(_, e)| e)
        .unwrap();
}

/// Runs a command, returns its output.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run `{program}`: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `busctl --json=short call io.unitbox.runtime1 /io/unitbox/runtime1 Manager <method> <sig> <args…>`.
pub fn manager(method: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "--json=short",
        "--",
        "call",
        BUS,
        MANAGER,
        MANAGER_IFACE,
        method,
    ];
    all.extend_from_slice(args);
    run("busctl", &all)
}

/// A Manager call that must succeed; returns its JSON reply's `data`.
pub fn manager_ok(method: &str, args: &[&str]) -> serde_json::Value {
    let out = manager(method, args);
    assert!(
        out.status.success(),
        "{method} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    v["data"].clone()
}

/// A Manager call that must fail; returns busctl's error text.
pub fn manager_err(method: &str, args: &[&str]) -> String {
    let out = manager(method, args);
    assert!(
        !out.status.success(),
        "{method} {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A container property, through `busctl get-property` on its object.
pub fn property(id: &str, name: &str) -> serde_json::Value {
    let path = manager_ok("GetContainer", &["s", id])[0]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run_ok(
        "busctl",
        &[
            "--json=short",
            "get-property",
            BUS,
            &path,
            CONTAINER_IFACE,
            name,
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["data"].clone()
}

/// The `Status` property of container `id`.
pub fn status(id: &str) -> String {
    property(id, "Status").as_str().unwrap().to_owned()
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon's main pid (0 when not running).
pub fn daemon_pid() -> u32 {
    let out = run(
        "systemctl",
        &["show", "unitboxd.service", "-p", "MainPID", "--value"],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// An OCI spec (runc's default for busybox) running `sh -c <script>`, terminal off.
pub fn spec(script: &str) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", script],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "unitbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ]
        }
    })
}

/// A fresh busybox bundle whose config.json is `spec`.
pub fn bundle_with(name: &str, spec: &serde_json::Value) -> String {
    let bundle = crate::support::bundle(name);
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(spec).unwrap(),
    )
    .unwrap();
    bundle.display().to_string()
}

/// A script that runs until SIGTERM, then exits 7 (sleep dies with the same SIGTERM).
pub const SERVE_UNTIL_TERM: &str = "trap 'exit 7' TERM; while :; do sleep 1; done";

/// Destroys every container the daemon knows (force), so the next test starts empty.
pub fn destroy_all() {
    let list = manager_ok("ListContainers", &[]);
    for row in list[0].as_array().cloned().unwrap_or_default() {
        let id = row[0].as_str().unwrap().to_owned();
        let _ = manager("DestroyContainer", &["st", &id, "1"]);
    }
}
