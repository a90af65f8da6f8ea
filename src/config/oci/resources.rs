//! `linux.resources` → [`Resources`]: every controller of the runtime spec.
//!
//! Values are carried over as given; ranges are `config::validate`'s job and whether
//! systemd can express a knob is `systemd::properties`'. Refused here are only the knobs
//! that no kernel unitbox targets still has (kernel memory limits).

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::super::resources::{
    DeviceRule, HugepageLimit, IfPrioMap, RdmaLimit, Resources, ThrottleDevice, WeightDevice,
};
use super::super::validate::ConfigError;
use super::devices::device_type_of_rule;

const FIELD: &str = "linux.resources";

/// Convert `linux.resources`.
pub(super) fn convert(r: &LinuxResources) -> Result<Resources, ConfigError> {
    let mut out = Resources::default();
    for (i, rule) in r.devices().iter().flatten().enumerate() {
        let access = rule.access().clone().unwrap_or_else(|| "rwm".to_owned());
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(ConfigError::invalid(
                format!("{FIELD}.devices[{i}].access"),
                format!("`{access}` must be a non-empty subset of `rwm`"),
            ));
        }
        out.devices.push(DeviceRule {
            allow: rule.allow(),
            kind: device_type_of_rule(rule.typ()),
            major: number_or_any(rule.major()),
            minor: number_or_any(rule.minor()),
            access,
        });
    }
    if let Some(m) = r.memory() {
        convert_memory(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        convert_cpu(c, &mut out);
    }
    if let Some(p) = r.pids() {
        out.pids_limit = Some(p.limit());
    }
    if let Some(b) = r.block_io() {
        convert_block_io(b, &mut out);
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        out.hugetlb_limit.push(convert_hugepage_limit(h, i)?);
    }
    if let Some(n) = r.network() {
        out.net_cls_classid = n.class_id();
        out.net_prio_ifpriomap = n
            .priorities()
            .iter()
            .flatten()
            .map(|p| IfPrioMap {
                interface: p.name().clone(),
                priority: p.priority(),
            })
            .collect();
    }
    out.rdma = r
        .rdma()
        .iter()
        .flatten()
        .map(|(dev, l)| {
            let limit = RdmaLimit {
                hca_handles: l.hca_handles(),
                hca_objects: l.hca_objects(),
            };
            (dev.clone(), limit)
        })
        .collect();
    out.unified = r
        .unified()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(out)
}

/// A device number in a cgroup rule; runc's wildcard `-1` is "any", as is no number.
fn number_or_any(n: Option<i64>) -> Option<i64> {
    n.filter(|&n| n != -1)
}

/// runc treats 0 as "not set" for knobs where 0 is no valid value (memory limits, CPU
/// shares, quota and period, realtime knobs, block I/O weights); so do we. Knobs where 0
/// means something (swappiness, burst, idle, pids) keep it.
fn set<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

#[allow(deprecated)] // `kernel` is read only to refuse it.
fn convert_memory(m: &LinuxMemory, out: &mut Resources) -> Result<(), ConfigError> {
    if m.kernel().is_some() {
        return Err(ConfigError::unsupported(
            format!("{FIELD}.memory.kernel"),
            "kernel memory limits were removed from Linux (5.4 deprecated, 6.0 no-op)",
        ));
    }
    if m.kernel_tcp().is_some() {
        return Err(ConfigError::unsupported(
            format!("{FIELD}.memory.kernelTCP"),
            "systemd has no property for the TCP buffer limit (cgroup v1 memory.kmem.tcp)",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(ConfigError::unsupported(
            format!("{FIELD}.memory.useHierarchy"),
            "memory accounting is always hierarchical on current kernels",
        ));
    }
    out.memory = set(m.limit());
    out.memory_reservation = set(m.reservation());
    out.memory_swap = set(m.swap());
    out.memory_swappiness = m.swappiness();
    out.oom_kill_disable = m.disable_oom_killer();
    out.memory_check_before_update = m.check_before_update();
    Ok(())
}

fn convert_cpu(c: &LinuxCpu, out: &mut Resources) {
    out.cpu_shares = set(c.shares());
    out.cpu_quota = set(c.quota());
    out.cpu_period = set(c.period());
    out.cpu_burst = c.burst();
    out.cpu_rt_runtime = set(c.realtime_runtime());
    out.cpu_rt_period = set(c.realtime_period());
    out.cpu_idle = c.idle();
    out.cpuset_cpus = c.cpus().clone();
    out.cpuset_mems = c.mems().clone();
}

fn convert_block_io(b: &LinuxBlockIo, out: &mut Resources) {
    let throttle = |list: &Option<Vec<LinuxThrottleDevice>>| -> Vec<ThrottleDevice> {
        list.iter()
            .flatten()
            .map(|t| ThrottleDevice {
                major: t.major(),
                minor: t.minor(),
                rate: t.rate(),
            })
            .collect()
    };
    out.blkio_weight = set(b.weight());
    out.blkio_leaf_weight = set(b.leaf_weight());
    out.blkio_weight_device = b
        .weight_device()
        .iter()
        .flatten()
        .map(|w| WeightDevice {
            major: w.major(),
            minor: w.minor(),
            weight: w.weight(),
            leaf_weight: w.leaf_weight(),
        })
        .collect();
    out.blkio_throttle_read_bps_device = throttle(b.throttle_read_bps_device());
    out.blkio_throttle_write_bps_device = throttle(b.throttle_write_bps_device());
    out.blkio_throttle_read_iops_device = throttle(b.throttle_read_iops_device());
    out.blkio_throttle_write_iops_device = throttle(b.throttle_write_iops_device());
}

/// A page size as the hugetlb controller spells it (`2MB`, `1GB`, `64KB`) and a limit.
fn convert_hugepage_limit(h: &LinuxHugepageLimit, i: usize) -> Result<HugepageLimit, ConfigError> {
    let field = format!("{FIELD}.hugepageLimits[{i}]");
    let size = h.page_size();
    let digits = size.trim_end_matches(['K', 'M', 'G', 'T', 'B']);
    let unit = &size[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB" | "TB")
    {
        return Err(ConfigError::invalid(
            format!("{field}.pageSize"),
            format!("`{size}` is not a page size like `2MB` or `1GB`"),
        ));
    }
    let limit = u64::try_from(h.limit())
        .map_err(|_| ConfigError::invalid(format!("{field}.limit"), "must not be negative"))?;
    Ok(HugepageLimit {
        page_size: size.clone(),
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_json(json: serde_json::Value) -> Resources {
        convert(&serde_json::from_value(json).unwrap()).unwrap()
    }

    #[test]
    fn zero_means_unset_only_where_zero_is_no_value() {
        let r = convert_json(serde_json::json!({
            "memory": {"limit": 0, "reservation": 0, "swap": 0, "swappiness": 0},
            "cpu": {"shares": 0, "quota": 0, "period": 0, "burst": 0, "idle": 0,
                    "realtimeRuntime": 0, "realtimePeriod": 0},
            "pids": {"limit": 0},
            "blockIO": {"weight": 0, "leafWeight": 0}
        }));
        let unset = (
            r.memory,
            r.memory_reservation,
            r.memory_swap,
            r.cpu_quota,
            r.cpu_rt_runtime,
        );
        assert_eq!(unset, (None, None, None, None, None));
        assert_eq!(
            (r.cpu_shares, r.cpu_period, r.cpu_rt_period),
            (None, None, None)
        );
        assert_eq!((r.blkio_weight, r.blkio_leaf_weight), (None, None));
        assert_eq!(r.memory_swappiness, Some(0));
        assert_eq!(
            (r.cpu_burst, r.cpu_idle, r.pids_limit),
            (Some(0), Some(0), Some(0))
        );
    }

    #[test]
    fn device_rule_wildcards() {
        let r = convert_json(serde_json::json!({
            "devices": [{"allow": true, "type": "c", "major": -1, "minor": 3, "access": "rwm"},
                        {"allow": false, "access": "m"}]
        }));
        assert_eq!((r.devices[0].major, r.devices[0].minor), (None, Some(3)));
        assert_eq!(r.devices[1].kind, crate::config::DeviceType::All);
    }

    #[test]
    fn unlimited_is_kept() {
        let r = convert_json(serde_json::json!({
            "memory": {"limit": -1, "swap": -1},
            "cpu": {"quota": -1},
            "pids": {"limit": -1}
        }));
        assert_eq!(
            (r.memory, r.memory_swap, r.cpu_quota, r.pids_limit),
            (Some(-1), Some(-1), Some(-1), Some(-1))
        );
    }
}
