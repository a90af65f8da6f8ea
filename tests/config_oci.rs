//! OCI `config.json` → `Config`: a fixture using every field of the Linux section, the
//! errors that name JSON paths, and `unitbox spec` / `unitbox validate` as a user runs them.
//!
//! No systemd needed: nothing here makes a container.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use unitbox::config::{
    load_bundle, validate, Config, DeviceType, NamespaceType, Propagation, SeccompAction,
    SeccompOp, TimeClock,
};

const FULL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/full/config.json");

/// A bundle directory with `rootfs/` and `data/`, removed on drop.
struct Bundle(PathBuf);

impl Bundle {
    fn new(test: &str) -> Bundle {
        let dir =
            std::env::temp_dir().join(format!("unitbox-config-oci-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        Bundle(dir)
    }

    /// A bundle holding `config` as its config.json.
    fn with_config(test: &str, config: &Value) -> Bundle {
        let bundle = Bundle::new(test);
        std::fs::write(
            bundle.config_json(),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
        bundle
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn config_json(&self) -> PathBuf {
        self.0.join("config.json")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn full_fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FULL).unwrap()).unwrap()
}

fn load_full(test: &str) -> (Bundle, Config) {
    let bundle = Bundle::with_config(test, &full_fixture());
    let config = load_bundle(bundle.path()).unwrap();
    (bundle, config)
}

#[test]
fn full_fixture_converts_and_validates() {
    let (_bundle, config) = load_full("full-validates");
    validate(&config).unwrap();
}

#[test]
fn full_fixture_root_hostname_labels_annotations() {
    let (bundle, c) = load_full("full-top");
    assert_eq!(c.version, "1.2.0");
    assert_eq!(c.rootfs, bundle.path().join("rootfs"));
    assert!(c.readonly_rootfs);
    assert_eq!(c.hostname.as_deref(), Some("full"));
    assert_eq!(c.domainname.as_deref(), Some("example.org"));
    assert_eq!(
        c.labels,
        [
            "com.example.key=value".to_owned(),
            "org.systemd.property.CollectMode='inactive-or-failed'".to_owned(),
            "org.systemd.property.TimeoutStopUSec=uint64 5000000".to_owned(),
            format!("bundle={}", bundle.path().display()),
        ]
    );
    assert_eq!(
        c.cgroups.systemd_properties,
        [
            ("CollectMode".to_owned(), "'inactive-or-failed'".to_owned()),
            ("TimeoutStopUSec".to_owned(), "uint64 5000000".to_owned()),
        ]
    );
    assert_eq!(c.cgroups.slice, "system.slice");
    assert_eq!(c.cgroups.scope_prefix, "box");
    assert_eq!(c.cgroups.name, "full");
    assert_eq!(c.networks.len(), 1);
    assert_eq!(c.networks[0].kind, "loopback");
}

#[test]
fn full_fixture_mounts() {
    let (bundle, c) = load_full("full-mounts");
    assert_eq!(c.mounts.len(), 7);
    let [proc_, dev, data, idmapped, follow, shared, tmp] = &c.mounts[..] else {
        unreachable!()
    };
    assert_eq!((proc_.device.as_str(), proc_.flags), ("proc", 0));
    assert_eq!(dev.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
    assert_eq!(dev.data, "mode=755,size=65536k");

    assert_eq!(data.device, "bind");
    assert_eq!(data.source, bundle.path().join("data").to_str().unwrap());
    assert_eq!(
        data.flags,
        libc::MS_BIND
            | libc::MS_REC
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
    );
    assert_eq!(data.propagation, [Propagation::Rprivate]);
    let rec = data.rec_attr.unwrap();
    assert_eq!(
        rec.attr_set,
        0x1 | 0x2 | 0x10,
        "MOUNT_ATTR_RDONLY|NOSUID|NOATIME"
    );
    assert_eq!(rec.attr_clr, 0x70, "MOUNT_ATTR__ATIME");
    assert_eq!(data.data, "");

    let idmap = idmapped.id_mapping.as_ref().unwrap();
    assert_eq!(idmapped.device, "bind");
    assert!(idmap.recursive);
    assert_eq!(idmap.uid_mappings[0].host_id, 200000);
    assert_eq!(idmap.gid_mappings[0].host_id, 300000);
    // `idmap` without its own mappings borrows the container's.
    let follow_map = follow.id_mapping.as_ref().unwrap();
    assert!(!follow_map.recursive);
    assert_eq!(follow_map.uid_mappings, c.uid_mappings);

    assert_eq!(
        shared.flags,
        libc::MS_BIND
            | libc::MS_REC
            | libc::MS_RELATIME
            | libc::MS_SYNCHRONOUS
            | libc::MS_REMOUNT
            | libc::MS_MANDLOCK
    );
    assert_eq!(
        shared.propagation,
        [
            Propagation::Rshared,
            Propagation::Slave,
            Propagation::Unbindable
        ]
    );

    assert_eq!(tmp.flags, libc::MS_NOATIME | libc::MS_NODIRATIME);
    assert_eq!(
        tmp.cleared_flags,
        libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_SYNCHRONOUS
            | libc::MS_RELATIME
    );
    assert_eq!(
        tmp.propagation,
        [
            Propagation::Private,
            Propagation::Runbindable,
            Propagation::Rslave,
            Propagation::Shared
        ]
    );
}

#[test]
fn full_fixture_process() {
    let (_bundle, c) = load_full("full-process");
    let p = c.process.as_ref().unwrap();
    assert_eq!(p.args, ["sh", "-c", "echo hi"]);
    assert_eq!(p.env, ["PATH=/bin", "TERM=xterm"]);
    assert_eq!(p.cwd, Path::new("/home"));
    assert_eq!(
        (p.user.uid, p.user.gid, p.user.umask),
        (1000, 1001, Some(0o22))
    );
    assert_eq!(p.user.additional_gids, [5, 10]);
    assert!(p.terminal);
    let size = p.console_size.unwrap();
    assert_eq!((size.height, size.width), (25, 80));
    let caps = p.capabilities.as_ref().unwrap();
    assert_eq!(caps.bounding, ["CAP_CHOWN", "CAP_KILL"]);
    assert_eq!(caps.effective, ["CAP_KILL"]);
    assert!(caps.inheritable.is_empty());
    assert_eq!(caps.ambient, ["CAP_KILL"]);
    let rl: Vec<(i32, u64, u64)> = p
        .rlimits
        .iter()
        .map(|r| (r.resource, r.soft, r.hard))
        .collect();
    assert_eq!(
        rl,
        [
            (libc::RLIMIT_NOFILE as i32, 512, 1024),
            (libc::RLIMIT_CORE as i32, 0, 0),
            (libc::RLIMIT_RTTIME as i32, 10, 100)
        ]
    );
    assert!(p.no_new_privileges && c.no_new_privileges);
    assert_eq!(p.apparmor_profile, "unitbox-default");
    assert_eq!(c.apparmor_profile, "unitbox-default");
    assert_eq!(c.process_label, "system_u:system_r:container_t:s0");
    assert_eq!((p.oom_score_adj, c.oom_score_adj), (Some(100), Some(100)));
    let sched = p.scheduler.as_ref().unwrap();
    assert_eq!((sched.policy.as_str(), sched.nice), ("SCHED_BATCH", 5));
    let io = p.io_priority.as_ref().unwrap();
    assert_eq!((io.class.as_str(), io.priority), ("IOPRIO_CLASS_IDLE", 4));
    let aff = p.exec_cpu_affinity.as_ref().unwrap();
    assert_eq!(
        (aff.initial.as_deref(), aff.final_.as_deref()),
        (Some("0"), Some("0-1"))
    );
    assert_eq!(c.capabilities, p.capabilities);
    assert_eq!(c.rlimits, p.rlimits);
    assert_eq!(c.umask, Some(0o22));
}

#[test]
fn full_fixture_hooks() {
    let (_bundle, c) = load_full("full-hooks");
    let h = &c.hooks;
    assert_eq!(h.prestart[0].args, ["true", "prestart"]);
    assert_eq!(h.prestart[0].timeout, Some(5));
    assert_eq!(h.create_runtime[0].args[1], "createRuntime");
    assert_eq!(h.create_container[0].args[1], "createContainer");
    assert_eq!(h.start_container[0].args[1], "startContainer");
    assert_eq!(h.poststart[0].args[1], "poststart");
    assert_eq!(h.poststop[0].env, ["A=1"]);
    assert_eq!(h.poststop[0].timeout, Some(30));
    assert_eq!(h.poststop[0].path, Path::new("/usr/bin/true"));
}

#[test]
fn full_fixture_namespaces_mappings_and_time() {
    let (_bundle, c) = load_full("full-ns");
    let kinds: Vec<NamespaceType> = c.namespaces.iter().map(|n| n.kind).collect();
    use NamespaceType::*;
    assert_eq!(kinds, [Pid, Network, Ipc, Uts, Mount, User, Cgroup, Time]);
    assert!(c.namespaces.iter().all(|n| n.path.is_none()));
    assert_eq!(
        (
            c.uid_mappings[0].container_id,
            c.uid_mappings[0].host_id,
            c.uid_mappings[0].size
        ),
        (0, 100000, 65536)
    );
    assert_eq!(c.gid_mappings.len(), 1);
    let mono = c.time_offsets[&TimeClock::Monotonic];
    assert_eq!((mono.secs, mono.nanosecs), (10, 5));
    let boot = c.time_offsets[&TimeClock::Boottime];
    assert_eq!((boot.secs, boot.nanosecs), (-3, 0));
    assert_eq!(c.personality.as_ref().unwrap().domain, "LINUX32");
    assert_eq!(c.root_propagation, Some(Propagation::Rslave));
    assert_eq!(c.mount_label, "system_u:object_r:container_file_t:s0");
    assert_eq!(
        c.mask_paths,
        [PathBuf::from("/proc/kcore"), "/sys/firmware".into()]
    );
    assert_eq!(
        c.readonly_paths,
        [PathBuf::from("/proc/sys"), "/proc/sysrq-trigger".into()]
    );
    assert_eq!(c.sysctl.len(), 4);
    assert_eq!(c.sysctl["net.ipv4.ip_forward"], "1");
}

#[test]
fn full_fixture_devices() {
    let (_bundle, c) = load_full("full-devices");
    let fuse = &c.devices[0];
    assert_eq!(
        (fuse.kind, fuse.major, fuse.minor, fuse.file_mode),
        (DeviceType::Char, 10, 229, 0o666)
    );
    let sda = &c.devices[1];
    assert_eq!(
        (sda.kind, sda.file_mode),
        (DeviceType::Block, 0o660),
        "S_IFBLK bits are dropped"
    );
    assert_eq!(c.devices[2].kind, DeviceType::Fifo);
    let tty = &c.devices[3];
    assert_eq!((tty.kind, tty.uid, tty.gid), (DeviceType::Char, 1000, 5));
    // The spec's /dev/null replaces runc's default one; the other defaults follow.
    assert_eq!(c.devices[4].file_mode, 0o660);
    let paths: Vec<&str> = c.devices[5..]
        .iter()
        .map(|d| d.path.to_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/dev/random",
            "/dev/full",
            "/dev/tty",
            "/dev/zero",
            "/dev/urandom"
        ]
    );

    let rules = &c.cgroups.resources.devices;
    assert!(!rules[0].allow && rules[0].kind == DeviceType::All && rules[0].access == "rwm");
    assert_eq!(
        (rules[1].major, rules[1].minor, rules[1].access.as_str()),
        (Some(10), Some(229), "rw")
    );
    assert_eq!((rules[2].kind, rules[2].minor), (DeviceType::Block, None));
    // Defaults come after the spec's rules, so they win over its deny-all.
    assert!(rules[3..].iter().all(|r| r.allow));
    assert!(rules.iter().all(|r| r.kind != DeviceType::Fifo));
}

#[test]
fn full_fixture_resources() {
    let (_bundle, c) = load_full("full-resources");
    let r = &c.cgroups.resources;
    assert_eq!(r.memory, Some(536870912));
    assert_eq!(r.memory_reservation, Some(268435456));
    assert_eq!(r.memory_swap, Some(1073741824));
    assert_eq!(r.memory_swappiness, Some(10));
    assert_eq!(r.oom_kill_disable, Some(false));
    assert_eq!(r.memory_check_before_update, Some(true));
    assert_eq!(r.cpu_shares, Some(512));
    assert_eq!(
        (r.cpu_quota, r.cpu_period, r.cpu_burst),
        (Some(50000), Some(100000), Some(10000))
    );
    assert_eq!(
        (r.cpu_rt_runtime, r.cpu_rt_period),
        (Some(950000), Some(1000000))
    );
    assert_eq!(
        (r.cpuset_cpus.as_deref(), r.cpuset_mems.as_deref()),
        (Some("0-1"), Some("0"))
    );
    assert_eq!(r.cpu_idle, Some(0));
    assert_eq!(r.pids_limit, Some(100));
    assert_eq!(
        (r.blkio_weight, r.blkio_leaf_weight),
        (Some(500), Some(300))
    );
    assert_eq!(r.blkio_weight_device[0].weight, Some(600));
    assert_eq!(r.blkio_weight_device[0].leaf_weight, Some(200));
    assert_eq!(r.blkio_throttle_read_bps_device[0].rate, 1048576);
    assert_eq!(r.blkio_throttle_write_bps_device[0].rate, 2097152);
    assert_eq!(r.blkio_throttle_read_iops_device[0].rate, 100);
    assert_eq!(r.blkio_throttle_write_iops_device[0].rate, 200);
    assert_eq!(
        (
            r.hugetlb_limit[0].page_size.as_str(),
            r.hugetlb_limit[0].limit
        ),
        ("2MB", 209715200)
    );
    assert_eq!(r.net_cls_classid, Some(1048577));
    assert_eq!(
        (
            r.net_prio_ifpriomap[0].interface.as_str(),
            r.net_prio_ifpriomap[0].priority
        ),
        ("eth0", 5)
    );
    assert_eq!(r.rdma["mlx5_1"].hca_handles, Some(3));
    assert_eq!(r.rdma["mlx5_1"].hca_objects, Some(10000));
    assert_eq!(r.unified["memory.high"], "400M");
}

#[test]
fn full_fixture_seccomp() {
    let (_bundle, c) = load_full("full-seccomp");
    let s = c.seccomp.as_ref().unwrap();
    assert_eq!(
        (s.default_action, s.default_errno),
        (SeccompAction::Errno, Some(1))
    );
    assert_eq!(s.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    assert_eq!(
        s.flags,
        ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    );
    assert_eq!(
        s.listener_path.as_deref(),
        Some(Path::new("/run/seccomp-agent.sock"))
    );
    assert_eq!(s.listener_metadata, "metadata");
    let actions: Vec<SeccompAction> = s.syscalls.iter().map(|c| c.action).collect();
    use SeccompAction::*;
    assert_eq!(
        actions,
        [
            Allow,
            Allow,
            Notify,
            Errno,
            KillProcess,
            Trace,
            Log,
            Trap,
            KillThread,
            Kill
        ]
    );
    assert_eq!(s.syscalls[0].names, ["read", "write"]);
    let args = &s.syscalls[1].args;
    assert_eq!(
        (args[0].index, args[0].value, args[0].op),
        (0, 8, SeccompOp::Equal)
    );
    assert_eq!(
        (args[1].index, args[1].value_two, args[1].op),
        (1, 4, SeccompOp::MaskedEqual)
    );
    assert_eq!(s.syscalls[3].errno_ret, Some(13));
    assert_eq!(s.syscalls[5].errno_ret, Some(7));
}

#[test]
fn config_round_trips_through_json() {
    let (_bundle, c) = load_full("full-roundtrip");
    let json = serde_json::to_string(&c).unwrap();
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
}

/// Set the value at a JSON pointer, creating objects (and one more array item) on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut cur = doc;
    for part in pointer.trim_start_matches('/').split('/') {
        cur = match cur {
            Value::Array(a) => {
                let i: usize = part.parse().unwrap();
                if i == a.len() {
                    a.push(Value::Null);
                }
                &mut a[i]
            }
            _ => cur
                .as_object_mut()
                .unwrap()
                .entry(part.to_owned())
                .or_insert(Value::Null),
        };
    }
    *cur = value;
}

/// Conversion (or parse) errors: (JSON pointer to break, value, start of the message).
#[test]
fn conversion_errors_name_the_json_path() {
    let table: &[(&str, Value, &str)] = &[
        (
            "/linux/intelRdt",
            json!({"closID": "x"}),
            "linux.intelRdt: not supported",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "0"}),
            "linux.memoryPolicy: not supported",
        ),
        (
            "/linux/netDevices",
            json!({"eth1": {"name": "eth1"}}),
            "linux.netDevices.eth1: not supported",
        ),
        (
            "/linux/resources/hugepageLimits/0/pageSize",
            json!("2XB"),
            "linux.resources.hugepageLimits[0].pageSize: ",
        ),
        (
            "/linux/resources/hugepageLimits/0/limit",
            json!(-1),
            "linux.resources.hugepageLimits[0].limit: ",
        ),
        (
            "/linux/resources/memory/kernel",
            json!(1024),
            "linux.resources.memory.kernel: not supported",
        ),
        (
            "/linux/resources/memory/kernelTCP",
            json!(1024),
            "linux.resources.memory.kernelTCP: not supported",
        ),
        (
            "/linux/resources/memory/useHierarchy",
            json!(false),
            "linux.resources.memory.useHierarchy: not supported",
        ),
        (
            "/linux/resources/devices/1/access",
            json!("rwx"),
            "linux.resources.devices[1].access: ",
        ),
        (
            "/linux/cgroupsPath",
            json!("/foo/bar"),
            "linux.cgroupsPath: ",
        ),
        (
            "/linux/rootfsPropagation",
            json!("sideways"),
            "linux.rootfsPropagation: ",
        ),
        (
            "/linux/timeOffsets/realtime",
            json!({"secs": 1}),
            "linux.timeOffsets.realtime: ",
        ),
        (
            "/linux/devices/0/type",
            json!("a"),
            "linux.devices[0].type: ",
        ),
        (
            "/linux/uidMappings/0/size",
            json!(0),
            "linux.uidMappings[0].size: ",
        ),
        (
            "/mounts/2/options/9",
            json!("tmpcopyup"),
            "mounts[2].options[9]: not supported",
        ),
        (
            "/mounts/4/options",
            json!(["bind", "idmap"]),
            "mounts[4].options: ",
        ),
        (
            "/process/commandLine",
            json!("sh"),
            "process.commandLine: not supported",
        ),
        (
            "/process/user/username",
            json!("root"),
            "process.user.username: not supported",
        ),
        (
            "/process/consoleSize/height",
            json!(70000),
            "process.consoleSize.height: ",
        ),
        (
            "/hooks/poststart/0/timeout",
            json!(0),
            "hooks.poststart[0].timeout: ",
        ),
        (
            "/annotations/org.systemd.property.lowercase",
            json!("1"),
            "annotations.\"org.systemd.property.lowercase\": ",
        ),
        ("/windows", json!({}), "windows: not supported"),
        ("/root", Value::Null, "root: required"),
        // Parse errors carry the JSON path where serde stopped.
        (
            "/linux/seccomp/defaultAction",
            json!("SCMP_ACT_BOGUS"),
            "parse `",
        ),
        ("/process/rlimits/0/type", json!("RLIMIT_BOGUS"), "parse `"),
        ("/linux/resources/memory/limit", json!("512M"), "parse `"),
        ("/linux/namespaces/0/type", json!("pidns"), "parse `"),
    ];
    for (pointer, value, want) in table {
        let mut doc = full_fixture();
        if *pointer == "/mounts/4/options" {
            // An idmap mount with no mappings anywhere.
            doc["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "user");
            doc["linux"].as_object_mut().unwrap().remove("uidMappings");
            doc["linux"].as_object_mut().unwrap().remove("gidMappings");
        }
        if value.is_null() {
            doc.as_object_mut()
                .unwrap()
                .remove(pointer.trim_start_matches('/'));
        } else {
            set(&mut doc, pointer, value.clone());
        }
        let bundle = Bundle::with_config("errors", &doc);
        let err = load_bundle(bundle.path()).expect_err(pointer);
        let msg = err.to_string();
        assert!(
            msg.starts_with(want),
            "{pointer}: got `{msg}`, want `{want}…`"
        );
        if want.starts_with("parse") {
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let field = field.replace(".0.", "[0].").replace(".0", "[0]");
            assert!(msg.contains(&format!("at `{field}`")), "{pointer}: {msg}");
        }
    }
}

#[test]
fn cgroups_path_error_names_the_expected_form() {
    let mut doc = full_fixture();
    set(&mut doc, "/linux/cgroupsPath", json!("/machine.slice/box"));
    let bundle = Bundle::with_config("cgpath", &doc);
    let msg = load_bundle(bundle.path()).unwrap_err().to_string();
    assert!(msg.contains("slice:prefix:name"), "{msg}");
}

#[test]
fn validation_errors_name_the_json_path() {
    let table: &[(&str, Value, &str)] = &[
        (
            "/linux/sysctl/vm.swappiness",
            json!("10"),
            "linux.sysctl.\"vm.swappiness\": ",
        ),
        (
            "/mounts/1/destination",
            json!("dev"),
            "mounts[1].destination: ",
        ),
        (
            "/process/rlimits/0/soft",
            json!(4096),
            "process.rlimits[0]: ",
        ),
        (
            "/linux/resources/memory/swap",
            json!(1024),
            "linux.resources.memory.swap: ",
        ),
        ("/process/oomScoreAdj", json!(2000), "process.oomScoreAdj: "),
        (
            "/linux/seccomp/syscalls/1/args/0/index",
            json!(6),
            "linux.seccomp.syscalls[1].args[0].index: ",
        ),
        ("/root/path", json!("missing-rootfs"), "root.path: "),
    ];
    for (pointer, value, want) in table {
        let mut doc = full_fixture();
        set(&mut doc, pointer, value.clone());
        let bundle = Bundle::with_config("validation", &doc);
        let config = load_bundle(bundle.path()).unwrap();
        let msg = validate(&config).expect_err(pointer).to_string();
        assert!(
            msg.starts_with(want),
            "{pointer}: got `{msg}`, want `{want}…`"
        );
    }
}

#[test]
fn missing_config_json_names_the_file() {
    let bundle = Bundle::new("missing");
    let msg = load_bundle(bundle.path()).unwrap_err().to_string();
    assert_eq!(msg, format!("read `{}`", bundle.config_json().display()));
}

fn unitbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unitbox"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_spec_then_validate() {
    let bundle = Bundle::new("cli-spec");
    let dir = bundle.path().to_str().unwrap();
    let out = unitbox(&["spec", "--bundle", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written: Value =
        serde_json::from_slice(&std::fs::read(bundle.config_json()).unwrap()).unwrap();
    assert_eq!(written["root"]["path"], "rootfs");

    let out = unitbox(&["validate", "--bundle", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("bundle {dir}: ok\n"));
}

#[test]
fn cli_spec_refuses_to_overwrite() {
    let bundle = Bundle::new("cli-overwrite");
    std::fs::write(bundle.config_json(), "{\"mine\": true}").unwrap();
    let out = unitbox(&["spec", "-b", bundle.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "unitbox: File config.json exists. Remove it first\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.config_json()).unwrap(),
        "{\"mine\": true}"
    );
}

#[test]
fn cli_spec_rootless_validates() {
    let bundle = Bundle::new("cli-rootless");
    let dir = bundle.path().to_str().unwrap();
    assert!(unitbox(&["spec", "--rootless", "-b", dir]).status.success());
    let written: Value =
        serde_json::from_slice(&std::fs::read(bundle.config_json()).unwrap()).unwrap();
    let kinds: Vec<&str> = written["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"user") && !kinds.contains(&"network"),
        "{kinds:?}"
    );
    assert!(written["linux"].get("resources").is_none());
    let out = unitbox(&["validate", "-b", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn cli_validate_fails_with_the_json_path() {
    let mut doc = full_fixture();
    set(
        &mut doc,
        "/linux/resources/hugepageLimits/0/pageSize",
        json!("huge"),
    );
    let bundle = Bundle::with_config("cli-invalid", &doc);
    let out = unitbox(&["validate", "--bundle", bundle.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("unitbox: linux.resources.hugepageLimits[0].pageSize: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn cli_validate_rule_failure_and_parse_failure() {
    let mut doc = full_fixture();
    set(&mut doc, "/hostname", json!("x"));
    doc["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "uts");
    doc.as_object_mut().unwrap().remove("domainname");
    doc["linux"]["sysctl"]
        .as_object_mut()
        .unwrap()
        .remove("kernel.domainname");
    let bundle = Bundle::with_config("cli-rule", &doc);
    let out = unitbox(&["validate", "-b", bundle.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("unitbox: hostname: "),
        "{}",
        text(&out.stderr)
    );

    let bundle = Bundle::new("cli-parse");
    std::fs::write(
        bundle.config_json(),
        "{\"process\": {\"user\": {\"uid\": -1}}}",
    )
    .unwrap();
    let out = unitbox(&["validate", "-b", bundle.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("at `process.user.uid`"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// containerd's shim reads the last `"level":"error"` record's `msg` from `--log`.
#[test]
fn cli_error_lands_in_the_json_log_as_logrus_does() {
    let bundle = Bundle::new("cli-log");
    let log = bundle.path().join("log.json");
    let missing = bundle.path().join("nothing-here");
    let out = unitbox(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "validate",
        "-b",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    let msg = last["msg"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("read `{}/config.json`", missing.display())),
        "{msg}"
    );
    assert!(last["time"].is_string());
}
