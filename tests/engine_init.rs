//! What a container's process sees from inside, set up by `unitbox init`: run real
//! busybox containers in the test box's systemd (real scopes, no mocks) through the
//! engine's `start_init`/`start_exec`, and read `/proc` from inside.

mod engine_common;
mod support;

use std::path::PathBuf;

use unitbox::cgroups::CgroupManager;
use unitbox::config::{Capabilities, Namespace, NamespaceType};
use unitbox::process::{ExitStatus, Process};

use engine_common::{chain, config_for, create, names, run, sh, status_field};

#[test]
fn init_is_pid_1_in_its_scope_with_hostname_and_loopback() {
    support::in_systemd(|| {
        let mut config = config_for("eng-basics");
        config.hostname = Some("inside".into());
        config.domainname = Some("example.test".into());
        let created = create(
            "eng-basics",
            config,
            sh("echo pid=$$; hostname; cat /proc/sys/kernel/domainname; cat /sys/class/net/lo/operstate; ip -o link show lo; cat /proc/self/cgroup"),
        )
        .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        // Blocked on the fifo, already in its scope.
        let unit = created.scope.unit_name().to_owned();
        let host_cgroup =
            std::fs::read_to_string(format!("/proc/{}/cgroup", created.spawned.pid)).unwrap();
        assert!(
            host_cgroup.contains(&unit),
            "init not in `{unit}`: {host_cgroup}"
        );
        assert_eq!(support::systemctl_show(&unit, "ActiveState"), "active");
        created.start();
        let done = created.finish();
        assert!(done.status.success(), "{done:?}");
        let lines: Vec<&str> = done.out.lines().collect();
        assert_eq!(lines[0], "pid=1");
        assert_eq!(lines[1], "inside");
        assert_eq!(lines[2], "example.test");
        assert!(lines[4].contains("<LOOPBACK,UP,LOWER_UP>"), "{}", done.out);
        // Inside the scope in every hierarchy systemd manages.
        assert!(
            done.out.contains(&format!("0::/machine.slice/{unit}\n")),
            "{}",
            done.out
        );
    });
}

/// Every set as configured. The process runs as uid 1000: for root, `execve` widens the
/// permitted and effective sets to the bounding set (the kernel's rule for uid 0).
#[test]
fn capability_sets_are_exactly_the_configured_ones() {
    support::in_systemd(|| {
        let mut config = config_for("eng-caps");
        config.capabilities = Some(Capabilities {
            bounding: names(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            effective: names(&["CAP_KILL"]),
            permitted: names(&["CAP_KILL", "CAP_CHOWN"]),
            inheritable: names(&["CAP_KILL", "CAP_CHOWN"]),
            ambient: names(&["CAP_KILL"]),
        });
        let mut process = sh("cat /proc/self/status");
        process.user = "1000".into();
        process.no_new_privileges = Some(false);
        let done = run("eng-caps", config, process);
        // CAP_CHOWN = bit 0, CAP_KILL = bit 5, CAP_NET_BIND_SERVICE = bit 10.
        assert_eq!(status_field(&done.out, "CapBnd"), "0000000000000421");
        assert_eq!(status_field(&done.out, "CapInh"), "0000000000000021");
        assert_eq!(status_field(&done.out, "CapAmb"), "0000000000000020");
        assert_eq!(status_field(&done.out, "CapPrm"), "0000000000000020");
        assert_eq!(status_field(&done.out, "CapEff"), "0000000000000020");
        assert_eq!(status_field(&done.out, "NoNewPrivs"), "0");
        assert_eq!(status_field(&done.out, "Seccomp"), "0");

        // Root: `execve` would widen permitted and effective to the bounding set, but
        // no_new_privs (the default spec sets it) keeps them at what init set.
        let mut config = config_for("eng-caps-root");
        let caps = config.capabilities.as_mut().unwrap();
        caps.bounding = names(&["CAP_CHOWN", "CAP_KILL"]);
        caps.effective = names(&["CAP_KILL"]);
        caps.permitted = names(&["CAP_KILL"]);
        let done = run("eng-caps-root", config, sh("cat /proc/self/status"));
        assert_eq!(status_field(&done.out, "CapBnd"), "0000000000000021");
        assert_eq!(status_field(&done.out, "CapPrm"), "0000000000000020");
        assert_eq!(status_field(&done.out, "CapEff"), "0000000000000020");
        assert_eq!(status_field(&done.out, "NoNewPrivs"), "1");
    });
}

/// CVE-2022-29162: inheritable (and so ambient) capabilities only when asked for.
/// See: https://github.com/opencontainers/runc/security/advisories/GHSA-f3fp-gc8g-vw66
#[test]
fn cve_2022_29162_no_inheritable_capabilities_unless_asked() {
    support::in_systemd(|| {
        let done = run(
            "eng-inh-default",
            config_for("eng-inh-default"),
            sh("cat /proc/self/status"),
        );
        assert_eq!(status_field(&done.out, "CapInh"), "0000000000000000");
        assert_eq!(status_field(&done.out, "CapAmb"), "0000000000000000");
        assert_ne!(status_field(&done.out, "CapEff"), "0000000000000000");

        let mut config = config_for("eng-inh-asked");
        let caps = config.capabilities.as_mut().unwrap();
        caps.inheritable = names(&["CAP_KILL"]);
        caps.ambient = names(&["CAP_KILL"]);
        let done = run("eng-inh-asked", config, sh("cat /proc/self/status"));
        assert_eq!(status_field(&done.out, "CapInh"), "0000000000000020");
        assert_eq!(status_field(&done.out, "CapAmb"), "0000000000000020");
    });
}

#[test]
fn seccomp_denied_syscall_returns_the_configured_errno() {
    support::in_systemd(|| {
        let mut config = config_for("eng-seccomp");
        config.seccomp = Some(unitbox::config::Seccomp {
            default_action: unitbox::config::SeccompAction::Allow,
            architectures: names(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
            syscalls: vec![unitbox::config::SeccompSyscall {
                names: names(&["mkdir", "mkdirat"]),
                action: unitbox::config::SeccompAction::Errno,
                errno_ret: Some(libc::EXDEV as u32),
                args: vec![],
            }],
            ..Default::default()
        });
        let done = run(
            "eng-seccomp",
            config,
            sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?"),
        );
        assert!(done.out.contains("Seccomp:\t2"), "{}", done.out);
        assert!(done.out.contains("NoNewPrivs:\t1"), "{}", done.out);
        assert!(
            done.out.contains("Invalid cross-device link"),
            "{}",
            done.out
        );
        assert!(done.out.contains("rc=1"), "{}", done.out);
    });
}

#[test]
fn rlimits_show_in_proc_self_limits() {
    support::in_systemd(|| {
        let mut config = config_for("eng-rlimits");
        config.rlimits = vec![unitbox::config::Rlimit {
            resource: libc::RLIMIT_NOFILE as i32,
            soft: 123,
            hard: 456,
        }];
        let mut process =
            sh("grep 'Max open files' /proc/self/limits; grep 'Max core' /proc/self/limits");
        process.rlimits = vec![unitbox::config::Rlimit {
            resource: libc::RLIMIT_CORE as i32,
            soft: 0,
            hard: 4096,
        }];
        let done = run("eng-rlimits", config, process);
        let words: Vec<Vec<&str>> = done
            .out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(&words[0][3..5], ["123", "456"], "{}", done.out);
        assert_eq!(&words[1][4..6], ["0", "4096"], "{}", done.out);
    });
}

#[test]
fn time_namespace_offsets_shift_the_clocks_inside() {
    support::in_systemd(|| {
        let mut config = config_for("eng-time");
        config.namespaces.push(Namespace {
            kind: NamespaceType::Time,
            path: None,
        });
        config.time_offsets.insert(
            unitbox::config::TimeClock::Boottime,
            unitbox::config::TimeOffset {
                secs: 10 * 86400,
                nanosecs: 0,
            },
        );
        let done = run("eng-time", config, sh("cat /proc/uptime"));
        let uptime: f64 = done.out.split_whitespace().next().unwrap().parse().unwrap();
        assert!(
            uptime >= 864000.0,
            "uptime {uptime} without the 10-day offset"
        );
    });
}

/// A user namespace: maps written by the runtime, `setgroups` left alone for a root
/// runtime; and for a rootless container `deny` (CVE-2014-8989).
#[test]
fn user_namespace_maps_and_cve_2014_8989_setgroups_deny() {
    support::in_systemd(|| {
        let map = |host| {
            vec![unitbox::config::IdMap {
                container_id: 0,
                host_id: host,
                size: 65536,
            }]
        };
        let userns = |id: &str, rootless: bool| {
            let mut config = config_for(id);
            config.namespaces.push(Namespace {
                kind: NamespaceType::User,
                path: None,
            });
            config.uid_mappings = map(100000);
            config.gid_mappings = map(200000);
            config.rootless_euid = rootless;
            config
        };
        let script = "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u";
        let done = run("eng-userns", userns("eng-userns", false), sh(script));
        let lines: Vec<Vec<&str>> = done
            .out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0], ["0", "100000", "65536"], "{}", done.out);
        assert_eq!(lines[1], ["0", "200000", "65536"], "{}", done.out);
        assert_eq!(lines[2], ["allow"], "{}", done.out);
        assert_eq!(lines[3], ["0"], "{}", done.out);

        let done = run("eng-userns-rl", userns("eng-userns-rl", true), sh(script));
        assert!(done.out.lines().nth(2) == Some("deny"), "{}", done.out);
    });
}

#[test]
fn exec_joins_every_namespace_as_another_user() {
    support::in_systemd(|| {
        let mut config = config_for("eng-exec");
        config.hostname = Some("execbox".into());
        let created = create("eng-exec", config, sh("exec sleep 60"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        created.start();
        let mut process = sh("id -u; id -g; id -G; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -E '^(CapEff|CapInh|NoNewPrivs):' /proc/self/status; pwd; cat /proc/self/cgroup | grep '^0::'");
        process.user = "1000:1000".into();
        process.additional_groups = names(&["65534"]);
        process.cwd = "/tmp".into();
        let done = created.exec(process);
        assert!(done.status.success(), "{done:?}");
        let lines: Vec<&str> = done.out.lines().collect();
        assert_eq!(lines[0], "1000", "{}", done.out);
        assert_eq!(lines[1], "1000", "{}", done.out);
        assert_eq!(lines[2], "1000 65534", "{}", done.out);
        assert_eq!(lines[3], "execbox", "{}", done.out);
        assert_eq!(lines[4].trim(), "sleep 60", "{}", done.out);
        // A non-root user keeps no effective capabilities (and none inheritable).
        assert_eq!(status_field(&done.out, "CapEff"), "0000000000000000");
        assert_eq!(status_field(&done.out, "CapInh"), "0000000000000000");
        assert_eq!(status_field(&done.out, "NoNewPrivs"), "1");
        assert_eq!(lines[8], "/tmp");
        // In the container's scope.
        let unit = created.scope.unit_name();
        assert_eq!(
            lines[9],
            format!("0::/machine.slice/{unit}"),
            "{}",
            done.out
        );
        created.process.signal(libc::SIGKILL).unwrap();
        let done = created.finish();
        assert_eq!(done.status, ExitStatus::Signaled(libc::SIGKILL));
    });
}

#[test]
fn exit_codes_and_signals_propagate() {
    support::in_systemd(|| {
        let created = create("eng-exit", config_for("eng-exit"), sh("exit 7"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        created.start();
        assert_eq!(created.finish().status, ExitStatus::Exited(7));

        let created = create("eng-kill", config_for("eng-kill"), sh("exec sleep 60"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        created.start();
        created.process.signal(libc::SIGKILL).unwrap();
        assert_eq!(created.finish().status, ExitStatus::Signaled(libc::SIGKILL));
    });
}

/// A second container joins the first one's network and IPC namespaces by path.
#[test]
fn pod_style_container_joins_namespaces_by_path() {
    support::in_systemd(|| {
        let first = create("eng-pod-a", config_for("eng-pod-a"), sh("exec sleep 60"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        first.start();
        let pid = first.spawned.pid;
        let mut config = config_for("eng-pod-b");
        for ns in &mut config.namespaces {
            if matches!(ns.kind, NamespaceType::Network | NamespaceType::Ipc) {
                ns.path = Some(PathBuf::from(format!(
                    "/proc/{pid}/ns/{}",
                    ns.kind.proc_name()
                )));
            }
        }
        let done = run(
            "eng-pod-b",
            config,
            sh("for ns in net ipc uts; do readlink /proc/self/ns/$ns; done"),
        );
        let link = |kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        let lines: Vec<&str> = done.out.lines().collect();
        assert_eq!(lines[0], link("net").to_str().unwrap());
        assert_eq!(lines[1], link("ipc").to_str().unwrap());
        assert_ne!(lines[2], link("uts").to_str().unwrap());
        first.process.signal(libc::SIGKILL).unwrap();
        first.finish();
    });
}

/// A failed start names the init step and leaves no process behind.
#[test]
fn a_missing_program_fails_create_naming_the_step() {
    support::in_systemd(|| {
        let process = Process::new(vec!["no-such-program".into()]);
        let err = match create("eng-missing", config_for("eng-missing"), process) {
            Ok(_) => panic!("create of a missing program succeeded"),
            Err(e) => e,
        };
        let unitbox::Error::Process(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            e.init_step(),
            Some(unitbox::init::message::InitStep::LookupExecutable)
        );
        assert_eq!(err.to_string(), "init failed to find executable");
    });
}

/// Variables the environment lacks get runc's defaults.
#[test]
fn environment_gets_path_and_home_defaults() {
    support::in_systemd(|| {
        let mut process = sh("echo \"$PATH|$HOME|$FOO\"");
        process.env = names(&["FOO=bar"]);
        process.user = "user".into();
        let done = run("eng-env", config_for("eng-env"), process);
        assert_eq!(
            done.out.trim(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/home/user|bar"
        );
    });
}
