//! `destroy`: kill what is left, remove the scope and the state, run poststop hooks.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
        if self.status != Status::Stopped {
            // init is PID 1 of its pid namespace: its death takes every process there.
            let _ = kill(Pid::from_raw(self.state.init_pid), Signal::SIGKILL);
        }
        self.manager.destroy()?;
        if let Some(init) = self.init.take() {
            // Reap our child; it may have been reaped by `wait` already.
            let _ = init.wait();
        }
        self.store.remove(lock)?;
        self.status = Status::Stopped;
        tracing::info!("container destroyed");
        self.run_hooks_warning(HookKind::Poststop, &self.oci_state());
        Ok(())
    }
}
