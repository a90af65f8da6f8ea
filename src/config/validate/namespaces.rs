//! Namespaces and what depends on them: UTS names, user namespace mappings, sysctls,
//! time offsets, rootless operation and network interfaces.

use std::collections::BTreeSet;
use std::path::Path;

use super::super::types::{Config, IdMap, NamespaceType, TimeClock};
use super::{is_private, namespace_index, ConfigError};

/// No namespace twice; joined namespaces by an absolute path that exists; the kernel must
/// know the type.
pub(super) fn check_namespaces(config: &Config) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, ns) in config.namespaces.iter().enumerate() {
        if !seen.insert(ns.kind) {
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate `{}` namespace", ns.kind.oci_name()),
            ));
        }
        if let Some(path) = &ns.path {
            if !path.is_absolute() {
                return Err(ConfigError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("`{}` must be an absolute path", path.display()),
                ));
            }
            if std::fs::symlink_metadata(path).is_err() {
                return Err(ConfigError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("`{}` does not exist", path.display()),
                ));
            }
        }
        let probe = Path::new("/proc/self/ns").join(ns.kind.proc_name());
        if std::fs::symlink_metadata(&probe).is_err() {
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!(
                    "`{}` namespaces are not supported by this kernel",
                    ns.kind.oci_name()
                ),
            ));
        }
    }
    Ok(())
}

/// The kernel's limit on a host or domain name (`__NEW_UTS_LEN`).
const MAX_UTS_NAME_LEN: usize = 64;

/// Host and domain names need a UTS namespace of the container's own and must fit the
/// kernel's buffer.
pub(super) fn check_uts(config: &Config) -> Result<(), ConfigError> {
    for (field, name) in [
        ("hostname", &config.hostname),
        ("domainname", &config.domainname),
    ] {
        if let Some(name) = name {
            if name.len() > MAX_UTS_NAME_LEN || name.contains('\0') {
                return Err(ConfigError::invalid(
                    field,
                    format!("must be at most {MAX_UTS_NAME_LEN} bytes without NUL"),
                ));
            }
        }
    }
    let private_uts = is_private(config, NamespaceType::Uts);
    if config.hostname.is_some() && !private_uts {
        return Err(ConfigError::invalid(
            "hostname",
            "setting the hostname needs a private UTS namespace (linux.namespaces `uts`)",
        ));
    }
    if config.domainname.is_some() && !private_uts {
        return Err(ConfigError::invalid(
            "domainname",
            "setting the domainname needs a private UTS namespace (linux.namespaces `uts`)",
        ));
    }
    Ok(())
}

/// A new user namespace needs mappings; mappings need a user namespace.
pub(super) fn check_user_namespace(config: &Config) -> Result<(), ConfigError> {
    match namespace_index(config, NamespaceType::User) {
        Some(i) if config.namespaces[i].path.is_none() => {
            if config.uid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.uidMappings",
                    "a new user namespace needs uid mappings",
                ));
            }
            if config.gid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.gidMappings",
                    "a new user namespace needs gid mappings",
                ));
            }
            check_id_map_ranges("linux.uidMappings", &config.uid_mappings)?;
            check_id_map_ranges("linux.gidMappings", &config.gid_mappings)?;
            check_process_ids_mapped(config)?;
        }
        Some(_) => {}
        None => {
            if !config.uid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.uidMappings",
                    "uid mappings need a user namespace (linux.namespaces `user`)",
                ));
            }
            if !config.gid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.gidMappings",
                    "gid mappings need a user namespace (linux.namespaces `user`)",
                ));
            }
        }
    }
    Ok(())
}

/// The kernel's limit on the lines of one `uid_map`/`gid_map` (since Linux 4.15).
const MAX_ID_MAP_RANGES: usize = 340;

/// The kernel refuses a map whose ranges overlap inside or outside, or that is too long.
fn check_id_map_ranges(field: &str, maps: &[IdMap]) -> Result<(), ConfigError> {
    if maps.len() > MAX_ID_MAP_RANGES {
        return Err(ConfigError::invalid(
            field,
            format!(
                "{} ranges, the kernel allows {MAX_ID_MAP_RANGES}",
                maps.len()
            ),
        ));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    let overlap = |a: u32, b: u32, size_a: u32, size_b: u32| {
        u64::from(a) < end(b, size_b) && u64::from(b) < end(a, size_a)
    };
    for (i, m) in maps.iter().enumerate() {
        for (j, other) in maps[..i].iter().enumerate() {
            let inside = overlap(m.container_id, other.container_id, m.size, other.size);
            let outside = overlap(m.host_id, other.host_id, m.size, other.size);
            if inside || outside {
                return Err(ConfigError::invalid(
                    format!("{field}[{i}]"),
                    format!("overlaps {field}[{j}]"),
                ));
            }
        }
    }
    Ok(())
}

fn is_mapped(maps: &[IdMap], id: u32) -> bool {
    maps.iter().any(|m| {
        id >= m.container_id && u64::from(id) < u64::from(m.container_id) + u64::from(m.size)
    })
}

/// In a new user namespace the process can only become ids that are mapped.
fn check_process_ids_mapped(config: &Config) -> Result<(), ConfigError> {
    let Some(process) = &config.process else {
        return Ok(());
    };
    let user = &process.user;
    if !is_mapped(&config.uid_mappings, user.uid) {
        return Err(ConfigError::invalid(
            "process.user.uid",
            format!("{} is not mapped by linux.uidMappings", user.uid),
        ));
    }
    if !is_mapped(&config.gid_mappings, user.gid) {
        return Err(ConfigError::invalid(
            "process.user.gid",
            format!("{} is not mapped by linux.gidMappings", user.gid),
        ));
    }
    for (i, gid) in user.additional_gids.iter().enumerate() {
        if !is_mapped(&config.gid_mappings, *gid) {
            return Err(ConfigError::invalid(
                format!("process.user.additionalGids[{i}]"),
                format!("{gid} is not mapped by linux.gidMappings"),
            ));
        }
    }
    Ok(())
}

/// Whether the namespace of `kind` is joined by a path that is this process's own
/// namespace, i.e. (normally) the host's (runc's `isHostNetNS`).
fn joins_host_namespace(config: &Config, kind: NamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(path) = config
        .namespaces
        .iter()
        .find(|ns| ns.kind == kind)
        .and_then(|ns| ns.path.as_ref())
    else {
        return false;
    };
    let ours = Path::new("/proc/self/ns").join(kind.proc_name());
    match (std::fs::metadata(path), std::fs::metadata(ours)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// IPC sysctls that are namespaced (runc's list).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A sysctl may only be set in a namespace the container does not share with the host.
pub(super) fn check_sysctls(config: &Config) -> Result<(), ConfigError> {
    for key in config.sysctl.keys() {
        let field = format!("linux.sysctl.\"{key}\"");
        let (needed, ns_name) =
            if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
                (NamespaceType::Ipc, "ipc")
            } else if key.starts_with("net.") {
                (NamespaceType::Network, "network")
            } else if key == "kernel.domainname" || key == "kernel.hostname" {
                (NamespaceType::Uts, "uts")
            } else {
                return Err(ConfigError::invalid(
                    field,
                    "not in a kernel namespace of its own, so it would change the host",
                ));
            };
        if !is_private(config, needed) || joins_host_namespace(config, needed) {
            return Err(ConfigError::invalid(
                field,
                format!("needs a private {ns_name} namespace (linux.namespaces `{ns_name}`)"),
            ));
        }
        if key == "kernel.hostname" {
            return Err(ConfigError::invalid(
                field,
                "conflicts with the `hostname` field; set that instead",
            ));
        }
    }
    Ok(())
}

pub(super) fn check_time_offsets(config: &Config) -> Result<(), ConfigError> {
    if !config.time_offsets.is_empty() && !is_private(config, NamespaceType::Time) {
        return Err(ConfigError::invalid(
            "linux.timeOffsets",
            "time offsets need a time namespace (linux.namespaces `time`)",
        ));
    }
    if let Some(i) = namespace_index(config, NamespaceType::Time) {
        if config.namespaces[i].path.is_some() && !config.time_offsets.is_empty() {
            return Err(ConfigError::invalid(
                "linux.timeOffsets",
                "offsets cannot be set on a time namespace that is joined by path",
            ));
        }
    }
    for (clock, offset) in &config.time_offsets {
        if offset.nanosecs >= 1_000_000_000 {
            let name = match clock {
                TimeClock::Monotonic => "monotonic",
                TimeClock::Boottime => "boottime",
            };
            return Err(ConfigError::invalid(
                format!("linux.timeOffsets.{name}.nanosecs"),
                "must be below 1000000000",
            ));
        }
    }
    Ok(())
}

pub(super) fn check_rootless(config: &Config) -> Result<(), ConfigError> {
    if config.rootless_euid && !is_private(config, NamespaceType::User) {
        return Err(ConfigError::invalid(
            "linux.namespaces",
            "a rootless container needs a user namespace",
        ));
    }
    Ok(())
}

/// Interfaces are configured inside a network namespace of the container's own, and
/// only loopback is implemented.
pub(super) fn check_networks(config: &Config) -> Result<(), ConfigError> {
    if !config.networks.is_empty() && !is_private(config, NamespaceType::Network) {
        return Err(ConfigError::invalid(
            "networks",
            "configuring interfaces needs a private network namespace",
        ));
    }
    for (i, n) in config.networks.iter().enumerate() {
        if n.kind != "loopback" {
            return Err(ConfigError::invalid(
                format!("networks[{i}].type"),
                format!("`{}` is not supported, only `loopback`", n.kind),
            ));
        }
    }
    Ok(())
}
