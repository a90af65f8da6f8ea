//! `unitboxd`: the unitbox D-Bus service (see `unitbox::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use unitbox::daemon::{self, DaemonOptions};

/// The unitbox container daemon: serves `io.unitbox.runtime1` on the system bus.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// State root: one folder per container.
    #[arg(long, default_value = daemon::DEFAULT_ROOT, env = "UNITBOXD_ROOT")]
    root: PathBuf,
    /// The `unitbox` binary (monitors and exec helpers); default: beside this one.
    #[arg(long, env = "UNITBOXD_RUNTIME")]
    runtime: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("UNITBOXD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
    let options = DaemonOptions {
        root: args.root,
        runtime_binary: args.runtime.unwrap_or_else(daemon::sibling_runtime_binary),
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("unitboxd: {}", daemon::error::chain(&error));
            ExitCode::FAILURE
        }
    }
}
