//! `run` in the foreground and detached, terminals (relayed and through a console
//! socket), `--preserve-fds`, `--log-format json`, and bad input: one line, non-zero,
//! nothing changed.

mod cli_support;
mod support;

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use cli_support::{bundle, leftover_scopes, s, Cli};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::Value;

#[test]
fn run_foreground_returns_exit_codes_and_cleans_up() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-run");
        let exits = bundle(
            "cli-run-exit",
            &["sh", "-c", "echo out; echo err >&2; exit 7"],
            |_| {},
        );
        let out = cli.run(&["run", "--bundle", s(&exits), "r1"]);
        assert_eq!(out.code, Some(7), "{out:?}");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(
            cli.run(&["list", "-q"]).ok(),
            "",
            "run without --keep deletes"
        );

        // --keep leaves the stopped container for `state` and `delete`.
        let out = cli.run(&["run", "--keep", "--bundle", s(&exits), "r2"]);
        assert_eq!(out.code, Some(7), "{out:?}");
        assert_eq!(cli.status("r2"), "stopped");
        cli.run(&["delete", "r2"]).ok();

        // A container killed by a signal: 128 + the signal, as runc.
        let sleeper = bundle("cli-run-sleep", &["sleep", "1000"], |_| {});
        let mut child = cli
            .command(&["run", "--bundle", s(&sleeper), "r3"])
            .spawn()
            .unwrap();
        cli.wait_status("r3", "running");
        cli.run(&["kill", "r3", "9"]).ok();
        assert_eq!(child.wait().unwrap().code(), Some(137));

        // Signals to a foreground run are forwarded: TERM reaches sh, which exits 143.
        let trapper = bundle(
            "cli-run-trap",
            &[
                "sh",
                "-c",
                "trap 'exit 143' TERM; while :; do sleep 0.1; done",
            ],
            |_| {},
        );
        let mut child = cli
            .command(&["run", "--bundle", s(&trapper), "r4"])
            .spawn()
            .unwrap();
        cli.wait_status("r4", "running");
        std::thread::sleep(Duration::from_millis(300));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(143));

        // --detach: returns at once, the container runs on; its stdio is ours.
        let log = cli.root.join("detached.out");
        let writer = bundle(
            "cli-run-detach",
            &["sh", "-c", "echo detached; sleep 1000"],
            |_| {},
        );
        let status = cli
            .command(&[
                "run",
                "-d",
                "--bundle",
                s(&writer),
                "--pid-file",
                s(&cli.root.join("r5.pid")),
                "r5",
            ])
            .stdout(std::fs::File::create(&log).unwrap())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(cli.status("r5"), "running");
        for _ in 0..100 {
            if std::fs::read_to_string(&log).unwrap() == "detached\n" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "detached\n");
        cli.run(&["delete", "-f", "r5"]).ok();
        assert_eq!(leftover_scopes("r"), "", "scopes left behind");
    });
}

#[test]
fn terminals_relayed_and_through_console_socket() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-tty");
        let tty = bundle("cli-tty", &["sh", "-c", "tty; echo on-tty"], |c| {
            c["process"]["terminal"] = true.into()
        });
        // No socket in the foreground: the pty is relayed to our stdout.
        let out = cli.run(&["run", "--bundle", s(&tty), "t1"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stdout.contains("/dev/pts/0") && out.stdout.contains("on-tty"),
            "{out:?}"
        );

        // Detached with a terminal needs a socket; a socket needs a terminal.
        cli.run(&["run", "-d", "--bundle", s(&tty), "t2"])
            .fails_with(&["console socket"]);
        let plain = bundle("cli-tty-plain", &["true"], |_| {});
        let socket = support::socket_path("console");
        cli.run(&[
            "create",
            "--console-socket",
            s(&socket),
            "--bundle",
            s(&plain),
            "t3",
        ])
        .fails_with(&["console socket"]);
        assert_eq!(cli.run(&["list", "-q"]).ok(), "");

        // With a socket, the pty master arrives there (SCM_RIGHTS), as podman's conmon gets it.
        let listener = UnixListener::bind(&socket).unwrap();
        let receiver = std::thread::spawn(move || receive_pty(&listener));
        let echo = bundle(
            "cli-tty-socket",
            &["sh", "-c", "echo via-socket; sleep 1000"],
            |c| c["process"]["terminal"] = true.into(),
        );
        cli.run(&[
            "run",
            "-d",
            "--console-socket",
            s(&socket),
            "--bundle",
            s(&echo),
            "t4",
        ])
        .ok();
        let master = std::fs::File::from(receiver.join().unwrap());
        let mut seen = String::new();
        let mut reader = std::io::BufReader::new(master);
        std::io::BufRead::read_line(&mut reader, &mut seen).unwrap();
        assert_eq!(seen.trim_end(), "via-socket");
        // exec --tty with a socket: another pty, also sent to the socket.
        let exec_sock = support::socket_path("exec");
        let listener = UnixListener::bind(&exec_sock).unwrap();
        let got = std::thread::spawn(move || receive_pty(&listener));
        let args = [
            "exec",
            "-t",
            "-d",
            "--console-socket",
            s(&exec_sock),
            "t4",
            "sh",
            "-c",
            "echo exec-tty; sleep 100",
        ];
        cli.run(&args).ok();
        let mut reader = std::io::BufReader::new(std::fs::File::from(got.join().unwrap()));
        let mut seen = String::new();
        std::io::BufRead::read_line(&mut reader, &mut seen).unwrap();
        assert_eq!(seen.trim_end(), "exec-tty");
        cli.run(&["delete", "-f", "t4"]).ok();
        assert_eq!(leftover_scopes("t"), "", "scopes left behind");
    });
}

#[test]
fn preserve_fds_and_json_logs() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-fds");
        let b = bundle("cli-fds", &["sh", "-c", "cat <&3"], |_| {});
        let data = cli.root.join("data");
        std::fs::write(&data, "preserved\n").unwrap();
        // fd 3 of unitbox is the file; the container's fd 3 must be it too.
        let script = format!(
            "exec 3<{} && exec {} --root {} run --preserve-fds 1 --bundle {} p1",
            s(&data),
            cli_support::UNITBOX,
            s(&cli.root),
            s(&b)
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "preserved\n",
            "{out:?}"
        );

        // --log --log-format json: logrus records, the error among them.
        let log = cli.root.join("log.json");
        let out = cli.run(&["--log", s(&log), "--log-format", "json", "start", "nope"]);
        out.fails_with(&["nope", "does not exist"]);
        let text = std::fs::read_to_string(&log).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["level"], "error");
        assert!(last["msg"].as_str().unwrap().contains("nope"), "{last}");
        assert!(last["time"].as_str().unwrap().contains('T'), "{last}");
        // --debug logs the lifecycle too.
        cli.run(&[
            "--debug",
            "--log",
            s(&log),
            "--log-format",
            "json",
            "run",
            "--bundle",
            s(&b),
            "p2",
        ]);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.lines().any(|l| l.contains("container created")),
            "{text}"
        );
    });
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-bad");
        let good = bundle("cli-bad", &["sleep", "1000"], |_| {});
        for verb in [
            &["start"][..],
            &["state"],
            &["kill"],
            &["delete"],
            &["pause"],
            &["resume"],
            &["ps"],
            &["events", "--stats"],
            &["update", "--memory", "1m"],
            &["exec"],
        ] {
            let mut args = verb.to_vec();
            args.push("ghost");
            if verb == ["exec"] {
                args.push("true");
            }
            cli.run(&args).fails_with(&["ghost", "does not exist"]);
        }
        cli.run(&["create", "--bundle", s(&good), "a/b"])
            .fails_with(&["a/b"]);
        cli.run(&["create", "--bundle", "/nonexistent/bundle", "c1"])
            .fails_with(&["/nonexistent/bundle/config.json"]);
        let broken = bundle("cli-bad-json", &["true"], |c| {
            c["process"]["user"]["uid"] = "zero".into()
        });
        cli.run(&["create", "--bundle", s(&broken), "c2"])
            .fails_with(&["process.user.uid"]);
        assert_eq!(cli.run(&["list", "-q"]).ok(), "");
        assert_eq!(leftover_scopes("c"), "");
        // Creating an id twice: the first stays as it was.
        cli.run(&["create", "--bundle", s(&good), "c3"]).ok();
        cli.run(&["create", "--bundle", s(&good), "c3"])
            .fails_with(&["c3", "already exists"]);
        assert_eq!(cli.status("c3"), "created");
        cli.run(&["resume", "c3"]).fails_with(&["c3", "created"]);
        cli.run(&["delete", "c3"]).ok();
        assert_eq!(leftover_scopes("c"), "");
    });
}

/// Accepts one connection on a console socket and returns the pty master sent over it.
fn receive_pty(listener: &UnixListener) -> OwnedFd {
    let (stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(rights) = cmsg {
            fds.extend(rights);
        }
    }
    assert_eq!(fds.len(), 1, "one pty master");
    // SAFETY: the fd was just received and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fds[0]) }
}
