//! `unitbox start`: let a created container's init exec the user process.

use std::process::ExitCode;

use super::Globals;
use crate::Error;

/// Execute the user process of a created container.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The container id.
    pub id: String,
}

/// Starts the container; it must be `created`.
pub fn run(args: StartArgs, globals: &Globals) -> Result<ExitCode, Error> {
    super::load(globals, &args.id)?.start()?;
    Ok(ExitCode::SUCCESS)
}
