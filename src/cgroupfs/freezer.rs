//! The v1 freezer of a scope: systemd 252 cannot freeze on v1, so pause writes
//! `freezer.state` of the scope's freezer directory (which unitbox created, see
//! `delegated`), as runc's fs driver does.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::cgroups::FreezerState;

use super::delegated::write_file;
use super::{read_string, CgroupfsError};

/// How long a freeze may take before it is undone and reported.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Freezes every task of the cgroup at `dir`; returns once `freezer.state` reads `FROZEN`.
///
/// Tasks in uninterruptible sleep can keep a cgroup in `FREEZING`; the write is repeated
/// (the kernel retries the stragglers on each write) and after [`FREEZE_TIMEOUT`] the
/// cgroup is thawed again and an error returned, so nothing is left half-frozen.
pub fn freeze(dir: &Path) -> Result<(), CgroupfsError> {
    let file = dir.join("freezer.state");
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        write_file(&file, "FROZEN", "freezer.state")?;
        let state = read_string(&file)?;
        if state.trim() == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            write_file(&file, "THAWED", "freezer.state")?;
            return Err(CgroupfsError::FreezeTimeout {
                path: dir.to_owned(),
                state: state.trim().to_owned(),
                waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Thaws the cgroup at `dir`.
pub fn thaw(dir: &Path) -> Result<(), CgroupfsError> {
    write_file(&dir.join("freezer.state"), "THAWED", "freezer.state")
}

/// The freezer state of the cgroup at `dir` (a missing directory reads as thawed: the
/// cgroup is gone or was never frozen).
pub fn state(dir: &Path) -> Result<FreezerState, CgroupfsError> {
    let file = dir.join("freezer.state");
    if !dir.exists() {
        return Ok(FreezerState::Thawed);
    }
    let text = read_string(&file)?;
    parse_state(&file, text.trim())
}

fn parse_state(file: &Path, s: &str) -> Result<FreezerState, CgroupfsError> {
    match s {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(CgroupfsError::Parse {
            path: file.to_owned(),
            content: other.to_owned(),
        }),
    }
}

/// systemd's `FreezerState` property (v2) as a [`FreezerState`].
pub fn from_unit_state(s: &str) -> FreezerState {
    match s {
        "frozen" => FreezerState::Frozen,
        "freezing" => FreezerState::Freezing,
        // "running" and "thawing": processes run (or are about to).
        _ => FreezerState::Thawed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse() {
        let f = Path::new("freezer.state");
        assert_eq!(parse_state(f, "FROZEN").unwrap(), FreezerState::Frozen);
        assert_eq!(parse_state(f, "FREEZING").unwrap(), FreezerState::Freezing);
        assert_eq!(parse_state(f, "THAWED").unwrap(), FreezerState::Thawed);
        assert!(parse_state(f, "bogus").is_err());
        assert_eq!(from_unit_state("frozen"), FreezerState::Frozen);
        assert_eq!(from_unit_state("thawing"), FreezerState::Thawed);
    }
}
