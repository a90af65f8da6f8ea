//! `signal`: send a signal to init, or to every process of the container.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Container, ContainerError, Status, Verb};

impl Container {
    /// Sends `signal` to init, or with `all` to every process in the container's scope
    /// (runc `kill [--all]`).
    ///
    /// A frozen process does not die until thawed, so `SIGKILL` to a paused container
    /// thaws it afterwards, as runc does.
    pub fn signal(&mut self, signal: Signal, all: bool) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let _lock = self.lock_for(Verb::Signal)?;
        if all {
            self.manager.kill_all(signal as i32)?;
        } else {
            let pid = self.state.init_pid;
            kill(Pid::from_raw(pid), signal).map_err(|source| ContainerError::Signal {
                pid,
                signal,
                source,
            })?;
        }
        if signal == Signal::SIGKILL && matches!(self.status, Status::Paused | Status::Pausing) {
            self.manager.thaw()?;
        }
        tracing::debug!(?signal, all, "signal sent");
        Ok(())
    }
}
