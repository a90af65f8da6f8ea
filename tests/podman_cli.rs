//! podman drives `unitbox` as its OCI runtime (`--runtime`), with the systemd cgroup
//! manager and no network, on a busybox image imported offline: the proof that the CLI
//! is a drop-in for runc where the container world uses one.

mod cli_support;
mod support;

use std::process::{Command, Output};

use cli_support::UNITBOX;

const IMAGE: &str = "localhost/unitbox-busybox:cli";

/// `podman --runtime unitbox --cgroup-manager systemd <args>`.
fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--runtime", UNITBOX, "--cgroup-manager", "systemd"])
        .args(args)
        .output()
        .expect("run podman")
}

/// Asserts success and returns stdout.
fn ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn import_image() {
    let tar = support::scratch_dir("podman-cli").join("rootfs.tar");
    let packed = Command::new("tar")
        .arg("-C")
        .arg(support::busybox_rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(packed.success());
    ok(&["import", tar.to_str().unwrap(), IMAGE]);
}

#[test]
fn podman_runs_containers_with_unitbox() {
    support::in_systemd(|| {
        import_image();

        // run --rm with output; the container sits in a systemd scope.
        let out = ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo hello; cat /proc/self/cgroup",
        ]);
        assert!(out.starts_with("hello\n"), "{out}");
        assert!(out.contains("machine.slice/libpod-"), "{out}");
        // Exit codes propagate.
        let out = podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "exit 42",
        ]);
        assert_eq!(out.status.code(), Some(42), "{out:?}");

        // run -d, exec, top, pause/unpause, update --memory, stop, rm.
        let id = ok(&[
            "run",
            "-d",
            "--name",
            "pc1",
            "--network",
            "none",
            IMAGE,
            "sleep",
            "1000",
        ]);
        let id = id.trim();
        assert_eq!(
            ok(&["inspect", "-f", "{{.State.Status}}", "pc1"]).trim(),
            "running"
        );
        assert_eq!(
            ok(&["inspect", "-f", "{{.OCIRuntime}}", "pc1"]).trim(),
            UNITBOX
        );
        // podman asked unitbox: the container is in unitbox's state, with its status.
        let states = Command::new("find")
            .args(["/run", "-name", "state.json", "-path", &format!("*{id}*")])
            .output()
            .unwrap();
        assert!(!states.stdout.is_empty(), "no unitbox state for {id}");
        assert_eq!(
            ok(&["exec", "pc1", "sh", "-c", "echo in-exec"]),
            "in-exec\n"
        );
        let out = podman(&["exec", "pc1", "sh", "-c", "exit 5"]);
        assert_eq!(out.status.code(), Some(5), "{out:?}");
        let top = ok(&["top", "pc1"]);
        assert!(top.contains("sleep 1000"), "{top}");
        ok(&["pause", "pc1"]);
        assert_eq!(
            ok(&["inspect", "-f", "{{.State.Status}}", "pc1"]).trim(),
            "paused"
        );
        ok(&["unpause", "pc1"]);
        assert_eq!(
            ok(&["inspect", "-f", "{{.State.Status}}", "pc1"]).trim(),
            "running"
        );
        ok(&["update", "--memory", "64m", "pc1"]);
        let unit = format!("libpod-{id}.scope");
        assert_eq!(
            support::systemctl_show(&unit, "MemoryLimit").trim(),
            (64u64 << 20).to_string()
        );
        ok(&["stop", "-t", "1", "pc1"]);
        assert_eq!(
            ok(&["inspect", "-f", "{{.State.Status}}", "pc1"]).trim(),
            "exited"
        );
        ok(&["rm", "pc1"]);

        // A terminal through the console socket (conmon holds the master).
        let out = ok(&[
            "run",
            "--rm",
            "-t",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "tty",
        ]);
        assert!(out.contains("/dev/pts/0"), "{out:?}");
    });
}
