//! One transient scope per container: the async [`Scope`] and the engine's sync
//! [`ScopeManager`] (a `CgroupManager`) built on it.
//!
//! Create = `StartTransientUnit` with the init pid, the creation properties and the
//! mapped resources, then (v1) the hierarchies systemd leaves alone and the knobs without
//! a property. Update = `SetUnitProperties(runtime=true)` with the same mapping. Destroy =
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

use super::accounting::UnitAccounting;
use super::connection::{Bus, Systemd, SystemdConnection};
use super::properties::{self, KernelDevices, MappingError, Property, Value};
use super::unit_name::{slice_cgroup_path, UnitName};
use super::{machined, slice_anchor, SystemdError};

const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SCOPE_IFACE: &str = "org.freedesktop.systemd1.Scope";
const MEMSW_FILE: &str = "memory.memsw.limit_in_bytes";

/// Choices of a scope beyond the config's `Cgroup`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeOptions {
    /// `Description=` of the unit (default `unitbox container <name>`).
    pub description: Option<String>,
    /// Register the container with systemd-machined, so `machinectl list/status` show it.
    pub register_machine: Option<machined::Registration>,
    /// Further `StartTransientUnit` properties, checked by the caller (unitboxd's
    /// `ScopeProperties`); they come after the resources and before the annotations.
    pub extra_properties: Vec<Property>,
    /// Leave out `AddRef`: for a client that exits right after the scope starts (the CLI's
    /// `create`), whose reference would be dropped at once and only cost systemd a watch
    /// on our bus name (a match on the bus, then the name-lost handling) per container.
    pub no_bus_reference: bool,
}

/// A container's scope, driven asynchronously through a [`Systemd`] client (the daemon
/// uses this on its own runtime; [`ScopeManager`] wraps it for the synchronous engine).
#[derive(Debug)]
pub struct Scope {
    unit: UnitName,
    cgroup: Cgroup,
    mode: CgroupMode,
    options: ScopeOptions,
    /// The scope's directories, learned from `ControlGroup` once the scope exists.
    paths: Mutex<Option<ScopePaths>>,
    /// Set for a scope another process made (see [`ScopeManager::with_recorded_paths`]):
    /// no reference of ours keeps its unit loaded.
    made_elsewhere: bool,
}

impl Scope {
    /// The scope `unit` for the container of `cgroup`, on a host of layout `mode`.
    /// Nothing is created until [`Scope::apply`].
    pub fn new(cgroup: &Cgroup, unit: UnitName, mode: CgroupMode, options: ScopeOptions) -> Scope {
        Scope {
            unit,
            cgroup: cgroup.clone(),
            mode,
            options,
            paths: Mutex::new(None),
            made_elsewhere: false,
        }
    }

    /// The unit name.
    pub fn unit(&self) -> &UnitName {
        &self.unit
    }

    /// The host's cgroup layout.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// Everything `StartTransientUnit` gets: the scope's own settings, accounting, the
    /// resources, then the `org.systemd.property.*` annotations (which may override).
    pub fn creation_properties(
        &self,
        pid: i32,
        resource_props: Vec<Property>,
    ) -> Result<Vec<Property>, SystemdError> {
        let pid = positive_pid(pid)?;
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
            Property::new("DefaultDependencies", Value::Bool(false)),
            Property::new("PIDs", Value::U32s(vec![pid])),
        ];
        if !self.options.no_bus_reference {
            props.insert(4, Property::new("AddRef", Value::Bool(true)));
        }
        props.extend(properties::accounting_properties(self.mode));
        props.extend(resource_props);
        props.extend(self.options.extra_properties.iter().cloned());
        for (name, text) in &self.cgroup.systemd_properties {
            props.push(properties::annotation_property(name, text)?);
        }
        Ok(props)
    }

    /// The scope's directories; asks systemd for `ControlGroup` the first time. A unit
    /// systemd has forgotten falls back to `<slice path>/<unit>`.
    pub async fn paths(&self, sd: &Systemd) -> Result<ScopePaths, SystemdError> {
        if let Some(p) = self.cached_paths() {
            return Ok(p);
        }
        let control_group = sd
            .unit_string(self.unit.as_str(), SCOPE_IFACE, "ControlGroup")
            .await?;
        match control_group.filter(|cg| !cg.is_empty()) {
            Some(cg) => {
                let p = ScopePaths::new(self.mode, &cg);
                *self.paths.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
                Ok(p)
            }
            None => Ok(ScopePaths::new(
                self.mode,
                &format!("{}/{}", slice_cgroup_path(&self.cgroup.slice), self.unit),
            )),
        }
    }

    /// Seeds the directories (known from an earlier handle on the same scope), so that
    /// [`Scope::paths`] does not ask systemd.
    pub fn remember_paths(&self, paths: ScopePaths) {
        *self.paths.lock().unwrap_or_else(|e| e.into_inner()) = Some(paths);
    }

    /// The scope's directories as the kernel shows them for `pid`, a process systemd just
    /// put in the scope (`/proc/<pid>/cgroup`, the tracking hierarchy's line): the same
    /// `ControlGroup` systemd would answer, without two calls. Cached; `None` when the
    /// process is gone or not in a cgroup of this unit's name.
    fn paths_of_member(&self, pid: i32) -> Option<ScopePaths> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let cgroup = text.lines().find_map(|line| match self.mode {
            CgroupMode::Unified | CgroupMode::Hybrid => line.strip_prefix("0::"),
            CgroupMode::Legacy => line.split_once(":name=systemd:").map(|(_, path)| path),
        })?;
        if !cgroup.ends_with(&format!("/{}", self.unit)) {
            return None;
        }
        let paths = ScopePaths::new(self.mode, cgroup);
        *self.paths.lock().unwrap_or_else(|e| e.into_inner()) = Some(paths.clone());
        Some(paths)
    }

    /// The directories, if already known.
    pub fn cached_paths(&self) -> Option<ScopePaths> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Creates the scope holding `pid` with the config's resources; on any failure after
    /// systemd took the unit, the half-made scope is destroyed and the first error returned.
    ///
    /// When `StartTransientUnit` itself is refused (`UnitExists` for a name still in use
    /// after the one retry, `InvalidArgs`…), the unit is not ours and is left alone: it may
    /// be another live container's.
    pub async fn apply(&self, sd: &Systemd, pid: i32) -> crate::Result<()> {
        let plan = properties::plan(&self.cgroup.resources, self.mode, &KernelDevices)
            .map_err(SystemdError::from)?;
        let props = self.creation_properties(pid, plan.properties)?;
        let started = match sd.start_transient_unit(self.unit.as_str(), &props).await {
            Ok(()) => self.finish_start(sd, pid, &plan.writes).await,
            Err(e @ (SystemdError::Call { .. } | SystemdError::Connect { .. })) => {
                return Err(e.into())
            }
            Err(e) => Err(e.into()),
        };
        if started.is_err() {
            // The first error is the one to report; cleanup is best effort.
            let _ = self.destroy(sd).await;
        }
        started
    }

    /// What follows a `done` start job: our v1 hierarchies, the knobs without a property,
    /// machined.
    async fn finish_start(
        &self,
        sd: &Systemd,
        pid: i32,
        writes: &[CgroupWrite],
    ) -> crate::Result<()> {
        let paths = match self.paths_of_member(pid) {
            Some(paths) => paths,
            None => self.paths(sd).await?,
        };
        delegated::join_own_dirs(&paths, pid)?;
        delegated::apply(&paths, writes)?;
        if let Some(reg) = &self.options.register_machine {
            machined::register(sd, reg, pid).await?;
        }
        Ok(())
    }

    /// Moves `pid` (an `exec`) into the scope, including the v1 hierarchies we run.
    pub async fn add_process(&self, sd: &Systemd, pid: i32) -> crate::Result<()> {
        sd.attach_processes(self.unit.as_str(), &[positive_pid(pid)?])
            .await?;
        delegated::join_own_dirs(&self.paths(sd).await?, pid)?;
        Ok(())
    }

    /// Changes the limits: `SetUnitProperties(runtime=true)` plus the cgroup writes.
    pub async fn set(&self, sd: &Systemd, resources: &Resources) -> crate::Result<()> {
        let plan =
            properties::plan(resources, self.mode, &KernelDevices).map_err(SystemdError::from)?;
        let paths = self.paths(sd).await?;
        check_memory_limit(&paths, resources)?;
        let (first, later): (Vec<CgroupWrite>, Vec<CgroupWrite>) =
            if memsw_goes_first(&paths, resources, &plan.writes) {
                plan.writes
                    .iter()
                    .cloned()
                    .partition(|w| w.file == MEMSW_FILE)
            } else {
                (Vec::new(), plan.writes.clone())
            };
        delegated::apply(&paths, &first)?;
        // systemd 252 appends each new drop-in to the unit's list unsorted and reports
        // NeedDaemonReload=yes when that list differs from the sorted one on disk; sending
        // the properties sorted by name keeps them in disk order (DeviceAllow=[] still
        // precedes DeviceAllow=[…] and DevicePolicy: the sort is stable).
        let mut props = plan.properties.clone();
        props.sort_by(|a, b| a.name.cmp(&b.name));
        // systemd re-applies device rules disruptively; on v1 freeze around the update as
        // runc does (opencontainers/runc#3082), unless the container is paused already.
        let freeze_around = !resources.devices.is_empty()
            && self.mode.is_v1()
            && self.freezer_state(sd).await? == FreezerState::Thawed;
        if freeze_around {
            self.freeze(sd).await?;
        }
        let result = sd.set_unit_properties(self.unit.as_str(), &props).await;
        if freeze_around {
            self.thaw(sd).await?;
        }
        result?;
        delegated::apply(&paths, &later)?;
        Ok(())
    }

    /// Freezes every process: the v1 freezer we run, or `FreezeUnit` on v2.
    pub async fn freeze(&self, sd: &Systemd) -> crate::Result<()> {
        if self.mode.is_v1() {
            freezer::freeze(&self.paths(sd).await?.controller(Controller::Freezer))?;
        } else {
            sd.freeze_unit(self.unit.as_str()).await?;
        }
        Ok(())
    }

    /// Thaws every process.
    pub async fn thaw(&self, sd: &Systemd) -> crate::Result<()> {
        if self.mode.is_v1() {
            freezer::thaw(&self.paths(sd).await?.controller(Controller::Freezer))?;
        } else {
            sd.thaw_unit(self.unit.as_str()).await?;
        }
        Ok(())
    }

    /// The freezer state (`Freezing` while a freeze is in flight).
    pub async fn freezer_state(&self, sd: &Systemd) -> crate::Result<FreezerState> {
        if self.mode.is_v1() {
            return Ok(freezer::state(
                &self.paths(sd).await?.controller(Controller::Freezer),
            )?);
        }
        let state = sd
            .unit_string(self.unit.as_str(), UNIT_IFACE, "FreezerState")
            .await?;
        Ok(state
            .as_deref()
            .map(freezer::from_unit_state)
            .unwrap_or(FreezerState::Thawed))
    }

    /// Pids of every process in the scope and its sub-cgroups.
    pub async fn pids(&self, sd: &Systemd) -> crate::Result<Vec<i32>> {
        Ok(cgroupfs::pids::all(&self.paths(sd).await?.tracking())?)
    }

    /// Counters from the cgroup files, completed with systemd's own where the files give
    /// nothing (see [`UnitAccounting::complete`] for which source wins).
    pub async fn stats(&self, sd: &Systemd) -> crate::Result<Stats> {
        let mut stats = cgroupfs::stats::read(&self.paths(sd).await?)?;
        if let Some(accounting) = sd.scope_accounting(self.unit.as_str()).await? {
            accounting.complete(&mut stats);
        }
        Ok(stats)
    }

    /// systemd's accounting counters of the scope (`None` when the unit is gone).
    pub async fn accounting(&self, sd: &Systemd) -> crate::Result<Option<UnitAccounting>> {
        Ok(sd.scope_accounting(self.unit.as_str()).await?)
    }

    /// `KillUnit(all, signal)`.
    pub async fn kill_all(&self, sd: &Systemd, signal: i32) -> crate::Result<()> {
        sd.kill_unit(self.unit.as_str(), signal).await?;
        Ok(())
    }

    /// Kills what is left, stops the unit (only if still active: a scope whose processes
    /// are gone stopped by itself), resets and unreferences it, and removes our own v1
    /// directories. Idempotent.
    pub async fn destroy(&self, sd: &Systemd) -> crate::Result<()> {
        let paths = self.paths(sd).await?;
        if self.made_elsewhere {
            // No reference of ours holds the unit (the one AddRef took belonged to the
            // process that made it), so with CollectMode=inactive-or-failed systemd
            // unloads it as soon as it is stopped; nothing to reset or unreference.
            match tracking_state(&paths) {
                // Gone with its last process: systemd has stopped the scope already (it
                // removes the cgroup on stop). Nothing to ask.
                TrackingState::Gone => {
                    delegated::remove_own_dirs(&paths)?;
                    return Ok(());
                }
                // Its processes have all exited but systemd has not stopped it yet:
                // nothing to kill or thaw, stopping is all there is (crun's one call).
                TrackingState::Empty => {
                    sd.stop_unit(self.unit.as_str()).await?;
                    delegated::remove_own_dirs(&paths)?;
                    return Ok(());
                }
                TrackingState::Populated => {}
            }
        }
        let unit = self.unit.as_str();
        if sd.unit_path(unit).await?.is_some() {
            if self.mode.is_v1() {
                // Frozen v1 tasks would not die: thaw first.
                freezer::thaw(&paths.controller(Controller::Freezer)).or_else(ignore_missing)?;
            }
            let state = sd.unit_string(unit, UNIT_IFACE, "ActiveState").await?;
            if matches!(
                state.as_deref(),
                Some("active" | "activating" | "deactivating" | "reloading")
            ) {
                sd.kill_unit(unit, libc::SIGKILL).await?;
                sd.stop_unit(unit).await?;
            }
            sd.reset_failed_unit(unit).await?;
            sd.unref_unit(unit).await?;
        }
        delegated::remove_own_dirs(&paths)?;
        Ok(())
    }

    /// The unit's `ActiveState`, `None` when systemd has no such unit loaded.
    pub async fn active_state(&self, sd: &Systemd) -> crate::Result<Option<String>> {
        Ok(sd
            .unit_string(self.unit.as_str(), UNIT_IFACE, "ActiveState")
            .await?)
    }

    /// Cgroup directories per hierarchy (`""` → the one v2 directory).
    pub async fn cgroup_paths(&self, sd: &Systemd) -> crate::Result<BTreeMap<String, PathBuf>> {
        let p = self.paths(sd).await?;
        let mut map = BTreeMap::new();
        if self.mode.is_v1() {
            for c in Controller::ALL.into_iter().filter(|c| p.is_mounted(*c)) {
                map.insert(c.name().to_owned(), p.controller(c));
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

/// What is left of a scope's cgroup in the hierarchy systemd tracks processes in.
enum TrackingState {
    /// No directory: systemd stopped the scope.
    Gone,
    /// A directory without processes (`populated 0`).
    Empty,
    /// Processes, or a host without `cgroup.events` (v1 legacy) where we cannot tell.
    Populated,
}

fn tracking_state(paths: &ScopePaths) -> TrackingState {
    let dir = paths.tracking();
    if !dir.exists() {
        return TrackingState::Gone;
    }
    match std::fs::read_to_string(dir.join("cgroup.events")) {
        Ok(events) if events.lines().any(|line| line == "populated 0") => TrackingState::Empty,
        _ => TrackingState::Populated,
    }
}

pub(crate) fn positive_pid(pid: i32) -> Result<u32, SystemdError> {
    u32::try_from(pid).ok().filter(|p| *p > 0).ok_or_else(|| {
        SystemdError::from(MappingError::Invalid {
            field: "pid".to_owned(),
            value: pid.to_string(),
            rule: "must be a positive process id",
        })
    })
}

/// Refuses a memory limit below current usage: the kernel would OOM-kill the container
/// (v2) or answer EBUSY (v1) instead.
fn check_memory_limit(paths: &ScopePaths, r: &Resources) -> Result<(), CgroupfsError> {
    let Some(limit) = r.memory.filter(|m| *m > 0).map(i64::unsigned_abs) else {
        return Ok(());
    };
    let usage_file = match paths.mode {
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

/// v1 memsw must stay ≥ the memory limit at every step: when the new limit exceeds the
/// current memsw, memsw is raised first; otherwise it is written after the limit.
fn memsw_goes_first(paths: &ScopePaths, r: &Resources, writes: &[CgroupWrite]) -> bool {
    let has_memsw = writes.iter().any(|w| w.file == MEMSW_FILE);
    let Some(limit) = r
        .memory
        .map(|m| if m < 0 { u64::MAX } else { m.unsigned_abs() })
    else {
        return false;
    };
    let current = cgroupfs::read_u64(&paths.controller(Controller::Memory).join(MEMSW_FILE))
        .unwrap_or(u64::MAX);
    has_memsw && limit > current
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

/// The systemd cgroup manager of one container, for the synchronous engine: a [`Scope`]
/// driven on the private runtime of a [`SystemdConnection`].
#[derive(Debug)]
pub struct ScopeManager {
    conn: Arc<SystemdConnection>,
    scope: Scope,
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
            scope: Scope::new(cgroup, unit, mode, ScopeOptions::default()),
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

    /// The same manager, for a scope another process made, told where the scope's cgroup
    /// is: the directories its create recorded (`Container` state's `cgroup_paths`, as
    /// [`CgroupManager::paths`] gave them). Reading the scope's cgroup files (freezer
    /// state, pids) then needs no call to systemd, since a scope's `ControlGroup` never
    /// changes while it exists; and destroying a scope whose cgroup is gone needs none
    /// either (see [`Scope::destroy`]). Paths that do not name the scope's directory in
    /// the tracking hierarchy are ignored.
    pub fn with_recorded_paths(mut self, recorded: &BTreeMap<String, PathBuf>) -> ScopeManager {
        let mode = self.scope.mode;
        let key = match mode {
            CgroupMode::Unified => "",
            CgroupMode::Hybrid => "unified",
            CgroupMode::Legacy => "systemd",
        };
        let base = ScopePaths::new(mode, "/").tracking();
        let cgroup = recorded
            .get(key)
            .and_then(|path| path.strip_prefix(&base).ok())
            .and_then(|rest| rest.to_str())
            .filter(|rest| rest.ends_with(self.scope.unit.as_str()))
            .map(|rest| format!("/{rest}"));
        if let Some(cgroup) = cgroup {
            *self.scope.paths.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(ScopePaths::new(mode, &cgroup));
            self.scope.made_elsewhere = true;
        }
        self
    }

    /// The same manager with extra options (description, machined registration).
    pub fn with_options(self, options: ScopeOptions) -> ScopeManager {
        let ScopeManager { conn, scope } = self;
        let scope = Scope::new(&scope.cgroup, scope.unit, scope.mode, options);
        ScopeManager { conn, scope }
    }

    /// The async scope inside.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The host's cgroup layout.
    pub fn mode(&self) -> CgroupMode {
        self.scope.mode
    }

    /// The connection this manager uses.
    pub fn connection(&self) -> &Arc<SystemdConnection> {
        &self.conn
    }

    fn run<T>(&self, f: impl std::future::Future<Output = crate::Result<T>>) -> crate::Result<T> {
        self.conn.block_on(f)
    }

    /// The unit's `ActiveState` (`active`, `inactive`, `failed`…), `None` when systemd has
    /// no such unit loaded. `systemctl stop` of the scope shows here.
    pub fn active_state(&self) -> crate::Result<Option<String>> {
        self.run(self.scope.active_state(self.conn.systemd()))
    }

    /// systemd's accounting counters of the scope (`MemoryCurrent`, `CPUUsageNSec`, …),
    /// `None` when systemd has no such unit loaded.
    pub fn accounting(&self) -> crate::Result<Option<UnitAccounting>> {
        self.run(self.scope.accounting(self.conn.systemd()))
    }

    /// A channel that receives an event when the scope hits OOM; its thread ends with the
    /// cgroup.
    pub fn notify_oom(&self) -> crate::Result<Receiver<OomEvent>> {
        let paths = self.conn.block_on(self.scope.paths(self.conn.systemd()))?;
        Ok(cgroupfs::oom::watch(&paths)?)
    }

    /// A channel that receives `level` whenever the scope is under that memory pressure.
    pub fn notify_memory_pressure(
        &self,
        level: PressureLevel,
    ) -> crate::Result<Receiver<PressureLevel>> {
        let paths = self.conn.block_on(self.scope.paths(self.conn.systemd()))?;
        Ok(cgroupfs::pressure::watch(&paths, level)?)
    }
}

impl CgroupManager for ScopeManager {
    fn apply(&self, pid: i32) -> crate::Result<()> {
        let sd = self.conn.systemd();
        self.run(async {
            // A lone container's scope would otherwise re-realize the slice tree.
            slice_anchor::hold_slice_controllers(sd, &self.scope.cgroup.slice, self.scope.mode)
                .await;
            self.scope.apply(sd, pid).await
        })
    }

    fn add_process(&self, pid: i32) -> crate::Result<()> {
        self.run(self.scope.add_process(self.conn.systemd(), pid))
    }

    fn set(&self, resources: &Resources) -> crate::Result<()> {
        self.run(self.scope.set(self.conn.systemd(), resources))
    }

    fn freeze(&self) -> crate::Result<()> {
        self.run(self.scope.freeze(self.conn.systemd()))
    }

    fn thaw(&self) -> crate::Result<()> {
        self.run(self.scope.thaw(self.conn.systemd()))
    }

    fn freezer_state(&self) -> crate::Result<FreezerState> {
        self.run(self.scope.freezer_state(self.conn.systemd()))
    }

    fn pids(&self) -> crate::Result<Vec<i32>> {
        self.run(self.scope.pids(self.conn.systemd()))
    }

    fn stats(&self) -> crate::Result<Stats> {
        self.run(self.scope.stats(self.conn.systemd()))
    }

    fn kill_all(&self, signal: i32) -> crate::Result<()> {
        self.run(self.scope.kill_all(self.conn.systemd(), signal))
    }

    fn destroy(&self) -> crate::Result<()> {
        self.run(self.scope.destroy(self.conn.systemd()))
    }

    fn unit_name(&self) -> &str {
        self.scope.unit.as_str()
    }

    fn paths(&self) -> crate::Result<BTreeMap<String, PathBuf>> {
        self.run(self.scope.cgroup_paths(self.conn.systemd()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_properties_carry_the_scope_contract() {
        let cgroup = Cgroup {
            name: "c1".into(),
            systemd_properties: vec![("TimeoutStopSec".into(), "3".into())],
            ..Cgroup::default()
        };
        let scope = Scope::new(
            &cgroup,
            super::super::for_container("unitbox", "c1"),
            CgroupMode::Hybrid,
            ScopeOptions::default(),
        );
        let props = scope
            .creation_properties(42, vec![Property::new("TasksMax", Value::U64(5))])
            .unwrap();
        let find = |n: &str| props.iter().find(|p| p.name == n).map(|p| p.value.clone());
        assert_eq!(find("PIDs"), Some(Value::U32s(vec![42])));
        assert_eq!(find("Slice"), Some(Value::Str("machine.slice".into())));
        assert_eq!(find("Delegate"), Some(Value::Bool(true)));
        assert_eq!(find("AddRef"), Some(Value::Bool(true)));
        assert_eq!(find("DefaultDependencies"), Some(Value::Bool(false)));
        assert_eq!(
            find("CollectMode"),
            Some(Value::Str("inactive-or-failed".into()))
        );
        assert_eq!(find("BlockIOAccounting"), Some(Value::Bool(true)));
        assert_eq!(find("TasksMax"), Some(Value::U64(5)));
        // Annotations come last so they can override.
        assert_eq!(
            props.last(),
            Some(&Property::new("TimeoutStopUSec", Value::U64(3_000_000)))
        );
        assert!(scope.creation_properties(0, Vec::new()).is_err());
        assert!(scope.creation_properties(-1, Vec::new()).is_err());
    }
}
