//! `linux`: namespaces, id mappings, sysctl, seccomp, paths, cgroup placement, personality
//! and time offsets. Devices and resources have their own modules.

use oci_spec::runtime::{
    Linux, LinuxIdMapping, LinuxNamespaceType, LinuxPersonalityDomain, LinuxSeccomp,
    LinuxSeccompAction, LinuxSeccompOperator,
};

use super::super::resources::Cgroup;
use super::super::types::{
    Config, IdMap, Namespace, NamespaceType, Personality, Propagation, Seccomp, SeccompAction,
    SeccompArg, SeccompOp, SeccompSyscall, TimeClock, TimeOffset,
};
use super::super::validate::ConfigError;
use super::{devices, oci_name, resources};

/// Fill `config` from the `linux` section.
pub(super) fn convert(linux: &Linux, config: &mut Config) -> Result<(), ConfigError> {
    reject_unsupported(linux)?;
    config.namespaces = linux
        .namespaces()
        .iter()
        .flatten()
        .map(|ns| Namespace {
            kind: namespace_type(ns.typ()),
            path: ns.path().clone(),
        })
        .collect();
    config.uid_mappings = convert_id_maps(linux.uid_mappings().as_deref(), "linux.uidMappings")?;
    config.gid_mappings = convert_id_maps(linux.gid_mappings().as_deref(), "linux.gidMappings")?;
    config.sysctl = linux
        .sysctl()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    config.devices = devices::convert(linux.devices().as_deref().unwrap_or_default())?;
    config.cgroups = convert_cgroups_path(linux.cgroups_path().as_deref())?;
    if let Some(r) = linux.resources() {
        config.cgroups.resources = resources::convert(r)?;
    }
    if let Some(seccomp) = linux.seccomp() {
        config.seccomp = Some(convert_seccomp(seccomp)?);
    }
    config.root_propagation = convert_rootfs_propagation(linux.rootfs_propagation().as_deref())?;
    config.mask_paths = linux
        .masked_paths()
        .iter()
        .flatten()
        .map(Into::into)
        .collect();
    config.readonly_paths = linux
        .readonly_paths()
        .iter()
        .flatten()
        .map(Into::into)
        .collect();
    config.mount_label = linux.mount_label().clone().unwrap_or_default();
    config.personality = linux.personality().as_ref().map(|p| Personality {
        domain: match p.domain() {
            LinuxPersonalityDomain::PerLinux => "LINUX".to_owned(),
            LinuxPersonalityDomain::PerLinux32 => "LINUX32".to_owned(),
        },
        flags: p.flags().clone().unwrap_or_default(),
    });
    if let Some(offsets) = linux.time_offsets() {
        for (clock, offset) in offsets {
            let key = match clock.as_str() {
                "monotonic" => TimeClock::Monotonic,
                "boottime" => TimeClock::Boottime,
                _ => {
                    return Err(ConfigError::invalid(
                        format!("linux.timeOffsets.{clock}"),
                        "clock must be `monotonic` or `boottime`",
                    ))
                }
            };
            let offset = TimeOffset {
                secs: offset.secs().unwrap_or(0),
                nanosecs: offset.nanosecs().unwrap_or(0),
            };
            config.time_offsets.insert(key, offset);
        }
    }
    Ok(())
}

/// Fields of the Linux section that unitbox has no implementation for.
fn reject_unsupported(linux: &Linux) -> Result<(), ConfigError> {
    if linux.intel_rdt().is_some() {
        return Err(ConfigError::unsupported(
            "linux.intelRdt",
            "Intel RDT (resctrl) is not implemented",
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(ConfigError::unsupported(
            "linux.memoryPolicy",
            "NUMA memory policies (set_mempolicy) are not implemented",
        ));
    }
    if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        let mut names: Vec<&String> = devices.keys().collect();
        names.sort();
        return Err(ConfigError::unsupported(
            format!("linux.netDevices.{}", names[0]),
            "moving host network devices into the container is not implemented",
        ));
    }
    Ok(())
}

fn namespace_type(t: LinuxNamespaceType) -> NamespaceType {
    match t {
        LinuxNamespaceType::Mount => NamespaceType::Mount,
        LinuxNamespaceType::Cgroup => NamespaceType::Cgroup,
        LinuxNamespaceType::Uts => NamespaceType::Uts,
        LinuxNamespaceType::Ipc => NamespaceType::Ipc,
        LinuxNamespaceType::User => NamespaceType::User,
        LinuxNamespaceType::Pid => NamespaceType::Pid,
        LinuxNamespaceType::Network => NamespaceType::Network,
        LinuxNamespaceType::Time => NamespaceType::Time,
    }
}

/// uid or gid mappings; a zero-sized range maps nothing and is refused.
pub(super) fn convert_id_maps(
    maps: Option<&[LinuxIdMapping]>,
    field: &str,
) -> Result<Vec<IdMap>, ConfigError> {
    maps.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if m.size() == 0 {
                return Err(ConfigError::invalid(
                    format!("{field}[{i}].size"),
                    "must be at least 1",
                ));
            }
            Ok(IdMap {
                container_id: m.container_id(),
                host_id: m.host_id(),
                size: m.size(),
            })
        })
        .collect()
}

/// runc's systemd form `slice:prefix:name`; missing parts take unitbox's defaults.
fn convert_cgroups_path(path: Option<&std::path::Path>) -> Result<Cgroup, ConfigError> {
    let mut cgroup = Cgroup::default();
    let Some(path) = path.map(|p| p.to_string_lossy()).filter(|p| !p.is_empty()) else {
        return Ok(cgroup);
    };
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!(
                "`{path}` is not of the form `slice:prefix:name` (unitbox always uses systemd, e.g. `machine.slice:unitbox:mycontainer`)"
            ),
        ));
    };
    if !slice.is_empty() {
        cgroup.slice = (*slice).to_owned();
    }
    if !prefix.is_empty() {
        cgroup.scope_prefix = (*prefix).to_owned();
    }
    cgroup.name = (*name).to_owned();
    Ok(cgroup)
}

fn convert_rootfs_propagation(p: Option<&str>) -> Result<Option<Propagation>, ConfigError> {
    Ok(Some(match p.unwrap_or_default() {
        "" => return Ok(None),
        "private" => Propagation::Private,
        "rprivate" => Propagation::Rprivate,
        "slave" => Propagation::Slave,
        "rslave" => Propagation::Rslave,
        "shared" => Propagation::Shared,
        "rshared" => Propagation::Rshared,
        "unbindable" => Propagation::Unbindable,
        "runbindable" => Propagation::Runbindable,
        other => {
            return Err(ConfigError::invalid(
                "linux.rootfsPropagation",
                format!("`{other}` is not one of (r)private, (r)slave, (r)shared, (r)unbindable"),
            ))
        }
    }))
}

fn seccomp_action(a: LinuxSeccompAction) -> SeccompAction {
    match a {
        LinuxSeccompAction::ScmpActKill => SeccompAction::Kill,
        LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno,
        LinuxSeccompAction::ScmpActNotify => SeccompAction::Notify,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
    }
}

fn seccomp_op(op: LinuxSeccompOperator) -> SeccompOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => SeccompOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => SeccompOp::LessThan,
        LinuxSeccompOperator::ScmpCmpLe => SeccompOp::LessThanOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => SeccompOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => SeccompOp::GreaterThanOrEqual,
        LinuxSeccompOperator::ScmpCmpGt => SeccompOp::GreaterThan,
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompOp::MaskedEqual,
    }
}

fn convert_seccomp(s: &LinuxSeccomp) -> Result<Seccomp, ConfigError> {
    let mut syscalls = Vec::new();
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let mut args = Vec::new();
        for (j, arg) in call.args().iter().flatten().enumerate() {
            let index = u32::try_from(arg.index()).map_err(|_| {
                ConfigError::invalid(
                    format!("linux.seccomp.syscalls[{i}].args[{j}].index"),
                    "must be 0 to 5",
                )
            })?;
            args.push(SeccompArg {
                index,
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
                op: seccomp_op(arg.op()),
            });
        }
        syscalls.push(SeccompSyscall {
            names: call.names().clone(),
            action: seccomp_action(call.action()),
            errno_ret: call.errno_ret(),
            args,
        });
    }
    Ok(Seccomp {
        default_action: seccomp_action(s.default_action()),
        default_errno: s.default_errno_ret(),
        architectures: s.architectures().iter().flatten().map(oci_name).collect(),
        flags: s.flags().iter().flatten().map(oci_name).collect(),
        listener_path: s.listener_path().clone(),
        listener_metadata: s.listener_metadata().clone().unwrap_or_default(),
        syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_path_forms() {
        let ok = |p: &str| convert_cgroups_path(Some(std::path::Path::new(p))).unwrap();
        let c = ok("system.slice:box:web");
        assert_eq!(
            (c.slice.as_str(), c.scope_prefix.as_str(), c.name.as_str()),
            ("system.slice", "box", "web")
        );
        let c = ok("::web");
        assert_eq!(
            (c.slice.as_str(), c.scope_prefix.as_str(), c.name.as_str()),
            ("machine.slice", "unitbox", "web")
        );
        let c = convert_cgroups_path(None).unwrap();
        assert_eq!(
            (c.slice.as_str(), c.scope_prefix.as_str(), c.name.as_str()),
            ("machine.slice", "unitbox", "")
        );
        for bad in ["/foo/bar", "a:b", "a:b:c:d"] {
            let err = convert_cgroups_path(Some(std::path::Path::new(bad)))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("linux.cgroupsPath: "), "{err}");
            assert!(err.contains("slice:prefix:name"), "{err}");
        }
    }
}
