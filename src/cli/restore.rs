//! `unitbox restore`: bring a checkpointed container back under a new scope.

use std::path::PathBuf;
use std::process::ExitCode;

use super::checkpoint::CriuFlags;
use super::create::{absolute, check_console};
use super::foreground::Attended;
use super::{pid_file, Globals};
use crate::config::load_bundle;
use crate::process::Process;
use crate::Error;

/// Restore a container from a previous checkpoint.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The container id.
    pub id: String,
    /// The criu flags `checkpoint` and `restore` share.
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to the root of the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Return once the container runs, leaving it to its own.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
}

/// Detached: returns once the container runs again. Foreground: waits for it, deletes it
/// and exits with its status, as `run` does.
pub fn run(args: RestoreArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let opts = args.criu.to_opts(globals)?;
    let config = load_bundle(&absolute(&args.bundle))?;
    let mut process = config
        .process
        .as_ref()
        .map(Process::from_config)
        .unwrap_or_default();
    check_console(process.terminal, args.console_socket.is_some(), true)?;
    process.console_socket = args.console_socket.as_deref().map(absolute);
    let mut container = super::factory(globals)?.restore(&args.id, config, process, &opts)?;
    let pid = container.state().init_pid;
    if let Some(path) = &args.pid_file {
        if let Err(error) = pid_file::write(path, pid) {
            let _ = container.force_destroy();
            return Err(error.into());
        }
    }
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let attended = Attended::start(&args.id, pid, None)?;
    let status = container.wait();
    attended.finish();
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            let _ = container.force_destroy();
            return Err(error);
        }
    };
    container.destroy()?;
    Ok(super::exit_code(status))
}
