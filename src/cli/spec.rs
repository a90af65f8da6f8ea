//! `unitbox spec`: write a default `config.json` into a bundle, as `runc spec` does.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use oci_spec::runtime::Spec;
use serde::Serialize;
use serde_json::Value;

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
    let json = encode(&spec).map_err(|source| CliError::EncodeSpec { source })?;
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

/// Tab-indented JSON like runc's. The spec's capability sets are hash sets; they are
/// sorted so that the same command always writes the same file.
fn encode(spec: &Spec) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(spec)?;
    if let Some(Value::Object(sets)) = value.pointer_mut("/process/capabilities") {
        for set in sets.values_mut() {
            if let Value::Array(caps) = set {
                caps.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    let mut json = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut json, formatter))?;
    json.push(b'\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_spec_is_the_same_every_time() {
        let first = encode(&default_spec(false)).unwrap();
        for _ in 0..5 {
            assert_eq!(encode(&default_spec(false)).unwrap(), first);
        }
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains("\t\"ociVersion\""), "{text}");
        let caps = text.find("CAP_AUDIT_WRITE").unwrap();
        assert!(caps < text.find("CAP_KILL").unwrap());
    }
}
