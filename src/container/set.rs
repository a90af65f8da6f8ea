//! `set`: change the resource limits of a live container.

use super::{Container, Verb};
use crate::config::Resources;

impl Container {
    /// Applies `resources` to the container's scope and records them (runc `update`).
    pub fn set(&mut self, resources: Resources) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let lock = self.lock_for(Verb::Set)?;
        self.manager.set(&resources)?;
        self.state.config.cgroups.resources = resources;
        self.store.save(&lock, &self.state)?;
        Ok(())
    }
}
