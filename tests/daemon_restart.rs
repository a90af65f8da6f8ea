//! unitboxd survives itself: `systemctl restart unitboxd` and `kill -9` of the daemon lose
//! no container, and an exit that happens while the daemon is down is still reported.

mod daemon_support;
mod support;

use std::sync::mpsc;
use std::time::Duration;

use daemon_support::*;

/// Containers kept running across the restarts.
const CONTAINERS: usize = 20;

fn ids() -> Vec<String> {
    (0..CONTAINERS).map(|i| format!("keep{i}")).collect()
}

fn listed() -> Vec<(String, String)> {
    let list = manager_ok("ListContainers", &[]);
    list[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_owned(),
                row[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Signals of the Container interface on container `id`'s object, from whichever daemon
/// sends them: (member, `code,status` of `Exited` or the status of `StatusChanged`).
/// Returns once the match is in place.
fn subscribe(id: &str) -> mpsc::Receiver<(String, String)> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let path = unitbox::daemon::path::container_path(id)
        .as_str()
        .to_owned();
    std::thread::spawn(move || {
        use futures_util::StreamExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let conn = zbus::Connection::system().await.unwrap();
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .interface(CONTAINER_IFACE)
                .path(path)
                .build()
                .unwrap();
            let mut signals = zbus::MessageStream::for_match_rule(rule, &conn, None)
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            while let Some(msg) = signals.next().await {
                let msg = msg.unwrap();
                let member = msg
                    .header()
                    .member()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let body = match member.as_str() {
                    "Exited" => {
                        let (code, status): (i32, i32) = msg.body().deserialize().unwrap();
                        format!("{code},{status}")
                    }
                    "StatusChanged" => msg.body().deserialize::<String>().unwrap(),
                    _ => String::new(),
                };
                if tx.send((member, body)).is_err() {
                    return;
                }
            }
        });
    });
    ready.recv_timeout(Duration::from_secs(10)).unwrap();
    rx
}

/// The signals received within `wait`.
fn drain(rx: &mpsc::Receiver<(String, String)>, wait: Duration) -> Vec<(String, String)> {
    let until = std::time::Instant::now() + wait;
    let mut got = Vec::new();
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(signal) => got.push(signal),
            Err(_) => break,
        }
    }
    got
}

fn assert_all_running(except: Option<&str>) {
    let listed = listed();
    assert_eq!(listed.len(), CONTAINERS, "{listed:?}");
    for (id, status) in &listed {
        if Some(id.as_str()) != except {
            assert_eq!(status, "running", "{id} in {listed:?}");
            assert_eq!(
                support::systemctl_show(&format!("unitbox-{id}.scope"), "ActiveState"),
                "active"
            );
        }
    }
}

#[test]
fn restart_and_kill_lose_no_container() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with("daemon-restart", &spec(SERVE_UNTIL_TERM));
        for id in ids() {
            manager_ok("RunContainer", &["ssa{sv}", &id, &bundle, "0"]);
        }
        assert_all_running(None);

        // 1. A clean restart.
        let before = daemon_pid();
        run_ok("systemctl", &["restart", "unitboxd.service"]);
        let after = daemon_pid();
        assert_ne!(before, after, "the daemon was restarted");
        assert_all_running(None);
        // The unit references were taken again: systemd keeps tracking the new daemon.
        let refs = support::systemctl_show("unitbox-keep1.scope", "Refs");
        assert!(!refs.is_empty(), "Refs of unitbox-keep1.scope");
        // Still manageable after the restart.
        manager_ok("PauseContainer", &["s", "keep1"]);
        assert_eq!(status("keep1"), "paused");
        manager_ok("ResumeContainer", &["s", "keep1"]);

        // After a restart, an exec without output paths still lands in the scope's journal.
        manager_ok(
            "ExecContainer",
            &[
                "sasassa{sv}",
                "keep3",
                "2",
                "echo",
                "after-restart-journal",
                "0",
                "",
                "0",
            ],
        );
        wait_for(
            "the exec's line in the scope's journal",
            Duration::from_secs(10),
            || {
                run_ok(
                    "journalctl",
                    &["--no-pager", "-o", "cat", "-u", "unitbox-keep3.scope"],
                )
                .contains("after-restart-journal")
            },
        );

        // 2. kill -9, and a container exits while the daemon is down.
        let keep0_signals = subscribe("keep0");
        let init0 = property("keep0", "InitPid").as_u64().unwrap().to_string();
        let victim = daemon_pid();
        run_ok("kill", &["-9", &victim.to_string()]);
        wait_for("the daemon to be gone", Duration::from_secs(5), || {
            !std::path::Path::new(&format!("/proc/{victim}")).exists()
        });
        // Restart=on-failure may bring it back within 100 ms; stopping it (or its pending
        // restart) keeps it down until the next call activates it, so init really exits
        // while no daemon runs.
        run_ok("systemctl", &["stop", "unitboxd.service"]);
        run_ok("kill", &["-TERM", &init0]);
        wait_for("keep0's scope to end", Duration::from_secs(10), || {
            support::systemctl_show("unitbox-keep0.scope", "ActiveState") != "active"
        });
        // The next call's D-Bus activation brings the daemon back.
        wait_for("the daemon to come back", Duration::from_secs(20), || {
            manager("ListContainers", &[]).status.success()
        });
        assert_ne!(daemon_pid(), victim);
        assert_all_running(Some("keep0"));
        assert_eq!(status("keep0"), "stopped");
        assert_eq!(property("keep0", "ExitCode"), 1, "CLD_EXITED");
        assert_eq!(
            property("keep0", "ExitStatus"),
            7,
            "the TERM trap's exit code"
        );
        // The end nobody saw is signalled once by the new daemon…
        let seen = drain(&keep0_signals, Duration::from_secs(3));
        let exited: Vec<_> = seen.iter().filter(|(m, _)| m == "Exited").collect();
        assert_eq!(
            exited,
            [&("Exited".to_owned(), "1,7".to_owned())],
            "{seen:?}"
        );
        assert!(
            seen.contains(&("StatusChanged".to_owned(), "stopped".to_owned())),
            "{seen:?}"
        );
        // …and not again by the next one.
        run_ok("systemctl", &["restart", "unitboxd.service"]);
        assert_eq!(status("keep0"), "stopped");
        let seen = drain(&keep0_signals, Duration::from_secs(2));
        assert!(seen.iter().all(|(m, _)| m != "Exited"), "{seen:?}");

        // A container that exits after the restart is still seen by the new daemon.
        manager_ok("KillContainer", &["ssi", "keep2", "init", "15"]);
        wait_for("keep2 stopped", Duration::from_secs(2), || {
            status("keep2") == "stopped"
        });
        assert_eq!(property("keep2", "ExitStatus"), 7);

        for id in ids() {
            manager_ok("DestroyContainer", &["st", &id, "1"]);
        }
        assert!(listed().is_empty());
        let left = run_ok(
            "systemctl",
            &["list-units", "--all", "--no-legend", "unitbox-keep*"],
        );
        assert!(left.trim().is_empty(), "scopes left: {left}");
    });
}
