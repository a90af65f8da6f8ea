//! `unitbox checkpoint` / `unitbox restore` with criu against the real systemd: a busybox
//! counter is saved, its scope goes away, and it comes back under a new
//! `unitbox-<id>.scope` with its memory limit, counting on from where it was saved.
//!
//! Needs a kernel criu works on: on the 6.18 dev hosts every test that needs criu prints
//! `SKIPPED: <criu check's message>`; they run in the cgroup v2 VM lane
//! (`tests/vm/run --test checkpoint_cli`).

mod checkpoint_support;
mod cli_support;
mod support;

use checkpoint_support::*;
use cli_support::{bundle, leftover_scopes, s, Cli};

fn pid_of(cli: &Cli, id: &str) -> u64 {
    cli.state(id)["pid"].as_u64().unwrap()
}

#[test]
fn checkpoint_stops_it_and_restore_continues_under_a_new_scope() {
    if skip_without_criu("checkpoint_stops_it_and_restore_continues_under_a_new_scope") {
        return;
    }
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-basic");
        let bundle = bundle("ckpt-basic", &["sh", "-c", COUNTER], counter_config);
        let images = support::scratch_dir("ckpt-basic-images");
        let unit = "unitbox-ckpt-basic.scope";
        cli.run(&["run", "-d", "-b", s(&bundle), "ckpt-basic"]).ok();
        let before = wait_counter_at_least(&bundle, 3);
        assert_in_limited_scope(unit, pid_of(&cli, "ckpt-basic"));

        cli.run(&["checkpoint", "--image-path", s(&images), "ckpt-basic"])
            .ok();
        // Saved, stopped and deleted (runc's checkpoint): the scope is gone, the id free.
        assert_scope_gone(unit);
        assert!(cli.run(&["state", "ckpt-basic"]).code != Some(0));
        let dumped = counter(&bundle);
        assert!(dumped >= before, "{dumped} < {before}");
        assert!(images.join("unitbox-checkpoint.json").is_file());

        reset_counter(&bundle);
        cli.run(&[
            "restore",
            "-d",
            "--image-path",
            s(&images),
            "-b",
            s(&bundle),
            "ckpt-basic",
        ])
        .ok();
        assert_eq!(cli.status("ckpt-basic"), "running");
        assert_in_limited_scope(unit, pid_of(&cli, "ckpt-basic"));
        // The counter goes on from the saved value: the first write is past it.
        let first = first_value_after_reset(&bundle);
        assert!(
            first > dumped,
            "restored counter wrote {first}, saved was {dumped}"
        );
        wait_counter_at_least(&bundle, first + 2);

        cli.run(&["delete", "-f", "ckpt-basic"]).ok();
        assert_eq!(leftover_scopes("ckpt-basic"), "");
    });
}

#[test]
fn leave_running_keeps_it_and_the_saved_copy_restores() {
    if skip_without_criu("leave_running_keeps_it_and_the_saved_copy_restores") {
        return;
    }
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-leave");
        let bundle = bundle("ckpt-leave", &["sh", "-c", COUNTER], counter_config);
        let images = support::scratch_dir("ckpt-leave-images");
        let unit = "unitbox-ckpt-leave.scope";
        cli.run(&["run", "-d", "-b", s(&bundle), "ckpt-leave"]).ok();
        let pid = pid_of(&cli, "ckpt-leave");
        let before = wait_counter_at_least(&bundle, 3);

        cli.run(&[
            "checkpoint",
            "--leave-running",
            "--image-path",
            s(&images),
            "ckpt-leave",
        ])
        .ok();
        // Still the same running container in the same scope, still counting.
        assert_eq!(cli.status("ckpt-leave"), "running");
        assert_eq!(pid_of(&cli, "ckpt-leave"), pid);
        assert_in_limited_scope(unit, pid);
        let after = counter(&bundle);
        wait_counter_at_least(&bundle, after + 2);

        // The saved copy comes back once the original is gone.
        cli.run(&["delete", "-f", "ckpt-leave"]).ok();
        assert_scope_gone(unit);
        reset_counter(&bundle);
        cli.run(&[
            "restore",
            "-d",
            "--image-path",
            s(&images),
            "-b",
            s(&bundle),
            "ckpt-leave",
        ])
        .ok();
        assert_in_limited_scope(unit, pid_of(&cli, "ckpt-leave"));
        let first = first_value_after_reset(&bundle);
        assert!(
            first > before,
            "restored counter wrote {first}, saved was >= {before}"
        );
        cli.run(&["delete", "-f", "ckpt-leave"]).ok();
        assert_eq!(leftover_scopes("ckpt-leave"), "");
    });
}

#[test]
fn pre_dump_then_dump_with_parent_restores_in_the_foreground() {
    if skip_without_criu("pre_dump_then_dump_with_parent_restores_in_the_foreground") {
        return;
    }
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-pre");
        let bundle = bundle("ckpt-pre", &["sh", "-c", COUNTER], counter_config);
        let parent = support::scratch_dir("ckpt-pre-parent");
        let images = support::scratch_dir("ckpt-pre-images");
        let unit = "unitbox-ckpt-pre.scope";
        cli.run(&["run", "-d", "-b", s(&bundle), "ckpt-pre"]).ok();
        wait_counter_at_least(&bundle, 3);

        cli.run(&[
            "checkpoint",
            "--pre-dump",
            "--image-path",
            s(&parent),
            "ckpt-pre",
        ])
        .ok();
        assert_eq!(
            cli.status("ckpt-pre"),
            "running",
            "a pre-dump keeps it running"
        );
        let after_pre = counter(&bundle);
        wait_counter_at_least(&bundle, after_pre + 2);

        // runc's spelling: the parent relative to the image path.
        let relative = format!("../{}", parent.file_name().unwrap().to_str().unwrap());
        cli.run(&[
            "checkpoint",
            "--parent-path",
            &relative,
            "--image-path",
            s(&images),
            "ckpt-pre",
        ])
        .ok();
        assert_scope_gone(unit);
        assert!(
            images.join("parent").exists(),
            "criu links the parent images"
        );
        let dumped = counter(&bundle);

        // Foreground restore: waits like `run` and exits with the container's status. The
        // restorer's stdio replaces init's and must be of the same kind (criu: `File fd/1
        // has bad mode`): files, as `Cli::run` gave the original.
        reset_counter(&bundle);
        let stderr_path = cli.root.join("restore.stderr");
        let mut restore = cli
            .command(&[
                "restore",
                "--image-path",
                s(&images),
                "-b",
                s(&bundle),
                "ckpt-pre",
            ])
            .stdout(std::fs::File::create(cli.root.join("restore.stdout")).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        wait_until("the foreground restore to bring the container back", || {
            if let Some(status) = restore.try_wait().unwrap() {
                panic!(
                    "restore ended early ({status}): {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            cli.run(&["state", "ckpt-pre"]).code == Some(0)
        });
        let first = first_value_after_reset(&bundle);
        assert!(
            first > dumped,
            "restored counter wrote {first}, saved was {dumped}"
        );
        assert_in_limited_scope(unit, pid_of(&cli, "ckpt-pre"));
        cli.run(&["kill", "ckpt-pre", "KILL"]).ok();
        let status = restore.wait().unwrap();
        assert_eq!(status.code(), Some(137), "128 + SIGKILL");
        // The foreground restore deleted the container, as `run` does.
        assert!(cli.run(&["state", "ckpt-pre"]).code != Some(0));
        assert_eq!(leftover_scopes("ckpt-pre"), "");
    });
}

#[test]
fn restore_refuses_missing_images_foreign_folders_and_other_configs() {
    if skip_without_criu("restore_refuses_missing_images_foreign_folders_and_other_configs") {
        return;
    }
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-bad");
        let bundle = bundle("ckpt-bad", &["sh", "-c", COUNTER], counter_config);
        let restore = |images: &str, bundle: &str| {
            cli.run(&[
                "restore",
                "-d",
                "--image-path",
                images,
                "-b",
                bundle,
                "ckpt-bad",
            ])
        };

        let missing = support::scratch_dir("ckpt-bad-missing").join("nothing-here");
        restore(s(&missing), s(&bundle)).fails_with(&["images folder", "does not exist"]);
        let foreign = support::scratch_dir("ckpt-bad-foreign");
        restore(s(&foreign), s(&bundle)).fails_with(&["is not a unitbox checkpoint"]);
        assert!(
            cli.run(&["state", "ckpt-bad"]).code != Some(0),
            "nothing half-made"
        );

        // A real checkpoint, restored with a config that lost the IPC namespace.
        let images = support::scratch_dir("ckpt-bad-images");
        cli.run(&["run", "-d", "-b", s(&bundle), "ckpt-bad"]).ok();
        wait_counter_at_least(&bundle, 2);
        cli.run(&["checkpoint", "--image-path", s(&images), "ckpt-bad"])
            .ok();
        let other = cli_support::bundle("ckpt-bad-other", &["sh", "-c", COUNTER], |c| {
            counter_config(c);
            let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
            namespaces.retain(|ns| ns["type"] != "ipc");
        });
        restore(s(&images), s(&other))
            .fails_with(&["does not match the config", "linux.namespaces"]);
        assert!(
            cli.run(&["state", "ckpt-bad"]).code != Some(0),
            "nothing half-made"
        );
        assert_eq!(leftover_scopes("ckpt-bad"), "");
    });
}

/// Runs everywhere: the probe fails before criu would ever run.
#[test]
fn a_missing_criu_is_named_and_the_container_keeps_running() {
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-nocriu");
        let bundle = bundle("ckpt-nocriu", &["sleep", "1000"], |_| {});
        let images = support::scratch_dir("ckpt-nocriu-images");
        cli.run(&["run", "-d", "-b", s(&bundle), "ckpt-nocriu"])
            .ok();
        cli.run(&[
            "--criu",
            "/nonexistent/criu",
            "checkpoint",
            "--image-path",
            s(&images),
            "ckpt-nocriu",
        ])
        .fails_with(&["find criu binary `/nonexistent/criu`"]);
        assert_eq!(cli.status("ckpt-nocriu"), "running");
        cli.run(&[
            "--criu",
            "/nonexistent/criu",
            "restore",
            "-d",
            "--image-path",
            s(&images),
            "-b",
            s(&bundle),
            "ckpt-nocriu-2",
        ])
        .fails_with(&["find criu binary `/nonexistent/criu`"]);
        cli.run(&["delete", "-f", "ckpt-nocriu"]).ok();
        assert_eq!(leftover_scopes("ckpt-nocriu"), "");
    });
}

/// Runs everywhere: the status machine refuses before criu would run.
#[test]
fn only_a_running_container_is_checkpointed() {
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-created");
        let bundle = bundle("ckpt-created", &["sleep", "1000"], |_| {});
        let images = support::scratch_dir("ckpt-created-images");
        cli.run(&["create", "-b", s(&bundle), "ckpt-created"]).ok();
        cli.run(&["checkpoint", "--image-path", s(&images), "ckpt-created"])
            .fails_with(&["cannot checkpoint container `ckpt-created`: it is created"]);
        cli.run(&["pause", "ckpt-created"]).ok();
        cli.run(&["checkpoint", "--image-path", s(&images), "ckpt-created"])
            .fails_with(&["cannot checkpoint container `ckpt-created`: it is paused"]);
        assert!(
            !images.join("unitbox-checkpoint.json").exists(),
            "nothing written"
        );
        cli.run(&["delete", "-f", "ckpt-created"]).ok();
        assert_eq!(leftover_scopes("ckpt-created"), "");
    });
}

/// The pty master a console socket receives (runc's protocol: one fd over SCM_RIGHTS).
fn receive_master(listener: std::os::unix::net::UnixListener) -> std::fs::File {
    use std::os::fd::AsFd;
    let (stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut got = unitbox::sys::scm::recv_with_fds(stream.as_fd(), &mut buf).unwrap();
    assert_eq!(got.fds.len(), 1, "one pty master");
    std::fs::File::from(got.fds.remove(0))
}

/// Sends every number the terminal prints to the returned channel, until it closes.
fn numbers_from(master: std::fs::File) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(master).lines() {
            let Ok(line) = line else { return };
            if let Ok(n) = line.trim().parse() {
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_terminal_comes_back_through_the_console_socket() {
    if skip_without_criu("a_terminal_comes_back_through_the_console_socket") {
        return;
    }
    support::in_systemd(|| {
        let cli = Cli::new("ckpt-tty");
        let script = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; echo $i; sleep 0.2; done";
        let bundle = bundle("ckpt-tty", &["sh", "-c", script], |c| {
            counter_config(c);
            c["process"]["terminal"] = true.into();
        });
        let images = support::scratch_dir("ckpt-tty-images");
        let socket = support::socket_path("ckpt-tty");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let receiver = std::thread::spawn(move || receive_master(listener));
        cli.run(&[
            "run",
            "-d",
            "--console-socket",
            s(&socket),
            "-b",
            s(&bundle),
            "ckpt-tty",
        ])
        .ok();
        let before = numbers_from(receiver.join().unwrap());
        assert!(
            before.recv_timeout(WAIT).unwrap() >= 1,
            "the pty carries output"
        );
        wait_counter_at_least(&bundle, 3);

        cli.run(&["checkpoint", "--image-path", s(&images), "ckpt-tty"])
            .ok();
        assert_scope_gone("unitbox-ckpt-tty.scope");
        let dumped = counter(&bundle);

        // A terminal container needs a console socket to come back; the new master of
        // its pty (criu's orphan-pts-master) arrives there.
        let restore = |extra: &[&str]| {
            let mut args = vec![
                "restore",
                "-d",
                "--image-path",
                s(&images),
                "-b",
                s(&bundle),
            ];
            args.extend_from_slice(extra);
            args.push("ckpt-tty");
            cli.run(&args)
        };
        restore(&[]).fails_with(&["console socket"]);
        let socket = support::socket_path("ckpt-tty-restored");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let receiver = std::thread::spawn(move || receive_master(listener));
        restore(&["--console-socket", s(&socket)]).ok();
        let after = numbers_from(receiver.join().unwrap());
        let first = after.recv_timeout(WAIT).expect("the restored pty prints");
        assert!(
            first > dumped,
            "restored terminal printed {first}, saved was {dumped}"
        );
        assert_in_limited_scope("unitbox-ckpt-tty.scope", pid_of(&cli, "ckpt-tty"));
        cli.run(&["delete", "-f", "ckpt-tty"]).ok();
        assert_eq!(leftover_scopes("ckpt-tty"), "");
    });
}
