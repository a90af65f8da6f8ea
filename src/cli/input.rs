//! JSON documents a command reads from a file or from standard input (`-`), such as
//! `exec --process` and `update --resources`.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::CliError;

/// Reads `path` (or stdin for `-`) and parses it as `T`; a parse error names the JSON
/// path of the offending value.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    let fail = |source| CliError::ReadInput {
        path: path.to_owned(),
        source,
    };
    let mut text = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut text).map_err(fail)?;
    } else {
        text = std::fs::read(path).map_err(fail)?;
    }
    let mut de = serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| CliError::ParseInput {
        path: path.to_owned(),
        json_path: e.path().to_string(),
        source: e.into_inner(),
    })
}
