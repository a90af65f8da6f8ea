//! `unitbox spec`: write a default `config.json` into a bundle, as `runc spec` does.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::{CliError, Globals};
use crate::config::default_spec::default_spec;
use crate::Error;

/// Create a new specification file.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Generate a configuration for a rootless container.
    #[arg(long)]
    pub rootless: bool,
}

/// Write `<bundle>/config.json`; an existing one is never overwritten.
pub fn run(args: SpecArgs, _globals: &Globals) -> Result<ExitCode, Error> {
    let spec = default_spec(args.rootless);
    // Tab-indented like runc's output, so the two diff cleanly.
    let mut json = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    spec.serialize(&mut serde_json::Serializer::with_formatter(&mut json, formatter))
        .map_err(|source| CliError::EncodeSpec { source })?;
    let path = args.bundle.join("config.json");
    // create_new: a config.json that appears between a check and the write is not lost.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => CliError::SpecExists { path: path.clone() },
            _ => CliError::WriteSpec {
                path: path.clone(),
                source,
            },
        })?;
    if let Err(source) = file.write_all(&json) {
        // Leave no half-written config behind.
        let _ = std::fs::remove_file(&path);
        return Err(CliError::WriteSpec { path, source }.into());
    }
    Ok(ExitCode::SUCCESS)
}
