//! `unitbox state`: the OCI state of a container, in runc's JSON shape.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::{CliError, Globals};
use crate::container::{Container, Status};
use crate::hooks::OCI_VERSION;
use crate::Error;

/// Output the state of a container.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// The container id.
    pub id: String,
}

/// runc's `containerState`: what `state` prints and `list --format json` lists, field for
/// field and in the same order.
#[derive(Debug, Serialize)]
pub struct ContainerState {
    /// OCI runtime spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of init; 0 once stopped.
    pub pid: i32,
    /// `created`, `running`, `paused`, `stopped` (`creating`, `pausing` in passing).
    pub status: Status,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem on the host.
    pub rootfs: PathBuf,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The config's annotations (left out when there are none, as runc).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The user owning the container's state (its folder's owner).
    pub owner: String,
}

impl ContainerState {
    /// The state of a loaded container (its status derived afresh).
    pub fn of(container: &Container) -> ContainerState {
        let state = container.state();
        ContainerState {
            oci_version: OCI_VERSION.to_owned(),
            id: state.id.clone(),
            pid: container.init_pid().unwrap_or(0),
            status: container.status(),
            bundle: state.bundle.clone(),
            rootfs: state.config.rootfs.clone(),
            created: state.created.clone(),
            annotations: state.annotations.clone(),
            owner: owner_of(container),
        }
    }
}

/// Prints the state as indented JSON, as runc does.
pub fn run(args: StateArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let container = super::load(globals, &args.id)?;
    let json = serde_json::to_string_pretty(&ContainerState::of(&container))
        .map_err(|source| CliError::EncodeSpec { source })?;
    writeln!(std::io::stdout(), "{json}").map_err(CliError::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// The user name of the state folder's owner (its uid when `/etc/passwd` has none).
fn owner_of(container: &Container) -> String {
    let Ok(meta) = std::fs::metadata(container.dir()) else {
        return String::new();
    };
    let uid = meta.uid();
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_else(|| uid.to_string())
}
