//! `checkpoint`: save the running container with criu (see [`crate::checkpoint`]).

use std::time::{Duration, Instant};

use super::{Container, Status, Verb};
use crate::checkpoint::CriuOpts;
use crate::store::InitLiveness;

/// How long the tree may take to die after criu reported the dump (criu kills it itself).
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

impl Container {
    /// Checkpoints the running container into `opts.images_dir` (libcontainer
    /// `Checkpoint`).
    ///
    /// Unless `opts.leave_running` or `opts.pre_dump`, criu kills the tree once it is
    /// saved: the container is then `stopped` and its scope removed, its state kept (the
    /// caller deletes it, as runc's `checkpoint` command does, so the id can be restored).
    pub fn checkpoint(&mut self, opts: &CriuOpts) -> crate::Result<()> {
        let _span = tracing::info_span!("container", id = %self.state.id).entered();
        let _lock = self.lock_for(Verb::Checkpoint)?;
        crate::checkpoint::dump(&self.state, opts)?;
        tracing::info!(images = %opts.images_dir.display(), pre_dump = opts.pre_dump, "container checkpointed");
        if opts.keeps_running() {
            return Ok(());
        }
        if let Some(init) = self.init.take() {
            // Our child: reap it so it does not linger as a zombie.
            let _ = init.wait();
        }
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while self.state.init_liveness() == InitLiveness::Alive && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.manager.destroy()?;
        self.status = Status::Stopped;
        Ok(())
    }
}
