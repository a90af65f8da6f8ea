//! Which cgroup layout the host has (v1, hybrid, v2), and where a scope's files are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use serde::{Deserialize, Serialize};

use super::CgroupfsError;

/// Where cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The host's cgroup layout, as systemd names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMode {
    /// Only v1 hierarchies (plus `name=systemd`).
    Legacy,
    /// v1 controllers, plus a controller-less v2 hierarchy at `unified/` for tracking.
    Hybrid,
    /// Everything on one v2 hierarchy.
    Unified,
}

impl CgroupMode {
    /// Detects the layout from the filesystem types under `/sys/fs/cgroup`.
    pub fn detect() -> Result<CgroupMode, CgroupfsError> {
        CgroupMode::detect_at(Path::new(CGROUP_ROOT))
    }

    /// Detects the layout of a cgroup root mounted at `root`.
    pub fn detect_at(root: &Path) -> Result<CgroupMode, CgroupfsError> {
        if is_cgroup2(root)? {
            return Ok(CgroupMode::Unified);
        }
        let unified = root.join("unified");
        if unified.exists() && is_cgroup2(&unified)? {
            return Ok(CgroupMode::Hybrid);
        }
        Ok(CgroupMode::Legacy)
    }

    /// Whether controllers live on v1 hierarchies (legacy and hybrid).
    pub fn is_v1(self) -> bool {
        !matches!(self, CgroupMode::Unified)
    }

    /// systemd's word for the layout (`legacy`, `hybrid`, `unified`).
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::Legacy => "legacy",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::Unified => "unified",
        }
    }
}

impl fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_cgroup2(path: &Path) -> Result<bool, CgroupfsError> {
    let st = statfs(path).map_err(|source| CgroupfsError::Statfs {
        path: path.to_owned(),
        source,
    })?;
    Ok(st.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// A cgroup controller (v1 hierarchy name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Controller {
    /// `cpu`.
    Cpu,
    /// `cpuacct`.
    Cpuacct,
    /// `cpuset`.
    Cpuset,
    /// `memory`.
    Memory,
    /// `blkio` (v2: `io`).
    Blkio,
    /// `devices`.
    Devices,
    /// `pids`.
    Pids,
    /// `freezer`.
    Freezer,
    /// `hugetlb`.
    Hugetlb,
    /// `net_cls`.
    NetCls,
    /// `net_prio`.
    NetPrio,
    /// `rdma`.
    Rdma,
}

impl Controller {
    /// Every controller.
    pub const ALL: [Controller; 12] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Blkio,
        Controller::Devices,
        Controller::Pids,
        Controller::Freezer,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::Rdma,
    ];

    /// The v1 hierarchy name.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Blkio => "blkio",
            Controller::Devices => "devices",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
        }
    }

    /// Whether systemd creates the unit's directory in this v1 hierarchy
    /// (`CGROUP_MASK_V1`: cpu, cpuacct, blkio, memory, devices, pids). For the others
    /// unitbox makes and removes the same-named directory itself, as runc does.
    pub fn is_managed_by_systemd_on_v1(self) -> bool {
        matches!(
            self,
            Controller::Cpu
                | Controller::Cpuacct
                | Controller::Blkio
                | Controller::Memory
                | Controller::Devices
                | Controller::Pids
        )
    }
}

/// The directories of one scope: `<root>/<hierarchy>/<ControlGroup>` on v1,
/// `<root>/<ControlGroup>` on v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopePaths {
    /// Host layout.
    pub mode: CgroupMode,
    /// Mount root (`/sys/fs/cgroup`).
    pub root: PathBuf,
    /// The unit's `ControlGroup` (`/machine.slice/unitbox-x.scope`).
    pub cgroup: String,
}

impl ScopePaths {
    /// The scope's paths under `/sys/fs/cgroup`.
    pub fn new(mode: CgroupMode, cgroup: &str) -> ScopePaths {
        ScopePaths {
            mode,
            root: PathBuf::from(CGROUP_ROOT),
            cgroup: cgroup.to_owned(),
        }
    }

    fn under(&self, base: PathBuf) -> PathBuf {
        base.join(self.cgroup.trim_start_matches('/'))
    }

    /// The v1 hierarchy root of a controller (the v2 root on unified hosts).
    pub fn hierarchy(&self, controller: Controller) -> PathBuf {
        match self.mode {
            CgroupMode::Unified => self.root.clone(),
            _ => self.root.join(controller.name()),
        }
    }

    /// Whether the controller's hierarchy is mounted (v1: a cgroup filesystem at
    /// `<root>/<name>`, not merely a directory there).
    ///
    /// Under `/sys/fs/cgroup` the answer is remembered for the life of the process: the
    /// hierarchies are mounted at boot, and a daemon asks for every controller of every
    /// container it creates and removes.
    pub fn is_mounted(&self, controller: Controller) -> bool {
        let probe = || {
            statfs(&self.hierarchy(controller)).is_ok_and(|st| match self.mode {
                CgroupMode::Unified => st.filesystem_type() == CGROUP2_SUPER_MAGIC,
                _ => st.filesystem_type() == CGROUP_SUPER_MAGIC,
            })
        };
        if self.root != Path::new(CGROUP_ROOT) {
            return probe();
        }
        // 0: not asked yet, 1: mounted, 2: not mounted; per mode, per controller.
        static KNOWN: [[AtomicU8; Controller::ALL.len()]; 3] =
            [const { [const { AtomicU8::new(0) }; Controller::ALL.len()] }; 3];
        let slot = &KNOWN[self.mode as usize][controller as usize];
        match slot.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let mounted = probe();
                slot.store(if mounted { 1 } else { 2 }, Ordering::Relaxed);
                mounted
            }
        }
    }

    /// The scope's directory for a controller.
    pub fn controller(&self, controller: Controller) -> PathBuf {
        self.under(self.hierarchy(controller))
    }

    /// The scope's directory in the hierarchy systemd tracks processes in
    /// (v2 root, `unified/` on hybrid, `systemd/` on legacy).
    pub fn tracking(&self) -> PathBuf {
        match self.mode {
            CgroupMode::Unified => self.under(self.root.clone()),
            CgroupMode::Hybrid => self.under(self.root.join("unified")),
            CgroupMode::Legacy => self.under(self.root.join("systemd")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_per_mode() {
        let v1 = ScopePaths::new(CgroupMode::Hybrid, "/machine.slice/unitbox-a.scope");
        assert_eq!(
            v1.controller(Controller::Memory),
            Path::new("/sys/fs/cgroup/memory/machine.slice/unitbox-a.scope")
        );
        assert_eq!(
            v1.tracking(),
            Path::new("/sys/fs/cgroup/unified/machine.slice/unitbox-a.scope")
        );
        let v2 = ScopePaths::new(CgroupMode::Unified, "/machine.slice/unitbox-a.scope");
        assert_eq!(
            v2.controller(Controller::Memory),
            Path::new("/sys/fs/cgroup/machine.slice/unitbox-a.scope")
        );
        assert_eq!(v2.tracking(), v2.controller(Controller::Pids));
        let legacy = ScopePaths::new(CgroupMode::Legacy, "/x.scope");
        assert_eq!(
            legacy.tracking(),
            Path::new("/sys/fs/cgroup/systemd/x.scope")
        );
    }

    #[test]
    fn this_host_is_detected() {
        // Runs on every host: whatever the layout, detection must not fail.
        let mode = CgroupMode::detect().unwrap();
        assert_eq!(mode.is_v1(), mode != CgroupMode::Unified);
    }
}
