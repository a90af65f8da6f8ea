//! The `unitbox` command line: runc's global flags and commands, one file per command.
//!
//! Owns argument parsing (clap), the mapping from [`ErrorCode`] to exit status and the
//! one-line error report; never holds container logic (commands call the library).
//! Each command is `cli/<command>.rs` with a documented clap `Args` struct and
//! `pub fn run(args, &Globals) -> Result<ExitCode, Error>`; adding one is one line in
//! the `commands!` table below.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{Error, ErrorCode};

mod foreground;
mod input;
mod logging;
mod pid_file;

pub use logging::init_logging;

/// `unitbox`: a runc-compatible container runtime whose cgroups are systemd scopes.
#[derive(Debug, clap::Parser)]
#[command(name = "unitbox", version, about, long_about = None)]
pub struct Cli {
    /// Flags that come before the command, as with runc.
    #[command(flatten)]
    pub globals: Globals,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// runc's global flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// Root directory for storage of container state (tmpfs recommended).
    #[arg(long, default_value = "/run/unitbox")]
    pub root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long)]
    pub debug: bool,
    /// Accepted for runc compatibility; unitbox always manages cgroups through systemd.
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Path to the criu binary used for checkpoint and restore.
    #[arg(long, default_value = crate::checkpoint::DEFAULT_CRIU)]
    pub criu: PathBuf,
    /// Ignore cgroup permission errors (`true`, `false` or `auto`).
    #[arg(long, value_enum, default_value_t = Rootless::Auto)]
    pub rootless: Rootless,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (what containerd reads).
    Json,
}

/// `--rootless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rootless {
    /// Rootless when not running as root.
    Auto,
    /// Always rootless.
    #[value(name = "true")]
    Yes,
    /// Never rootless.
    #[value(name = "false")]
    No,
}

impl Rootless {
    /// Whether containers made now get rootless cgroups, i.e. a scope of the user's own
    /// systemd (the session bus) instead of the system's. `auto` is rootless when not
    /// running as root, as runc decides it outside a user namespace (runc also asks the
    /// user bus who owns it when uid 0 runs in a user namespace; we take the system bus
    /// there: a root-in-userns caller with a systemd of its own has it on the system bus).
    pub fn applies(self) -> bool {
        match self {
            Rootless::Yes => true,
            Rootless::No => false,
            Rootless::Auto => !nix::unistd::geteuid().is_root(),
        }
    }
}

/// Failures of the command line itself (not of the container operations it asks for).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `spec` never overwrites a bundle's config (runc's wording).
    #[error("File config.json exists. Remove it first")]
    SpecExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The spec could not be written.
    #[error("write `{}`", path.display())]
    WriteSpec {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The spec could not be encoded as JSON.
    #[error("encode `config.json`")]
    EncodeSpec {
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A file the command reads (`--process`, `--resources`) cannot be read.
    #[error("read `{}`", path.display())]
    ReadInput {
        /// The file (`-` is stdin).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON input (`--process`, `--resources`) does not parse.
    #[error("parse `{}` at `{json_path}`", path.display())]
    ParseInput {
        /// The file (`-` is stdin).
        path: PathBuf,
        /// Where in the JSON it broke.
        json_path: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The pid file could not be written.
    #[error("write pid file `{}`", path.display())]
    PidFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Flags that contradict each other (runc's wording).
    #[error("{0}")]
    Usage(&'static str),
    /// `--preserve-fds` names descriptors this process does not have.
    #[error("take `--preserve-fds {count}` descriptors from fd 3")]
    PreserveFds {
        /// How many were asked for.
        count: u32,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A helper program (`ps`) could not be run or failed.
    #[error("run `{program}`")]
    RunProgram {
        /// The program.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `ps` printed no `PID` column.
    #[error("`ps` output has no PID column")]
    NoPidColumn,
    /// Writing the command's output failed.
    #[error("write output")]
    Output(#[source] std::io::Error),
    /// The terminal of a foreground process failed.
    #[error("relay terminal of container `{id}`")]
    Terminal {
        /// The container.
        id: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// `--log` names a file that cannot be opened.
    #[error("open log file `{}`", path.display())]
    OpenLog {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The command table: `Variant => module::ArgsType`, with the variant's doc as its help.
/// Generates `pub mod module;`, the [`Command`] enum and its dispatch.
macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident => $module:ident :: $args:ident, )*) => {
        $( pub mod $module; )*

        /// The commands.
        #[derive(Debug, clap::Subcommand)]
        pub enum Command {
            $( $(#[$doc])* $variant($module::$args), )*
        }

        impl Command {
            /// Run the command.
            pub fn run(self, globals: &Globals) -> Result<ExitCode, Error> {
                match self {
                    $( Command::$variant(args) => $module::run(args, globals), )*
                }
            }
        }
    };
}

commands! {
    /// Create a container.
    Create => create::CreateArgs,
    /// Execute the user process of a created container.
    Start => start::StartArgs,
    /// Create and run a container.
    Run => run::RunArgs,
    /// Execute a new process inside the container.
    Exec => exec::ExecArgs,
    /// Send a signal to the container's init process.
    Kill => kill::KillArgs,
    /// Delete a container and everything it holds.
    Delete => delete::DeleteArgs,
    /// Output the state of a container.
    State => state::StateArgs,
    /// List containers started with the given root.
    List => list::ListArgs,
    /// Display the processes running inside a container.
    Ps => ps::PsArgs,
    /// Suspend every process inside the container.
    Pause => pause::PauseArgs,
    /// Resume every process that was previously paused.
    Resume => resume::ResumeArgs,
    /// Update the resource limits of a container.
    Update => update::UpdateArgs,
    /// Display container events such as OOM notifications and resource statistics.
    Events => events::EventsArgs,
    /// Show the enabled features (OCI features JSON).
    Features => features::FeaturesArgs,
    /// Create a new specification file (config.json) in a bundle.
    Spec => spec::SpecArgs,
    /// Check that a bundle's config.json converts and validates (unitbox extra).
    Validate => validate::ValidateArgs,
    /// Checkpoint a running container with criu.
    Checkpoint => checkpoint::CheckpointArgs,
    /// Restore a container from a previous checkpoint.
    Restore => restore::RestoreArgs,
}

/// The factory over `--root`; init runs from our own executable, sealed by a read-only
/// overlay over its directory (the state root is the overlay's spare layer): a one-shot
/// command cannot amortise a copy of the binary the way the daemon does.
pub fn factory(globals: &Globals) -> Result<crate::factory::Factory, Error> {
    let factory =
        crate::factory::Factory::new(&globals.root, crate::factory::FactoryOptions::default())?;
    crate::process::seal_with_overlay(factory.store().root());
    Ok(factory)
}

/// Loads container `id` from `--root`.
pub fn load(globals: &Globals, id: &str) -> Result<crate::container::Container, Error> {
    factory(globals)?.load(id)
}

/// A shell-style exit status (0–255) as a process exit code.
pub fn exit_code(status: crate::process::ExitStatus) -> ExitCode {
    ExitCode::from(u8::try_from(status.code() & 0xff).unwrap_or(1))
}

/// The exit status for an error.
///
/// runc exits 1 on every failure and its callers (containerd, podman, CRI-O) rely on that
/// only; the match is exhaustive so that a new code has to be decided here.
pub fn exit_status(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::IdInUse
        | ErrorCode::InvalidIdFormat
        | ErrorCode::ContainerNotExists
        | ErrorCode::ContainerPaused
        | ErrorCode::ContainerNotStopped
        | ErrorCode::ContainerNotRunning
        | ErrorCode::ContainerNotPaused
        | ErrorCode::NoProcessOps
        | ErrorCode::ConfigInvalid
        | ErrorCode::ConsoleExists
        | ErrorCode::SystemError => 1,
    }
}

/// An error and its causes on one line: `outer: cause: root cause`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Report a failed command once: one line on stderr, and an error record in the log file
/// when `--log` sends logs elsewhere (containerd reads the error from there).
pub fn report(err: &Error, globals: &Globals) -> ExitCode {
    let line = error_chain(err);
    eprintln!("unitbox: {line}");
    if globals.log.is_some() {
        tracing::error!(code = %err.code(), "{line}");
    }
    ExitCode::from(exit_status(err.code()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn every_error_code_exits_non_zero() {
        for code in ErrorCode::ALL {
            assert_ne!(exit_status(code), 0, "{code}");
        }
    }

    #[test]
    fn globals_parse_like_runc() {
        let cli = Cli::try_parse_from([
            "unitbox",
            "--root",
            "/tmp/r",
            "--log",
            "/tmp/l",
            "--log-format",
            "json",
            "--debug",
            "--systemd-cgroup",
            "--rootless",
            "true",
            "spec",
            "-b",
            "/b",
            "--rootless",
        ])
        .unwrap();
        assert_eq!(cli.globals.root, PathBuf::from("/tmp/r"));
        assert_eq!(cli.globals.log_format, LogFormat::Json);
        assert_eq!(cli.globals.rootless, Rootless::Yes);
        assert!(cli.globals.debug && cli.globals.systemd_cgroup);
        match cli.command {
            Command::Spec(a) => assert!(a.rootless && a.bundle.as_os_str() == "/b"),
            other => panic!("parsed {other:?}"),
        }
        let cli = Cli::try_parse_from(["unitbox", "validate"]).unwrap();
        assert_eq!(cli.globals.root, PathBuf::from("/run/unitbox"));
    }

    #[test]
    fn error_chain_is_one_line() {
        let err = Error::Cli(CliError::WriteSpec {
            path: "/b/config.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(
            error_chain(&err),
            "write `/b/config.json`: permission denied"
        );
    }
}
