//! `unitbox exec`: run another process inside a live container.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oci_spec::runtime::Process as OciProcess;

use super::create::{absolute, check_console, preserved_fds};
use super::foreground::Attended;
use super::{pid_file, CliError, Globals};
use crate::config::{default_spec::default_spec, from_spec, ProcessConfig};
use crate::process::Process;
use crate::Error;

/// Execute a new process inside the container.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Set an environment variable (`KEY=value`); repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// User as `uid[:gid]` (or names from the container's passwd/group).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Add a capability to the bounding, effective and permitted sets; repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// An OCI `process` JSON describing the process (`-` reads stdin); other process
    /// flags are then ignored, as in runc.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Pass this many more fds (from fd 3) to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Set no_new_privileges for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a supplementary group id; repeatable.
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Starts the process; detached, returns at once, else waits and exits with its status.
pub fn run(args: ExecArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let mut container = super::load(globals, &args.id)?;
    let mut process = match &args.process {
        Some(path) => Process::from_config(&read_process(path)?),
        None => {
            let base = container.config().process.clone().unwrap_or_default();
            from_flags(&args, &base)?
        }
    };
    check_console(process.terminal, args.console_socket.is_some(), args.detach)?;
    process.console_socket = args.console_socket.as_deref().map(absolute);
    process.extra_files = preserved_fds(args.preserve_fds)?;
    container.exec(&mut process)?;
    let pid = process.pid().unwrap_or(0);
    if let Some(path) = &args.pid_file {
        pid_file::write(path, pid)?;
    }
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let attended = Attended::start(&args.id, pid, process.take_console())?;
    let status = process.wait();
    attended.finish();
    Ok(super::exit_code(status?))
}

/// The container's process with the flags applied, as runc's `exec` builds it.
fn from_flags(args: &ExecArgs, base: &ProcessConfig) -> Result<Process, CliError> {
    if args.command.is_empty() {
        return Err(CliError::Usage("exec needs a command (or --process)"));
    }
    let mut process = Process::from_config(base);
    process.args = args.command.clone();
    process.env.extend(args.env.iter().cloned());
    if let Some(cwd) = &args.cwd {
        process.cwd = cwd.clone();
    }
    if let Some(user) = &args.user {
        process.user = user.clone();
    }
    process
        .additional_groups
        .extend(args.additional_gids.iter().map(u32::to_string));
    if !args.cap.is_empty() {
        let mut caps = process.capabilities.take().unwrap_or_default();
        for cap in &args.cap {
            // Ambient needs inheritable, which --cap does not give (runc).
            caps.bounding.push(cap.clone());
            caps.effective.push(cap.clone());
            caps.permitted.push(cap.clone());
        }
        process.capabilities = Some(caps);
    }
    if args.no_new_privs {
        process.no_new_privileges = Some(true);
    }
    process.terminal = args.tty;
    Ok(process)
}

/// Reads an OCI `process` object and converts it as `config.json`'s would be.
fn read_process(path: &Path) -> Result<ProcessConfig, Error> {
    let oci: OciProcess = super::input::read_json(path)?;
    // The conversion lives with the config; a default spec carries the process there.
    let mut spec = default_spec(false);
    spec.set_process(Some(oci));
    let config = from_spec(&spec, Path::new("/"))?;
    Ok(config.process.unwrap_or_default())
}
