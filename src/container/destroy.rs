//! `destroy`: kill what is left, remove the scope and the state, run poststop hooks.

use super::{Container, Status, Verb};
use crate::hooks::HookKind;
use crate::store::ContainerLock;

impl Container {
    /// Destroys a created or stopped container (runc `delete`).
    ///
    /// Kills what is left in the scope (a created init, daemons a stopped init left),
    /// removes the scope and the state folder, then runs the poststop hooks (failures are
    /// logged: OCI lets the lifecycle continue). Never unmounts anything on the host: every
    /// container mount lived in the container's mount namespace and died with it.
    pub fn destroy(mut self) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let lock = self.lock_for(Verb::Delete)?;
        self.destroy_locked(lock)
    }

    /// Destroys the container whatever its status (runc `delete --force`).
    pub fn force_destroy(mut self) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let lock = self.store.lock(&self.state.id)?;
        self.refresh_status();
        self.destroy_locked(lock)
    }

    fn destroy_locked(&mut self, lock: ContainerLock) -> crate::Result<()> {
        self.manager.destroy()?;
        self.store.remove(lock)?;
        self.status = Status::Stopped;
        tracing::info!("container destroyed");
        self.run_hooks_warning(HookKind::Poststop);
        Ok(())
    }
}
