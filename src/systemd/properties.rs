//! Resources → systemd unit properties: one pure mapping for create and update.
//!
//! [`plan`] turns libcontainer `Resources` into the properties of `StartTransientUnit` and
//! `SetUnitProperties`, plus the cgroup file writes for knobs systemd has no property for
//! (see `cgroupfs::delegated`). A knob that can be neither is an error naming the field;
//! nothing is dropped. Property names and conversions follow opencontainers/cgroups
//! `systemd/{common,v1,v2}.go` and crun's `cgroup-systemd.c`, checked against systemd 252's
//! `dbus-cgroup.c` (see `shared/design/systemd-mapping.md`).

use std::collections::BTreeMap;
use std::fmt;

use zbus::{OwnedVariant, Variant};

use crate::cgroupfs::delegated::CgroupWrite;
use crate::cgroupfs::{CgroupMode, Controller};
use crate::config::{DeviceRule, DeviceType, Resources};

use super::proxy::BusProperty;

/// systemd's "infinity" for `t` properties.
pub const INFINITY: u64 = u64::MAX;

/// Largest CPU / memory node number accepted in a cpuset string.
const MAX_CPUSET_INDEX: u32 = 8191;

/// A property value, in the D-Bus types systemd 252 expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `b`.
    Bool(bool),
    /// `i`.
    I32(i32),
    /// `u`.
    U32(u32),
    /// `x`.
    I64(i64),
    /// `t`.
    U64(u64),
    /// `d`.
    F64(f64),
    /// `s`.
    Str(String),
    /// `ay` (cpuset bitmasks).
    Bytes(Vec<u8>),
    /// `as`.
    Strs(Vec<String>),
    /// `au` (`PIDs`).
    U32s(Vec<u32>),
    /// `a(ss)` (`DeviceAllow`: node, access).
    DeviceAccess(Vec<(String, String)>),
    /// `a(st)` (`IOReadBandwidthMax` etc.: device path, value).
    DeviceValues(Vec<(String, u64)>),
}

impl Value {
    /// The value as a D-Bus variant.
    pub fn to_variant(&self) -> OwnedVariant {
        let v = match self {
            Value::Bool(b) => Variant::from(*b),
            Value::I32(n) => Variant::from(*n),
            Value::U32(n) => Variant::from(*n),
            Value::I64(n) => Variant::from(*n),
            Value::U64(n) => Variant::from(*n),
            Value::F64(n) => Variant::from(*n),
            Value::Str(s) => Variant::from(s.clone()),
            Value::Bytes(b) => Variant::from(b.clone()),
            Value::Strs(s) => Variant::from(s.clone()),
            Value::U32s(p) => Variant::from(p.clone()),
            Value::DeviceAccess(d) => Variant::from(d.clone()),
            Value::DeviceValues(d) => Variant::from(d.clone()),
        };
        // Only fd-carrying variants fail to convert, and no Value holds an fd.
        OwnedVariant::try_from(v).unwrap_or_else(|_| OwnedVariant::from(false))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::I32(n) => write!(f, "{n}"),
            Value::U32(n) => write!(f, "{n}"),
            Value::I64(n) => write!(f, "{n}"),
            Value::U64(n) => write!(f, "{n}"),
            Value::F64(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "{b:?}"),
            Value::Strs(s) => write!(f, "{s:?}"),
            Value::U32s(p) => write!(f, "{p:?}"),
            Value::DeviceAccess(d) => write!(f, "{d:?}"),
            Value::DeviceValues(d) => write!(f, "{d:?}"),
        }
    }
}

/// One unit property: a name and a typed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name (`MemoryLimit`).
    pub name: String,
    /// Value.
    pub value: Value,
}

impl Property {
    /// A property.
    pub fn new(name: &str, value: Value) -> Property {
        Property {
            name: name.to_owned(),
            value,
        }
    }

    /// The `(sv)` pair sent on the bus.
    pub fn to_bus(&self) -> BusProperty {
        (self.name.clone(), self.value.to_variant())
    }
}

/// Why a resource cannot be mapped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// The host's cgroup layout has no way to express the field.
    #[error("set `{field}`: not supported on cgroup {mode} hosts ({reason})")]
    Unsupported {
        /// Config field.
        field: String,
        /// Host layout.
        mode: CgroupMode,
        /// Why.
        reason: &'static str,
    },
    /// The value breaks a rule.
    #[error("set `{field}` to `{value}`: {rule}")]
    Invalid {
        /// Config field.
        field: String,
        /// Offending value.
        value: String,
        /// The rule.
        rule: &'static str,
    },
    /// A `org.systemd.property.<Name>` annotation could not be parsed.
    #[error("annotation `org.systemd.property.{name}` = `{value}`: {rule}")]
    Annotation {
        /// Property name.
        name: String,
        /// Its text.
        value: String,
        /// The rule.
        rule: &'static str,
    },
}

/// What the host knows about device numbers (read from `/proc/devices`).
pub trait HostDevices {
    /// The driver name of a major number (`136` → `pts`), for `char-<name>` rules.
    fn major_name(&self, kind: DeviceType, major: u32) -> Option<String>;
}

/// [`HostDevices`] of the running kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelDevices;

impl HostDevices for KernelDevices {
    fn major_name(&self, kind: DeviceType, major: u32) -> Option<String> {
        major_name_in(&std::fs::read_to_string("/proc/devices").ok()?, kind, major)
    }
}

/// Looks a major number up in `/proc/devices` text (`Character devices:` then lines like
/// `  1 mem` or `136 pts`, a blank line, `Block devices:`…).
fn major_name_in(text: &str, kind: DeviceType, major: u32) -> Option<String> {
    let section = match kind {
        DeviceType::Char => "Character devices:",
        DeviceType::Block => "Block devices:",
        _ => return None,
    };
    text.split("\n\n")
        .find(|s| s.trim_start().starts_with(section))?
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(char::is_whitespace))
        .find(|(m, _)| m.parse() == Ok(major))
        .map(|(_, name)| name.trim().to_owned())
}

/// Both halves of the mapping of one `Resources`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourcePlan {
    /// Unit properties, in the order they must be sent.
    pub properties: Vec<Property>,
    /// Cgroup file writes for knobs without a property, in order.
    pub writes: Vec<CgroupWrite>,
}

/// The unit properties for `r` on a host of layout `mode` (create and update alike).
///
/// Knobs without a property are not in the result; [`plan`] returns them too.
pub fn unit_properties(r: &Resources, mode: CgroupMode) -> Result<Vec<Property>, MappingError> {
    plan(r, mode, &KernelDevices).map(|p| p.properties)
}

/// The accounting properties every scope gets at creation.
pub fn accounting_properties(mode: CgroupMode) -> Vec<Property> {
    let io = if mode.is_v1() {
        "BlockIOAccounting"
    } else {
        "IOAccounting"
    };
    ["CPUAccounting", "MemoryAccounting", "TasksAccounting", io]
        .into_iter()
        .map(|n| Property::new(n, Value::Bool(true)))
        .collect()
}

/// Maps every field of `r` to properties or cgroup writes; errors name the field.
pub fn plan(
    r: &Resources,
    mode: CgroupMode,
    host: &dyn HostDevices,
) -> Result<ResourcePlan, MappingError> {
    // Destructured so that a new Resources field does not compile until it is mapped here.
    let Resources {
        devices,
        memory,
        memory_reservation,
        memory_swap,
        memory_swappiness,
        oom_kill_disable,
        cpu_shares,
        cpu_quota,
        cpu_period,
        cpu_burst,
        cpu_rt_runtime,
        cpu_rt_period,
        cpu_idle,
        cpuset_cpus,
        cpuset_mems,
        pids_limit,
        blkio_weight,
        blkio_leaf_weight,
        blkio_weight_device,
        blkio_throttle_read_bps_device,
        blkio_throttle_write_bps_device,
        blkio_throttle_read_iops_device,
        blkio_throttle_write_iops_device,
        hugetlb_limit,
        net_cls_classid,
        net_prio_ifpriomap,
        rdma,
        unified,
        // Not a limit but a behaviour of `set`, which always refuses a memory limit below
        // current usage (issue 4), so the flag needs no property.
        memory_check_before_update: _,
    } = r;
    let mut p = ResourcePlan::default();
    let v1 = mode.is_v1();
    let unsupported = |field: &str, reason| MappingError::Unsupported {
        field: field.to_owned(),
        mode,
        reason,
    };

    // Memory.
    if let Some(m) = *memory {
        let limit = memory_bytes("resources.memory", m)?;
        p.properties.push(Property::new(
            if v1 { "MemoryLimit" } else { "MemoryMax" },
            Value::U64(limit),
        ));
    }
    if let Some(res) = *memory_reservation {
        let bytes = memory_bytes("resources.memory_reservation", res)?;
        if v1 {
            p.writes.push(CgroupWrite::v1(
                Controller::Memory,
                "memory.soft_limit_in_bytes",
                v1_limit(res),
                "resources.memory_reservation",
            ));
        } else {
            p.properties
                .push(Property::new("MemoryLow", Value::U64(bytes)));
        }
    }
    if let Some(swap) = *memory_swap {
        if v1 {
            memory_bytes("resources.memory_swap", swap)?;
            if let (Some(m), true) = (*memory, swap >= 0) {
                if m < 0 || swap < m {
                    return Err(invalid(
                        "resources.memory_swap",
                        swap,
                        "memory+swap must be at least the memory limit",
                    ));
                }
            }
            p.writes.push(CgroupWrite::v1(
                Controller::Memory,
                "memory.memsw.limit_in_bytes",
                v1_limit(swap),
                "resources.memory_swap",
            ));
        } else {
            let v2 = swap_to_v2(swap, memory.unwrap_or(0))?;
            p.properties
                .push(Property::new("MemorySwapMax", Value::U64(v2)));
        }
    } else if *memory == Some(-1) && !v1 {
        // runc: unlimited memory with no swap setting means unlimited swap too.
        p.properties
            .push(Property::new("MemorySwapMax", Value::U64(INFINITY)));
    }
    if let Some(sw) = *memory_swappiness {
        if sw > 100 {
            return Err(invalid("resources.memory_swappiness", sw, "must be 0-100"));
        }
        if !v1 {
            return Err(unsupported(
                "resources.memory_swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            ));
        }
        p.writes.push(CgroupWrite::v1(
            Controller::Memory,
            "memory.swappiness",
            sw,
            "resources.memory_swappiness",
        ));
    }
    if let Some(disable) = *oom_kill_disable {
        if v1 {
            p.writes.push(CgroupWrite::v1(
                Controller::Memory,
                "memory.oom_control",
                u8::from(disable),
                "resources.oom_kill_disable",
            ));
        } else if disable {
            return Err(unsupported(
                "resources.oom_kill_disable",
                "cgroup v2 cannot disable the OOM killer",
            ));
        }
    }

    // CPU.
    if *cpu_idle == Some(1) && !v1 {
        // cpu.idle wins over any weight (runc v2.go).
        p.properties.push(Property::new("CPUWeight", Value::U64(0)));
    } else if let Some(shares) = *cpu_shares {
        if v1 {
            if !(2..=262_144).contains(&shares) {
                return Err(invalid("resources.cpu_shares", shares, "must be 2-262144"));
            }
            p.properties
                .push(Property::new("CPUShares", Value::U64(shares)));
        } else {
            p.properties.push(Property::new(
                "CPUWeight",
                Value::U64(shares_to_weight(shares)),
            ));
        }
    }
    if let Some(idle) = *cpu_idle {
        if !(0..=1).contains(&idle) {
            return Err(invalid("resources.cpu_idle", idle, "must be 0 or 1"));
        }
        if v1 {
            p.writes.push(CgroupWrite::v1(
                Controller::Cpu,
                "cpu.idle",
                idle,
                "resources.cpu_idle",
            ));
        }
    }
    p.properties
        .extend(cpu_quota_properties(*cpu_quota, *cpu_period)?);
    if let Some(burst) = *cpu_burst {
        if v1 {
            p.writes.push(CgroupWrite::v1(
                Controller::Cpu,
                "cpu.cfs_burst_us",
                burst,
                "resources.cpu_burst",
            ));
        } else {
            p.writes.push(CgroupWrite::v2(
                "cpu.max.burst",
                burst,
                "resources.cpu_burst",
            ));
        }
    }
    if cpu_rt_period.is_some() || cpu_rt_runtime.is_some() {
        if !v1 {
            return Err(unsupported(
                "resources.cpu_rt_runtime",
                "realtime group scheduling is cgroup v1 only",
            ));
        }
        // The period first: a runtime longer than the old period is refused by the kernel.
        if let Some(period) = *cpu_rt_period {
            p.writes.push(CgroupWrite::v1(
                Controller::Cpu,
                "cpu.rt_period_us",
                period,
                "resources.cpu_rt_period",
            ));
        }
        if let Some(runtime) = *cpu_rt_runtime {
            p.writes.push(CgroupWrite::v1(
                Controller::Cpu,
                "cpu.rt_runtime_us",
                runtime,
                "resources.cpu_rt_runtime",
            ));
        }
    }
    for (field, value, prop, file) in [
        (
            "resources.cpuset_cpus",
            cpuset_cpus,
            "AllowedCPUs",
            "cpuset.cpus",
        ),
        (
            "resources.cpuset_mems",
            cpuset_mems,
            "AllowedMemoryNodes",
            "cpuset.mems",
        ),
    ] {
        if let Some(list) = value {
            let mask = cpuset_bitmask(field, list)?;
            if v1 {
                // systemd 252 supports AllowedCPUs only on v2: run the v1 cpuset ourselves.
                p.writes.push(CgroupWrite::v1(
                    Controller::Cpuset,
                    file,
                    list.trim(),
                    field,
                ));
            } else {
                p.properties.push(Property::new(prop, Value::Bytes(mask)));
            }
        }
    }

    // Pids.
    if let Some(limit) = *pids_limit {
        p.properties
            .push(Property::new("TasksMax", Value::U64(tasks_max(limit))));
    }

    // Block I/O.
    if let Some(w) = *blkio_weight {
        check_blkio_weight("resources.blkio_weight", w)?;
        p.properties.push(if v1 {
            Property::new("BlockIOWeight", Value::U64(u64::from(w)))
        } else {
            Property::new("IOWeight", Value::U64(blkio_to_io_weight(w)))
        });
    }
    if let Some(w) = *blkio_leaf_weight {
        check_blkio_weight("resources.blkio_leaf_weight", w)?;
        if !v1 {
            return Err(unsupported(
                "resources.blkio_leaf_weight",
                "cgroup v2 has no leaf weights",
            ));
        }
        p.writes.push(CgroupWrite::v1(
            Controller::Blkio,
            "blkio.leaf_weight",
            w,
            "resources.blkio_leaf_weight",
        ));
    }
    let mut weights = Vec::new();
    for (i, d) in blkio_weight_device.iter().enumerate() {
        let field = format!("resources.blkio_weight_device[{i}]");
        let node = block_node(&field, d.major, d.minor)?;
        if let Some(w) = d.weight {
            check_blkio_weight(&field, w)?;
            weights.push((
                node,
                if v1 {
                    u64::from(w)
                } else {
                    blkio_to_io_weight(w)
                },
            ));
        }
        if let Some(leaf) = d.leaf_weight {
            check_blkio_weight(&field, leaf)?;
            if !v1 {
                return Err(unsupported(&field, "cgroup v2 has no leaf weights"));
            }
            p.writes.push(CgroupWrite::v1(
                Controller::Blkio,
                "blkio.leaf_weight_device",
                format!("{}:{} {leaf}", d.major, d.minor),
                &field,
            ));
        }
    }
    if !weights.is_empty() {
        p.properties.push(Property::new(
            if v1 {
                "BlockIODeviceWeight"
            } else {
                "IODeviceWeight"
            },
            Value::DeviceValues(weights),
        ));
    }
    for (list, name, v1_prop, v2_prop, v1_file) in [
        (
            blkio_throttle_read_bps_device,
            "blkio_throttle_read_bps_device",
            Some("BlockIOReadBandwidth"),
            "IOReadBandwidthMax",
            "blkio.throttle.read_bps_device",
        ),
        (
            blkio_throttle_write_bps_device,
            "blkio_throttle_write_bps_device",
            Some("BlockIOWriteBandwidth"),
            "IOWriteBandwidthMax",
            "blkio.throttle.write_bps_device",
        ),
        (
            blkio_throttle_read_iops_device,
            "blkio_throttle_read_iops_device",
            None,
            "IOReadIOPSMax",
            "blkio.throttle.read_iops_device",
        ),
        (
            blkio_throttle_write_iops_device,
            "blkio_throttle_write_iops_device",
            None,
            "IOWriteIOPSMax",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        let mut entries = Vec::new();
        for (i, d) in list.iter().enumerate() {
            let field = format!("resources.{name}[{i}]");
            let node = block_node(&field, d.major, d.minor)?;
            match (v1, v1_prop) {
                // systemd 252 ignores IOPS limits on v1: write the throttle file ourselves.
                (true, None) => p.writes.push(CgroupWrite::v1(
                    Controller::Blkio,
                    v1_file,
                    format!("{}:{} {}", d.major, d.minor, d.rate),
                    &field,
                )),
                _ => entries.push((node, d.rate)),
            }
        }
        if !entries.is_empty() {
            let prop = if v1 {
                v1_prop.unwrap_or(v2_prop)
            } else {
                v2_prop
            };
            p.properties
                .push(Property::new(prop, Value::DeviceValues(entries)));
        }
    }

    // Controllers systemd does not know at all.
    for (i, h) in hugetlb_limit.iter().enumerate() {
        let field = format!("resources.hugetlb_limit[{i}]");
        if h.page_size.is_empty() || !h.page_size.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                &field,
                &h.page_size,
                "page size must look like `2MB` or `1GB`",
            ));
        }
        p.writes.push(if v1 {
            CgroupWrite::v1(
                Controller::Hugetlb,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size),
                h.limit,
                &field,
            )
        } else {
            CgroupWrite::v2(&format!("hugetlb.{}.max", h.page_size), h.limit, &field)
        });
    }
    if let Some(classid) = *net_cls_classid {
        if !v1 {
            return Err(unsupported(
                "resources.net_cls_classid",
                "net_cls is cgroup v1 only",
            ));
        }
        p.writes.push(CgroupWrite::v1(
            Controller::NetCls,
            "net_cls.classid",
            classid,
            "resources.net_cls_classid",
        ));
    }
    for (i, prio) in net_prio_ifpriomap.iter().enumerate() {
        let field = format!("resources.net_prio_ifpriomap[{i}]");
        if !v1 {
            return Err(unsupported(&field, "net_prio is cgroup v1 only"));
        }
        if prio.interface.is_empty() || prio.interface.contains(char::is_whitespace) {
            return Err(invalid(
                &field,
                &prio.interface,
                "interface name must be non-empty without spaces",
            ));
        }
        p.writes.push(CgroupWrite::v1(
            Controller::NetPrio,
            "net_prio.ifpriomap",
            format!("{} {}", prio.interface, prio.priority),
            &field,
        ));
    }
    for (dev, limit) in rdma {
        let field = format!("resources.rdma[{dev}]");
        let mut line = dev.clone();
        if let Some(h) = limit.hca_handles {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects {
            line.push_str(&format!(" hca_object={o}"));
        }
        p.writes.push(if v1 {
            CgroupWrite::v1(Controller::Rdma, "rdma.max", line, &field)
        } else {
            CgroupWrite::v2("rdma.max", line, &field)
        });
    }
    plan_unified(unified, mode, &mut p)?;

    // Devices last: DeviceAllow=[] first, then DevicePolicy, then the list (runc#4568).
    if !devices.is_empty() {
        p.properties.extend(device_properties(devices, host)?);
    }
    Ok(p)
}

fn invalid(field: &str, value: impl ToString, rule: &'static str) -> MappingError {
    MappingError::Invalid {
        field: field.to_owned(),
        value: value.to_string(),
        rule,
    }
}

/// A byte limit: `-1` is infinity, other negatives and 0 are refused.
fn memory_bytes(field: &str, v: i64) -> Result<u64, MappingError> {
    match v {
        -1 => Ok(INFINITY),
        v if v > 0 => Ok(v.unsigned_abs()),
        v => Err(invalid(
            field,
            v,
            "must be a positive number of bytes or -1 for unlimited",
        )),
    }
}

/// The text of a v1 limit file (`-1` means unlimited there too).
fn v1_limit(v: i64) -> String {
    v.to_string()
}

/// runc `ConvertMemorySwapToCgroupV2Value`: v2 counts swap alone, v1 memory+swap.
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<u64, MappingError> {
    const FIELD: &str = "resources.memory_swap";
    if swap == -1 {
        return Ok(INFINITY);
    }
    if swap == 0 {
        return Ok(0);
    }
    if swap < 0 {
        return Err(invalid(
            FIELD,
            swap,
            "must be a positive number of bytes or -1 for unlimited",
        ));
    }
    if memory <= 0 {
        return Err(invalid(FIELD, swap, "a swap limit needs a memory limit"));
    }
    if swap < memory {
        return Err(invalid(
            FIELD,
            swap,
            "memory+swap must be at least the memory limit",
        ));
    }
    Ok((swap - memory).unsigned_abs())
}

/// cgroup v1 `cpu.shares` → v2 `cpu.weight`, the quadratic mapping runc, crun and youki use:
/// weight = ⌈10^((l²+125·l)/612 − 7/34)⌉ with l = log2(shares); 2 → 1, 1024 → 100,
/// 262144 → 10000.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // Bounded to 1..=10000 by the checks above, so the cast cannot truncate.
    10f64.powf(exponent).ceil() as u64
}

/// `CPUQuotaPerSecUSec` and `CPUQuotaPeriodUSec` (runc `addCPUQuota`).
///
/// systemd only takes the quota per second in steps of 10 ms, so it is rounded up to a
/// multiple of 10000 µs, as runc does; `cpu.cfs_quota_us` then reads period × that / 1 s.
pub fn cpu_quota_properties(
    quota: Option<i64>,
    period: Option<u64>,
) -> Result<Vec<Property>, MappingError> {
    let mut props = Vec::new();
    if let Some(period) = period {
        if !(1_000..=1_000_000).contains(&period) {
            return Err(invalid(
                "resources.cpu_period",
                period,
                "must be 1000-1000000 µs",
            ));
        }
        props.push(Property::new("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if let Some(quota) = quota {
        let per_sec = match quota {
            q if q < 0 => INFINITY,
            0 => {
                return Err(invalid(
                    "resources.cpu_quota",
                    quota,
                    "must be positive or -1 for unlimited",
                ))
            }
            q => {
                let per_sec =
                    q.unsigned_abs().saturating_mul(1_000_000) / period.unwrap_or(100_000);
                per_sec.div_ceil(10_000) * 10_000
            }
        };
        props.push(Property::new("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    }
    Ok(props)
}

/// `TasksMax`: negative is infinity, and 0 becomes 1 because systemd refuses 0 (runc v2.go).
pub fn tasks_max(limit: i64) -> u64 {
    match limit {
        l if l < 0 => INFINITY,
        0 => 1,
        l => l.unsigned_abs(),
    }
}

fn check_blkio_weight(field: &str, w: u16) -> Result<(), MappingError> {
    if !(10..=1000).contains(&w) {
        return Err(invalid(field, w, "must be 10-1000"));
    }
    Ok(())
}

/// v1 blkio weight (10–1000) → v2 io weight (1–10000), linearly as crun does.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// systemd resolves `/dev/block/MAJ:MIN` itself, so no node needs to exist in `/dev`.
fn block_node(field: &str, major: i64, minor: i64) -> Result<String, MappingError> {
    if major < 0 || minor < 0 {
        return Err(invalid(
            field,
            format!("{major}:{minor}"),
            "block device numbers must be non-negative",
        ));
    }
    Ok(format!("/dev/block/{major}:{minor}"))
}

/// A cpuset list (`0-3,5`) → systemd's bitmask (`ay`): CPU n is bit n%8 of byte n/8.
pub fn cpuset_bitmask(field: &str, list: &str) -> Result<Vec<u8>, MappingError> {
    let bad = |rule| invalid(field, list, rule);
    let mut mask = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let (lo, hi) = match part.trim().split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part.trim(), part.trim()),
        };
        let lo: u32 = lo.parse().map_err(|_| bad("must be a list like `0-3,5`"))?;
        let hi: u32 = hi.parse().map_err(|_| bad("must be a list like `0-3,5`"))?;
        if lo > hi {
            return Err(bad("a range must go from low to high"));
        }
        if hi > MAX_CPUSET_INDEX {
            return Err(bad("index above 8191"));
        }
        for n in lo..=hi {
            let byte = (n / 8) as usize;
            if mask.len() <= byte {
                mask.resize(byte + 1, 0);
            }
            mask[byte] |= 1 << (n % 8);
        }
    }
    if mask.is_empty() {
        return Err(bad("must name at least one CPU or node"));
    }
    Ok(mask)
}

/// `unified` (raw cgroup v2 files): the keys with a property become properties, the rest
/// file writes in the scope's v2 directory. Refused on v1 hosts, as runc does.
fn plan_unified(
    unified: &BTreeMap<String, String>,
    mode: CgroupMode,
    p: &mut ResourcePlan,
) -> Result<(), MappingError> {
    for (key, value) in unified {
        let field = format!("resources.unified[{key}]");
        if mode.is_v1() {
            return Err(MappingError::Unsupported {
                field,
                mode,
                reason: "unified keys need a cgroup v2 host",
            });
        }
        if key.contains('/') || key.starts_with("cgroup.") || !key.contains('.') {
            return Err(invalid(
                &field,
                key,
                "must be a controller file name like `memory.high`",
            ));
        }
        let v = value.trim();
        let max_or_bytes = |v: &str| -> Result<u64, MappingError> {
            if v == "max" {
                return Ok(INFINITY);
            }
            v.parse()
                .map_err(|_| invalid(&field, v, "must be a number or `max`"))
        };
        match key.as_str() {
            "memory.min" | "memory.low" | "memory.high" | "memory.max" | "memory.swap.max" => {
                let name = match key.as_str() {
                    "memory.min" => "MemoryMin",
                    "memory.low" => "MemoryLow",
                    "memory.high" => "MemoryHigh",
                    "memory.max" => "MemoryMax",
                    _ => "MemorySwapMax",
                };
                p.properties
                    .push(Property::new(name, Value::U64(max_or_bytes(v)?)));
            }
            "pids.max" => {
                let n = max_or_bytes(v)?;
                p.properties.push(Property::new(
                    "TasksMax",
                    Value::U64(if n == 0 { 1 } else { n }),
                ));
            }
            "cpu.weight" => {
                let w: u64 = v
                    .parse()
                    .map_err(|_| invalid(&field, v, "must be 1-10000"))?;
                if !(1..=10_000).contains(&w) {
                    return Err(invalid(&field, v, "must be 1-10000"));
                }
                p.properties.push(Property::new("CPUWeight", Value::U64(w)));
            }
            "cpu.idle" => match v {
                "1" => p.properties.push(Property::new("CPUWeight", Value::U64(0))),
                "0" => {}
                _ => return Err(invalid(&field, v, "must be 0 or 1")),
            },
            "cpu.max" => {
                let mut words = v.split_whitespace();
                let quota = match words.next() {
                    Some("max") => -1,
                    Some(q) => q
                        .parse::<i64>()
                        .map_err(|_| invalid(&field, v, "must be `<quota|max> [period]`"))?,
                    None => return Err(invalid(&field, v, "must be `<quota|max> [period]`")),
                };
                let period = words
                    .next()
                    .map(|s| {
                        s.parse::<u64>()
                            .map_err(|_| invalid(&field, v, "must be `<quota|max> [period]`"))
                    })
                    .transpose()?;
                p.properties
                    .extend(cpu_quota_properties(Some(quota), period)?);
            }
            "cpuset.cpus" => p.properties.push(Property::new(
                "AllowedCPUs",
                Value::Bytes(cpuset_bitmask(&field, v)?),
            )),
            "cpuset.mems" => p.properties.push(Property::new(
                "AllowedMemoryNodes",
                Value::Bytes(cpuset_bitmask(&field, v)?),
            )),
            _ => p.writes.push(CgroupWrite::v2(key, v, &field)),
        }
    }
    Ok(())
}

/// A device-rule entry of systemd's `DeviceAllow=` in the making.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowEntry {
    kind: DeviceType,
    major: Option<u32>,
    minor: Option<u32>,
    access: String,
}

/// Device rules → `DeviceAllow=[]`, `DevicePolicy`, `DeviceAllow=[…]` (runc devices/systemd.go).
///
/// The rules are replayed in order as the kernel would: `a *:* rwm` switches between
/// allow-all and deny-all; in deny-all mode allow rules add entries and deny rules take
/// access away from an identical entry. Deny rules systemd cannot express (inside an
/// allow-all, or carving a hole in a wildcard) are errors, not silently weakened.
pub fn device_properties(
    rules: &[DeviceRule],
    host: &dyn HostDevices,
) -> Result<Vec<Property>, MappingError> {
    let mut allow_all = true;
    let mut entries: Vec<AllowEntry> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("resources.devices[{i}]");
        let access = check_access(&field, &rule.access)?;
        let major = device_number(&field, rule.major)?;
        let minor = device_number(&field, rule.minor)?;
        if rule.kind == DeviceType::Fifo {
            return Err(invalid(
                &field,
                "p",
                "the device cgroup has no FIFO rules (type must be a, b or c)",
            ));
        }
        let is_everything = rule.kind == DeviceType::All && major.is_none() && minor.is_none();
        if is_everything && access == "rwm" {
            allow_all = rule.allow;
            entries.clear();
            continue;
        }
        if rule.kind == DeviceType::All && (major.is_some() || minor.is_some()) {
            return Err(invalid(
                &field,
                format!("{:?}:{:?}", rule.major, rule.minor),
                "type `a` rules must use wildcards",
            ));
        }
        let kinds: &[DeviceType] = if rule.kind == DeviceType::All {
            &[DeviceType::Char, DeviceType::Block]
        } else {
            std::slice::from_ref(&rule.kind)
        };
        for &kind in kinds {
            let key = AllowEntry {
                kind,
                major,
                minor,
                access: String::new(),
            };
            match (allow_all, rule.allow) {
                (true, true) => {}
                (true, false) => return Err(invalid(
                    &field,
                    "deny",
                    "deny rules after an allow-all cannot be expressed by systemd's DeviceAllow=",
                )),
                (false, true) => match entries.iter_mut().find(|e| same_device(e, &key)) {
                    Some(e) => e.access = merge_access(&e.access, &access),
                    None => entries.push(AllowEntry {
                        access: access.clone(),
                        ..key
                    }),
                },
                (false, false) => {
                    let covered_by_wildcard = entries.iter().any(|e| {
                        !same_device(e, &key) && covers(e, &key) && overlaps(&e.access, &access)
                    });
                    if covered_by_wildcard {
                        return Err(invalid(&field, "deny", "a deny rule inside an allowed wildcard cannot be expressed by systemd's DeviceAllow="));
                    }
                    if let Some(e) = entries.iter_mut().find(|e| same_device(e, &key)) {
                        e.access = e.access.chars().filter(|c| !access.contains(*c)).collect();
                    }
                }
            }
        }
    }
    let mut props = vec![Property::new(
        "DeviceAllow",
        Value::DeviceAccess(Vec::new()),
    )];
    if allow_all {
        props.push(Property::new("DevicePolicy", Value::Str("auto".to_owned())));
        return Ok(props);
    }
    props.push(Property::new(
        "DevicePolicy",
        Value::Str("strict".to_owned()),
    ));
    let mut allow = Vec::new();
    for (i, e) in entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.access.is_empty())
    {
        allow.push((
            device_node(e, host).ok_or_else(|| {
                invalid(
                    &format!("resources.devices (entry {i})"),
                    format!("{:?} {:?}:*", e.kind, e.major),
                    "major number not in /proc/devices",
                )
            })?,
            e.access.clone(),
        ));
    }
    props.push(Property::new("DeviceAllow", Value::DeviceAccess(allow)));
    Ok(props)
}

fn same_device(a: &AllowEntry, b: &AllowEntry) -> bool {
    a.kind == b.kind && a.major == b.major && a.minor == b.minor
}

/// Whether entry `a` (maybe a wildcard) includes every device of `b`.
fn covers(a: &AllowEntry, b: &AllowEntry) -> bool {
    a.kind == b.kind
        && (a.major.is_none() || a.major == b.major)
        && (a.minor.is_none() || a.minor == b.minor)
}

fn overlaps(a: &str, b: &str) -> bool {
    a.chars().any(|c| b.contains(c))
}

/// Access letters in `rwm` order, without repeats.
fn merge_access(a: &str, b: &str) -> String {
    "rwm"
        .chars()
        .filter(|c| a.contains(*c) || b.contains(*c))
        .collect()
}

fn check_access(field: &str, access: &str) -> Result<String, MappingError> {
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(invalid(
            field,
            access,
            "access must be a non-empty subset of `rwm`",
        ));
    }
    Ok(merge_access(access, ""))
}

/// `None` and negatives are wildcards (libcontainer uses -1).
fn device_number(field: &str, n: Option<i64>) -> Result<Option<u32>, MappingError> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(field, n, "device number too large")),
    }
}

/// systemd's node forms: `/dev/char/M:m` (no node needed), `char-<driver>` for a whole
/// major, `char-*` for every device of a type.
fn device_node(e: &AllowEntry, host: &dyn HostDevices) -> Option<String> {
    let group = if e.kind == DeviceType::Block {
        "block"
    } else {
        "char"
    };
    match (e.major, e.minor) {
        (None, _) => Some(format!("{group}-*")),
        (Some(major), None) => host
            .major_name(e.kind, major)
            .map(|name| format!("{group}-{name}")),
        (Some(major), Some(minor)) => Some(format!("/dev/{group}/{major}:{minor}")),
    }
}

/// Parses an `org.systemd.property.<Name>` annotation value in GVariant text form.
///
/// Accepted: `true`/`false`; `'text'` or `"text"`; `uint64 5`, `@t 5` (and the `u`, `i`,
/// `x`, `q`/`n`-free forms `uint32`/`@u`, `int32`/`@i`, `int64`/`@x`, `double`/`@d`); a
/// bare integer (GVariant's `int32`); `['a', 'b']` as `as`. Names ending in `Sec` take
/// seconds and become the `USec` property, as runc converts them.
pub fn annotation_property(name: &str, text: &str) -> Result<Property, MappingError> {
    let err = |rule| MappingError::Annotation {
        name: name.to_owned(),
        value: text.to_owned(),
        rule,
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric())
        || !name.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return Err(err("property names are CamelCase letters and digits"));
    }
    if name == "PIDs" {
        return Err(err("`PIDs` is set by unitbox itself"));
    }
    let t = text.trim();
    let value = parse_gvariant(t).ok_or_else(|| {
        err("value must be a GVariant scalar such as `true`, `'text'`, `uint64 5` or `@t 5`")
    })?;
    if let Some(stem) = name.strip_suffix("Sec").filter(|s| !s.ends_with('U')) {
        let usec = match value {
            Value::I32(n) if n >= 0 => u64::from(n.unsigned_abs()) * 1_000_000,
            Value::U32(n) => u64::from(n) * 1_000_000,
            Value::I64(n) if n >= 0 => n.unsigned_abs() * 1_000_000,
            Value::U64(n) => n.saturating_mul(1_000_000),
            Value::F64(f) if f >= 0.0 => (f * 1e6) as u64,
            _ => {
                return Err(err(
                    "a `…Sec` property takes a non-negative number of seconds",
                ))
            }
        };
        return Ok(Property::new(&format!("{stem}USec"), Value::U64(usec)));
    }
    Ok(Property::new(name, value))
}

fn parse_gvariant(t: &str) -> Option<Value> {
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(s) = quoted(t) {
        return Some(Value::Str(s));
    }
    if let Some(inner) = t
        .strip_prefix("@as")
        .map(str::trim)
        .or(Some(t))
        .and_then(|s| s.strip_prefix('['))
        .and_then(|s| s.strip_suffix(']'))
    {
        let items: Option<Vec<String>> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(quoted)
            .collect();
        return items.map(Value::Strs);
    }
    let (ty, num) = match t.split_once(char::is_whitespace) {
        Some((ty, num)) => (ty, num.trim()),
        None => ("int32", t),
    };
    match ty {
        "uint64" | "@t" => num.parse().ok().map(Value::U64),
        "uint32" | "@u" => num.parse().ok().map(Value::U32),
        "int64" | "@x" => num.parse().ok().map(Value::I64),
        "int32" | "@i" => num.parse().ok().map(Value::I32),
        "double" | "@d" => num.parse().ok().map(Value::F64),
        "boolean" | "@b" => match num {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

fn quoted(t: &str) -> Option<String> {
    let q = t.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = t.strip_prefix(q)?.strip_suffix(q)?;
    if inner.contains(q) || inner.contains('\\') {
        return None;
    }
    Some(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HugepageLimit, ThrottleDevice, WeightDevice};

    struct FakeDevices;
    impl HostDevices for FakeDevices {
        fn major_name(&self, kind: DeviceType, major: u32) -> Option<String> {
            match (kind, major) {
                (DeviceType::Char, 136) => Some("pts".to_owned()),
                (DeviceType::Char, 5) => Some("/dev/tty".to_owned()),
                _ => None,
            }
        }
    }

    fn props(r: &Resources, mode: CgroupMode) -> Vec<Property> {
        plan(r, mode, &FakeDevices).unwrap().properties
    }

    fn prop(name: &str, value: Value) -> Property {
        Property::new(name, value)
    }

    #[test]
    fn proc_devices_lookup() {
        let text = "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n254 virtblk\n";
        let table: &[(DeviceType, u32, Option<&str>)] = &[
            (DeviceType::Char, 1, Some("mem")),
            (DeviceType::Char, 136, Some("pts")),
            (DeviceType::Char, 7, None),
            (DeviceType::Block, 7, Some("loop")),
            (DeviceType::Block, 254, Some("virtblk")),
            (DeviceType::All, 1, None),
        ];
        for &(kind, major, want) in table {
            assert_eq!(
                major_name_in(text, kind, major).as_deref(),
                want,
                "{kind:?} {major}"
            );
        }
    }

    #[test]
    fn tasks_max_table() {
        const TASKS_MAX: &[(i64, u64)] =
            &[(10, 10), (0, 1), (-1, u64::MAX), (-5, u64::MAX), (1, 1)];
        for &(limit, want) in TASKS_MAX {
            assert_eq!(tasks_max(limit), want, "pids.limit={limit}");
        }
    }

    #[test]
    fn shares_to_weight_table() {
        // The quadratic maps the v1 default and both ends exactly onto v2's.
        const TABLE: &[(u64, u64)] = &[
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (10, 4),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (300_000, 10_000),
        ];
        for &(shares, want) in TABLE {
            assert_eq!(shares_to_weight(shares), want, "shares={shares}");
        }
        // Monotonic and in range over the whole v1 domain.
        let mut last = 0;
        for shares in (2..=262_144).step_by(97) {
            let w = shares_to_weight(shares);
            assert!(
                (1..=10_000).contains(&w) && w >= last,
                "shares={shares} weight={w}"
            );
            last = w;
        }
    }

    #[test]
    fn quota_rounding_table() {
        // (quota, period) → (CPUQuotaPerSecUSec, CPUQuotaPeriodUSec)
        type QuotaRow = (Option<i64>, Option<u64>, Option<u64>, Option<u64>);
        let table: &[QuotaRow] = &[
            (Some(50_000), Some(100_000), Some(500_000), Some(100_000)),
            (Some(50_000), None, Some(500_000), None),
            (Some(123), Some(100_000), Some(10_000), Some(100_000)),
            (Some(10_001), Some(100_000), Some(110_000), Some(100_000)),
            (Some(-1), None, Some(u64::MAX), None),
            (None, Some(50_000), None, Some(50_000)),
            (Some(25_000), Some(50_000), Some(500_000), Some(50_000)),
        ];
        for &(quota, period, want_sec, want_period) in table {
            let got = cpu_quota_properties(quota, period).unwrap();
            let find = |n: &str| got.iter().find(|p| p.name == n).map(|p| p.value.clone());
            assert_eq!(
                find("CPUQuotaPerSecUSec"),
                want_sec.map(Value::U64),
                "quota={quota:?} period={period:?}"
            );
            assert_eq!(
                find("CPUQuotaPeriodUSec"),
                want_period.map(Value::U64),
                "quota={quota:?} period={period:?}"
            );
        }
        assert!(cpu_quota_properties(Some(0), None).is_err());
        assert!(cpu_quota_properties(None, Some(10)).is_err());
    }

    #[test]
    fn cpuset_bitmask_table() {
        let table: &[(&str, &[u8])] = &[
            ("0", &[1]),
            ("0-3", &[0x0f]),
            ("1,3", &[0x0a]),
            ("8", &[0, 1]),
            ("0-1,9-10", &[0x03, 0x06]),
            (" 2 ", &[0x04]),
        ];
        for &(list, want) in table {
            assert_eq!(cpuset_bitmask("f", list).unwrap(), want, "list={list}");
        }
        for bad in ["", "a", "3-1", "0-99999", "1-"] {
            assert!(cpuset_bitmask("f", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn swap_to_v2_table() {
        let table: &[(i64, i64, Option<u64>)] = &[
            (-1, 100, Some(u64::MAX)),
            (0, 100, Some(0)),
            (300, 100, Some(200)),
            (100, 100, Some(0)),
            (50, 100, None),
            (300, 0, None),
            (300, -1, None),
        ];
        for &(swap, memory, want) in table {
            assert_eq!(
                swap_to_v2(swap, memory).ok(),
                want,
                "swap={swap} memory={memory}"
            );
        }
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    /// The v1/hybrid property table (this host's layout).
    #[test]
    fn v1_properties_and_writes() {
        let r = Resources {
            memory: Some(32 << 20),
            memory_reservation: Some(16 << 20),
            memory_swap: Some(64 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: Some(false),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpu_burst: Some(1000),
            cpu_idle: Some(0),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(0),
            blkio_weight: Some(500),
            blkio_weight_device: vec![WeightDevice {
                major: 8,
                minor: 0,
                weight: Some(200),
                leaf_weight: None,
            }],
            blkio_throttle_read_bps_device: vec![ThrottleDevice {
                major: 8,
                minor: 0,
                rate: 1 << 20,
            }],
            blkio_throttle_write_iops_device: vec![ThrottleDevice {
                major: 8,
                minor: 0,
                rate: 100,
            }],
            ..Default::default()
        };
        for mode in [CgroupMode::Hybrid, CgroupMode::Legacy] {
            let p = plan(&r, mode, &FakeDevices).unwrap();
            assert_eq!(
                p.properties,
                vec![
                    prop("MemoryLimit", Value::U64(32 << 20)),
                    prop("CPUShares", Value::U64(512)),
                    prop("CPUQuotaPeriodUSec", Value::U64(100_000)),
                    prop("CPUQuotaPerSecUSec", Value::U64(500_000)),
                    prop("TasksMax", Value::U64(1)),
                    prop("BlockIOWeight", Value::U64(500)),
                    prop(
                        "BlockIODeviceWeight",
                        Value::DeviceValues(vec![("/dev/block/8:0".into(), 200)])
                    ),
                    prop(
                        "BlockIOReadBandwidth",
                        Value::DeviceValues(vec![("/dev/block/8:0".into(), 1 << 20)])
                    ),
                ]
            );
            let files: Vec<(Option<Controller>, &str, &str)> = p
                .writes
                .iter()
                .map(|w| (w.controller, w.file.as_str(), w.value.as_str()))
                .collect();
            let m = Some(Controller::Memory);
            let mem16 = (16u64 << 20).to_string();
            let mem64 = (64u64 << 20).to_string();
            assert_eq!(
                files,
                vec![
                    (m, "memory.soft_limit_in_bytes", mem16.as_str()),
                    (m, "memory.memsw.limit_in_bytes", mem64.as_str()),
                    (m, "memory.swappiness", "10"),
                    (m, "memory.oom_control", "0"),
                    (Some(Controller::Cpu), "cpu.idle", "0"),
                    (Some(Controller::Cpu), "cpu.cfs_burst_us", "1000"),
                    (Some(Controller::Cpuset), "cpuset.cpus", "0"),
                    (Some(Controller::Cpuset), "cpuset.mems", "0"),
                    (
                        Some(Controller::Blkio),
                        "blkio.throttle.write_iops_device",
                        "8:0 100"
                    ),
                ]
            );
        }
    }

    /// The v2 property table. v2 lane: see issue 7.
    #[test]
    fn v2_properties_and_writes() {
        let r = Resources {
            memory: Some(32 << 20),
            memory_reservation: Some(16 << 20),
            memory_swap: Some(64 << 20),
            cpu_shares: Some(1024),
            cpu_quota: Some(12_345),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(-1),
            blkio_weight: Some(1000),
            blkio_throttle_read_iops_device: vec![ThrottleDevice {
                major: 8,
                minor: 0,
                rate: 100,
            }],
            hugetlb_limit: vec![HugepageLimit {
                page_size: "2MB".into(),
                limit: 1 << 21,
            }],
            unified: [
                ("memory.high".to_owned(), "max".to_owned()),
                ("io.latency".to_owned(), "8:0 target=10".to_owned()),
            ]
            .into(),
            ..Default::default()
        };
        let p = plan(&r, CgroupMode::Unified, &FakeDevices).unwrap();
        assert_eq!(
            p.properties,
            vec![
                prop("MemoryMax", Value::U64(32 << 20)),
                prop("MemoryLow", Value::U64(16 << 20)),
                prop("MemorySwapMax", Value::U64(32 << 20)),
                prop("CPUWeight", Value::U64(100)),
                prop("CPUQuotaPerSecUSec", Value::U64(130_000)),
                prop("AllowedCPUs", Value::Bytes(vec![0x03])),
                prop("TasksMax", Value::U64(u64::MAX)),
                prop("IOWeight", Value::U64(10_000)),
                prop(
                    "IOReadIOPSMax",
                    Value::DeviceValues(vec![("/dev/block/8:0".into(), 100)])
                ),
                prop("MemoryHigh", Value::U64(u64::MAX)),
            ]
        );
        assert_eq!(
            p.writes,
            vec![
                CgroupWrite::v2("hugetlb.2MB.max", 1u64 << 21, "resources.hugetlb_limit[0]"),
                CgroupWrite::v2(
                    "io.latency",
                    "8:0 target=10",
                    "resources.unified[io.latency]"
                ),
            ]
        );
    }

    /// cpu.idle wins over shares, and unified cpu.max maps to quota. v2 lane: see issue 7.
    #[test]
    fn v2_idle_and_unified_cpu() {
        let r = Resources {
            cpu_idle: Some(1),
            cpu_shares: Some(1024),
            ..Default::default()
        };
        assert_eq!(
            props(&r, CgroupMode::Unified),
            vec![prop("CPUWeight", Value::U64(0))]
        );
        let r = Resources {
            unified: [("cpu.max".to_owned(), "50000 100000".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            props(&r, CgroupMode::Unified),
            vec![
                prop("CPUQuotaPeriodUSec", Value::U64(100_000)),
                prop("CPUQuotaPerSecUSec", Value::U64(500_000))
            ]
        );
    }

    /// The v2 half: v2 lane: see issue 7.
    #[test]
    fn unlimited_memory_on_v2_unlimits_swap() {
        let r = Resources {
            memory: Some(-1),
            ..Default::default()
        };
        assert_eq!(
            props(&r, CgroupMode::Unified),
            vec![
                prop("MemoryMax", Value::U64(u64::MAX)),
                prop("MemorySwapMax", Value::U64(u64::MAX))
            ]
        );
        assert_eq!(
            props(&r, CgroupMode::Hybrid),
            vec![prop("MemoryLimit", Value::U64(u64::MAX))]
        );
    }

    /// Every knob the layout cannot express is an error naming the field.
    #[test]
    fn unsupported_knobs_name_their_field() {
        let cases: Vec<(Resources, CgroupMode, &str)> = vec![
            (
                Resources {
                    memory_swappiness: Some(5),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.memory_swappiness",
            ),
            (
                Resources {
                    oom_kill_disable: Some(true),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.oom_kill_disable",
            ),
            (
                Resources {
                    cpu_rt_runtime: Some(5),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.cpu_rt_runtime",
            ),
            (
                Resources {
                    blkio_leaf_weight: Some(100),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.blkio_leaf_weight",
            ),
            (
                Resources {
                    net_cls_classid: Some(1),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.net_cls_classid",
            ),
            (
                Resources {
                    unified: [("memory.high".to_owned(), "1".to_owned())].into(),
                    ..Default::default()
                },
                CgroupMode::Hybrid,
                "resources.unified[memory.high]",
            ),
            (
                Resources {
                    memory: Some(0),
                    ..Default::default()
                },
                CgroupMode::Hybrid,
                "resources.memory",
            ),
            (
                Resources {
                    cpu_shares: Some(1),
                    ..Default::default()
                },
                CgroupMode::Hybrid,
                "resources.cpu_shares",
            ),
            (
                Resources {
                    memory: Some(100),
                    memory_swap: Some(50),
                    ..Default::default()
                },
                CgroupMode::Hybrid,
                "resources.memory_swap",
            ),
            (
                Resources {
                    memory_swappiness: Some(101),
                    ..Default::default()
                },
                CgroupMode::Hybrid,
                "resources.memory_swappiness",
            ),
            (
                Resources {
                    unified: [("cgroup.procs".to_owned(), "1".to_owned())].into(),
                    ..Default::default()
                },
                CgroupMode::Unified,
                "resources.unified[cgroup.procs]",
            ),
        ];
        for (r, mode, field) in cases {
            let err = plan(&r, mode, &FakeDevices).unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{mode}: {err}");
        }
    }

    /// v1 knobs of hierarchies systemd does not manage become writes there.
    #[test]
    fn v1_unmanaged_hierarchies() {
        let r = Resources {
            hugetlb_limit: vec![HugepageLimit {
                page_size: "2MB".into(),
                limit: 4096,
            }],
            net_cls_classid: Some(0x10001),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(0),
            ..Default::default()
        };
        let p = plan(&r, CgroupMode::Hybrid, &FakeDevices).unwrap();
        let got: Vec<(Option<Controller>, &str)> = p
            .writes
            .iter()
            .map(|w| (w.controller, w.file.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(Controller::Cpu), "cpu.rt_period_us"),
                (Some(Controller::Cpu), "cpu.rt_runtime_us"),
                (Some(Controller::Hugetlb), "hugetlb.2MB.limit_in_bytes"),
                (Some(Controller::NetCls), "net_cls.classid"),
            ]
        );
    }

    fn rule(
        allow: bool,
        kind: DeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.to_owned(),
        }
    }

    #[test]
    fn device_rules_order_and_forms() {
        use DeviceType::{All, Block, Char};
        let rules = vec![
            rule(false, All, None, None, "rwm"),
            rule(true, Char, Some(1), Some(3), "rwm"),
            rule(true, Char, None, None, "m"),
            rule(true, Block, None, None, "m"),
            rule(true, Char, Some(136), None, "rw"),
            rule(true, Char, Some(1), Some(5), "rw"),
            rule(false, Char, Some(1), Some(5), "w"),
            rule(true, Char, Some(1), Some(3), "r"),
        ];
        let got = device_properties(&rules, &FakeDevices).unwrap();
        assert_eq!(
            got,
            vec![
                prop("DeviceAllow", Value::DeviceAccess(vec![])),
                prop("DevicePolicy", Value::Str("strict".into())),
                prop(
                    "DeviceAllow",
                    Value::DeviceAccess(vec![
                        ("/dev/char/1:3".into(), "rwm".into()),
                        ("char-*".into(), "m".into()),
                        ("block-*".into(), "m".into()),
                        ("char-pts".into(), "rw".into()),
                        ("/dev/char/1:5".into(), "r".into()),
                    ])
                ),
            ]
        );
    }

    #[test]
    fn device_allow_all_and_errors() {
        use DeviceType::{All, Char, Fifo};
        let allow_all = vec![
            rule(false, All, None, None, "rwm"),
            rule(true, All, None, None, "rwm"),
        ];
        assert_eq!(
            device_properties(&allow_all, &FakeDevices).unwrap(),
            vec![
                prop("DeviceAllow", Value::DeviceAccess(vec![])),
                prop("DevicePolicy", Value::Str("auto".into()))
            ]
        );
        let bad: Vec<(Vec<DeviceRule>, &str)> = vec![
            (
                vec![rule(false, Char, Some(1), Some(3), "rwm")],
                "resources.devices[0]",
            ),
            (
                vec![
                    rule(false, All, None, None, "rwm"),
                    rule(true, Char, None, None, "rwm"),
                    rule(false, Char, Some(1), Some(3), "r"),
                ],
                "resources.devices[2]",
            ),
            (
                vec![rule(true, Fifo, None, None, "rwm")],
                "resources.devices[0]",
            ),
            (
                vec![rule(true, Char, Some(1), Some(3), "rwx")],
                "resources.devices[0]",
            ),
            (
                vec![
                    rule(false, All, None, None, "rwm"),
                    rule(true, Char, Some(99), None, "r"),
                ],
                "resources.devices",
            ),
        ];
        for (rules, field) in bad {
            let err = device_properties(&rules, &FakeDevices)
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn annotations_table() {
        let table: &[(&str, &str, Property)] = &[
            (
                "CollectMode",
                "'inactive-or-failed'",
                prop("CollectMode", Value::Str("inactive-or-failed".into())),
            ),
            (
                "Description",
                "\"hello world\"",
                prop("Description", Value::Str("hello world".into())),
            ),
            (
                "SendSIGKILL",
                "false",
                prop("SendSIGKILL", Value::Bool(false)),
            ),
            (
                "MemoryMax",
                "uint64 123",
                prop("MemoryMax", Value::U64(123)),
            ),
            ("MemoryMax", "@t 5", prop("MemoryMax", Value::U64(5))),
            ("KillSignal", "9", prop("KillSignal", Value::I32(9))),
            ("KillSignal", "int32 15", prop("KillSignal", Value::I32(15))),
            (
                "TasksMaxScale",
                "@u 100",
                prop("TasksMaxScale", Value::U32(100)),
            ),
            (
                "TimeoutStopSec",
                "5",
                prop("TimeoutStopUSec", Value::U64(5_000_000)),
            ),
            (
                "TimeoutStopUSec",
                "uint64 7",
                prop("TimeoutStopUSec", Value::U64(7)),
            ),
            (
                "After",
                "['a.service', 'b.service']",
                prop(
                    "After",
                    Value::Strs(vec!["a.service".into(), "b.service".into()]),
                ),
            ),
        ];
        for (name, text, want) in table {
            assert_eq!(
                &annotation_property(name, text).unwrap(),
                want,
                "{name}={text}"
            );
        }
        for (name, text) in [
            ("MemoryMax", "{'a': 1}"),
            ("MemoryMax", "uint64 x"),
            ("PIDs", "[1]"),
            ("bad-name", "1"),
            ("X", "'unterminated"),
            ("TimeoutSec", "'x'"),
        ] {
            let err = annotation_property(name, text).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn variants_have_systemd_signatures() {
        let table: &[(Value, &str)] = &[
            (Value::U64(1), "t"),
            (Value::Bool(true), "b"),
            (Value::Str("x".into()), "s"),
            (Value::Bytes(vec![1]), "ay"),
            (Value::U32s(vec![1]), "au"),
            (Value::DeviceAccess(vec![]), "a(ss)"),
            (Value::DeviceValues(vec![("a".into(), 1)]), "a(st)"),
            (Value::Strs(vec![]), "as"),
        ];
        for (v, sig) in table {
            assert_eq!(v.to_variant().value_signature().to_string(), *sig, "{v:?}");
        }
    }
}
