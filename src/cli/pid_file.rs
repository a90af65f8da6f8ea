//! `--pid-file`: written atomically (a temporary file renamed into place), as runc does, so
//! a shim polling for it never reads a half-written pid.

use std::path::Path;

use super::CliError;

/// Writes `pid` (no newline, as runc) to `path` through `<path>.tmp` and a rename.
pub fn write(path: &Path, pid: i32) -> Result<(), CliError> {
    let fail = |source| CliError::PidFile {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        fail(source)
    })
}
