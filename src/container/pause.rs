//! `pause` and `resume`: freeze and thaw every process of the container.

use super::{Container, Verb};

impl Container {
    /// Freezes every process of the container (runc `pause`).
    pub fn pause(&mut self) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let lock = self.lock_for(Verb::Pause)?;
        self.manager.freeze()?;
        self.state.paused = true;
        self.store.save(&lock, &self.state)?;
        self.refresh_status();
        tracing::info!("container paused");
        Ok(())
    }

    /// Thaws a paused container (runc `resume`).
    pub fn resume(&mut self) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let lock = self.lock_for(Verb::Resume)?;
        self.manager.thaw()?;
        self.state.paused = false;
        self.store.save(&lock, &self.state)?;
        self.refresh_status();
        tracing::info!("container resumed");
        Ok(())
    }
}
