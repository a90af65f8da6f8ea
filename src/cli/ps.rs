//! `unitbox ps`: the container's processes, as JSON pids or as `ps` rows.

use std::io::Write;
use std::process::{Command, ExitCode};

use super::{CliError, Globals};
use crate::Error;

/// Display the processes running inside a container.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// `table` (run `ps`) or `json` (the pids).
    #[arg(short, long, value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    /// The container id.
    pub id: String,
    /// Arguments for `ps` (default `-ef`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `ps --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    /// `ps` output filtered to the container.
    Table,
    /// A JSON array of host pids.
    Json,
}

/// Prints the pids, or runs `ps` and keeps its header and the container's rows (runc).
pub fn run(args: PsArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let container = super::load(globals, &args.id)?;
    let pids = container.processes()?;
    let text = match args.format {
        PsFormat::Json => {
            let json =
                serde_json::to_string(&pids).map_err(|source| CliError::EncodeSpec { source })?;
            format!("{json}\n")
        }
        PsFormat::Table => {
            let ps_args = if args.ps_args.is_empty() {
                vec!["-ef".to_owned()]
            } else {
                args.ps_args
            };
            let output = Command::new("ps")
                .args(&ps_args)
                .output()
                .map_err(|source| CliError::RunProgram {
                    program: format!("ps {}", ps_args.join(" ")),
                    source,
                })?;
            filter_rows(&String::from_utf8_lossy(&output.stdout), &pids)?
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(CliError::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// The header and the rows whose `PID` column is one of `pids`.
fn filter_rows(ps_output: &str, pids: &[i32]) -> Result<String, CliError> {
    let mut lines = ps_output.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|name| name == "PID")
        .ok_or(CliError::NoPidColumn)?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|field| field.parse::<i32>().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_filtered_by_the_pid_column() {
        let ps = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\nroot 43 1 sh\n";
        assert_eq!(
            filter_rows(ps, &[42]).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sleep\n"
        );
        assert!(matches!(
            filter_rows("A B\n1 2\n", &[1]),
            Err(CliError::NoPidColumn)
        ));
    }
}
