//! `unitbox`: the runc-compatible command line. Parse, dispatch, report once.

use std::process::ExitCode;

use clap::Parser;
use unitbox::cli::{self, Cli};

fn main() -> ExitCode {
    // `unitbox init` is the container's init (spawned by the runtime itself, never typed
    // by a user): it must run before anything else so that it stays single-threaded.
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "init") {
        return unitbox::init::run();
    }
    // The hidden per-container monitor of unitboxd (argv[1] == "monitor").
    if std::env::args_os().nth(1).as_deref() == Some("monitor".as_ref()) {
        return unitbox::daemon::monitor::main(&std::env::args().skip(2).collect::<Vec<_>>());
    }
    let cli = Cli::parse();
    if let Err(err) = cli::init_logging(&cli.globals) {
        return cli::report(&err.into(), &cli.globals);
    }
    match cli.command.run(&cli.globals) {
        Ok(code) => code,
        Err(err) => cli::report(&err, &cli.globals),
    }
}
