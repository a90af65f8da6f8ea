//! `unitbox run`: create and start a container; in the foreground, wait for it.

use std::process::ExitCode;

use super::create::{create, CreateOptions};
use super::foreground::Attended;
use super::Globals;
use crate::Error;

/// Create and run a container.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The container id.
    pub id: String,
    /// How to create it.
    #[command(flatten)]
    pub options: CreateOptions,
    /// Return once the container runs, leaving it to its own.
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits (foreground only).
    #[arg(long)]
    pub keep: bool,
}

/// Detached: returns once the user process runs. Foreground: waits for it, deletes the
/// container (unless `--keep`) and exits with its status (128 + signal when killed).
pub fn run(args: RunArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let mut container = create(&args.id, &args.options, globals, args.detach)?;
    if args.detach {
        if let Err(error) = container.start() {
            let _ = container.force_destroy();
            return Err(error);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let console = container
        .init_process()
        .and_then(|init| init.take_console());
    let pid = container.state().init_pid;
    let status = (|| {
        let attended = Attended::start(&args.id, pid, console)?;
        container.start()?;
        let status = container.wait();
        attended.finish();
        status
    })();
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            let _ = container.force_destroy();
            return Err(error);
        }
    };
    if !args.keep {
        container.destroy()?;
    }
    Ok(super::exit_code(status))
}
