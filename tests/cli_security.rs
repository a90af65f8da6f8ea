//! What the CLI promises beyond the engine: its init binary sealed by a read-only overlay
//! (CVE-2019-5736), runc's per-container session keyring and `--no-new-keyring`, and
//! `--rootless` choosing whose systemd holds the scope. Real containers in the private
//! systemd.

mod cli_support;
mod support;

use cli_support::{bundle, leftover_scopes, s, Cli};

/// Every capability, so the attacker below is as strong as root in a container can be
/// (`CAP_SYS_PTRACE` reaches a non-dumpable init's `/proc/1/exe`).
const ATTACKER_CAPS: [&str; 4] = [
    "CAP_SYS_PTRACE",
    "CAP_DAC_OVERRIDE",
    "CAP_SYS_ADMIN",
    "CAP_FOWNER",
];

/// CVE-2019-5736 through the CLI: a process `exec`'d into a created container opens the
/// runtime binary through `/proc/1/exe` (init, still our code while it waits for `start`)
/// and writes to it. The CLI runs init from a detached overlayfs without an upper layer:
/// the link names the binary inside that overlay (not the host path), every write fails
/// with `EROFS` (a memfd copy would say `EPERM`, the host file `ETXTBSY`), and the host
/// binary is unchanged.
#[test]
fn cve_2019_5736_init_binary_is_a_read_only_overlay() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-cve-5736");
        let bundle = bundle("cli-cve-5736", &["sleep", "1000"], |_| {});
        let host_binary = std::fs::read(cli_support::UNITBOX).unwrap();
        cli.run(&["create", "--bundle", s(&bundle), "ov1"]).ok();

        let mut args = vec!["exec"];
        for cap in ATTACKER_CAPS {
            args.extend(["--cap", cap]);
        }
        args.extend([
            "ov1",
            "sh",
            "-c",
            "readlink /proc/1/exe; echo pwned >> /proc/1/exe && echo WROTE; \
             echo pwned > /proc/1/exe && echo TRUNCATED; echo end",
        ]);
        let attack = cli.run(&args);
        let out = attack.ok();
        let name = std::path::Path::new(cli_support::UNITBOX)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        if overlay_refuses(std::path::Path::new(cli_support::UNITBOX)) {
            // The VM lane's root is overlay on 9p, which overlayfs refuses as a lower
            // layer: the CLI falls back to the sealed memfd copy, protected as well.
            assert_eq!(out, "/memfd:unitbox-init (deleted)\nend\n", "{attack:?}");
            assert_eq!(
                attack.stderr.matches("Text file busy").count(),
                2,
                "{attack:?}"
            );
        } else {
            assert_eq!(out, format!("/{name}\nend\n"), "{attack:?}");
            assert_eq!(
                attack.stderr.matches("Read-only file system").count(),
                2,
                "{attack:?}"
            );
        }
        assert_eq!(
            std::fs::read(cli_support::UNITBOX).unwrap(),
            host_binary,
            "host binary changed"
        );
        cli.run(&["delete", "--force", "ov1"]).ok();
        assert_eq!(leftover_scopes("ov1"), "");
    });
}

/// Whether overlayfs refuses `binary`'s folder as a lower layer: remote (9p) folders, and
/// the overlay on 9p the VM lane's root is made of.
fn overlay_refuses(binary: &std::path::Path) -> bool {
    let dir = binary.parent().unwrap();
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .unwrap();
    let kind = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    matches!(kind.as_str(), "v9fs" | "overlayfs")
        && std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .any(|line| line.split_whitespace().nth(2) == Some("9p"))
}

/// The lines of `/proc/keys` (unmasked for the test) naming keyring `name`.
fn keyring_lines<'a>(keys: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" keyring   {name}: ");
    keys.lines().filter(|l| l.contains(&needle)).collect()
}

/// runc's session keyring: the container's init joins a new keyring `_ses.<id>` (owner
/// may search it, so an `exec` finds and joins the same one instead of making another);
/// with `--no-new-keyring` no such keyring is ever made, the container keeps the
/// caller's. Ids carry our pid: keyrings outlive containers until the kernel collects
/// them, so a name must be new to prove anything.
#[test]
fn session_keyring_per_container_unless_no_new_keyring() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-keyring");
        let bundle = bundle("cli-keyring", &["cat", "/proc/keys"], |config| {
            let masked = config["linux"]["maskedPaths"].as_array_mut().unwrap();
            masked.retain(|p| p != "/proc/keys");
        });
        let tag = std::process::id();

        let own = format!("kr-own-{tag}");
        let ran = cli.run(&["run", "--bundle", s(&bundle), &own]);
        let keys = ran.ok();
        let lines = keyring_lines(keys, &format!("_ses.{own}"));
        assert_eq!(lines.len(), 1, "{keys}");
        // possessor: all; user: view, read, search, link (runc's +search).
        assert!(lines[0].contains(" perm 3f1b0000 "), "{lines:?}");

        let inherited = format!("kr-inh-{tag}");
        let ran = cli.run(&[
            "run",
            "--no-new-keyring",
            "--bundle",
            s(&bundle),
            &inherited,
        ]);
        let keys = ran.ok();
        assert!(
            keyring_lines(keys, &format!("_ses.{inherited}")).is_empty(),
            "{keys}"
        );
        // Not an unreadable /proc/keys: the caller's keyrings are there.
        assert!(keys.contains(" keyring "), "{keys}");

        let joined = format!("kr-exec-{tag}");
        let sleeper = cli_support::bundle("cli-keyring-exec", &["sleep", "1000"], |config| {
            let masked = config["linux"]["maskedPaths"].as_array_mut().unwrap();
            masked.retain(|p| p != "/proc/keys");
        });
        cli.run(&["create", "--bundle", s(&sleeper), &joined]).ok();
        let ran = cli.run(&["exec", &joined, "cat", "/proc/keys"]);
        let keys = ran.ok();
        assert_eq!(
            keyring_lines(keys, &format!("_ses.{joined}")).len(),
            1,
            "exec made a second keyring or none: {keys}"
        );
        cli.run(&["delete", "--force", &joined]).ok();
    });
}

/// `--rootless true` asks for the user's systemd. On cgroup v1 (this host's hybrid
/// layout) runc's systemd driver refuses that, and so do we, before anything is made;
/// on v2 the scope goes to the user's bus, which root has none of here. `--rootless
/// false` is the system's systemd, and the choice is kept in the state: a later command
/// with another `--rootless` still finds the scope.
#[test]
fn rootless_picks_the_users_systemd_and_is_kept_in_the_state() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-rootless");
        let bundle = bundle("cli-rootless", &["sleep", "1000"], |_| {});

        let refused = cli.run(&[
            "--rootless",
            "true",
            "create",
            "--bundle",
            s(&bundle),
            "rl1",
        ]);
        if support::is_cgroup2_only() {
            refused.fails_with(&["/run/user/0/bus"]);
        } else {
            refused.fails_with(&["cannot use rootless systemd cgroups manager on cgroup v1"]);
        }
        assert!(!cli.root.join("rl1").exists(), "state left behind");
        assert_eq!(leftover_scopes("rl1"), "");

        cli.run(&[
            "--rootless",
            "false",
            "create",
            "--bundle",
            s(&bundle),
            "rl2",
        ])
        .ok();
        assert_eq!(
            support::systemctl_show("unitbox-rl2.scope", "ActiveState"),
            "active"
        );
        assert_eq!(cli.status("rl2"), "created");
        cli.run(&["--rootless", "true", "delete", "--force", "rl2"])
            .ok();
        assert_eq!(leftover_scopes("rl2"), "");
    });
}

/// The container joins its scope while it builds its root filesystem, but never later
/// than its hooks: a `createRuntime` hook (on the host) finds the container process in
/// the scope, and a `createContainer` hook (a process the container forks) runs inside
/// it. Without hooks nothing runs before `start` releases the program, which then is in
/// the scope too.
#[test]
fn hooks_and_the_program_run_inside_the_scope() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-hook-scope");
        let out = cli.root.join("hook-out");
        std::fs::create_dir_all(&out).unwrap();
        let runtime_out = out.join("runtime");
        let container_out = out.join("container");
        let bundle = bundle("cli-hook-scope", &["cat", "/proc/self/cgroup"], |config| {
            config["hooks"] = serde_json::json!({
                "createRuntime": [{
                    "path": "/bin/sh",
                    "args": ["sh", "-c", format!(
                        "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); cat /proc/$pid/cgroup > {}",
                        runtime_out.display()
                    )],
                }],
                "createContainer": [{
                    "path": "/bin/sh",
                    "args": ["sh", "-c", format!("cat /proc/self/cgroup > {}", container_out.display())],
                }],
            });
        });
        let program = cli.run(&["run", "--bundle", s(&bundle), "hs1"]);
        let scope = "/machine.slice/unitbox-hs1.scope";
        for (who, text) in [
            (
                "createRuntime hook",
                std::fs::read_to_string(&runtime_out).unwrap(),
            ),
            (
                "createContainer hook",
                std::fs::read_to_string(&container_out).unwrap(),
            ),
            ("program", program.ok().to_owned()),
        ] {
            let tracking = text
                .lines()
                .find(|l| l.starts_with("0::"))
                .unwrap_or_else(|| panic!("{who}: no unified line in {text}"));
            assert!(tracking.ends_with(scope), "{who} outside the scope: {text}");
        }
    });
}
