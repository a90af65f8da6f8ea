//! The CLI's lifecycle commands against real busybox containers in the private systemd:
//! create/start/state/list/ps/pause/resume/exec/kill/delete, their outputs, state
//! transitions, exit codes, and that nothing is left behind.

mod cli_support;
mod support;

use cli_support::{bundle, leftover_scopes, s, Cli};

#[test]
fn create_start_pause_exec_kill_delete() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-lifecycle");
        let bundle = bundle("cli-lifecycle", &["sleep", "1000"], |_| {});
        let pid_file = cli.root.join("c1.pid");

        // create: returns once `created`, with the pid file written.
        cli.run(&[
            "create",
            "--bundle",
            s(&bundle),
            "--pid-file",
            s(&pid_file),
            "c1",
        ])
        .ok();
        let state = cli.state("c1");
        assert_eq!(state["status"], "created");
        assert_eq!(state["id"], "c1");
        assert_eq!(state["ociVersion"], "1.2.1");
        assert_eq!(state["bundle"], s(&bundle));
        assert_eq!(state["rootfs"], s(&bundle.join("rootfs")));
        assert_eq!(state["owner"], "root");
        assert!(state["created"].as_str().unwrap().contains('T'), "{state}");
        let pid = state["pid"].as_i64().unwrap();
        assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
        let keys: Vec<&str> = state
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want = vec![
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "owner",
        ];
        want.sort();
        let mut got = keys.clone();
        got.sort();
        assert_eq!(got, want, "state fields");

        // list: runc's table, JSON and quiet forms.
        let table = cli.run(&["list"]).ok().to_owned();
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        );
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(&row[..4], ["c1", &pid.to_string(), "created", s(&bundle)]);
        assert_eq!(row[5], "root");
        let json: serde_json::Value =
            serde_json::from_str(cli.run(&["list", "--format", "json"]).ok()).unwrap();
        assert_eq!(json[0]["id"], "c1");
        assert_eq!(json[0]["status"], "created");
        assert_eq!(cli.run(&["list", "-q"]).ok(), "c1\n");

        // start twice: the second is refused and changes nothing.
        cli.run(&["start", "c1"]).ok();
        assert_eq!(cli.status("c1"), "running");
        cli.run(&["start", "c1"]).fails_with(&["c1", "running"]);
        assert_eq!(cli.status("c1"), "running");

        // ps: pids as JSON, or ps rows filtered to the container.
        let pids: Vec<i64> =
            serde_json::from_str(cli.run(&["ps", "--format", "json", "c1"]).ok()).unwrap();
        assert_eq!(pids, [pid]);
        let ps = cli.run(&["ps", "c1"]).ok().to_owned();
        assert!(ps.lines().next().unwrap().contains("PID"), "{ps}");
        assert_eq!(ps.lines().count(), 2, "{ps}");
        assert!(ps.contains("sleep 1000"), "{ps}");
        let ps = cli.run(&["ps", "c1", "-o", "pid,comm"]).ok().to_owned();
        assert_eq!(
            ps.lines()
                .nth(1)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            [pid.to_string().as_str(), "sleep"]
        );

        // exec: output, exit code, env/cwd/user/additional gids, detach with pid file.
        let out = cli.run(&["exec", "c1", "sh", "-c", "echo hi; exit 3"]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (Some(3), "hi\n"),
            "{out:?}"
        );
        let out = cli.run(&[
            "exec",
            "--env",
            "GREETING=hello",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1000",
            "--additional-gids",
            "7",
            "c1",
            "sh",
            "-c",
            "echo $GREETING; pwd; id -u; id -G",
        ]);
        assert_eq!(out.ok(), "hello\n/tmp\n1000\n1000 7\n");
        let caps = cli.run(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            "c1",
            "grep",
            "CapEff",
            "/proc/self/status",
        ]);
        let plain = cli.run(&["exec", "c1", "grep", "CapEff", "/proc/self/status"]);
        assert_ne!(caps.ok(), plain.ok(), "--cap changed nothing");
        let nnp = cli.run(&[
            "exec",
            "--no-new-privs",
            "c1",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ]);
        assert!(nnp.ok().contains('1'), "{nnp:?}");
        let exec_pid = cli.root.join("exec.pid");
        cli.run(&[
            "exec",
            "--detach",
            "--pid-file",
            s(&exec_pid),
            "c1",
            "sleep",
            "500",
        ])
        .ok();
        let exec_pid: i64 = std::fs::read_to_string(&exec_pid).unwrap().parse().unwrap();
        let pids: Vec<i64> =
            serde_json::from_str(cli.run(&["ps", "--format", "json", "c1"]).ok()).unwrap();
        assert!(pids.contains(&exec_pid), "{pids:?} lacks {exec_pid}");

        // exec --process: an OCI process JSON.
        let process = cli.root.join("process.json");
        std::fs::write(&process, r#"{"args":["sh","-c","echo from-json $X"],"env":["X=1"],"cwd":"/","user":{"uid":0,"gid":0}}"#).unwrap();
        assert_eq!(
            cli.run(&["exec", "--process", s(&process), "c1"]).ok(),
            "from-json 1\n"
        );

        // pause/resume, and what each refuses.
        cli.run(&["pause", "c1"]).ok();
        assert_eq!(cli.status("c1"), "paused");
        cli.run(&["exec", "c1", "true"])
            .fails_with(&["c1", "paused"]);
        cli.run(&["resume", "c1"]).ok();
        assert_eq!(cli.status("c1"), "running");
        cli.run(&["resume", "c1"]).fails_with(&["c1", "running"]);

        // delete of a running container needs --force; nothing changes without it.
        cli.run(&["delete", "c1"]).fails_with(&["c1", "running"]);
        assert_eq!(cli.status("c1"), "running");

        // kill: a name without SIG; init dies, the container is stopped.
        cli.run(&["kill", "c1", "KILL"]).ok();
        cli.wait_status("c1", "stopped");
        assert_eq!(cli.state("c1")["pid"], 0);
        cli.run(&["pause", "c1"]).fails_with(&["c1", "stopped"]);
        cli.run(&["kill", "c1"]).fails_with(&["c1", "stopped"]);

        cli.run(&["delete", "c1"]).ok();
        cli.run(&["state", "c1"])
            .fails_with(&["c1", "does not exist"]);
        assert_eq!(cli.run(&["list", "-q"]).ok(), "");
        assert_eq!(leftover_scopes("c"), "", "scopes left behind");
    });
}

#[test]
fn kill_signals_and_all_and_forced_delete() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-kill");
        // init traps TERM and exits 0; a second process stays for `kill --all`.
        let bundle = bundle(
            "cli-kill",
            &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
            |_| {},
        );
        for (id, signal) in [("k1", None), ("k2", Some("15")), ("k3", Some("SIGTERM"))] {
            cli.run(&["run", "--detach", "--bundle", s(&bundle), id])
                .ok();
            assert_eq!(cli.status(id), "running");
            // PID 1 ignores a signal it has no handler for: wait until sh has trapped TERM
            // (it has once `sleep` runs).
            for _ in 0..200 {
                let pids: Vec<i64> =
                    serde_json::from_str(cli.run(&["ps", "--format", "json", id]).ok()).unwrap();
                if pids.len() >= 2 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            let mut args = vec!["kill", id];
            args.extend(signal);
            cli.run(&args).ok();
            cli.wait_status(id, "stopped");
            cli.run(&["delete", id]).ok();
        }
        // --all reaches every process, not only init.
        cli.run(&["run", "-d", "--bundle", s(&bundle), "k4"]).ok();
        cli.run(&["exec", "-d", "k4", "sleep", "999"]).ok();
        let before: Vec<i64> =
            serde_json::from_str(cli.run(&["ps", "--format", "json", "k4"]).ok()).unwrap();
        assert!(before.len() >= 3, "{before:?}");
        cli.run(&["kill", "--all", "k4", "SIGKILL"]).ok();
        cli.wait_status("k4", "stopped");
        cli.run(&["delete", "k4"]).ok();
        // Bad signals are refused by the parser.
        cli.run(&["run", "-d", "--bundle", s(&bundle), "k5"]).ok();
        let bad = cli.run(&["kill", "k5", "SIGNOPE"]);
        assert_ne!(bad.code, Some(0));
        assert!(bad.stderr.contains("SIGNOPE"), "{bad:?}");
        assert_eq!(cli.status("k5"), "running");
        // delete --force of a running one; of a missing one it is a no-op.
        cli.run(&["delete", "--force", "k5"]).ok();
        cli.run(&["delete", "--force", "k5"]).ok();
        cli.run(&["delete", "k5"])
            .fails_with(&["k5", "does not exist"]);
        assert_eq!(leftover_scopes("k"), "", "scopes left behind");
    });
}
