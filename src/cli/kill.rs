//! `unitbox kill`: send a signal to init, or to every process with `--all`.

use std::process::ExitCode;
use std::str::FromStr;

use nix::sys::signal::Signal;

use super::Globals;
use crate::Error;

/// Send a signal to the container's init process.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// The container id.
    pub id: String,
    /// The signal: a name with or without `SIG` (`TERM`, `SIGKILL`) or a number.
    #[arg(default_value = "SIGTERM", value_parser = parse_signal)]
    pub signal: Signal,
    /// Send the signal to every process in the container.
    #[arg(short, long)]
    pub all: bool,
}

/// Signals the container; it must be created, running or paused.
pub fn run(args: KillArgs, globals: &Globals) -> Result<ExitCode, Error> {
    super::load(globals, &args.id)?.signal(args.signal, args.all)?;
    Ok(ExitCode::SUCCESS)
}

/// `9`, `KILL`, `SIGKILL`, `kill` → SIGKILL.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("unknown signal number `{text}`"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| format!("unknown signal `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        let table: &[(&str, Option<Signal>)] = &[
            ("9", Some(Signal::SIGKILL)),
            ("KILL", Some(Signal::SIGKILL)),
            ("SIGKILL", Some(Signal::SIGKILL)),
            ("term", Some(Signal::SIGTERM)),
            ("SIGUSR1", Some(Signal::SIGUSR1)),
            ("hup", Some(Signal::SIGHUP)),
            ("0", None),
            ("99", None),
            ("SIGNOPE", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_signal(text).ok(), *want, "{text:?}");
        }
    }
}
