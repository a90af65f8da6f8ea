//! `unitbox create`: make a container whose init waits for `start`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{pid_file, CliError, Globals};
use crate::config::load_bundle;
use crate::container::Container;
use crate::process::Process;
use crate::Error;

/// Create a container.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The container id.
    pub id: String,
    /// How to create it.
    #[command(flatten)]
    pub options: CreateOptions,
}

/// The flags `create` and `run` share.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateOptions {
    /// Path to the root of the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to jail the container (MS_MOVE + chroot).
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many more fds (from fd 3) to the container's process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

/// Creates the container and writes the pid file; returns once it is `created`.
pub fn run(args: CreateArgs, globals: &Globals) -> Result<ExitCode, Error> {
    create(&args.id, &args.options, globals, true)?;
    Ok(ExitCode::SUCCESS)
}

/// The create half of `create` and `run`. `detached`: nobody will relay a terminal, so
/// one needs `--console-socket`.
pub fn create(
    id: &str,
    options: &CreateOptions,
    globals: &Globals,
    detached: bool,
) -> Result<Container, Error> {
    let bundle = absolute(&options.bundle);
    let mut config = load_bundle(&bundle)?;
    config.no_pivot_root |= options.no_pivot;
    config.no_new_keyring |= options.no_new_keyring;
    // runc's `--rootless`: decided at create, kept in the state for every later command.
    config.rootless_cgroups = globals.rootless.applies();
    let Some(process_config) = &config.process else {
        return Err(crate::config::ConfigError::invalid("process", "required to create a container").into());
    };
    let mut process = Process::from_config(process_config);
    check_console(process.terminal, options.console_socket.is_some(), detached)?;
    process.console_socket = options.console_socket.as_ref().map(|p| absolute(p));
    process.extra_files = preserved_fds(options.preserve_fds)?;
    let container = super::factory(globals)?.create_with_process(id, config, process)?;
    if let Some(path) = &options.pid_file {
        if let Err(error) = pid_file::write(path, container.state().init_pid) {
            // Nothing half-made: a create whose pid file cannot be written is undone.
            let _ = container.force_destroy();
            return Err(error.into());
        }
    }
    Ok(container)
}

/// runc's rules for a terminal: a detached one needs a socket, a socket needs a terminal.
pub fn check_console(terminal: bool, socket: bool, detached: bool) -> Result<(), CliError> {
    match (terminal, socket) {
        (true, false) if detached => Err(CliError::Usage(
            "cannot allocate tty if unitbox will detach without setting console socket",
        )),
        (false, true) => Err(CliError::Usage(
            "cannot use console socket if unitbox will not detach or allocate tty",
        )),
        _ => Ok(()),
    }
}

/// `--preserve-fds N`: fds 3 … 3+N-1 of this process.
pub fn preserved_fds(count: u32) -> Result<Vec<std::os::fd::OwnedFd>, CliError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    crate::sys::fd::take_preserved(count).map_err(|source| CliError::PreserveFds { count, source })
}

/// `path` made absolute against the working directory (runc records absolute bundles).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
