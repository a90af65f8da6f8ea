//! `unitbox`: the runc-compatible command line. Parse, dispatch, report once.

use std::process::ExitCode;

use clap::Parser;
use unitbox::cli::{self, Cli};

fn main() -> ExitCode {
    // The hidden `init` entry point (argv[1] == "init") is dispatched here, before clap.
    if std::env::args_os().nth(1).as_deref() == Some("init".as_ref()) {
        return unitbox::init::run();
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
