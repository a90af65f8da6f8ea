//! `unitbox pause`: freeze every process of the container.

use std::process::ExitCode;

use super::Globals;
use crate::Error;

/// Suspend every process inside the container.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// The container id.
    pub id: String,
}

/// Freezes the container's scope; it must be running or created.
pub fn run(args: PauseArgs, globals: &Globals) -> Result<ExitCode, Error> {
    super::load(globals, &args.id)?.pause()?;
    Ok(ExitCode::SUCCESS)
}
