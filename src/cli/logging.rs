//! `--log`, `--log-format` and `--debug`: where `tracing` events go.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use super::{CliError, Globals, LogFormat};

/// Install the global `tracing` subscriber the flags ask for: stderr or `--log` (appended,
/// as runc does), text or JSON, `debug` level with `--debug` and `warn` otherwise.
pub fn init_logging(globals: &Globals) -> Result<(), CliError> {
    let level = if globals.debug { "debug" } else { "warn" };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_ansi(false);
    // A second subscriber (a test calling this twice) is harmless: keep the first.
    match &globals.log {
        None => {
            let builder = builder.with_writer(std::io::stderr);
            let _ = match globals.log_format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            };
        }
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CliError::OpenLog {
                    path: path.clone(),
                    source,
                })?;
            let builder = builder.with_writer(Mutex::new(file));
            let _ = match globals.log_format {
                LogFormat::Text => builder.try_init(),
                LogFormat::Json => builder.json().try_init(),
            };
        }
    }
    Ok(())
}
