//! A container's life against a real systemd: the scope systemd sees, the status machine
//! and its refusals, exit codes and signals, hooks in order, destroy and failed creates
//! leaving nothing behind.

mod container_support;
mod support;

use std::path::Path;
use std::time::Duration;

use container_support::{chain, create, run, spec, wait_for};
use nix::sys::signal::Signal;
use serde_json::json;
use unitbox::container::Status;
use unitbox::process::ExitStatus;
use unitbox::ErrorCode;

/// A spec whose process waits until it is killed (exit 42 on SIGTERM).
fn sleeper() -> serde_json::Value {
    spec(&container_support::sleeper_script(42))
}

/// `LoadState` of `unit`: `loaded` while systemd knows it, `not-found` once it is gone.
fn load_state(unit: &str) -> String {
    support::systemctl_show(unit, "LoadState")
}

/// Whether any mount of this mount namespace lies under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn exit_code_propagates() {
    support::in_systemd(|| {
        let factory = container_support::factory("exit");
        let (status, out) = run(&factory, "exit7", &spec("exit 7"));
        assert_eq!(status, ExitStatus::Exited(7), "{out}");
    });
}

#[test]
fn signals_reach_init_and_all_processes() {
    support::in_systemd(|| {
        let factory = container_support::factory("signals");

        // A handled signal: the trap runs and sets the exit code.
        let mut term = create(&factory, "sigterm", &sleeper());
        term.start_and_wait_ready();
        term.container.signal(Signal::SIGTERM, false).unwrap();
        assert_eq!(term.container.wait().unwrap(), ExitStatus::Exited(42));
        term.container.destroy().unwrap();

        // SIGKILL to every process through the scope.
        let mut all = create(&factory, "sigall", &sleeper());
        all.start_and_wait_ready();
        all.container.signal(Signal::SIGKILL, true).unwrap();
        assert_eq!(
            all.container.wait().unwrap(),
            ExitStatus::Signaled(Signal::SIGKILL as i32)
        );
        assert_eq!(all.container.refresh_status(), Status::Stopped);
        let refused = all.container.signal(Signal::SIGTERM, false).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::ContainerNotRunning, "{refused}");
        all.container.destroy().unwrap();
    });
}

#[test]
fn scope_is_seen_by_systemd_and_destroy_leaves_nothing() {
    support::in_systemd(|| {
        let factory = container_support::factory("scope");
        let created = create(&factory, "scoped", &sleeper());
        let mut container = created.container;
        let unit = container.unit_name().to_owned();
        assert_eq!(unit, "unitbox-scoped.scope");
        assert_eq!(support::systemctl_show(&unit, "ActiveState"), "active");
        let pid = container.state().init_pid;
        let control_group = support::systemctl_show(&unit, "ControlGroup");
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(
            cgroup.lines().any(|l| l.ends_with(&control_group)),
            "init {pid} is in the scope's cgroup {control_group}:\n{cgroup}"
        );
        assert_eq!(factory.list().unwrap(), ["scoped"]);

        container.start().unwrap();
        assert_eq!(container.refresh_status(), Status::Running);
        let stats = container.stats().unwrap();
        let lo = stats.network_interfaces.iter().find(|i| i.name == "lo");
        assert!(
            lo.is_some(),
            "stats count the container's loopback: {stats:?}"
        );
        assert!(stats.pids.current >= 1, "{stats:?}");
        let pids = container.processes().unwrap();
        assert!(
            pids.contains(&pid),
            "init {pid} among the scope's processes {pids:?}"
        );
        let loaded = factory.load("scoped").unwrap();
        assert_eq!(
            loaded.status(),
            Status::Running,
            "another handle derives the same status"
        );
        assert_eq!(loaded.state().unit_name, unit);

        container.signal(Signal::SIGKILL, false).unwrap();
        container.wait().unwrap();
        assert_eq!(
            factory.load("scoped").unwrap().status(),
            Status::Stopped,
            "a loaded handle sees the dead init"
        );
        let dir = container.dir();
        container.destroy().unwrap();

        assert!(!dir.exists(), "state folder removed");
        assert!(factory.list().unwrap().is_empty());
        wait_for("the scope to go", Duration::from_secs(10), || {
            load_state(&unit) == "not-found"
        });
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "init is gone");
        assert_eq!(
            mounts_under(&created.bundle),
            Vec::<String>::new(),
            "no mount left"
        );
        let err = factory.load("scoped").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ContainerNotExists, "{err}");
    });
}

#[test]
fn status_machine_refuses_illegal_transitions() {
    support::in_systemd(|| {
        let factory = container_support::factory("status");
        let mut created = create(&factory, "machine", &sleeper());
        assert_eq!(created.container.status(), Status::Created);

        let again = factory
            .create(
                "machine",
                unitbox::config::oci::load_bundle(&created.bundle).unwrap(),
            )
            .unwrap_err();
        assert_eq!(again.code(), ErrorCode::IdInUse, "{again}");
        let err = created.container.resume().unwrap_err();
        assert_eq!(err.code(), ErrorCode::ContainerNotPaused, "{err}");

        created.start_and_wait_ready();
        let c = &mut created.container;
        assert_eq!(c.status(), Status::Running);
        let err = c.start().unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::ContainerNotStopped,
            "start twice: {err}"
        );
        let err = factory.load("machine").unwrap().destroy().unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::ContainerNotStopped,
            "delete running: {err}"
        );

        c.pause().unwrap();
        assert_eq!(c.status(), Status::Paused);
        assert_eq!(factory.load("machine").unwrap().status(), Status::Paused);
        let mut exec = unitbox::process::Process::new(vec!["true".into()]);
        let err = c.exec(&mut exec).unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::ContainerPaused,
            "exec while paused: {err}"
        );
        let err = c.pause().unwrap_err();
        assert_eq!(err.code(), ErrorCode::ContainerPaused, "pause twice: {err}");

        c.resume().unwrap();
        assert_eq!(c.status(), Status::Running);
        c.signal(Signal::SIGTERM, false).unwrap();
        assert_eq!(c.wait().unwrap(), ExitStatus::Exited(42));
        assert_eq!(c.status(), Status::Stopped);
        for (what, err) in [
            ("start", c.start().unwrap_err()),
            ("pause", c.pause().unwrap_err()),
            ("signal", c.signal(Signal::SIGKILL, false).unwrap_err()),
        ] {
            assert_eq!(
                err.code(),
                ErrorCode::ContainerNotRunning,
                "{what} stopped: {err}"
            );
        }
        created.container.destroy().unwrap();
    });
}

#[test]
fn destroy_of_created_container_kills_init() {
    support::in_systemd(|| {
        let factory = container_support::factory("created");
        let c = create(&factory, "never-started", &sleeper()).container;
        let pid = c.state().init_pid;
        let unit = c.unit_name().to_owned();
        c.destroy().unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "init killed and reaped"
        );
        wait_for("the scope to go", Duration::from_secs(10), || {
            load_state(&unit) == "not-found"
        });
    });
}

#[test]
fn failed_create_leaves_no_process_scope_or_state() {
    support::in_systemd(|| {
        let factory = container_support::factory("failed");
        let mut bad = sleeper();
        bad["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt", "type": "nosuchfs", "source": "none"}));
        let bundle = container_support::bundle_with("badmount", &bad);
        let config = unitbox::config::oci::load_bundle(&bundle).unwrap();
        let procs_before = processes_mentioning(&bundle);
        let err = factory.create("badmount", config).unwrap_err();
        assert!(
            chain(&err).contains("/mnt"),
            "the error names the mount: {}",
            chain(&err)
        );

        assert!(factory.list().unwrap().is_empty());
        assert!(
            !factory.store().container_dir("badmount").exists(),
            "no state folder"
        );
        assert_eq!(
            load_state("unitbox-badmount.scope"),
            "not-found",
            "no scope"
        );
        assert_eq!(
            processes_mentioning(&bundle),
            procs_before,
            "no process left"
        );
        assert_eq!(mounts_under(&bundle), Vec::<String>::new(), "no mount left");

        // The id is free again.
        let (status, out) = run(&factory, "badmount", &spec("exit 0"));
        assert!(status.success(), "{out}");
    });
}

/// Pids whose root or cwd lies in `bundle`: processes of a container made from it.
fn processes_mentioning(bundle: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        for link in ["root", "cwd"] {
            if std::fs::read_link(entry.path().join(link)).is_ok_and(|t| t.starts_with(bundle)) {
                pids.push(pid);
                break;
            }
        }
    }
    pids
}

/// The runtime-namespace hooks (prestart, createRuntime, poststart, poststop), each
/// appending its name to one log and saving the state it read on stdin.
#[test]
fn hooks_run_in_order_with_the_state() {
    support::in_systemd(|| {
        let factory = container_support::factory("hooks");
        let share = support::scratch_dir("hook-share");
        let log = share.join("log");
        let mut spec = spec("echo process >> /share/log");
        spec["root"]["readonly"] = json!(false);
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/share", "type": "bind", "source": share, "options": ["rbind", "rw"]
        }));
        let hook = |kind: &str| {
            json!({"path": "/bin/sh", "args": ["sh", "-c",
                format!("cat > {0}/{kind}.json; echo {kind} >> {0}/log", share.display())]})
        };
        spec["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]
        });
        let mut created = create(&factory, "hooked", &spec);
        let lines = || -> Vec<String> {
            std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            lines(),
            ["prestart", "createRuntime"],
            "create runs the create hooks only"
        );
        let c = &mut created.container;
        c.start().unwrap();
        assert!(c.wait().unwrap().success(), "{}", created.output());
        let bundle = created.container.bundle().to_owned();
        let pid = created.container.state().init_pid;
        created.container.destroy().unwrap();

        let lines = lines();
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(lines[..2], ["prestart", "createRuntime"]);
        // poststart runs in the runtime after start released init; the container's own
        // write races with it, as in runc.
        let mut middle = lines[2..4].to_vec();
        middle.sort();
        assert_eq!(middle, ["poststart", "process"], "{lines:?}");
        assert_eq!(lines[4], "poststop");

        let read_state = |kind: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(share.join(format!("{kind}.json"))).unwrap())
                .unwrap()
        };
        for kind in ["prestart", "createRuntime"] {
            let state = read_state(kind);
            assert_eq!(state["id"], "hooked", "{kind}");
            assert_eq!(state["status"], "creating", "{kind}");
            assert_eq!(state["pid"], pid, "{kind}");
            assert_eq!(state["bundle"], bundle.to_string_lossy().as_ref(), "{kind}");
            assert_eq!(state["ociVersion"], unitbox::hooks::OCI_VERSION, "{kind}");
        }
        assert_eq!(read_state("poststart")["status"], "running");
        assert_eq!(read_state("poststart")["pid"], pid);
        let poststop = read_state("poststop");
        assert_eq!(poststop["status"], "stopped");
        assert!(poststop.get("pid").is_none(), "{poststop}");
    });
}

#[test]
fn failing_create_runtime_hook_fails_create_and_cleans_up() {
    support::in_systemd(|| {
        let factory = container_support::factory("hookfail");
        let mut spec = sleeper();
        spec["hooks"] = json!({"createRuntime": [{"path": "/bin/false", "args": ["false"]}]});
        let bundle = container_support::bundle_with("hookfail", &spec);
        let config = unitbox::config::oci::load_bundle(&bundle).unwrap();
        let err = factory.create("hookfail", config).unwrap_err();
        assert!(
            chain(&err).contains("createRuntime hook `/bin/false`"),
            "{}",
            chain(&err)
        );
        assert!(factory.list().unwrap().is_empty());
        assert_eq!(load_state("unitbox-hookfail.scope"), "not-found");
    });
}

#[test]
fn bad_id_or_config_is_refused_before_anything_is_made() {
    // No systemd needed: nothing may get as far as the bus.
    let factory = container_support::factory("refused");
    let bundle = container_support::bundle_with("refused", &sleeper());
    let config = unitbox::config::oci::load_bundle(&bundle).unwrap();
    for id in ["", "..", "a/b", "semi;colon"] {
        let err = factory.create(id, config.clone()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidIdFormat, "id {id:?}: {err}");
    }
    let mut no_uts = config.clone();
    no_uts
        .namespaces
        .retain(|ns| ns.kind != unitbox::config::NamespaceType::Uts);
    let err = factory.create("no-uts", no_uts).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("hostname"), "{err}");
    let mut no_process = config;
    no_process.process = None;
    let err = factory.create("no-process", no_process).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ConfigInvalid, "{err}");
    assert!(factory.list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(factory.store().root()).unwrap().count(),
        0,
        "no folder was made"
    );
}

#[test]
fn force_destroy_takes_a_paused_container() {
    support::in_systemd(|| {
        let factory = container_support::factory("force");
        let mut created = create(&factory, "forced", &sleeper());
        created.start_and_wait_ready();
        created.container.pause().unwrap();
        let pid = created.container.state().init_pid;
        let unit = created.container.unit_name().to_owned();
        let dir = created.container.dir();
        created.container.force_destroy().unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "init killed and reaped"
        );
        assert!(!dir.exists(), "state folder removed");
        wait_for("the scope to go", Duration::from_secs(10), || {
            load_state(&unit) == "not-found"
        });
    });
}

#[test]
fn set_changes_the_scope_and_the_saved_config() {
    support::in_systemd(|| {
        let factory = container_support::factory("set");
        let mut created = create(&factory, "updated", &sleeper());
        created.start_and_wait_ready();
        let c = &mut created.container;
        let resources = unitbox::config::Resources {
            pids_limit: Some(123),
            ..c.config().cgroups.resources.clone()
        };
        c.set(resources).unwrap();
        assert_eq!(support::systemctl_show(c.unit_name(), "TasksMax"), "123");
        let loaded = factory.load("updated").unwrap();
        assert_eq!(loaded.config().cgroups.resources.pids_limit, Some(123));
        created.container.force_destroy().unwrap();
    });
}
