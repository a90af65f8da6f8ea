//! What a real busybox container sees from inside: hostname, ids, capabilities, seccomp,
//! mounts and their flags, masked and read-only paths, devices, rlimits, PID 1, loopback.
//! Runs against the systemd of the test harness, with the real scope manager.

mod container_support;
mod support;

use container_support::{mount_options, mountinfo_line, run, section, show, spec, value};
use serde_json::json;

/// The script: one section per thing we look at.
fn probe_script() -> String {
    [
        show("hostname", "hostname"),
        show("ids", "echo $(id -u):$(id -g)"),
        show("pid", "echo $$"),
        show(
            "status",
            "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status",
        ),
        show("mountinfo", "cat /proc/self/mountinfo"),
        show(
            "timer_list",
            "stat -c '%F %t:%T' /proc/timer_list; wc -c < /proc/timer_list",
        ),
        show("keys", "wc -c < /proc/keys"),
        show("firmware", "ls -A /sys/firmware | wc -l"),
        show(
            "procirq",
            "cat /proc/irq/default_smp_affinity > /proc/irq/default_smp_affinity && echo WRITABLE",
        ),
        show(
            "procsys",
            "echo 1 > /proc/sys/kernel/ns_last_pid && echo WRITABLE",
        ),
        show(
            "devices",
            "stat -L -c '%n %F %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom \
             /dev/tty /dev/ptmx /dev/testfull",
        ),
        show(
            "links",
            "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done",
        ),
        show(
            "dirs",
            "for d in /dev/pts /dev/shm /dev/mqueue; do test -d $d && echo $d; done",
        ),
        show("limits", "grep 'Max open files' /proc/self/limits"),
        show("netdevs", "ls /sys/class/net"),
        show("loflags", "cat /sys/class/net/lo/flags"),
        show("seccomp_errno", "mkdir /tmp/denied || true"),
        show("devnull_write", "echo x > /dev/null && echo ok"),
    ]
    .concat()
}

fn probe_spec() -> serde_json::Value {
    let mut spec = spec(&probe_script());
    spec["hostname"] = json!("isolated");
    spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 4343, "soft": 4242}]);
    spec["linux"]["devices"] = json!([{
        "path": "/dev/testfull", "type": "c", "major": 1, "minor": 7,
        "fileMode": 438, "uid": 0, "gid": 0
    }]);
    spec["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}
    ]);
    spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    spec
}

#[test]
fn container_sees_its_isolation() {
    support::in_systemd(|| {
        let factory = container_support::factory("isolation");
        let (status, out) = run(&factory, "isolation", &probe_spec());
        assert!(status.success(), "exit {status:?}, output:\n{out}");

        assert_eq!(value(&out, "hostname"), "isolated", "{out}");
        assert_eq!(value(&out, "ids"), "0:0");
        assert_eq!(value(&out, "pid"), "1", "the container process is PID 1");

        // runc's default set: CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
        let status_lines = section(&out, "status");
        let field = |name: &str| {
            status_lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name} missing in {status_lines:?}"))
        };
        assert_eq!(field("CapEff"), "0000000020000420");
        assert_eq!(field("CapPrm"), "0000000020000420");
        assert_eq!(field("CapBnd"), "0000000020000420");
        assert_eq!(
            field("CapInh"),
            "0000000000000000",
            "no inheritable caps unless asked"
        );
        assert_eq!(field("CapAmb"), "0000000000000000");
        assert_eq!(field("NoNewPrivs"), "1");
        assert_eq!(field("Seccomp"), "2", "a seccomp filter is installed");

        let mountinfo = section(&out, "mountinfo");
        let root = mount_options(mountinfo_line(&mountinfo, "/"));
        assert!(root.contains(&"ro"), "readonly rootfs: {root:?}");
        let sys = mount_options(mountinfo_line(&mountinfo, "/sys"));
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(sys.contains(&flag), "/sys {flag}: {sys:?}");
        }
        let shm = mount_options(mountinfo_line(&mountinfo, "/dev/shm"));
        for flag in ["rw", "nosuid", "nodev", "noexec"] {
            assert!(shm.contains(&flag), "/dev/shm {flag}: {shm:?}");
        }
        let proc_sys = mount_options(mountinfo_line(&mountinfo, "/proc/sys"));
        assert!(
            proc_sys.contains(&"ro"),
            "/proc/sys read-only: {proc_sys:?}"
        );
        for fstype_at in [
            ("/proc", "proc"),
            ("/dev/pts", "devpts"),
            ("/dev/mqueue", "mqueue"),
        ] {
            let line = mountinfo_line(&mountinfo, fstype_at.0);
            let fstype = line.split(" - ").nth(1).unwrap().split(' ').next().unwrap();
            assert_eq!(fstype, fstype_at.1, "{line}");
        }

        // Masked: a file gets /dev/null, a directory an empty read-only tmpfs.
        assert_eq!(
            section(&out, "timer_list"),
            ["character special file 1:3", "0"]
        );
        assert_eq!(value(&out, "keys"), "0");
        assert_eq!(value(&out, "firmware"), "0");
        assert!(
            value(&out, "procirq").contains("Read-only file system"),
            "{out}"
        );
        assert!(
            value(&out, "procsys").contains("Read-only file system"),
            "{out}"
        );

        let devices = section(&out, "devices");
        for want in [
            "/dev/null character special file 1:3",
            "/dev/zero character special file 1:5",
            "/dev/full character special file 1:7",
            "/dev/random character special file 1:8",
            "/dev/urandom character special file 1:9",
            "/dev/tty character special file 5:0",
            "/dev/ptmx character special file 5:2",
            "/dev/testfull character special file 1:7",
        ] {
            assert!(devices.contains(&want), "{want} in {devices:?}");
        }
        let links = section(&out, "links");
        for want in [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2",
            "ptmx pts/ptmx",
        ] {
            assert!(links.contains(&want), "{want} in {links:?}");
        }
        assert_eq!(
            section(&out, "dirs"),
            ["/dev/pts", "/dev/shm", "/dev/mqueue"]
        );
        assert_eq!(value(&out, "devnull_write"), "ok");

        let limits: Vec<&str> = value(&out, "limits").split_whitespace().collect();
        assert_eq!(limits, ["Max", "open", "files", "4242", "4343", "files"]);

        assert_eq!(section(&out, "netdevs"), ["lo"], "a new network namespace");
        let flags =
            u32::from_str_radix(value(&out, "loflags").trim_start_matches("0x"), 16).unwrap();
        assert_eq!(
            flags & 0x1,
            0x1,
            "loopback is up (IFF_UP), flags {flags:#x}"
        );

        assert!(
            value(&out, "seccomp_errno").contains("Function not implemented"),
            "mkdir gets the profile's errno 38: {out}"
        );
    });
}

#[test]
fn user_namespace_maps_ids() {
    support::in_systemd(|| {
        let factory = container_support::factory("userns");
        let script = [
            show("uid_map", "cat /proc/self/uid_map"),
            show("gid_map", "cat /proc/self/gid_map"),
            show("ids", "echo $(id -u):$(id -g)"),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let mut created = container_support::create(&factory, "userns", &spec);

        // Seen from the host, the created init already runs as the mapped user.
        let pid = created.container.state().init_pid;
        let host_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = host_status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(
            uid_line.split_whitespace().nth(1),
            Some("100000"),
            "{uid_line}"
        );

        created.container.start().unwrap();
        let status = created.container.wait().unwrap();
        let out = created.output();
        assert!(status.success(), "exit {status:?}:\n{out}");
        let words = |name| -> Vec<String> {
            value(&out, name)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(words("uid_map"), ["0", "100000", "65536"]);
        assert_eq!(words("gid_map"), ["0", "100000", "65536"]);
        assert_eq!(value(&out, "ids"), "0:0");
        created.container.destroy().unwrap();
    });
}
