//! `ScopeManager`: the engine's `CgroupManager`, one transient scope per container.
//!
//! Create = `StartTransientUnit` with the init pid, the creation properties and the
//! mapped resources, then (v1) the freezer/cpuset directories and the knobs without a
//! property. Update = `SetUnitProperties(runtime=true)` with the same mapping. Destroy =
//! kill, stop (only if still active), `ResetFailedUnit`, `UnrefUnit`, remove our own v1
//! directories: nothing is left behind, including after a failed create.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use crate::cgroupfs::delegated::{self, CgroupWrite};
use crate::cgroupfs::oom::OomEvent;
use crate::cgroupfs::pressure::PressureLevel;
use crate::cgroupfs::{self, freezer, CgroupMode, CgroupfsError, Controller, ScopePaths};
use crate::cgroups::{CgroupManager, FreezerState, Stats};
use crate::config::{Cgroup, Resources};

use super::connection::{Bus, SystemdConnection};
use super::properties::{self, KernelDevices, Property, Value};
use super::unit_name::{slice_cgroup_path, UnitName};
use super::{machined, SystemdError};

const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SCOPE_IFACE: &str = "org.freedesktop.systemd1.Scope";

/// Choices of a scope beyond the config's `Cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeOptions {
    /// `Description=` of the unit (default `unitbox container <name>`).
    pub description: Option<String>,
    /// Register the container with systemd-machined under this machine name, so
    /// `machinectl list/status` show it.
    pub register_machine: Option<machined::Registration>,
}

/// The systemd cgroup manager of one container.
#[derive(Debug)]
pub struct ScopeManager {
    conn: Arc<SystemdConnection>,
    unit: UnitName,
    cgroup: Cgroup,
    mode: CgroupMode,
    options: ScopeOptions,
    /// The unit's `ControlGroup`, learned once the scope exists.
    paths: Mutex<Option<ScopePaths>>,
}

impl ScopeManager {
    /// A manager for the scope `unit` holding the container of `cgroup`, on `conn`.
    /// Nothing is created until [`CgroupManager::apply`].
    pub fn new(
        conn: Arc<SystemdConnection>,
        cgroup: &Cgroup,
        unit: UnitName,
    ) -> Result<ScopeManager, crate::Error> {
        let mode = CgroupMode::detect()?;
        Ok(ScopeManager {
            conn,
            unit,
            cgroup: cgroup.clone(),
            mode,
            options: ScopeOptions::default(),
            paths: Mutex::new(None),
        })
    }

    /// [`ScopeManager::new`] on a fresh connection: the system bus for root, the user's
    /// bus for rootless callers.
    pub fn connect_system(cgroup: &Cgroup, unit: UnitName) -> Result<ScopeManager, crate::Error> {
        let conn = SystemdConnection::connect(Bus::for_current_user())?;
        ScopeManager::new(conn, cgroup, unit)
    }

    /// A manager for an existing scope recorded by an earlier process (`unitbox delete`),
    /// in the default slice. Use [`ScopeManager::load_in`] for another slice.
    pub fn load(unit: UnitName) -> Result<ScopeManager, crate::Error> {
        let conn = SystemdConnection::connect(Bus::for_current_user())?;
        ScopeManager::load_in(conn, unit, &Cgroup::default().slice)
    }

    /// A manager for an existing scope `unit` in `slice`. The slice only matters to find
    /// unitbox's own v1 directories once systemd has forgotten the unit.
    pub fn load_in(
        conn: Arc<SystemdConnection>,
        unit: UnitName,
        slice: &str,
    ) -> Result<ScopeManager, crate::Error> {
        let cgroup = Cgroup {
            slice: slice.to_owned(),
            ..Cgroup::default()
        };
        ScopeManager::new(conn, &cgroup, unit)
    }

    /// The same manager with extra options (description, machined registration).
    pub fn with_options(mut self, options: ScopeOptions) -> ScopeManager {
        self.options = options;
        self
    }

    /// The host's cgroup layout.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The connection this manager uses.
    pub fn connection(&self) -> &Arc<SystemdConnection> {
        &self.conn
    }

    /// The unit's `ActiveState` (`active`, `inactive`, `failed`…), `None` when systemd has
    /// no such unit loaded. `systemctl stop` of the scope shows here.
    pub fn active_state(&self) -> Result<Option<String>, crate::Error> {
        let sd = self.conn.systemd();
        Ok(self
            .conn
            .block_on(sd.unit_string(self.unit.as_str(), UNIT_IFACE, "ActiveState"))?)
    }

    /// A channel that receives an event per OOM kill in the scope; its thread ends
    /// with the cgroup.
    pub fn notify_oom(&self) -> Result<Receiver<OomEvent>, crate::Error> {
        Ok(cgroupfs::oom::watch(&self.scope_paths()?)?)
    }

    /// A channel that receives `level` whenever the scope is under that memory pressure.
    pub fn notify_memory_pressure(
        &self,
        level: PressureLevel,
    ) -> Result<Receiver<PressureLevel>, crate::Error> {
        Ok(cgroupfs::pressure::watch(&self.scope_paths()?, level)?)
    }

    /// Everything `StartTransientUnit` gets: the scope's own settings, accounting, the
    /// resources, then the `org.systemd.property.*` annotations (which may override).
    pub fn creation_properties(
        &self,
        pid: i32,
        resource_props: Vec<Property>,
    ) -> Result<Vec<Property>, SystemdError> {
        let pid = u32::try_from(pid).map_err(|_| properties::MappingError::Invalid {
            field: "pid".to_owned(),
            value: pid.to_string(),
            rule: "must be a positive process id",
        })?;
        let description = self
            .options
            .description
            .clone()
            .unwrap_or_else(|| format!("unitbox container {}", self.cgroup.name));
        let mut props = vec![
            Property::new("Description", Value::Str(description)),
            Property::new("Slice", Value::Str(self.cgroup.slice.clone())),
            Property::new("Delegate", Value::Bool(true)),
            Property::new("CollectMode", Value::Str("inactive-or-failed".to_owned())),
            Property::new("AddRef", Value::Bool(true)),
            Property::new("DefaultDependencies", Value::Bool(false)),
            Property::new("PIDs", Value::U32s(vec![pid])),
        ];
        props.extend(properties::accounting_properties(self.mode));
        props.extend(resource_props);
        for (name, text) in &self.cgroup.systemd_properties {
            props.push(properties::annotation_property(name, text)?);
        }
        Ok(props)
    }

    /// The scope's directories; asks systemd for `ControlGroup` the first time. A unit
    /// systemd has forgotten falls back to `<slice path>/<unit>`.
    fn scope_paths(&self) -> Result<ScopePaths, crate::Error> {
        let mut cached = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cached.as_ref() {
            return Ok(p.clone());
        }
        let sd = self.conn.systemd();
        let control_group =
            self.conn
                .block_on(sd.unit_string(self.unit.as_str(), SCOPE_IFACE, "ControlGroup"))?;
        match control_group.filter(|cg| !cg.is_empty()) {
            Some(cg) => {
                let p = ScopePaths::new(self.mode, &cg);
                *cached = Some(p.clone());
                Ok(p)
            }
            None => Ok(ScopePaths::new(
                self.mode,
                &format!("{}/{}", slice_cgroup_path(&self.cgroup.slice), self.unit),
            )),
        }
    }

    fn start_scope(&self, pid: i32) -> Result<ScopePaths, crate::Error> {
        let plan = properties::plan(&self.cgroup.resources, self.mode, &KernelDevices)
            .map_err(SystemdError::from)?;
        let props = self.creation_properties(pid, plan.properties)?;
        let sd = self.conn.systemd();
        self.conn
            .block_on(sd.start_transient_unit(self.unit.as_str(), &props))?;
        let paths = self.scope_paths()?;
        delegated::join_own_dirs(&paths, pid)?;
        delegated::apply(&paths, &plan.writes)?;
        if let Some(reg) = &self.options.register_machine {
            self.conn.block_on(machined::register(sd, reg, pid))?;
        }
        Ok(paths)
    }

    /// Refuses a memory limit below current usage: the kernel would OOM-kill the
    /// container (v2) or answer EBUSY (v1) instead.
    fn check_memory_limit(&self, paths: &ScopePaths, r: &Resources) -> Result<(), CgroupfsError> {
        let Some(limit) = r.memory.filter(|m| *m > 0).map(i64::unsigned_abs) else {
            return Ok(());
        };
        let usage_file = match self.mode {
            CgroupMode::Unified => paths.tracking().join("memory.current"),
            _ => paths
                .controller(Controller::Memory)
                .join("memory.usage_in_bytes"),
        };
        let usage = cgroupfs::read_u64(&usage_file)?;
        if limit < usage {
            return Err(CgroupfsError::LimitBelowUsage {
                field: "resources.memory".to_owned(),
                limit,
                usage,
            });
        }
        Ok(())
    }

    fn v1_freezer_dir(&self) -> Result<PathBuf, crate::Error> {
        Ok(self.scope_paths()?.controller(Controller::Freezer))
    }

    fn unit_is_loaded(&self) -> Result<bool, crate::Error> {
        let sd = self.conn.systemd();
        Ok(self
            .conn
            .block_on(sd.unit_path(self.unit.as_str()))?
            .is_some())
    }
}

/// v1 memsw must stay ≥ the memory limit at every step: when the new limit exceeds the
/// current memsw, memsw is raised first; otherwise it is written after the limit.
fn memsw_goes_first(paths: &ScopePaths, r: &Resources, writes: &[CgroupWrite]) -> bool {
    let has_memsw = writes
        .iter()
        .any(|w| w.file == "memory.memsw.limit_in_bytes");
    let Some(limit) = r
        .memory
        .map(|m| if m < 0 { u64::MAX } else { m.unsigned_abs() })
    else {
        return false;
    };
    let current = cgroupfs::read_u64(
        &paths
            .controller(Controller::Memory)
            .join("memory.memsw.limit_in_bytes"),
    )
    .unwrap_or(u64::MAX);
    has_memsw && limit > current
}

impl CgroupManager for ScopeManager {
    fn apply(&self, pid: i32) -> crate::Result<()> {
        match self.start_scope(pid) {
            Ok(_) => Ok(()),
            Err(e) => {
                // Never leave a half-made scope behind; the first error is the one to report.
                let _ = self.destroy();
                Err(e)
            }
        }
    }

    fn add_process(&self, pid: i32) -> crate::Result<()> {
        let pid_u = u32::try_from(pid).map_err(|_| {
            SystemdError::from(properties::MappingError::Invalid {
                field: "pid".to_owned(),
                value: pid.to_string(),
                rule: "must be a positive process id",
            })
        })?;
        let sd = self.conn.systemd();
        self.conn
            .block_on(sd.attach_processes(self.unit.as_str(), &[pid_u]))?;
        delegated::join_own_dirs(&self.scope_paths()?, pid)?;
        Ok(())
    }

    fn set(&self, resources: &Resources) -> crate::Result<()> {
        let plan =
            properties::plan(resources, self.mode, &KernelDevices).map_err(SystemdError::from)?;
        let paths = self.scope_paths()?;
        self.check_memory_limit(&paths, resources)?;
        let (first, later): (Vec<CgroupWrite>, Vec<CgroupWrite>) =
            if memsw_goes_first(&paths, resources, &plan.writes) {
                plan.writes
                    .iter()
                    .cloned()
                    .partition(|w| w.file == "memory.memsw.limit_in_bytes")
            } else {
                (Vec::new(), plan.writes.clone())
            };
        delegated::apply(&paths, &first)?;
        // systemd re-applies device rules disruptively; on v1 freeze around the update as
        // runc does (opencontainers/runc#3082), unless the container is paused already.
        let touches_devices = !resources.devices.is_empty();
        let freeze_around =
            touches_devices && self.mode.is_v1() && self.freezer_state()? == FreezerState::Thawed;
        if freeze_around {
            self.freeze()?;
        }
        // systemd 252 appends each new drop-in to the unit's list unsorted and reports
        // NeedDaemonReload=yes when that list differs from the sorted one on disk; sending
        // the properties sorted by name keeps them in disk order (DeviceAllow=[] still
        // precedes DeviceAllow=[…] and DevicePolicy: the sort is stable).
        let mut props = plan.properties.clone();
        props.sort_by(|a, b| a.name.cmp(&b.name));
        let sd = self.conn.systemd();
        let result = self
            .conn
            .block_on(sd.set_unit_properties(self.unit.as_str(), &props));
        if freeze_around {
            self.thaw()?;
        }
        result?;
        delegated::apply(&paths, &later)?;
        Ok(())
    }

    fn freeze(&self) -> crate::Result<()> {
        if self.mode.is_v1() {
            freezer::freeze(&self.v1_freezer_dir()?)?;
        } else {
            let sd = self.conn.systemd();
            self.conn.block_on(sd.freeze_unit(self.unit.as_str()))?;
        }
        Ok(())
    }

    fn thaw(&self) -> crate::Result<()> {
        if self.mode.is_v1() {
            freezer::thaw(&self.v1_freezer_dir()?)?;
        } else {
            let sd = self.conn.systemd();
            self.conn.block_on(sd.thaw_unit(self.unit.as_str()))?;
        }
        Ok(())
    }

    fn freezer_state(&self) -> crate::Result<FreezerState> {
        if self.mode.is_v1() {
            return Ok(freezer::state(&self.v1_freezer_dir()?)?);
        }
        let sd = self.conn.systemd();
        let state =
            self.conn
                .block_on(sd.unit_string(self.unit.as_str(), UNIT_IFACE, "FreezerState"))?;
        Ok(state
            .as_deref()
            .map(freezer::from_unit_state)
            .unwrap_or(FreezerState::Thawed))
    }

    fn pids(&self) -> crate::Result<Vec<i32>> {
        Ok(cgroupfs::pids::all(&self.scope_paths()?.tracking())?)
    }

    fn stats(&self) -> crate::Result<Stats> {
        let mut stats = cgroupfs::stats::read(&self.scope_paths()?)?;
        // Fill what the files lacked from systemd's own counters.
        let sd = self.conn.systemd();
        let unit = self.unit.as_str();
        let counters = self.conn.block_on(async {
            Ok::<_, SystemdError>((
                sd.unit_u64(unit, SCOPE_IFACE, "MemoryCurrent").await?,
                sd.unit_u64(unit, SCOPE_IFACE, "CPUUsageNSec").await?,
                sd.unit_u64(unit, SCOPE_IFACE, "TasksCurrent").await?,
            ))
        })?;
        let (memory, cpu, tasks) = counters;
        if stats.memory.usage.usage == 0 {
            stats.memory.usage.usage = memory.unwrap_or(0);
        }
        if stats.cpu.total_usage == 0 {
            stats.cpu.total_usage = cpu.unwrap_or(0);
        }
        if stats.pids.current == 0 {
            stats.pids.current = tasks.unwrap_or(0);
        }
        Ok(stats)
    }

    fn kill_all(&self, signal: i32) -> crate::Result<()> {
        let sd = self.conn.systemd();
        self.conn
            .block_on(sd.kill_unit(self.unit.as_str(), signal))?;
        Ok(())
    }

    fn destroy(&self) -> crate::Result<()> {
        let paths = self.scope_paths()?;
        if self.unit_is_loaded()? {
            // Frozen v1 tasks would not die: thaw first.
            if self.mode.is_v1() {
                freezer::thaw(&paths.controller(Controller::Freezer)).or_else(ignore_missing)?;
            }
            let sd = self.conn.systemd();
            let unit = self.unit.as_str();
            self.conn.block_on(async {
                let state = sd.unit_string(unit, UNIT_IFACE, "ActiveState").await?;
                // A scope whose processes are gone stopped by itself: no stop job to wait for.
                if matches!(
                    state.as_deref(),
                    Some("active" | "activating" | "deactivating" | "reloading")
                ) {
                    sd.kill_unit(unit, libc::SIGKILL).await?;
                    sd.stop_unit(unit).await?;
                }
                sd.reset_failed_unit(unit).await?;
                sd.unref_unit(unit).await
            })?;
        }
        delegated::remove_own_dirs(&paths)?;
        Ok(())
    }

    fn unit_name(&self) -> &str {
        self.unit.as_str()
    }

    fn paths(&self) -> crate::Result<BTreeMap<String, PathBuf>> {
        let p = self.scope_paths()?;
        let mut map = BTreeMap::new();
        if self.mode.is_v1() {
            for c in Controller::ALL {
                if p.is_mounted(c) {
                    map.insert(c.name().to_owned(), p.controller(c));
                }
            }
            let tracking = if self.mode == CgroupMode::Hybrid {
                "unified"
            } else {
                "systemd"
            };
            map.insert(tracking.to_owned(), p.tracking());
        } else {
            map.insert(String::new(), p.tracking());
        }
        Ok(map)
    }
}

/// A freezer directory that does not exist has nothing to thaw.
fn ignore_missing(e: CgroupfsError) -> Result<(), CgroupfsError> {
    match &e {
        CgroupfsError::Write { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        _ => Err(e),
    }
}
