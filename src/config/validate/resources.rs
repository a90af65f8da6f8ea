//! The cgroup: where the scope goes (`linux.cgroupsPath`) and the ranges of its limits.

use super::super::resources::Resources;
use super::super::types::{Config, NamespaceType};
use super::{is_private, namespace_index, ConfigError};

/// The scope name `<prefix>-<name>.scope` lives in `<slice>`: no path separators, a real
/// slice, and a cgroup namespace only if the kernel has one (checked with the others).
pub(super) fn check_cgroups(config: &Config) -> Result<(), ConfigError> {
    let c = &config.cgroups;
    if !c.slice.ends_with(".slice") || c.slice.contains('/') || c.slice.len() <= ".slice".len() {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!(
                "slice `{}` must be a systemd slice name (`name.slice`)",
                c.slice
            ),
        ));
    }
    for (what, part) in [("prefix", &c.scope_prefix), ("name", &c.name)] {
        if part.contains('/') {
            return Err(ConfigError::invalid(
                "linux.cgroupsPath",
                format!("{what} `{part}` must not contain `/`"),
            ));
        }
    }
    if c.scope_prefix.is_empty() {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            "the scope prefix must not be empty",
        ));
    }
    if let Some(i) = namespace_index(config, NamespaceType::Cgroup) {
        if config.namespaces[i].path.is_none() && !is_private(config, NamespaceType::Mount) {
            // The container's /sys/fs/cgroup view comes from mounting cgroupfs inside the
            // new cgroup namespace, which needs a mount namespace of its own.
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}]"),
                "a new cgroup namespace needs a private mount namespace",
            ));
        }
    }
    for key in c.resources.unified.keys() {
        if key.contains('/') || !key.contains('.') {
            return Err(ConfigError::invalid(
                format!("linux.resources.unified.\"{key}\""),
                "must be a cgroup file name like `memory.high`",
            ));
        }
    }
    Ok(())
}

pub(super) fn check_resources(r: &Resources) -> Result<(), ConfigError> {
    const F: &str = "linux.resources";
    if let Some(shares) = r.cpu_shares {
        if !(2..=262_144).contains(&shares) {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.shares"),
                format!("{shares} is outside 2..=262144"),
            ));
        }
    }
    if let Some(quota) = r.cpu_quota {
        if quota != -1 && quota < 1000 {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.quota"),
                format!("{quota} must be -1 (unlimited) or at least 1000 µs"),
            ));
        }
    }
    if let Some(period) = r.cpu_period {
        if !(1000..=1_000_000).contains(&period) {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.period"),
                format!("{period} is outside 1000..=1000000 µs"),
            ));
        }
    }
    if let Some(idle) = r.cpu_idle {
        if !(0..=1).contains(&idle) {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.idle"),
                format!("{idle} must be 0 or 1"),
            ));
        }
    }
    for (name, list) in [("cpus", &r.cpuset_cpus), ("mems", &r.cpuset_mems)] {
        if let Some(list) = list {
            check_cpu_list(&format!("{F}.cpu.{name}"), list)?;
        }
    }
    if let Some(limit) = r.pids_limit {
        if limit < -1 {
            return Err(ConfigError::invalid(
                format!("{F}.pids.limit"),
                format!("{limit} must be -1 (unlimited), 0 (unset) or positive"),
            ));
        }
    }
    for (name, value) in [
        ("limit", r.memory),
        ("swap", r.memory_swap),
        ("reservation", r.memory_reservation),
    ] {
        if let Some(v) = value {
            if v < -1 {
                return Err(ConfigError::invalid(
                    format!("{F}.memory.{name}"),
                    format!("{v} must be -1 (unlimited) or a number of bytes"),
                ));
            }
        }
    }
    if let (Some(memory), Some(swap)) = (r.memory, r.memory_swap) {
        if memory > 0 && swap >= 0 && swap < memory {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swap"),
                format!("memory+swap limit {swap} must not be below the memory limit {memory}"),
            ));
        }
        if memory == -1 && swap > 0 {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swap"),
                "a memory+swap limit needs a memory limit",
            ));
        }
    }
    if let Some(s) = r.memory_swappiness {
        if s > 100 {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swappiness"),
                format!("{s} is outside 0..=100"),
            ));
        }
    }
    let weight_ok = |w: Option<u16>| w.is_none_or(|w| (10..=1000).contains(&w));
    if !weight_ok(r.blkio_weight) {
        return Err(ConfigError::invalid(
            format!("{F}.blockIO.weight"),
            "must be 10..=1000",
        ));
    }
    if !weight_ok(r.blkio_leaf_weight) {
        return Err(ConfigError::invalid(
            format!("{F}.blockIO.leafWeight"),
            "must be 10..=1000",
        ));
    }
    for (i, d) in r.blkio_weight_device.iter().enumerate() {
        if !weight_ok(d.weight) || !weight_ok(d.leaf_weight) {
            return Err(ConfigError::invalid(
                format!("{F}.blockIO.weightDevice[{i}]"),
                "weights must be 10..=1000",
            ));
        }
    }
    Ok(())
}

/// A kernel cpu/node list: `0-3,7`.
pub(super) fn check_cpu_list(field: &str, list: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::invalid(field, format!("`{list}` is not a list like `0-3,7`"));
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
    }
    Ok(())
}
