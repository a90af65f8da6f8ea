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
    // unitboxd's hidden fork server of monitors (argv[1] == "forkserver"): also before
    // anything that could start a thread.
    if std::env::args_os().nth(1).as_deref() == Some("forkserver".as_ref()) {
        return unitbox::daemon::forkserver::main(&std::env::args().skip(2).collect::<Vec<_>>());
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
