//! The daemon's cgroup managers: every scope operation on its one warm systemd connection.
//!
//! The library's `Factory` in the daemon takes its managers from [`DaemonScopes`] (through
//! `Factory::with_manager_source`): each is a [`Scope`] driven on the daemon's runtime from
//! the blocking pool, so no verb opens a connection of its own. A scope's directories never
//! change, so they are learned once (at creation, or the first time after a restart) and
//! remembered: loading a container for a verb then costs no `GetUnit`/`ControlGroup` round
//! trips. Destroying a scope whose processes are all gone is one `UnrefUnit` (the
//! `CollectMode=inactive-or-failed` unit then goes by itself); a scope with processes left
//! takes the full kill/stop path.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::cgroupfs::{self, delegated, CgroupMode, ScopePaths};
use crate::cgroups::{CgroupManager, FreezerState, Stats};
use crate::config::{Cgroup, Resources};
use crate::factory::ManagerSource;
use crate::systemd::connection::Systemd;
use crate::systemd::unit_name::UnitName;
use crate::systemd::{Scope, ScopeOptions};

pub use crate::systemd::slice_anchor::{anchor_slice, hold_slice_controllers};

/// Makes the managers of the daemon's factory.
#[derive(Debug, Clone)]
pub struct DaemonScopes {
    systemd: Arc<Systemd>,
    handle: tokio::runtime::Handle,
    mode: CgroupMode,
    known: Arc<Mutex<HashMap<String, ScopePaths>>>,
}

impl DaemonScopes {
    /// Managers on `systemd`, driven on the runtime of `handle`.
    pub fn new(
        systemd: Arc<Systemd>,
        handle: tokio::runtime::Handle,
    ) -> crate::Result<DaemonScopes> {
        Ok(DaemonScopes {
            systemd,
            handle,
            mode: CgroupMode::detect()?,
            known: Arc::default(),
        })
    }

    /// The host's cgroup layout.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The scope `unit` of a container of `cgroup`, with `options`, its directories
    /// remembered if known.
    pub fn scope(&self, cgroup: &Cgroup, unit: UnitName, options: ScopeOptions) -> Scope {
        let scope = Scope::new(cgroup, unit, self.mode, options);
        if let Some(paths) = self.known_paths(scope.unit().as_str()) {
            scope.remember_paths(paths);
        }
        scope
    }

    /// Remembers the directories `scope` has learned.
    pub fn note(&self, scope: &Scope) {
        if let Some(paths) = scope.cached_paths() {
            self.lock()
                .entry(scope.unit().as_str().to_owned())
                .or_insert(paths);
        }
    }

    /// The remembered directories of `unit`.
    pub fn known_paths(&self, unit: &str) -> Option<ScopePaths> {
        self.lock().get(unit).cloned()
    }

    /// Forgets `unit` (it was destroyed; a new scope of that name may live elsewhere).
    pub fn forget(&self, unit: &str) {
        self.lock().remove(unit);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ScopePaths>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The systemd client.
    pub fn systemd(&self) -> &Systemd {
        &self.systemd
    }
}

impl ManagerSource for DaemonScopes {
    fn manager(&self, cgroup: &Cgroup, unit: UnitName) -> crate::Result<Box<dyn CgroupManager>> {
        let scope = self.scope(cgroup, unit, ScopeOptions::default());
        Ok(Box::new(DaemonScope {
            scopes: self.clone(),
            scope,
        }))
    }
}

/// One container's scope in the daemon (used from the blocking pool).
#[derive(Debug)]
struct DaemonScope {
    scopes: DaemonScopes,
    scope: Scope,
}

impl DaemonScope {
    fn run<T>(&self, f: impl std::future::Future<Output = crate::Result<T>>) -> crate::Result<T> {
        // Library calls come from the blocking pool; `block_in_place` also makes a call
        // from a runtime worker safe (there `block_on` alone would panic).
        let result = tokio::task::block_in_place(|| self.scopes.handle.block_on(f));
        self.scopes.note(&self.scope);
        result
    }

    fn sd(&self) -> &Systemd {
        &self.scopes.systemd
    }
}

/// Removes a scope: one `UnrefUnit` when no process is left in it, else the full path.
pub async fn destroy(scope: &Scope, sd: &Systemd) -> crate::Result<()> {
    let paths = scope.paths(sd).await?;
    let empty = cgroupfs::pids::all(&paths.tracking()).map_or(true, |pids| pids.is_empty());
    if !empty {
        return scope.destroy(sd).await;
    }
    sd.unref_unit(scope.unit().as_str()).await?;
    delegated::remove_own_dirs(&paths)?;
    Ok(())
}

impl CgroupManager for DaemonScope {
    fn apply(&self, pid: i32) -> crate::Result<()> {
        self.run(self.scope.apply(self.sd(), pid))
    }

    fn add_process(&self, pid: i32) -> crate::Result<()> {
        self.run(self.scope.add_process(self.sd(), pid))
    }

    fn set(&self, resources: &Resources) -> crate::Result<()> {
        self.run(self.scope.set(self.sd(), resources))
    }

    fn freeze(&self) -> crate::Result<()> {
        self.run(self.scope.freeze(self.sd()))
    }

    fn thaw(&self) -> crate::Result<()> {
        self.run(self.scope.thaw(self.sd()))
    }

    fn freezer_state(&self) -> crate::Result<FreezerState> {
        self.run(self.scope.freezer_state(self.sd()))
    }

    fn pids(&self) -> crate::Result<Vec<i32>> {
        self.run(self.scope.pids(self.sd()))
    }

    fn stats(&self) -> crate::Result<Stats> {
        self.run(self.scope.stats(self.sd()))
    }

    fn kill_all(&self, signal: i32) -> crate::Result<()> {
        self.run(self.scope.kill_all(self.sd(), signal))
    }

    fn destroy(&self) -> crate::Result<()> {
        let result = self.run(destroy(&self.scope, self.sd()));
        if result.is_ok() {
            self.scopes.forget(self.scope.unit().as_str());
        }
        result
    }

    fn unit_name(&self) -> &str {
        self.scope.unit().as_str()
    }

    fn paths(&self) -> crate::Result<BTreeMap<String, PathBuf>> {
        self.run(self.scope.cgroup_paths(self.sd()))
    }
}
