//! `unitbox delete`: remove a container, its scope and its state.

use std::process::ExitCode;

use super::Globals;
use crate::{Error, ErrorCode};

/// Delete a container and everything it holds.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The container id.
    pub id: String,
    /// Kill the container first if it is still running or paused; a missing container is
    /// not an error.
    #[arg(short, long)]
    pub force: bool,
}

/// Destroys a created or stopped container (any container with `--force`).
pub fn run(args: DeleteArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let container = match super::load(globals, &args.id) {
        Ok(container) => container,
        // runc: `delete --force` of a container that does not exist succeeds.
        Err(error) if args.force && error.code() == ErrorCode::ContainerNotExists => {
            return Ok(ExitCode::SUCCESS)
        }
        Err(error) => return Err(error),
    };
    if args.force {
        container.force_destroy()?;
    } else {
        container.destroy()?;
    }
    Ok(ExitCode::SUCCESS)
}
