//! The container's cgroup: which systemd scope, and the resource limits it carries.
//!
//! libcontainer's `configs.Cgroup` and `configs.Resources` as plain data. `None` means
//! "not set" (libcontainer uses 0 for that, which makes 0 unrepresentable for some knobs).
//! The mapping to unit properties lives in `systemd::properties`; nothing here talks to
//! systemd or cgroupfs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::DeviceType;

/// Where a container's cgroup lives: a transient scope `<scope_prefix>-<name>.scope` in `slice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cgroup {
    /// Parent slice (runc `cgroupsPath` first part), default `machine.slice`.
    pub slice: String,
    /// Unit name prefix, default `unitbox`.
    pub scope_prefix: String,
    /// Unit name body, normally the container id (already escaped if needed).
    pub name: String,
    /// Extra unit properties from `org.systemd.property.<Name>` annotations:
    /// (property name, value in GVariant text form as runc accepts it).
    pub systemd_properties: Vec<(String, String)>,
    /// Limits.
    pub resources: Resources,
}

impl Default for Cgroup {
    fn default() -> Self {
        Cgroup {
            slice: "machine.slice".to_owned(),
            scope_prefix: "unitbox".to_owned(),
            name: String::new(),
            systemd_properties: Vec::new(),
            resources: Resources::default(),
        }
    }
}

/// Resource limits (libcontainer `configs.Resources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    /// Device cgroup rules, in order (later rules win).
    pub devices: Vec<DeviceRule>,
    /// Memory limit in bytes (`-1`: unlimited).
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    pub memory_reservation: Option<i64>,
    /// Memory + swap limit in bytes (`-1`: unlimited).
    pub memory_swap: Option<i64>,
    /// Swappiness (0–100).
    pub memory_swappiness: Option<u64>,
    /// Disable the OOM killer (v1 only).
    pub oom_kill_disable: Option<bool>,
    /// On update, refuse a memory limit below current usage (runc `checkBeforeUpdate`).
    pub memory_check_before_update: Option<bool>,
    /// Relative CPU weight (v1 `cpu.shares`, 2–262144).
    pub cpu_shares: Option<u64>,
    /// CPU time allowed per period, µs (`-1`: unlimited).
    pub cpu_quota: Option<i64>,
    /// Length of the CFS period, µs.
    pub cpu_period: Option<u64>,
    /// Burst allowance, µs.
    pub cpu_burst: Option<u64>,
    /// Realtime runtime, µs.
    pub cpu_rt_runtime: Option<i64>,
    /// Realtime period, µs.
    pub cpu_rt_period: Option<u64>,
    /// `cpu.idle` (v2).
    pub cpu_idle: Option<i64>,
    /// CPUs allowed (`0-3,5`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (`-1` or `0`… see `systemd::properties` for the mapping).
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10–1000).
    pub blkio_weight: Option<u16>,
    /// Leaf weight (v1 CFQ).
    pub blkio_leaf_weight: Option<u16>,
    /// Per-device weights.
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Per-device read bandwidth limits (bytes/s).
    pub blkio_throttle_read_bps_device: Vec<ThrottleDevice>,
    /// Per-device write bandwidth limits (bytes/s).
    pub blkio_throttle_write_bps_device: Vec<ThrottleDevice>,
    /// Per-device read IOPS limits.
    pub blkio_throttle_read_iops_device: Vec<ThrottleDevice>,
    /// Per-device write IOPS limits.
    pub blkio_throttle_write_iops_device: Vec<ThrottleDevice>,
    /// Hugepage limits.
    pub hugetlb_limit: Vec<HugepageLimit>,
    /// net_cls class id.
    pub net_cls_classid: Option<u32>,
    /// net_prio per-interface priorities.
    pub net_prio_ifpriomap: Vec<IfPrioMap>,
    /// RDMA limits per device.
    pub rdma: BTreeMap<String, RdmaLimit>,
    /// Raw cgroup v2 files (`memory.high` → `"1G"`).
    pub unified: BTreeMap<String, String>,
}

/// One device cgroup rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRule {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// Device type (`a` for all).
    #[serde(rename = "type")]
    pub kind: DeviceType,
    /// Major number (`None`: any).
    pub major: Option<i64>,
    /// Minor number (`None`: any).
    pub minor: Option<i64>,
    /// Access: a subset of `rwm`.
    pub access: String,
}

/// A block device weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Weight (10–1000).
    pub weight: Option<u16>,
    /// Leaf weight.
    pub leaf_weight: Option<u16>,
}

/// A block device throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Rate (bytes/s or ops/s).
    pub rate: u64,
}

/// A hugepage limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HugepageLimit {
    /// Page size, as in `hugetlb.<size>.limit_in_bytes` (`2MB`, `1GB`).
    pub page_size: String,
    /// Limit in bytes.
    pub limit: u64,
}

/// A net_prio interface priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfPrioMap {
    /// Interface name.
    pub interface: String,
    /// Priority.
    pub priority: u32,
}

/// RDMA limits of one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RdmaLimit {
    /// Maximum HCA handles.
    pub hca_handles: Option<u32>,
    /// Maximum HCA objects.
    pub hca_objects: Option<u32>,
}
