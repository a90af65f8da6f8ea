//! `unitbox`: the runc-compatible command line. Parse, dispatch, report once.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The hidden `init` entry point (argv[1] == "init") is dispatched here, before clap.
    if std::env::args_os().nth(1).as_deref() == Some("init".as_ref()) {
        return unitbox::init::run();
    }
    ExitCode::SUCCESS
}
