//! `update` (flags and `--resources`), `events` (`--stats`, the stream with OOM events),
//! `features` and `spec` against real containers in the private systemd.

mod cli_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use cli_support::{bundle, leftover_scopes, s, Cli};
use serde_json::Value;

fn show(id: &str, prop: &str) -> String {
    support::systemctl_show(&format!("unitbox-{id}.scope"), prop)
}

#[test]
fn update_changes_the_scope_and_events_report_stats() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-update");
        let b = bundle("cli-update", &["sleep", "1000"], |_| {});
        cli.run(&["run", "-d", "--bundle", s(&b), "u1"]).ok();

        cli.run(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "42",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--blkio-weight",
            "300",
            "u1",
        ])
        .ok();
        assert_eq!(show("u1", "MemoryLimit"), (64u64 << 20).to_string());
        assert_eq!(show("u1", "TasksMax"), "42");
        assert_eq!(show("u1", "CPUQuotaPerSecUSec"), "500ms");
        assert_eq!(show("u1", "CPUShares"), "512");
        let memory = support::read_cgroup_file(
            "memory",
            "machine.slice/unitbox-u1.scope",
            "memory.limit_in_bytes",
        );
        assert_eq!(memory, (64u64 << 20).to_string());
        let cpus =
            support::read_cgroup_file("cpuset", "machine.slice/unitbox-u1.scope", "cpuset.cpus");
        assert_eq!(cpus, "0");

        // --resources from stdin; flags not given keep their values.
        let mut child = cli
            .command(&["update", "--resources", "-", "u1"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"pids":{"limit":7},"memory":{"limit":33554432}}"#)
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(show("u1", "TasksMax"), "7");
        assert_eq!(show("u1", "MemoryLimit"), (32u64 << 20).to_string());
        assert_eq!(show("u1", "CPUShares"), "512");
        // A bad resources file names the JSON path; nothing changes.
        let bad = cli.root.join("bad.json");
        std::fs::write(&bad, r#"{"pids":{"limit":"many"}}"#).unwrap();
        cli.run(&["update", "--resources", s(&bad), "u1"])
            .fails_with(&["pids.limit"]);
        cli.run(&["update", "--memory", "lots", "u1"]);
        assert_eq!(show("u1", "TasksMax"), "7");

        // events --stats: one runc-shaped stats line.
        let out = cli.run(&["events", "--stats", "u1"]);
        let event: Value = serde_json::from_str(out.ok().trim()).unwrap();
        assert_eq!(event["type"], "stats");
        assert_eq!(event["id"], "u1");
        assert_eq!(event["data"]["pids"]["current"], 1);
        assert_eq!(event["data"]["pids"]["limit"], 7);
        assert_eq!(event["data"]["memory"]["usage"]["limit"], 32u64 << 20);
        assert!(
            event["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
            "{event}"
        );

        // The stream: a line per interval, ending when the container stops.
        let mut events = cli
            .command(&["events", "--interval", "100ms", "u1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
        for _ in 0..3 {
            let event: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            assert_eq!(event["type"], "stats");
        }
        cli.run(&["kill", "u1", "KILL"]).ok();
        assert!(events.wait().unwrap().success());
        cli.run(&["delete", "u1"]).ok();
        assert_eq!(leftover_scopes("u"), "");
    });
}

#[test]
fn events_report_oom_kills() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-oom");
        // Filling a tmpfs past the limit (no swap) makes the kernel OOM-kill `dd`.
        let b = bundle(
            "cli-oom",
            &[
                "sh",
                "-c",
                "sleep 1; dd if=/dev/zero of=/dev/shm/fill bs=1M count=60; sleep 1000",
            ],
            |c| {
                c["linux"]["resources"]["memory"] =
                    serde_json::json!({"limit": 16 << 20, "swap": 16 << 20})
            },
        );
        cli.run(&["run", "-d", "--bundle", s(&b), "o1"]).ok();
        let mut events = cli
            .command(&["events", "--interval", "200ms", "o1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = events.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find(|line| serde_json::from_str::<Value>(line).unwrap()["type"] == "oom")
        });
        std::thread::sleep(Duration::from_secs(4));
        cli.run(&["delete", "-f", "o1"]).ok();
        let _ = events.wait();
        let oom: Value =
            serde_json::from_str(&reader.join().unwrap().expect("an oom event")).unwrap();
        assert_eq!(oom["id"], "o1");
        assert_eq!(leftover_scopes("o"), "");
    });
}

#[test]
fn features_and_spec() {
    support::in_systemd(|| {
        let cli = Cli::new("cli-features");
        let features: Value = serde_json::from_str(cli.run(&["features"]).ok()).unwrap();
        assert_eq!(features["ociVersionMin"], "1.0.0");
        assert!(features["ociVersionMax"]
            .as_str()
            .unwrap()
            .starts_with("1."));
        assert!(features["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "createRuntime"));
        assert!(features["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rbind"));
        let linux = &features["linux"];
        assert!(linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "cgroup"));
        assert!(linux["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(linux["cgroup"]["systemd"], true);
        assert_eq!(linux["seccomp"]["enabled"], true);
        for key in ["apparmor", "selinux", "intelRdt", "mountExtensions"] {
            assert!(linux.get(key).is_some(), "{key}");
        }
        assert!(features["annotations"].is_object());

        let dir = support::scratch_dir("cli-spec");
        let spec = cli.run(&["spec", "--bundle", s(&dir)]);
        spec.ok();
        let config: Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["root"]["path"], "rootfs");
        cli.run(&["spec", "--bundle", s(&dir)])
            .fails_with(&["config.json", "exists"]);
        let rootless = support::scratch_dir("cli-spec-rootless");
        cli.run(&["spec", "--rootless", "--bundle", s(&rootless)])
            .ok();
        let config: Value =
            serde_json::from_slice(&std::fs::read(rootless.join("config.json")).unwrap()).unwrap();
        assert!(config["linux"]["uidMappings"].is_array(), "{config}");
    });
}
