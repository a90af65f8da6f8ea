//! `unitbox validate` (not in runc): load, convert and validate a bundle without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Globals;
use crate::config::{load_bundle, validate};
use crate::Error;

/// Check that a bundle's config.json converts and validates.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Path to the root of the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// Print `bundle <path>: ok`, or fail with the first field that breaks a rule.
pub fn run(args: ValidateArgs, _globals: &Globals) -> Result<ExitCode, Error> {
    let config = load_bundle(&args.bundle)?;
    validate(&config)?;
    println!("bundle {}: ok", args.bundle.display());
    Ok(ExitCode::SUCCESS)
}
