//! Processes that share a container: a pod-style second container joining the first
//! one's network and IPC namespaces by path, and `exec` as another user.

mod container_support;
mod support;

use std::fs::File;

use container_support::{create, section, show, spec, value};
use nix::sys::signal::Signal;
use serde_json::json;
use unitbox::config::NamespaceType;
use unitbox::process::{ExitStatus, Process, Stdio};

fn sleeper() -> serde_json::Value {
    spec(&container_support::sleeper_script(0))
}

fn host_ns(pid: i32, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn second_container_joins_first_ones_net_and_ipc() {
    support::in_systemd(|| {
        let factory = container_support::factory("pod");
        let mut infra = create(&factory, "pod-infra", &sleeper());
        infra.start_and_wait_ready();
        let first = &mut infra.container;
        let infra_pid = first.state().init_pid;
        let paths = &first.state().namespace_paths;
        let net = paths[&NamespaceType::Network].clone();
        let ipc = paths[&NamespaceType::Ipc].clone();

        let script = [
            show("net", "readlink /proc/self/ns/net"),
            show("ipc", "readlink /proc/self/ns/ipc"),
            show("uts", "readlink /proc/self/ns/uts"),
            show("netdevs", "ls /sys/class/net"),
        ]
        .concat();
        let mut member = spec(&script);
        for ns in member["linux"]["namespaces"].as_array_mut().unwrap() {
            match ns["type"].as_str().unwrap() {
                "network" => ns["path"] = json!(net),
                "ipc" => ns["path"] = json!(ipc),
                _ => {}
            }
        }
        let mut second = create(&factory, "pod-member", &member);
        let member_pid = second.container.state().init_pid;
        assert_eq!(
            second.container.state().namespace_paths[&NamespaceType::Network],
            net,
            "a joined namespace is recorded by its path"
        );
        let member_uts = host_ns(member_pid, "uts");
        second.container.start().unwrap();
        assert!(second.container.wait().unwrap().success());
        let out = second.output();

        assert_eq!(value(&out, "net"), host_ns(infra_pid, "net"), "{out}");
        assert_eq!(value(&out, "ipc"), host_ns(infra_pid, "ipc"), "{out}");
        assert_ne!(
            value(&out, "uts"),
            host_ns(infra_pid, "uts"),
            "uts stays private"
        );
        assert_eq!(value(&out, "uts"), member_uts);
        assert_eq!(section(&out, "netdevs"), ["lo"]);
        second.container.destroy().unwrap();

        first.signal(Signal::SIGTERM, false).unwrap();
        first.wait().unwrap();
        infra.container.destroy().unwrap();
    });
}

#[test]
fn exec_runs_as_another_user_inside_the_container() {
    support::in_systemd(|| {
        let factory = container_support::factory("exec");
        let mut created = create(&factory, "exec-target", &sleeper());
        created.start_and_wait_ready();
        let c = &mut created.container;

        let out_path = created.bundle.join("exec-output");
        let out = File::create(&out_path).unwrap();
        let script = [
            show("id", "id"),
            show("hostname", "hostname"),
            show("pid1", "cat /proc/1/cmdline | tr '\\0' ' '; echo"),
            show("caps", "grep CapEff /proc/self/status"),
            show("cwd", "pwd"),
        ]
        .concat();
        let mut process = Process::new(vec!["sh".into(), "-c".into(), script]);
        process.user = "user".into();
        process.additional_groups = vec!["nogroup".into()];
        process.cwd = "/tmp".into();
        process.env = vec!["PATH=/bin".into()];
        process.stdin = Stdio::Null;
        process.stdout = Stdio::Fd(out.try_clone().unwrap().into());
        process.stderr = Stdio::Fd(out.into());
        c.exec(&mut process).unwrap();
        assert_eq!(process.wait().unwrap(), ExitStatus::Exited(0));
        let text = std::fs::read_to_string(&out_path).unwrap();

        assert_eq!(
            value(&text, "id"),
            "uid=1000(user) gid=1000(user) groups=65534(nogroup)",
            "{text}"
        );
        assert_eq!(
            value(&text, "hostname"),
            "unitbox",
            "exec joins the UTS namespace"
        );
        assert!(
            value(&text, "pid1").starts_with("sh -c trap"),
            "exec joins the PID namespace: {text}"
        );
        assert_eq!(
            value(&text, "caps"),
            "CapEff:\t0000000000000000",
            "a non-root user has no effective caps"
        );
        assert_eq!(value(&text, "cwd"), "/tmp");

        // A numeric uid:gid that /etc/passwd does not know.
        let mut numeric = Process::new(vec!["sh".into(), "-c".into(), "exit $(id -u)".into()]);
        numeric.user = "77:88".into();
        numeric.stdin = Stdio::Null;
        c.exec(&mut numeric).unwrap();
        assert_eq!(numeric.wait().unwrap(), ExitStatus::Exited(77));

        c.signal(Signal::SIGTERM, false).unwrap();
        c.wait().unwrap();
        created.container.destroy().unwrap();
    });
}
