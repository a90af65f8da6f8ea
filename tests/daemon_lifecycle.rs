//! unitboxd end to end: D-Bus activation of the installed unit, then the whole lifecycle of
//! a busybox container driven with busctl and checked with systemctl and journalctl.

mod daemon_support;
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use daemon_support::*;

#[test]
fn lifecycle_through_busctl() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with(
            "daemon-life",
            &spec(&format!(
                "echo out-line; echo err-line >&2; {SERVE_UNTIL_TERM}"
            )),
        );
        // Signals, as busctl monitor prints them (started before the daemon: activation).
        let monitor_log = support::scratch_dir("daemon-life-monitor").join("signals.json");
        let mut monitor = Command::new("busctl")
            .args(["monitor", "--json=short", BUS])
            .stdout(std::fs::File::create(&monitor_log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();

        // Calls to systemd, to see what a create asks of it.
        let systemd_log = support::scratch_dir("daemon-life-monitor").join("systemd.json");
        let mut systemd_monitor = Command::new("busctl")
            .args(["monitor", "--json=short", "org.freedesktop.systemd1"])
            .stdout(std::fs::File::create(&systemd_log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();

        // Create: the reply comes once the scope job is done.
        let path = manager_ok("CreateContainer", &["ssa{sv}", "life", &bundle, "0"]);
        assert_eq!(path[0], "/io/unitbox/runtime1/container/life");
        assert_ne!(daemon_pid(), 0, "D-Bus activation started unitboxd");
        assert_eq!(status("life"), "created");
        assert_eq!(
            support::systemctl_show("unitbox-life.scope", "ActiveState"),
            "active"
        );
        // One call made the scope, with init and its monitor in it (the monitor did not
        // have to attach itself), one more referenced it.
        std::thread::sleep(Duration::from_millis(300));
        let _ = systemd_monitor.kill();
        let _ = systemd_monitor.wait();
        let calls = std::fs::read_to_string(&systemd_log).unwrap();
        // (The first call also activated the daemon, whose start makes calls of its own.)
        let members: Vec<&str> = calls
            .lines()
            .filter(|l| l.contains("\"type\":\"method_call\""))
            .filter(|l| l.contains("\"unitbox-life.scope\""))
            .filter_map(|l| l.split("\"member\":\"").nth(1)?.split('"').next())
            .collect();
        // The reference follows the start job (an `AddRef` would have systemd broadcast
        // every change the start makes).
        assert_eq!(members, ["StartTransientUnit", "RefUnit"], "{calls}");
        assert!(!calls.contains("AttachProcessesToUnit"), "{calls}");
        let scope_procs = unit_processes("unitbox-life.scope");
        let commands: Vec<&str> = scope_procs.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(
            commands,
            ["unitbox monitor", "unitbox init"],
            "{scope_procs:?}"
        );
        // init runs from the daemon's sealed copy of the binary (CVE-2019-5736), forked
        // by a monitor that runs from it too.
        for (pid, _) in &scope_procs {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
            assert!(
                exe.to_string_lossy().starts_with("/memfd:unitbox-init"),
                "{pid}: {}",
                exe.display()
            );
        }

        // Containers and monitors with a container never live in the daemon's cgroup: besides
        // the daemon it holds only its fork server and idle monitors (started ahead of
        // need), none of which is the parent of anything but the fork server.
        let daemon_procs = unit_processes("unitboxd.service");
        let daemon = u64::from(daemon_pid());
        for (pid, command) in &daemon_procs {
            if *pid == daemon || command.starts_with("unitbox forkserver") {
                continue;
            }
            assert!(command.starts_with("unitbox monitor"), "{daemon_procs:?}");
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            assert!(
                children.trim().is_empty(),
                "monitor {pid} in the daemon's cgroup has children {children}"
            );
        }

        manager_ok("StartContainer", &["s", "life"]);
        assert_eq!(status("life"), "running");
        let init_pid = property("life", "InitPid").as_u64().unwrap();
        assert!(init_pid > 1);
        let by_pid = manager_ok("GetContainerByPID", &["u", &init_pid.to_string()]);
        assert_eq!(by_pid[0], "/io/unitbox/runtime1/container/life");

        // Output went to the journal, attributed to the scope.
        wait_for(
            "container output in the journal",
            Duration::from_secs(10),
            || {
                let out = run_ok(
                    "journalctl",
                    &["--no-pager", "-o", "cat", "-u", "unitbox-life.scope"],
                );
                out.contains("out-line") && out.contains("err-line")
            },
        );

        // Exec with stdout to a file.
        let out_file = support::scratch_dir("daemon-life-exec").join("exec.out");
        let exec = manager_ok(
            "ExecContainer",
            &[
                "sasassa{sv}",
                "life",
                "3",
                "sh",
                "-c",
                "echo exec-out; hostname",
                "0",
                "/",
                "1",
                "StdoutPath",
                "s",
                out_file.to_str().unwrap(),
            ],
        );
        assert!(exec[0].as_u64().unwrap() > 0, "{exec}");
        wait_for("exec output", Duration::from_secs(10), || {
            std::fs::read_to_string(&out_file).is_ok_and(|s| s.contains("exec-out\nunitbox"))
        });
        let exec2 = support::scratch_dir("daemon-life-exec2").join("exec.out");
        manager_ok(
            "ExecContainer",
            &[
                "sasassa{sv}",
                "life",
                "2",
                "echo",
                "exec-two",
                "0",
                "",
                "1",
                "StdoutPath",
                "s",
                exec2.to_str().unwrap(),
            ],
        );
        // Exec without paths: its output joins the container's journal stream.
        manager_ok(
            "ExecContainer",
            &[
                "sasassa{sv}",
                "life",
                "2",
                "echo",
                "exec-journal",
                "0",
                "",
                "0",
            ],
        );
        wait_for(
            "exec output in the journal",
            Duration::from_secs(10),
            || {
                run_ok(
                    "journalctl",
                    &["--no-pager", "-o", "cat", "-u", "unitbox-life.scope"],
                )
                .contains("exec-journal")
            },
        );

        // Pause and resume.
        manager_ok("PauseContainer", &["s", "life"]);
        assert_eq!(status("life"), "paused");
        manager_ok("ResumeContainer", &["s", "life"]);
        assert_eq!(status("life"), "running");

        // Update, checked with systemctl.
        manager_ok(
            "UpdateContainer",
            &["sst", "life", r#"{"pids": {"limit": 77}}"#, "0"],
        );
        assert_eq!(
            support::systemctl_show("unitbox-life.scope", "TasksMax"),
            "77"
        );

        // Stats and processes.
        let stats = manager_ok("GetContainerStats", &["s", "life"]);
        assert!(
            stats[0]["TasksCurrent"]["data"].as_u64().unwrap() >= 1,
            "{stats}"
        );
        assert!(stats[0]["Json"]["data"]
            .as_str()
            .unwrap()
            .contains("memory"));
        let procs = manager_ok("GetContainerProcesses", &["s", "life"]);
        let procs = procs[0].as_array().unwrap();
        assert!(
            procs.iter().any(|p| p[1].as_u64() == Some(init_pid)),
            "init {init_pid} in {procs:?}"
        );
        let state: serde_json::Value = serde_json::from_str(
            manager_ok("GetContainerState", &["s", "life"])[0]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(state["status"], "running");
        assert_eq!(state["pid"], init_pid);

        // Readers may read, only root may change anything.
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "busctl"];
        let read = |args: &[&str]| {
            let mut all = nobody.to_vec();
            all.extend_from_slice(args);
            run("setpriv", &all)
        };
        let list = read(&["call", BUS, MANAGER, MANAGER_IFACE, "ListContainers"]);
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let kill = read(&[
            "--",
            "call",
            BUS,
            MANAGER,
            MANAGER_IFACE,
            "KillContainer",
            "ssi",
            "life",
            "all",
            "9",
        ]);
        assert!(!kill.status.success());
        assert!(
            String::from_utf8_lossy(&kill.stderr).contains("denied"),
            "{}",
            String::from_utf8_lossy(&kill.stderr)
        );
        assert_eq!(status("life"), "running");

        // Stopped from outside: systemctl stop on the scope.
        run_ok("systemctl", &["stop", "unitbox-life.scope"]);
        wait_for(
            "stopped after systemctl stop",
            Duration::from_secs(1),
            || status("life") == "stopped",
        );
        assert_eq!(property("life", "ExitCode"), 1, "CLD_EXITED");
        assert_eq!(
            property("life", "ExitStatus"),
            7,
            "the TERM trap's exit code"
        );

        // Killed from outside: systemctl kill -s KILL takes init and its monitor at once.
        manager_ok("RunContainer", &["ssa{sv}", "victim", &bundle, "0"]);
        run_ok("systemctl", &["kill", "-s", "KILL", "unitbox-victim.scope"]);
        wait_for(
            "stopped after systemctl kill",
            Duration::from_secs(1),
            || status("victim") == "stopped",
        );
        assert_eq!(property("victim", "ExitCode"), 2, "CLD_KILLED");
        assert_eq!(property("victim", "ExitStatus"), 9);
        manager_ok("DestroyContainer", &["st", "victim", "0"]);

        // Destroy.
        manager_ok("DestroyContainer", &["st", "life", "0"]);
        let err = manager_err("GetContainer", &["s", "life"]);
        assert!(err.contains("no container `life`"), "{err}");

        std::thread::sleep(Duration::from_millis(300));
        let _ = monitor.kill();
        let _ = monitor.wait();
        let signals = std::fs::read_to_string(&monitor_log).unwrap();
        for member in [
            "ContainerNew",
            "StatusChanged",
            "PropertiesChanged",
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

#[test]
fn daemon_serves_the_committed_introspection() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with("daemon-xml", &spec("sleep 100"));
        let path = manager_ok("CreateContainer", &["ssa{sv}", "xml", &bundle, "0"]);
        let path = path[0].as_str().unwrap().to_owned();
        // UNITBOX_BLESS_XML=1 rewrites the committed files from the running daemon.
        let bless = std::env::var_os("UNITBOX_BLESS_XML").is_some();
        for (path, iface) in [(MANAGER, MANAGER_IFACE), (path.as_str(), CONTAINER_IFACE)] {
            let xml = run_ok("busctl", &["introspect", "--xml-interface", BUS, path]);
            let served = interface_block(&xml, iface);
            let file = format!("{}/dbus-interfaces/{iface}.xml", env!("CARGO_MANIFEST_DIR"));
            if bless {
                std::fs::write(&file, format!("{served}\n")).unwrap();
            }
            let committed = std::fs::read_to_string(&file).unwrap_or_default();
            assert_eq!(
                served,
                committed.trim_end(),
                "{file} differs from what the daemon serves (UNITBOX_BLESS_XML=1 rewrites it)"
            );
        }
        manager_ok("DestroyContainer", &["st", "xml", "1"]);
    });
}

/// The `<interface name="iface">…</interface>` block of an introspection document.
/// (pid, command line) of every process of `unit`, as systemd lists them, in pid order.
fn unit_processes(unit: &str) -> Vec<(u64, String)> {
    let out = run_ok(
        "busctl",
        &[
            "--json=short",
            "call",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "GetUnitProcesses",
            "s",
            unit,
        ],
    );
    let reply: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let mut procs: Vec<(u64, String)> = reply["data"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[1].as_u64().unwrap(), p[2].as_str().unwrap().to_owned()))
        .collect();
    procs.sort();
    procs
}

fn interface_block(xml: &str, iface: &str) -> String {
    let start = xml
        .find(&format!("<interface name=\"{iface}\">"))
        .unwrap_or_else(|| panic!("{iface} not served:\n{xml}"));
    let end = start + xml[start..].find("</interface>").unwrap() + "</interface>".len();
    xml[start..end].to_owned()
}

#[test]
fn oom_kill_is_signalled() {
    support::in_systemd(|| {
        install_service();
        let mut oom_spec = spec(&format!(
            "sh -c 'x=$(head -c 400000000 /dev/zero | tr \"\\0\" a)'; echo survived; {SERVE_UNTIL_TERM}"
        ));
        oom_spec["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 33554432, "swap": 33554432});
        let bundle = bundle_with("daemon-oom", &oom_spec);
        let log = support::scratch_dir("daemon-oom-monitor").join("signals.json");
        manager_ok("ListContainers", &[]);
        let mut monitor = Command::new("busctl")
            .args(["monitor", "--json=short", BUS])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        manager_ok("RunContainer", &["ssa{sv}", "oom", &bundle, "0"]);
        wait_for("the OOM signal", Duration::from_secs(20), || {
            std::fs::read_to_string(&log).is_ok_and(|s| s.contains("\"member\":\"OOM\""))
        });
        let _ = monitor.kill();
        let _ = monitor.wait();
        manager_ok("DestroyContainer", &["st", "oom", "1"]);
    });
}

#[test]
fn register_makes_the_container_a_machine() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with("daemon-machine", &spec(SERVE_UNTIL_TERM));
        let machines = || run_ok("machinectl", &["list", "--no-legend", "--no-pager"]);
        manager_ok(
            "CreateContainer",
            &["ssa{sv}", "machine1", &bundle, "1", "Register", "b", "true"],
        );
        assert!(machines().contains("machine1"), "{}", machines());
        let leader = run_ok(
            "machinectl",
            &["show", "machine1", "--property=Leader", "--value"],
        );
        let init_pid = property("machine1", "InitPid").as_u64().unwrap();
        assert_eq!(leader.trim(), init_pid.to_string());
        let unit = run_ok(
            "machinectl",
            &["show", "machine1", "--property=Unit", "--value"],
        );
        assert_eq!(unit.trim(), "unitbox-machine1.scope");
        // Without the option nothing is registered.
        manager_ok("CreateContainer", &["ssa{sv}", "plain", &bundle, "0"]);
        assert!(!machines().contains("plain"), "{}", machines());
        manager_ok("DestroyContainer", &["st", "plain", "1"]);
        manager_ok("DestroyContainer", &["st", "machine1", "1"]);
        wait_for("the machine to go", Duration::from_secs(10), || {
            !machines().contains("machine1")
        });
        // A wrong type is refused by name and makes nothing.
        let error = manager_err(
            "CreateContainer",
            &["ssa{sv}", "machine2", &bundle, "1", "Register", "s", "yes"],
        );
        assert!(error.contains("Register"), "{error}");
        manager_err("GetContainer", &["s", "machine2"]);
        // A name machined refuses (longer than a host name) undoes the whole create.
        let long = "m".repeat(70);
        let error = manager_err(
            "CreateContainer",
            &["ssa{sv}", &long, &bundle, "1", "Register", "b", "true"],
        );
        assert!(error.contains("RegisterMachine"), "{error}");
        manager_err("GetContainer", &["s", &long]);
        let units = run_ok(
            "systemctl",
            &[
                "list-units",
                "--all",
                "--no-legend",
                &format!("unitbox-{long}.scope"),
            ],
        );
        assert!(!units.split_whitespace().any(|w| w == "active"), "{units}");
    });
}

/// `CreateContainer` through zbus (busctl shows no error names); the D-Bus error name and
/// message.
fn create_error(id: &str, bundle: &str, options: Options) -> (String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = zbus::Connection::system().await.unwrap();
        let manager = zbus::Proxy::new(&conn, BUS, MANAGER, MANAGER_IFACE)
            .await
            .unwrap();
        match manager
            .call::<_, _, zbus::OwnedObjectPath>("CreateContainer", &(id, bundle, options))
            .await
        {
            Err(zbus::Error::MethodError(name, message, _)) => {
                (name.to_string(), message.unwrap_or_default())
            }
            // zbus turns the standard names into `fdo::Error`.
            Err(zbus::Error::FDO(error)) => (
                zbus::DBusError::name(&*error).to_string(),
                zbus::DBusError::description(&*error)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            other => panic!("CreateContainer {id}: {other:?}"),
        }
    })
}

type Options = std::collections::HashMap<&'static str, zbus::Variant<'static>>;

#[test]
fn slice_and_scope_properties_shape_the_scope() {
    support::in_systemd(|| {
        install_service();
        let bundle = bundle_with(
            "daemon-slice",
            &spec("trap 'exit 3' INT; trap 'exit 7' TERM; while :; do sleep 1; done"),
        );
        manager_ok(
            "RunContainer",
            &[
                "ssa{sv}",
                "sliced",
                &bundle,
                "2",
                "Slice",
                "s",
                "unitbox_test.slice",
                "ScopeProperties",
                "a(sv)",
                "2",
                "TimeoutStopUSec",
                "t",
                "7000000",
                "KillSignal",
                "i",
                "2",
            ],
        );
        let unit = "unitbox-sliced.scope";
        assert_eq!(support::systemctl_show(unit, "Slice"), "unitbox_test.slice");
        assert_eq!(support::systemctl_show(unit, "TimeoutStopUSec"), "7s");
        assert_eq!(support::systemctl_show(unit, "KillSignal"), "2");
        let init = property("sliced", "InitPid").as_u64().unwrap();
        let cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
        assert!(
            cgroup.contains("/unitbox_test.slice/unitbox-sliced.scope"),
            "{cgroup}"
        );
        // `systemctl stop` now sends SIGINT (KillSignal=2): the INT trap answers, not TERM's.
        run_ok("systemctl", &["stop", unit]);
        wait_for("sliced stopped", Duration::from_secs(5), || {
            status("sliced") == "stopped"
        });
        assert_eq!(property("sliced", "ExitCode"), 1, "CLD_EXITED");
        assert_eq!(
            property("sliced", "ExitStatus"),
            3,
            "the INT trap's exit code"
        );
        manager_ok("DestroyContainer", &["st", "sliced", "0"]);

        // A key off the whitelist, a wrong type, a bad slice: InvalidArgs naming it, and
        // nothing made.
        let invalid = "org.freedesktop.DBus.Error.InvalidArgs";
        let props = |name: &str, value: zbus::Variant<'static>| {
            let mut options = Options::new();
            options.insert(
                "ScopeProperties",
                zbus::Variant::from(vec![(name.to_owned(), value)]),
            );
            options
        };
        let (name, message) = create_error("bad1", &bundle, props("PIDs", 1u32.into()));
        assert_eq!(name, invalid);
        assert!(message.contains("ScopeProperties.PIDs"), "{message}");
        let (name, message) = create_error("bad2", &bundle, props("TasksMax", "10".into()));
        assert_eq!(name, invalid);
        assert!(
            message.contains("ScopeProperties.TasksMax") && message.contains("`t`"),
            "{message}"
        );
        let mut options = Options::new();
        options.insert("Slice", zbus::Variant::from("no-slice"));
        let (name, message) = create_error("bad3", &bundle, options);
        assert_eq!(name, invalid);
        assert!(message.contains("Slice"), "{message}");
        // (Other tests share this systemd: only our ids count.)
        let listed = manager_ok("ListContainers", &[]);
        assert!(
            listed[0]
                .as_array()
                .unwrap()
                .iter()
                .all(|row| !row[0].as_str().unwrap().starts_with("bad")),
            "{listed}"
        );
        let left = run_ok(
            "systemctl",
            &["list-units", "--all", "--no-legend", "unitbox-bad*.scope"],
        );
        assert!(left.trim().is_empty(), "scopes left: {left}");
    });
}
