//! Shared pieces of the container integration tests: runc's default spec, bundles with
//! a config, and running a container to its exit with its output captured.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support;

/// runc's `runc spec` (1.2) for a busybox rootfs, running `sh -c <script>`.
pub fn spec(script: &str) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", script],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
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
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Adds a user namespace to `spec`, container ids 0..65536 mapped from `host_id` on.
pub fn add_user_namespace(spec: &mut Value, host_id: u32) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
    spec["linux"]["uidMappings"] = map.clone();
    spec["linux"]["gidMappings"] = map;
}

/// A fresh busybox bundle with `spec` as its `config.json`.
pub fn bundle_with(name: &str, spec: &Value) -> PathBuf {
    let bundle = support::bundle(name);
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(spec).unwrap(),
    )
    .unwrap();
    bundle
}

/// The lines between `==name==` and the next `==…==` marker of a container's output.
pub fn section<'a>(output: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!("=={name}==");
    output
        .lines()
        .skip_while(|l| *l != marker)
        .skip(1)
        .take_while(|l| !(l.starts_with("==") && l.ends_with("==")))
        .collect()
}

/// The single line of a section.
pub fn value<'a>(output: &'a str, name: &str) -> &'a str {
    let lines = section(output, name);
    assert_eq!(lines.len(), 1, "section {name} in:\n{output}");
    lines[0]
}

/// A shell snippet printing a section marker then running `cmd` (stderr folded in).
pub fn show(name: &str, cmd: &str) -> String {
    format!("echo =={name}==; {cmd} 2>&1; ")
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file the container's stdout and stderr go to.
pub fn output_file(dir: &Path) -> (PathBuf, File) {
    let path = dir.join("output");
    let file = File::create(&path).unwrap();
    (path, file)
}

use unitbox::config::oci::load_bundle;
use unitbox::container::Container;
use unitbox::factory::{Factory, FactoryOptions};
use unitbox::process::{ExitStatus, Process, Stdio};

/// A factory over a fresh state root that starts init from the `unitbox` binary.
pub fn factory(name: &str) -> Factory {
    let options = FactoryOptions {
        init_binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_unitbox"))),
    };
    Factory::new(support::scratch_dir(name), options).unwrap()
}

/// A container created from `spec` in a fresh bundle, its stdout and stderr going to
/// `<bundle>/output`.
pub struct Created {
    /// The container.
    pub container: Container,
    /// Its bundle.
    pub bundle: PathBuf,
    /// Where its output goes.
    pub output: PathBuf,
}

impl Created {
    /// What the container printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap()
    }

    /// Starts the container and waits until it printed `ready`: a signal sent before the
    /// shell installed its trap would be lost (PID 1 ignores unhandled signals).
    pub fn start_and_wait_ready(&mut self) {
        self.container.start().unwrap();
        wait_for(
            "the container to print `ready`",
            Duration::from_secs(20),
            || self.output().lines().any(|l| l == "ready"),
        );
    }
}

/// A script that exits with `code` on SIGTERM and otherwise runs until killed; it prints
/// `ready` once its trap is set.
pub fn sleeper_script(code: i32) -> String {
    format!("trap 'exit {code}' TERM; echo ready; while :; do sleep 0.05; done")
}

/// Creates container `id` from `spec` in a fresh bundle (not started).
pub fn create(factory: &Factory, id: &str, spec: &Value) -> Created {
    create_in(factory, id, bundle_with(id, spec))
}

/// Creates container `id` from the bundle `bundle` (not started).
pub fn create_in(factory: &Factory, id: &str, bundle: PathBuf) -> Created {
    let config = load_bundle(&bundle).unwrap();
    create_with_config(factory, id, config, bundle)
}

/// Creates container `id` from `config` (loaded from `bundle`, then adjusted by the test).
pub fn create_with_config(
    factory: &Factory,
    id: &str,
    config: unitbox::config::Config,
    bundle: PathBuf,
) -> Created {
    let (output, file) = output_file(&bundle);
    let mut process = Process::from_config(config.process.as_ref().unwrap());
    process.stdin = Stdio::Null;
    process.stdout = Stdio::Fd(file.try_clone().unwrap().into());
    process.stderr = Stdio::Fd(file.into());
    let container = factory
        .create_with_process(id, config, process)
        .unwrap_or_else(|e| panic!("create `{id}`: {}", chain(&e)));
    Created {
        container,
        bundle,
        output,
    }
}

/// Runs `spec` to its exit: create, start, wait, destroy. Returns how it ended and what
/// it printed.
pub fn run(factory: &Factory, id: &str, spec: &Value) -> (ExitStatus, String) {
    run_in(factory, id, bundle_with(id, spec))
}

/// [`run`] with an existing bundle.
pub fn run_in(factory: &Factory, id: &str, bundle: PathBuf) -> (ExitStatus, String) {
    let mut created = create_in(factory, id, bundle);
    created
        .container
        .start()
        .unwrap_or_else(|e| panic!("start `{id}`: {}", chain(&e)));
    let status = created.container.wait().unwrap();
    let output = created.output();
    created
        .container
        .destroy()
        .unwrap_or_else(|e| panic!("destroy `{id}`: {}", chain(&e)));
    (status, output)
}

/// An error with its whole source chain, for assertion messages.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The mountinfo line of `mount_point` (the last one: the one on top).
pub fn mountinfo_line<'a>(mountinfo: &[&'a str], mount_point: &str) -> &'a str {
    mountinfo
        .iter()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(mount_point))
        .unwrap_or_else(|| panic!("no mount on {mount_point} in:\n{}", mountinfo.join("\n")))
}

/// Per-mount options (field 6) of a mountinfo line.
pub fn mount_options(line: &str) -> Vec<&str> {
    line.split(' ').nth(5).unwrap().split(',').collect()
}
