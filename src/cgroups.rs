//! The seam between the container engine and the cgroup manager.
//!
//! The engine never touches cgroups itself: it hands the init pid to a [`CgroupManager`]
//! *before* init creates anything, so nothing the container forks escapes. unitbox has one
//! implementation, `systemd::ScopeManager` (a transient scope per container); the trait
//! exists so the engine's ordering can be read (and unit-tested) without D-Bus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Resources;

/// The freezer state of a container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    /// Processes run.
    Thawed,
    /// A freeze was asked for and is not complete yet.
    Freezing,
    /// Every process is frozen.
    Frozen,
}

/// What the engine needs from a cgroup manager.
///
/// Errors are the library's [`crate::Error`] so the manager can report systemd's own
/// failures with their unit and job.
pub trait CgroupManager: Send + Sync {
    /// Creates the container's cgroup holding `pid` (and only it), with the resources of
    /// the config, and returns once the process is inside.
    fn apply(&self, pid: i32) -> crate::Result<()>;
    /// Moves another process (an `exec`) into the container's cgroup.
    fn add_process(&self, pid: i32) -> crate::Result<()>;
    /// Changes the resource limits of the running container.
    fn set(&self, resources: &Resources) -> crate::Result<()>;
    /// Freezes every process; returns once they are frozen.
    fn freeze(&self) -> crate::Result<()>;
    /// Thaws every process.
    fn thaw(&self) -> crate::Result<()>;
    /// The current freezer state.
    fn freezer_state(&self) -> crate::Result<FreezerState>;
    /// Pids of every process in the cgroup (host pid namespace).
    fn pids(&self) -> crate::Result<Vec<i32>>;
    /// Resource usage counters.
    fn stats(&self) -> crate::Result<Stats>;
    /// Sends `signal` to every process in the cgroup.
    fn kill_all(&self, signal: i32) -> crate::Result<()>;
    /// Removes the cgroup: kills what is left, waits, and leaves nothing behind.
    fn destroy(&self) -> crate::Result<()>;
    /// The systemd unit that holds the container.
    fn unit_name(&self) -> &str;
    /// Cgroup directories of the container per hierarchy (`memory`, `pids`, `unified`, …).
    fn paths(&self) -> crate::Result<BTreeMap<String, PathBuf>>;
}

/// Resource usage of a container (libcontainer `cgroups.Stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// CPU usage.
    pub cpu: CpuStats,
    /// Memory usage.
    pub memory: MemoryStats,
    /// Task counts.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
    /// Hugepage usage per page size.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Network interfaces of the container's network namespace.
    pub network_interfaces: Vec<NetworkInterface>,
}

/// CPU usage (libcontainer `CpuStats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// Total CPU time, ns.
    pub total_usage: u64,
    /// Per-CPU time, ns (v1 `cpuacct.usage_percpu`).
    pub percpu_usage: Vec<u64>,
    /// Time in kernel mode, ns.
    pub usage_in_kernelmode: u64,
    /// Time in user mode, ns.
    pub usage_in_usermode: u64,
    /// Periods elapsed under a quota.
    pub throttling_periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Total time throttled, ns.
    pub throttled_time: u64,
}

/// One memory counter with its peak, limit and failure count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryData {
    /// Current usage, bytes.
    pub usage: u64,
    /// Peak usage, bytes.
    pub max_usage: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
    /// Limit, bytes (`u64::MAX`: none).
    pub limit: u64,
}

/// Memory usage (libcontainer `MemoryStats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Page cache, bytes.
    pub cache: u64,
    /// Anonymous memory, bytes.
    pub rss: u64,
    /// Memory.
    pub usage: MemoryData,
    /// Memory + swap.
    pub swap_usage: MemoryData,
    /// Kernel memory.
    pub kernel_usage: MemoryData,
    /// Raw `memory.stat` counters.
    pub stats: BTreeMap<String, u64>,
    /// Times the OOM killer killed a process here.
    pub oom_kill: u64,
}

/// Task counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Tasks now.
    pub current: u64,
    /// Limit (0: none).
    pub limit: u64,
}

/// One block I/O counter of one device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    pub op: String,
    /// Value.
    pub value: u64,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    /// Bytes transferred.
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Hugepage usage of one page size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HugetlbStats {
    /// Usage, bytes.
    pub usage: u64,
    /// Peak, bytes.
    pub max_usage: u64,
    /// Allocation failures.
    pub failcnt: u64,
}

/// Counters of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Receive drops.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Send drops.
    pub tx_dropped: u64,
}
