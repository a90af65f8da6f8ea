//! `unitbox list`: every container under `--root`, as runc's table or JSON.

use std::io::Write;
use std::process::ExitCode;

use super::state::ContainerState;
use super::{CliError, Globals};
use crate::{Error, ErrorCode};

/// List containers started with the given root.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// `table` or `json`.
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the container ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// runc's aligned columns.
    Table,
    /// A JSON array of states.
    Json,
}

/// Prints every container; one that vanishes while listing is skipped.
pub fn run(args: ListArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let factory = super::factory(globals)?;
    let mut states = Vec::new();
    for id in factory.list()? {
        match factory.load(&id) {
            Ok(container) => states.push(ContainerState::of(&container)),
            Err(error) if error.code() == ErrorCode::ContainerNotExists => {}
            Err(error) => return Err(error),
        }
    }
    let text = if args.quiet {
        states.iter().map(|s| format!("{}\n", s.id)).collect()
    } else {
        match args.format {
            ListFormat::Table => table(&states),
            ListFormat::Json => {
                let json = serde_json::to_string(&states)
                    .map_err(|source| CliError::EncodeSpec { source })?;
                format!("{json}\n")
            }
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(CliError::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// runc's tabwriter (min width 12, padding 3): `ID PID STATUS BUNDLE CREATED OWNER`.
fn table(states: &[ContainerState]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for s in states {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.as_str().to_owned(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|col| rows.iter().map(|r| r[col].len()).max().unwrap_or(0).max(12 - 3) + 3)
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (col, cell) in row.iter().enumerate() {
            if col == 5 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[col]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_like_runc() {
        let text = table(&[]);
        assert_eq!(
            text,
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
