//! `unitbox resume`: thaw a paused container.

use std::process::ExitCode;

use super::Globals;
use crate::Error;

/// Resume every process that was previously paused.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The container id.
    pub id: String,
}

/// Thaws the container's scope; it must be paused.
pub fn run(args: ResumeArgs, globals: &Globals) -> Result<ExitCode, Error> {
    super::load(globals, &args.id)?.resume()?;
    Ok(ExitCode::SUCCESS)
}
