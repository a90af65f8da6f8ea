//! One failing case per validation rule, each asserting the field path in the message.

use super::*;
use crate::config::types::{
    Capabilities, Device, DeviceType, Hook, IdMap, IoPriority, Mount, MountIdMapping, Namespace,
    Network, Personality, ProcessConfig, Rlimit, Scheduler, Seccomp, SeccompAction, SeccompArg,
    SeccompSyscall, TimeClock, TimeOffset,
};

/// A config every rule accepts; each test breaks exactly one rule.
fn valid() -> Config {
    use NamespaceType::*;
    Config {
        rootfs: "/".into(),
        namespaces: [Mount, Uts, Ipc, Network, Pid]
            .map(|kind| Namespace { kind, path: None })
            .to_vec(),
        hostname: Some("box".into()),
        mounts: vec![crate::config::Mount {
            source: "proc".into(),
            destination: "/proc".into(),
            device: "proc".into(),
            ..Default::default()
        }],
        process: Some(ProcessConfig {
            args: vec!["sh".into()],
            cwd: "/".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn map() -> Vec<IdMap> {
    vec![IdMap {
        container_id: 0,
        host_id: 1000,
        size: 1,
    }]
}

fn process(c: &mut Config) -> &mut ProcessConfig {
    c.process.as_mut().unwrap()
}

fn add_ns(c: &mut Config, kind: NamespaceType) {
    c.namespaces.push(Namespace { kind, path: None });
}

fn drop_ns(c: &mut Config, kind: NamespaceType) {
    c.namespaces.retain(|ns| ns.kind != kind);
}

#[test]
fn the_base_config_is_valid() {
    validate(&valid()).unwrap();
}

/// `rule!(name, "field.path", |c| { break one rule in c })`: one failing case per rule,
/// asserting the message starts with the field's JSON path.
macro_rules! rule {
    ($name:ident, $field:expr, |$c:ident| $mutate:block) => {
        #[test]
        fn $name() {
            #[allow(unused_mut)]
            let mut $c = valid();
            $mutate
            let err = validate(&$c).expect_err("the config breaks a rule");
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("{}: ", $field)), "{msg}");
        }
    };
}

// rootfs
rule!(rootfs_must_exist, "root.path", |c| {
    c.rootfs = "/nonexistent-unitbox-rootfs".into();
});
rule!(rootfs_must_be_a_directory, "root.path", |c| {
    c.rootfs = "/proc/version".into();
});
rule!(rootfs_must_be_absolute, "root.path", |c| {
    c.rootfs = "rootfs".into();
});

// mounts and paths
rule!(mount_destination_absolute, "mounts[0].destination", |c| {
    c.mounts[0].destination = "proc".into();
});
rule!(mount_destination_no_dotdot, "mounts[0].destination", |c| {
    c.mounts[0].destination = "/proc/../../etc".into();
});
rule!(idmap_only_on_bind_mounts, "mounts[0].options", |c| {
    c.mounts[0].id_mapping = Some(MountIdMapping {
        uid_mappings: map(),
        gid_mappings: map(),
        recursive: false,
    });
});
rule!(masked_paths_absolute, "linux.maskedPaths[1]", |c| {
    c.mask_paths = vec!["/proc/kcore".into(), "proc/keys".into()];
});
rule!(readonly_paths_absolute, "linux.readonlyPaths[0]", |c| {
    c.readonly_paths = vec!["proc/sys".into()];
});

// namespaces
rule!(no_duplicate_namespaces, "linux.namespaces[5].type", |c| {
    add_ns(&mut c, NamespaceType::Pid);
});
rule!(namespace_path_absolute, "linux.namespaces[0].path", |c| {
    c.namespaces[0].path = Some("proc/1/ns/mnt".into());
});
rule!(hostname_needs_uts, "hostname", |c| {
    drop_ns(&mut c, NamespaceType::Uts);
});
rule!(domainname_needs_uts, "domainname", |c| {
    c.hostname = None;
    c.domainname = Some("example".into());
    drop_ns(&mut c, NamespaceType::Uts);
});
rule!(user_ns_needs_uid_mappings, "linux.uidMappings", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.gid_mappings = map();
});
rule!(user_ns_needs_gid_mappings, "linux.gidMappings", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = map();
});
rule!(namespace_path_exists, "linux.namespaces[4].path", |c| {
    c.namespaces[4].path = Some("/proc/999999999/ns/pid".into());
});
rule!(uid_map_ranges_do_not_overlap, "linux.uidMappings[1]", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = vec![
        IdMap {
            container_id: 0,
            host_id: 1000,
            size: 10,
        },
        IdMap {
            container_id: 20,
            host_id: 1005,
            size: 10,
        },
    ];
    c.gid_mappings = map();
});
rule!(gid_map_ranges_do_not_overlap, "linux.gidMappings[1]", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = map();
    c.gid_mappings = vec![
        IdMap {
            container_id: 0,
            host_id: 1000,
            size: 10,
        },
        IdMap {
            container_id: 5,
            host_id: 5000,
            size: 10,
        },
    ];
});
rule!(id_map_has_at_most_340_ranges, "linux.uidMappings", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = (0..341)
        .map(|i| IdMap {
            container_id: i,
            host_id: 1000 + i,
            size: 1,
        })
        .collect();
    c.gid_mappings = map();
});
rule!(process_uid_is_mapped, "process.user.uid", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = map();
    c.gid_mappings = map();
    process(&mut c).user.uid = 1;
});
rule!(process_gid_is_mapped, "process.user.gid", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = map();
    c.gid_mappings = map();
    process(&mut c).user.gid = 7;
});
rule!(
    process_additional_gids_are_mapped,
    "process.user.additionalGids[0]",
    |c| {
        add_ns(&mut c, NamespaceType::User);
        c.uid_mappings = map();
        c.gid_mappings = map();
        process(&mut c).user.additional_gids = vec![5];
    }
);
rule!(uid_mappings_need_user_ns, "linux.uidMappings", |c| {
    c.uid_mappings = map();
});
rule!(gid_mappings_need_user_ns, "linux.gidMappings", |c| {
    c.gid_mappings = map();
});
rule!(rootless_needs_user_ns, "linux.namespaces", |c| {
    c.rootless_euid = true;
});
rule!(cgroup_ns_needs_mount_ns, "linux.namespaces[4]", |c| {
    drop_ns(&mut c, NamespaceType::Mount);
    add_ns(&mut c, NamespaceType::Cgroup);
});

// sysctl
rule!(
    net_sysctl_needs_netns,
    "linux.sysctl.\"net.ipv4.ip_forward\"",
    |c| {
        drop_ns(&mut c, NamespaceType::Network);
        c.sysctl.insert("net.ipv4.ip_forward".into(), "1".into());
    }
);
rule!(
    ipc_sysctl_needs_ipc_ns,
    "linux.sysctl.\"kernel.shmmax\"",
    |c| {
        drop_ns(&mut c, NamespaceType::Ipc);
        c.sysctl.insert("kernel.shmmax".into(), "1".into());
    }
);
rule!(
    mqueue_sysctl_needs_ipc_ns,
    "linux.sysctl.\"fs.mqueue.msg_max\"",
    |c| {
        drop_ns(&mut c, NamespaceType::Ipc);
        c.sysctl.insert("fs.mqueue.msg_max".into(), "10".into());
    }
);
rule!(
    uts_sysctl_needs_uts_ns,
    "linux.sysctl.\"kernel.domainname\"",
    |c| {
        c.hostname = None;
        drop_ns(&mut c, NamespaceType::Uts);
        c.sysctl.insert("kernel.domainname".into(), "x".into());
    }
);
rule!(
    hostname_sysctl_conflicts_with_field,
    "linux.sysctl.\"kernel.hostname\"",
    |c| {
        c.sysctl.insert("kernel.hostname".into(), "x".into());
    }
);
rule!(
    host_wide_sysctl_refused,
    "linux.sysctl.\"vm.swappiness\"",
    |c| {
        c.sysctl.insert("vm.swappiness".into(), "10".into());
    }
);

// time namespace
rule!(time_offsets_need_time_ns, "linux.timeOffsets", |c| {
    c.time_offsets.insert(
        TimeClock::Monotonic,
        TimeOffset {
            secs: 10,
            nanosecs: 0,
        },
    );
});
rule!(time_offsets_not_on_joined_ns, "linux.timeOffsets", |c| {
    c.namespaces.push(Namespace {
        kind: NamespaceType::Time,
        path: Some("/proc/1/ns/time".into()),
    });
    c.time_offsets.insert(
        TimeClock::Boottime,
        TimeOffset {
            secs: 10,
            nanosecs: 0,
        },
    );
});
rule!(
    time_offset_nanosecs_below_a_second,
    "linux.timeOffsets.boottime.nanosecs",
    |c| {
        add_ns(&mut c, NamespaceType::Time);
        c.time_offsets.insert(
            TimeClock::Boottime,
            TimeOffset {
                secs: 0,
                nanosecs: 1_000_000_000,
            },
        );
    }
);

// cgroup placement
rule!(slice_is_a_slice, "linux.cgroupsPath", |c| {
    c.cgroups.slice = "machine".into();
});
rule!(scope_name_has_no_slash, "linux.cgroupsPath", |c| {
    c.cgroups.name = "a/b".into();
});
rule!(scope_prefix_not_empty, "linux.cgroupsPath", |c| {
    c.cgroups.scope_prefix = String::new();
});
rule!(
    unified_key_is_a_file_name,
    "linux.resources.unified.\"../memory.max\"",
    |c| {
        c.cgroups
            .resources
            .unified
            .insert("../memory.max".into(), "1".into());
    }
);

// devices
rule!(device_under_dev, "linux.devices[0].path", |c| {
    c.devices.push(Device {
        path: "/tmp/null".into(),
        kind: DeviceType::Char,
        major: 1,
        minor: 3,
        file_mode: 0o666,
        uid: 0,
        gid: 0,
    });
});
rule!(device_node_has_a_type, "linux.devices[0].type", |c| {
    c.devices.push(Device {
        path: "/dev/x".into(),
        kind: DeviceType::All,
        major: 1,
        minor: 3,
        file_mode: 0o666,
        uid: 0,
        gid: 0,
    });
});
rule!(
    device_rule_access,
    "linux.resources.devices[0].access",
    |c| {
        c.cgroups.resources.devices.push(crate::config::DeviceRule {
            allow: true,
            kind: DeviceType::Char,
            major: None,
            minor: None,
            access: "rwx".into(),
        });
    }
);

// resources
rule!(device_rule_type, "linux.resources.devices[0].type", |c| {
    c.cgroups.resources.devices.push(crate::config::DeviceRule {
        allow: true,
        kind: DeviceType::Fifo,
        major: None,
        minor: None,
        access: "rwm".into(),
    });
});
rule!(cpu_shares_range, "linux.resources.cpu.shares", |c| {
    c.cgroups.resources.cpu_shares = Some(1);
});
rule!(cpu_quota_range, "linux.resources.cpu.quota", |c| {
    c.cgroups.resources.cpu_quota = Some(10);
});
rule!(cpu_period_range, "linux.resources.cpu.period", |c| {
    c.cgroups.resources.cpu_period = Some(10);
});
rule!(pids_limit_range, "linux.resources.pids.limit", |c| {
    c.cgroups.resources.pids_limit = Some(-5);
});
rule!(memory_limit_range, "linux.resources.memory.limit", |c| {
    c.cgroups.resources.memory = Some(-2);
});
rule!(swap_not_below_memory, "linux.resources.memory.swap", |c| {
    c.cgroups.resources.memory = Some(2 << 20);
    c.cgroups.resources.memory_swap = Some(1 << 20);
});
rule!(swap_needs_memory, "linux.resources.memory.swap", |c| {
    c.cgroups.resources.memory = Some(-1);
    c.cgroups.resources.memory_swap = Some(1 << 20);
});
rule!(swappiness_range, "linux.resources.memory.swappiness", |c| {
    c.cgroups.resources.memory_swappiness = Some(101);
});
rule!(blkio_weight_range, "linux.resources.blockIO.weight", |c| {
    c.cgroups.resources.blkio_weight = Some(5);
});
rule!(
    blkio_leaf_weight_range,
    "linux.resources.blockIO.leafWeight",
    |c| {
        c.cgroups.resources.blkio_leaf_weight = Some(1001);
    }
);
rule!(
    blkio_weight_device_range,
    "linux.resources.blockIO.weightDevice[0]",
    |c| {
        c.cgroups
            .resources
            .blkio_weight_device
            .push(crate::config::WeightDevice {
                major: 8,
                minor: 0,
                weight: Some(1),
                leaf_weight: None,
            });
    }
);

// seccomp
fn seccomp(c: &mut Config) -> &mut Seccomp {
    c.seccomp.get_or_insert_with(Seccomp::default)
}
fn syscall(names: &[&str], action: SeccompAction) -> SeccompSyscall {
    SeccompSyscall {
        names: names.iter().map(|n| n.to_string()).collect(),
        action,
        ..Default::default()
    }
}
rule!(
    seccomp_notify_not_default,
    "linux.seccomp.defaultAction",
    |c| {
        seccomp(&mut c).default_action = SeccompAction::Notify;
    }
);
rule!(seccomp_known_arch, "linux.seccomp.architectures[0]", |c| {
    seccomp(&mut c).architectures = vec!["SCMP_ARCH_Z80".into()];
});
rule!(seccomp_known_flag, "linux.seccomp.flags[0]", |c| {
    seccomp(&mut c).flags = vec!["SECCOMP_FILTER_FLAG_BOGUS".into()];
});
rule!(
    seccomp_notify_needs_listener,
    "linux.seccomp.listenerPath",
    |c| {
        seccomp(&mut c)
            .syscalls
            .push(syscall(&["mkdir"], SeccompAction::Notify));
    }
);
rule!(
    seccomp_listener_absolute,
    "linux.seccomp.listenerPath",
    |c| {
        seccomp(&mut c).listener_path = Some("run/agent.sock".into());
    }
);
rule!(
    seccomp_names_not_empty,
    "linux.seccomp.syscalls[0].names",
    |c| {
        seccomp(&mut c)
            .syscalls
            .push(syscall(&[], SeccompAction::Errno));
    }
);
rule!(
    seccomp_name_not_empty,
    "linux.seccomp.syscalls[0].names[1]",
    |c| {
        seccomp(&mut c)
            .syscalls
            .push(syscall(&["read", ""], SeccompAction::Errno));
    }
);
rule!(
    seccomp_no_notify_on_write,
    "linux.seccomp.syscalls[0].names[0]",
    |c| {
        let s = seccomp(&mut c);
        s.listener_path = Some("/run/agent.sock".into());
        s.syscalls.push(syscall(&["write"], SeccompAction::Notify));
    }
);
rule!(
    seccomp_arg_index_range,
    "linux.seccomp.syscalls[0].args[0].index",
    |c| {
        let mut call = syscall(&["personality"], SeccompAction::Allow);
        call.args.push(SeccompArg {
            index: 6,
            ..Default::default()
        });
        seccomp(&mut c).syscalls.push(call);
    }
);
rule!(
    seccomp_errno_ret_needs_errno_action,
    "linux.seccomp.syscalls[0].errnoRet",
    |c| {
        let mut call = syscall(&["read"], SeccompAction::Allow);
        call.errno_ret = Some(1);
        seccomp(&mut c).syscalls.push(call);
    }
);

// hooks
rule!(hook_path_absolute, "hooks.prestart[0].path", |c| {
    c.hooks.prestart.push(Hook {
        path: "bin/hook".into(),
        ..Default::default()
    });
});
rule!(hook_timeout_positive, "hooks.poststop[0].timeout", |c| {
    c.hooks.poststop.push(Hook {
        path: "/bin/hook".into(),
        timeout: Some(0),
        ..Default::default()
    });
});

// process
rule!(process_args_not_empty, "process.args", |c| {
    process(&mut c).args.clear();
});
rule!(process_args_no_nul, "process.args[1]", |c| {
    process(&mut c).args.push("a\0b".into());
});
rule!(process_env_is_key_value, "process.env[1]", |c| {
    process(&mut c).env = vec!["PATH=/bin".into(), "JUSTAKEY".into()];
});
rule!(process_env_key_not_empty, "process.env[0]", |c| {
    process(&mut c).env = vec!["=value".into()];
});
rule!(hostname_fits_the_kernel, "hostname", |c| {
    c.hostname = Some("h".repeat(65));
});
rule!(domainname_fits_the_kernel, "domainname", |c| {
    c.domainname = Some("d".repeat(65));
});
rule!(process_cwd_absolute, "process.cwd", |c| {
    process(&mut c).cwd = "home".into();
});
rule!(no_new_privileges_coherent, "process.noNewPrivileges", |c| {
    process(&mut c).no_new_privileges = true;
});
rule!(capabilities_known, "process.capabilities.ambient[0]", |c| {
    process(&mut c).capabilities = Some(Capabilities {
        ambient: vec!["CAP_FLY".into()],
        ..Default::default()
    });
});
rule!(oom_score_adj_range, "process.oomScoreAdj", |c| {
    c.oom_score_adj = Some(1001);
});
rule!(process_oom_score_adj_range, "process.oomScoreAdj", |c| {
    process(&mut c).oom_score_adj = Some(-1001);
});
rule!(umask_range, "process.user.umask", |c| {
    process(&mut c).user.umask = Some(0o1777);
});
rule!(rlimit_soft_not_above_hard, "process.rlimits[0]", |c| {
    process(&mut c).rlimits.push(Rlimit {
        resource: 7,
        hard: 10,
        soft: 20,
    });
});
rule!(rlimit_given_once, "process.rlimits[1].type", |c| {
    let r = Rlimit {
        resource: 7,
        hard: 10,
        soft: 10,
    };
    process(&mut c).rlimits.extend([r, r]);
});
rule!(io_priority_range, "process.ioPriority.priority", |c| {
    process(&mut c).io_priority = Some(IoPriority {
        class: "IOPRIO_CLASS_BE".into(),
        priority: 8,
    });
});
rule!(scheduler_nice_range, "process.scheduler.nice", |c| {
    process(&mut c).scheduler = Some(Scheduler {
        policy: "SCHED_OTHER".into(),
        nice: 20,
        ..Default::default()
    });
});
rule!(
    scheduler_priority_only_realtime,
    "process.scheduler.priority",
    |c| {
        process(&mut c).scheduler = Some(Scheduler {
            policy: "SCHED_OTHER".into(),
            priority: 5,
            ..Default::default()
        });
    }
);
rule!(scheduler_deadline_needs_params, "process.scheduler", |c| {
    process(&mut c).scheduler = Some(Scheduler {
        policy: "SCHED_DEADLINE".into(),
        runtime: 1,
        ..Default::default()
    });
});
rule!(scheduler_params_only_deadline, "process.scheduler", |c| {
    process(&mut c).scheduler = Some(Scheduler {
        policy: "SCHED_FIFO".into(),
        priority: 1,
        period: 10,
        ..Default::default()
    });
});
rule!(console_size_needs_terminal, "process.consoleSize", |c| {
    process(&mut c).console_size = Some(crate::config::ConsoleSize {
        height: 24,
        width: 80,
    });
});

rule!(masked_paths_need_mount_ns, "linux.maskedPaths", |c| {
    drop_ns(&mut c, NamespaceType::Mount);
    c.mask_paths = vec!["/proc/kcore".into()];
});
rule!(mounts_need_mount_ns, "mounts", |c| {
    drop_ns(&mut c, NamespaceType::Mount);
});
rule!(
    net_sysctl_refused_in_joined_host_netns,
    "linux.sysctl.\"net.ipv4.ip_forward\"",
    |c| {
        drop_ns(&mut c, NamespaceType::Network);
        c.namespaces.push(Namespace {
            kind: NamespaceType::Network,
            path: Some("/proc/self/ns/net".into()),
        });
        c.sysctl.insert("net.ipv4.ip_forward".into(), "1".into());
    }
);
rule!(idmap_needs_both_mappings, "mounts[1].options", |c| {
    c.mounts.push(Mount {
        source: "/tmp".into(),
        destination: "/mnt".into(),
        device: "bind".into(),
        id_mapping: Some(MountIdMapping {
            uid_mappings: map(),
            gid_mappings: vec![],
            recursive: false,
        }),
        ..Default::default()
    });
});
rule!(idmap_not_rootless, "mounts[1].options", |c| {
    add_ns(&mut c, NamespaceType::User);
    c.uid_mappings = map();
    c.gid_mappings = map();
    c.rootless_euid = true;
    c.mounts.push(Mount {
        source: "/tmp".into(),
        destination: "/mnt".into(),
        device: "bind".into(),
        id_mapping: Some(MountIdMapping {
            uid_mappings: map(),
            gid_mappings: map(),
            recursive: false,
        }),
        ..Default::default()
    });
});
rule!(cpu_idle_is_a_switch, "linux.resources.cpu.idle", |c| {
    c.cgroups.resources.cpu_idle = Some(2);
});
rule!(cpuset_cpus_is_a_list, "linux.resources.cpu.cpus", |c| {
    c.cgroups.resources.cpuset_cpus = Some("3-1".into());
});
rule!(cpuset_mems_is_a_list, "linux.resources.cpu.mems", |c| {
    c.cgroups.resources.cpuset_mems = Some("zero".into());
});
rule!(
    exec_cpu_affinity_is_a_list,
    "process.execCPUAffinity.final",
    |c| {
        process(&mut c).exec_cpu_affinity = Some(crate::config::CpuAffinity {
            initial: None,
            final_: Some("0-".into()),
        });
    }
);
rule!(io_priority_class_known, "process.ioPriority.class", |c| {
    process(&mut c).io_priority = Some(IoPriority {
        class: "IOPRIO_CLASS_NONE".into(),
        priority: 0,
    });
});
rule!(scheduler_policy_known, "process.scheduler.policy", |c| {
    process(&mut c).scheduler = Some(Scheduler {
        policy: "SCHED_FAST".into(),
        ..Default::default()
    });
});
rule!(scheduler_flags_known, "process.scheduler.flags[0]", |c| {
    process(&mut c).scheduler = Some(Scheduler {
        policy: "SCHED_OTHER".into(),
        flags: vec!["SCHED_FLAG_TURBO".into()],
        ..Default::default()
    });
});
rule!(networks_need_netns, "networks", |c| {
    drop_ns(&mut c, NamespaceType::Network);
    c.networks.push(Network {
        kind: "loopback".into(),
        ..Default::default()
    });
});
rule!(
    personality_flags_none_defined,
    "linux.personality.flags[0]",
    |c| {
        c.personality = Some(Personality {
            domain: "LINUX".into(),
            flags: vec!["ADDR_NO_RANDOMIZE".into()],
        });
    }
);

// the rest
rule!(personality_domain, "linux.personality.domain", |c| {
    c.personality = Some(Personality {
        domain: "BSD".into(),
        flags: vec![],
    });
});
rule!(networks_loopback_only, "networks[0].type", |c| {
    c.networks.push(Network {
        kind: "veth".into(),
        ..Default::default()
    });
});

#[test]
fn mount_kind_is_not_mistaken_for_type() {
    // A bind mount with an id mapping is fine.
    let mut c = valid();
    c.mounts.push(Mount {
        source: "/tmp".into(),
        destination: "/mnt".into(),
        device: "bind".into(),
        id_mapping: Some(MountIdMapping {
            uid_mappings: map(),
            gid_mappings: map(),
            recursive: true,
        }),
        ..Default::default()
    });
    validate(&c).unwrap();
}
