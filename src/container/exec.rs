//! `exec`: start another process inside a live container.

use super::{Container, Verb};
use crate::process::{start_exec, ExecRequest, Process};

impl Container {
    /// Starts `process` in the container (runc `exec`): it joins every namespace of init
    /// and the container's scope, then takes its own user, capabilities, seccomp,
    /// `no_new_privileges`, cwd, environment and terminal. Returns once it has exec'd;
    /// `process` is then its handle ([`Process::wait`], [`Process::signal`]).
    pub fn exec(&mut self, process: &mut Process) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        // The lock guards the status check only: a long-lived exec must not block `delete`.
        drop(self.lock_for(Verb::Exec)?);
        let spawned = start_exec(ExecRequest {
            id: &self.state.id,
            config: &self.state.config,
            process,
            init_pid: self.state.init_pid,
            cgroup: self.manager.as_ref(),
            init_binary: self.init_binary.as_deref(),
        })?;
        tracing::debug!(pid = spawned.pid, "process exec'd");
        Ok(())
    }
}
