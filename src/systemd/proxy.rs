//! The systemd 252 D-Bus surface unitbox uses, as hand-written zbus proxies.
//!
//! A dozen calls of `org.freedesktop.systemd1.Manager` and one of
//! `org.freedesktop.machine1.Manager`. Written by hand (as kata's cgroups-rs does) so we
//! stay on what systemd 252 has: generated proxies of newer systemd offer methods 252
//! answers with `UnknownMethod`.

use zbus::{OwnedObjectPath, OwnedVariant};

/// A unit property as sent on the bus: `(name, value)`, signature `(sv)`.
pub type BusProperty = (String, OwnedVariant);

/// `org.freedesktop.systemd1.Manager` (man `org.freedesktop.systemd1(5)`).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    /// `GetUnit(s name) → o`; `NoSuchUnit` when not loaded.
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// `StartTransientUnit(s name, s mode, a(sv) props, a(sa(sv)) aux) → o job`.
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: Vec<BusProperty>,
        aux: Vec<(String, Vec<BusProperty>)>,
    ) -> zbus::Result<OwnedObjectPath>;

    /// `StopUnit(s name, s mode) → o job`.
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    /// `KillUnit(s name, s whom, i signal)`.
    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;

    /// `ResetFailedUnit(s name)`.
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    /// `SetUnitProperties(s name, b runtime, a(sv) props)`.
    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: Vec<BusProperty>,
    ) -> zbus::Result<()>;

    /// `RefUnit(s name)`: our connection keeps the unit loaded.
    fn ref_unit(&self, name: &str) -> zbus::Result<()>;

    /// `UnrefUnit(s name)`.
    fn unref_unit(&self, name: &str) -> zbus::Result<()>;

    /// `FreezeUnit(s name)` (cgroup v2 only in 252).
    fn freeze_unit(&self, name: &str) -> zbus::Result<()>;

    /// `ThawUnit(s name)`.
    fn thaw_unit(&self, name: &str) -> zbus::Result<()>;

    /// `AttachProcessesToUnit(s unit, s subcgroup, au pids)` (needs `Delegate=yes`).
    fn attach_processes_to_unit(
        &self,
        unit: &str,
        subcgroup: &str,
        pids: Vec<u32>,
    ) -> zbus::Result<()>;

    /// `GetUnitProcesses(s name) → a(sus)` (cgroup, pid, command line).
    fn get_unit_processes(&self, name: &str) -> zbus::Result<Vec<(String, u32, String)>>;

    /// `Subscribe()`: ask for unit/job signals on this connection.
    fn subscribe(&self) -> zbus::Result<()>;

    /// `JobRemoved(u id, o job, s unit, s result)`.
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

/// `org.freedesktop.machine1.Manager` (man `org.freedesktop.machine1(5)`).
#[zbus::proxy(
    interface = "org.freedesktop.machine1.Manager",
    default_service = "org.freedesktop.machine1",
    default_path = "/org/freedesktop/machine1"
)]
pub trait Machined {
    /// `RegisterMachine(s name, ay id, s service, s class, u leader, s root) → o`:
    /// machined adopts the unit the leader already lives in.
    fn register_machine(
        &self,
        name: &str,
        id: Vec<u8>,
        service: &str,
        class: &str,
        leader: u32,
        root_directory: &str,
    ) -> zbus::Result<OwnedObjectPath>;

    /// `UnregisterMachine(s name)`.
    fn unregister_machine(&self, name: &str) -> zbus::Result<()>;
}
