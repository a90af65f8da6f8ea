//! `start` and `run`: let a created container's init exec the user process.

use super::{Container, Status, Verb};
use crate::hooks::{HookKind, OciState};

impl Container {
    /// Starts the user process of a created container (runc `start`): releases init from
    /// the exec fifo, then runs the poststart hooks.
    ///
    /// A failing poststart hook is logged and does not stop the container (OCI: "the
    /// runtime MUST log a warning, but the remaining hooks and lifecycle continue").
    pub fn start(&mut self) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let _lock = self.lock_for(Verb::Start)?;
        crate::process::release_exec_fifo(&self.dir(), self.state.init_pid)?;
        self.refresh_status();
        tracing::info!(pid = self.state.init_pid, "container started");
        // The process may already have exited; poststart still describes it as started.
        let started = OciState {
            status: Status::Running,
            pid: Some(self.state.init_pid),
            ..self.oci_state()
        };
        self.run_hooks_warning(HookKind::Poststart, &started);
        Ok(())
    }

    /// Runs a created container to its user process: `Factory::create` followed by `run`
    /// is runc's `run`.
    pub fn run(&mut self) -> crate::Result<()> {
        self.start()
    }

    /// Runs every hook of `kind` with `state`, logging failures instead of returning them.
    pub(super) fn run_hooks_warning(&self, kind: HookKind, state: &OciState) {
        for hook in kind.of(&self.state.config.hooks) {
            if let Err(error) = crate::hooks::run_hooks(kind, std::slice::from_ref(hook), state) {
                tracing::warn!(%error, "hook failed; continuing as OCI requires");
            }
        }
    }
}
