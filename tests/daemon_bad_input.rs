//! unitboxd under bad input: every call gets a named D-Bus error or succeeds, the daemon
//! keeps serving, and nothing is half-made. Also the fd-passing methods (zbus client).

mod daemon_support;
mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::Duration;

use daemon_support::*;
use zbus::Proxy;

/// The D-Bus error name of a failed call (zbus client: busctl prints only the message).
async fn error_name<T: std::fmt::Debug>(result: zbus::Result<T>) -> String {
    match result {
        Err(zbus::Error::MethodError(name, _, _)) => name.to_string(),
        Err(zbus::Error::FDO(e)) => zbus::DBusError::name(&*e).to_string(),
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

async fn manager_proxy(conn: &zbus::Connection) -> Proxy<'static> {
    Proxy::new(conn, BUS, MANAGER, MANAGER_IFACE).await.unwrap()
}

type Options = HashMap<&'static str, zbus::Variant<'static>>;

/// The scopes and state folders of `id` are both gone.
fn nothing_left_of(id: &str) {
    let unit = format!("unitbox-{id}.scope");
    let state = support::systemctl_show(&unit, "LoadState");
    assert_eq!(state, "not-found", "{unit} is {state}");
    assert!(
        !std::path::Path::new(&format!("/run/unitbox/{id}")).exists(),
        "state folder of {id} left"
    );
}

#[test]
fn bad_input_gets_named_errors_and_leaves_nothing() {
    support::in_systemd(|| {
        install_service();
        let good = bundle_with("daemon-bad-good", &spec(SERVE_UNTIL_TERM));
        let mut no_rootfs_spec = spec("true");
        no_rootfs_spec["root"]["path"] = "no-such-rootfs".into();
        let no_rootfs = bundle_with("daemon-bad-norootfs", &no_rootfs_spec);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let conn = zbus::Connection::system().await.unwrap();
            let m = manager_proxy(&conn).await;
            let none = Options::new();
            let create = |id: &'static str, bundle: String, options: Options| {
                let m = m.clone();
                async move {
                    m.call::<_, _, zbus::OwnedObjectPath>("CreateContainer", &(id, bundle, options))
                        .await
                }
            };

            // Malformed JSON, wrong option types, unknown options.
            let mut bad_json = Options::new();
            bad_json.insert("Config", zbus::Variant::from("{not json"));
            assert_eq!(
                error_name(create("badjson", good.clone(), bad_json).await).await,
                "io.unitbox.runtime1.InvalidConfig"
            );
            let mut wrong_type = Options::new();
            wrong_type.insert("Config", zbus::Variant::from(5i32));
            assert_eq!(
                error_name(create("wrongtype", good.clone(), wrong_type).await).await,
                "org.freedesktop.DBus.Error.InvalidArgs"
            );
            let mut unknown = Options::new();
            unknown.insert("Confg", zbus::Variant::from("{}"));
            assert_eq!(
                error_name(create("unknownopt", good.clone(), unknown).await).await,
                "org.freedesktop.DBus.Error.InvalidArgs"
            );
            // Wrong argument types for the method signature.
            assert_eq!(
                error_name(
                    m.call::<_, _, ()>("KillContainer", &("x", "all", "nine"))
                        .await
                )
                .await,
                "org.freedesktop.DBus.Error.InvalidArgs"
            );

            // Unknown ids.
            for method in [
                "StartContainer",
                "PauseContainer",
                "GetContainerState",
                "GetContainer",
            ] {
                assert_eq!(
                    error_name(m.call::<_, _, ()>(method, &("ghost",)).await).await,
                    "io.unitbox.runtime1.NoSuchContainer",
                    "{method}"
                );
            }
            assert_eq!(
                error_name(
                    m.call::<_, _, ()>("DestroyContainer", &("ghost", 1u64))
                        .await
                )
                .await,
                "io.unitbox.runtime1.NoSuchContainer"
            );

            // Path traversal in ids and bundles, a missing rootfs.
            for id in ["../../etc", "a/b", ".", ""] {
                let name = error_name(
                    m.call::<_, _, zbus::OwnedObjectPath>(
                        "CreateContainer",
                        &(id, good.clone(), none.clone()),
                    )
                    .await,
                )
                .await;
                assert_eq!(name, "io.unitbox.runtime1.InvalidId", "id {id:?}");
            }
            for bundle in [
                "/tmp/../etc".to_owned(),
                "relative/bundle".to_owned(),
                format!("{good}/../.."),
            ] {
                assert_eq!(
                    error_name(create("badbundle", bundle.clone(), Options::new()).await).await,
                    "io.unitbox.runtime1.InvalidConfig",
                    "bundle {bundle}"
                );
            }
            assert_eq!(
                error_name(create("norootfs", no_rootfs.clone(), Options::new()).await).await,
                "io.unitbox.runtime1.InvalidConfig"
            );
            for id in [
                "badjson",
                "wrongtype",
                "unknownopt",
                "badbundle",
                "norootfs",
            ] {
                nothing_left_of(id);
            }

            // Wrong states.
            create("state", good.clone(), Options::new()).await.unwrap();
            assert_eq!(
                error_name(m.call::<_, _, ()>("ResumeContainer", &("state",)).await).await,
                "io.unitbox.runtime1.InvalidState"
            );
            m.call::<_, _, ()>("StartContainer", &("state",))
                .await
                .unwrap();
            assert_eq!(
                error_name(m.call::<_, _, ()>("StartContainer", &("state",)).await).await,
                "io.unitbox.runtime1.InvalidState"
            );
            assert_eq!(
                error_name(
                    m.call::<_, _, ()>("DestroyContainer", &("state", 0u64))
                        .await
                )
                .await,
                "io.unitbox.runtime1.InvalidState"
            );
            assert_eq!(
                error_name(create("state", good.clone(), Options::new()).await).await,
                "io.unitbox.runtime1.ContainerExists"
            );
            assert_eq!(
                error_name(
                    m.call::<_, _, ()>("KillContainer", &("state", "everyone", 15i32))
                        .await
                )
                .await,
                "org.freedesktop.DBus.Error.InvalidArgs"
            );
            assert_eq!(
                error_name(
                    m.call::<_, _, ()>("UpdateContainer", &("state", "{\"pids\": 5}", 0u64))
                        .await
                )
                .await,
                "io.unitbox.runtime1.InvalidConfig"
            );

            // fd methods: ExecWithFds with a pipe, OpenShell with a pty.
            let path: zbus::OwnedObjectPath = m.call("GetContainer", &("state",)).await.unwrap();
            let c = Proxy::new(&conn, BUS, path, CONTAINER_IFACE).await.unwrap();
            let (mut read, write) = std::io::pipe().unwrap();
            let null = std::fs::File::open("/dev/null").unwrap();
            let write = OwnedFd::from(write);
            let (pid, _): (u32, String) = c
                .call(
                    "ExecWithFds",
                    &(
                        vec!["sh", "-c", "echo via-fds; cat /etc/hostname"],
                        Vec::<String>::new(),
                        "/",
                        zbus::Fd::from(&null),
                        zbus::Fd::from(&write),
                        zbus::Fd::from(&write),
                        Options::new(),
                    ),
                )
                .await
                .unwrap();
            assert!(pid > 0);
            drop(write);
            let mut out = String::new();
            read.read_to_string(&mut out).unwrap();
            assert_eq!(out, "via-fds\nunitbox\n");

            let (pty, pty_path, pid): (zbus::OwnedFd, String, u32) = c
                .call(
                    "OpenShell",
                    &(vec!["/bin/sh"], Vec::<String>::new(), Options::new()),
                )
                .await
                .unwrap();
            assert!(pid > 0 && pty_path.starts_with("/dev/pts/"), "{pty_path}");
            let mut pty = std::fs::File::from(OwnedFd::from(pty));
            pty.write_all(b"echo pty-$((6*7))\n").unwrap();
            let mut seen = String::new();
            let mut buf = [0u8; 256];
            while !seen.contains("pty-42") {
                let n = pty.read(&mut buf).unwrap();
                assert!(n > 0, "pty closed: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            pty.write_all(b"exit\n").unwrap();

            // 1000 concurrent calls: each a named error or a success. Over 10 connections:
            // the system bus allows 128 pending replies per connection.
            let mut proxies = Vec::new();
            for _ in 0..10 {
                let conn = zbus::Connection::system().await.unwrap();
                proxies.push(manager_proxy(&conn).await);
            }
            let calls = (0..1000).map(|i| {
                let m = proxies[i % 10].clone();
                async move {
                    if (i / 10) % 2 == 0 {
                        m.call::<_, _, Vec<(String, String, String, zbus::OwnedObjectPath)>>(
                            "ListContainers",
                            &(),
                        )
                        .await
                        .map(drop)
                    } else {
                        m.call::<_, _, String>("GetContainerState", &(format!("ghost{i}"),))
                            .await
                            .map(drop)
                    }
                }
            });
            let results = futures_util::future::join_all(calls).await;
            for (i, result) in results.into_iter().enumerate() {
                match ((i / 10) % 2, result) {
                    (0, Ok(())) => {}
                    (1, Err(zbus::Error::MethodError(name, _, _))) => {
                        assert_eq!(name.as_str(), "io.unitbox.runtime1.NoSuchContainer")
                    }
                    (_, other) => panic!("call {i}: {other:?}"),
                }
            }
            // Concurrent creates of one id: exactly one wins, nothing half-made.
            let creates = (0..8).map(|_| create("dup", good.clone(), Options::new()));
            let results = futures_util::future::join_all(creates).await;
            let won = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "{results:?}");
            for result in results.into_iter().filter(|r| r.is_err()) {
                assert_eq!(
                    error_name(result).await,
                    "io.unitbox.runtime1.ContainerExists"
                );
            }
            m.call::<_, _, ()>("DestroyContainer", &("dup", 1u64))
                .await
                .unwrap();
            nothing_left_of("dup");
            m.call::<_, _, ()>("DestroyContainer", &("state", 1u64))
                .await
                .unwrap();
            nothing_left_of("state");
        });

        // A client that vanishes mid-call: the container is whole or absent.
        let _ = run(
            "timeout",
            &[
                "-s",
                "KILL",
                "0.05",
                "busctl",
                "call",
                BUS,
                MANAGER,
                MANAGER_IFACE,
                "RunContainer",
                "ssa{sv}",
                "vanish",
                &good,
                "0",
            ],
        );
        std::thread::sleep(Duration::from_secs(3));
        let listed = manager_ok("ListContainers", &[]);
        let exists = listed[0]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == "vanish");
        if exists {
            assert_eq!(
                support::systemctl_show("unitbox-vanish.scope", "ActiveState"),
                "active"
            );
            manager_ok("DestroyContainer", &["st", "vanish", "1"]);
        }
        nothing_left_of("vanish");
        // Still serving.
        manager_ok("ListContainers", &[]);
    });
}
