//! `Checkpoint` and `RestoreContainer`: criu through the daemon.
//!
//! Bus glue plus the two flows. A checkpoint runs the library's `Container::checkpoint`
//! serialized with the container's other verbs; unless the container is left running it
//! is then destroyed (runc's `checkpoint` does the same), so `ContainerRemoved` follows
//! `Exited` and the id is free for the restore. A restore is a create whose monitor calls
//! `Factory::restore` instead of `create_with_process`: the monitor becomes the parent of
//! the restored init (criu's `rst_sibling`), the new scope holds the tree, and the daemon
//! publishes it as any new container (`ContainerNew`, then `Exited` through the monitor).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zbus::{OwnedObjectPath, OwnedVariant};

use super::container::{bool_option, known_options, open_output, string_option};
use super::error::BusError;
use super::runtime::{CreateOptions, Runtime, DESTROY_FORCE};
use crate::checkpoint::{CriuOpts, EmptyNamespaces, ManageCgroupsMode, PageServer};

/// How long the monitor may take to notice that criu killed init.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(30);

/// Options both methods take.
const SHARED: &[&str] = &[
    "WorkPath",
    "TcpEstablished",
    "ExtUnixSk",
    "ShellJob",
    "FileLocks",
    "ManageCgroupsMode",
    "EmptyNs",
    "CriuPath",
];

/// Options only `Checkpoint` takes.
const CHECKPOINT_ONLY: &[&str] = &["ParentPath", "LeaveRunning", "PreDump", "PageServer"];

/// Options only `RestoreContainer` takes.
const RESTORE_ONLY: &[&str] = &["StdoutPath", "StderrPath"];

/// `image_dir`: an absolute path.
fn image_dir(path: &str) -> Result<PathBuf, BusError> {
    if !Path::new(path).is_absolute() {
        return Err(BusError::invalid_args(
            "image_dir",
            format!("`{path}` must be an absolute path"),
        ));
    }
    Ok(PathBuf::from(path))
}

/// An option that must be an absolute path.
fn path_option(
    options: &HashMap<String, OwnedVariant>,
    name: &str,
) -> Result<Option<PathBuf>, BusError> {
    match string_option(options, name)? {
        Some(p) if !p.starts_with('/') => {
            Err(BusError::invalid_args(name, "must be an absolute path"))
        }
        other => Ok(other.map(PathBuf::from)),
    }
}

/// The `a{sv}` option `name` as a string array.
fn strings_option(
    options: &HashMap<String, OwnedVariant>,
    name: &str,
) -> Result<Vec<String>, BusError> {
    match options.get(name) {
        None => Ok(Vec::new()),
        Some(value) => Vec::<String>::try_from(value.try_clone().map_err(BusError::from)?)
            .map_err(|_| BusError::invalid_args(name, "must be a string array (as)")),
    }
}

/// A value that parses with the library's rules, as `InvalidArgs` naming the option.
fn parsed<T>(
    name: &str,
    result: Result<T, crate::checkpoint::CheckpointError>,
) -> Result<T, BusError> {
    result.map_err(|e| BusError::invalid_args(name, e))
}

/// The options both methods share, over `image_dir`.
fn shared_options(
    image: &str,
    options: &HashMap<String, OwnedVariant>,
) -> Result<CriuOpts, BusError> {
    let mut opts = CriuOpts::new(image_dir(image)?);
    opts.work_dir = path_option(options, "WorkPath")?;
    opts.tcp_established = bool_option(options, "TcpEstablished")?;
    opts.external_unix_connections = bool_option(options, "ExtUnixSk")?;
    opts.shell_job = bool_option(options, "ShellJob")?;
    opts.file_locks = bool_option(options, "FileLocks")?;
    if let Some(mode) = string_option(options, "ManageCgroupsMode")? {
        opts.manage_cgroups_mode = parsed("ManageCgroupsMode", mode.parse::<ManageCgroupsMode>())?;
    }
    if let Some(criu) = string_option(options, "CriuPath")? {
        opts.criu_path = PathBuf::from(criu);
    }
    opts.empty_namespaces = parsed(
        "EmptyNs",
        EmptyNamespaces::parse(&strings_option(options, "EmptyNs")?),
    )?;
    Ok(opts)
}

/// `Checkpoint` options: `WorkPath s`, `ParentPath s`, `LeaveRunning b`, `PreDump b`,
/// `TcpEstablished b`, `ExtUnixSk b`, `ShellJob b`, `FileLocks b`,
/// `ManageCgroupsMode s`, `EmptyNs as`, `PageServer s` (`ADDRESS:PORT`), `CriuPath s`.
pub fn checkpoint_options(
    image: &str,
    options: &HashMap<String, OwnedVariant>,
) -> Result<CriuOpts, BusError> {
    known_options(options, &[SHARED, CHECKPOINT_ONLY].concat())?;
    let mut opts = shared_options(image, options)?;
    opts.parent_image = string_option(options, "ParentPath")?.map(PathBuf::from);
    opts.leave_running = bool_option(options, "LeaveRunning")?;
    opts.pre_dump = bool_option(options, "PreDump")?;
    if let Some(server) = string_option(options, "PageServer")? {
        opts.page_server = Some(parsed("PageServer", server.parse::<PageServer>())?);
    }
    Ok(opts)
}

/// `RestoreContainer` options: the shared ones plus `StdoutPath s`, `StderrPath s` (files for the restored init's output; default: the journal).
pub fn restore_options(
    image: &str,
    options: &HashMap<String, OwnedVariant>,
) -> Result<CreateOptions, BusError> {
    known_options(options, &[SHARED, RESTORE_ONLY].concat())?;
    let opts = shared_options(image, options)?;
    Ok(CreateOptions {
        stdout: string_option(options, "StdoutPath")?
            .map(|p| open_output(&p))
            .transpose()?,
        stderr: string_option(options, "StderrPath")?
            .map(|p| open_output(&p))
            .transpose()?,
        restore: Some(opts),
        ..CreateOptions::default()
    })
}

/// Checkpoints container `id`; destroys it afterwards unless it keeps running.
pub async fn checkpoint(runtime: &Arc<Runtime>, id: &str, opts: CriuOpts) -> Result<(), BusError> {
    let keeps_running = opts.keeps_running();
    runtime
        .with_container(id, move |c| c.checkpoint(&opts))
        .await?;
    tracing::info!(id, keeps_running, "container checkpointed");
    if keeps_running {
        return Ok(());
    }
    // criu killed the tree; let the monitor's watcher publish `Exited` on the object
    // before the destroy takes the object away.
    let entry = runtime.entry(id)?;
    let deadline = Instant::now() + STOPPED_TIMEOUT;
    while entry.live().status != "stopped" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runtime.destroy(id, DESTROY_FORCE).await
}

/// Restores container `id` from `bundle`'s config and the checkpoint in `options`.
pub async fn restore(
    runtime: &Arc<Runtime>,
    id: &str,
    bundle: &str,
    options: CreateOptions,
) -> Result<OwnedObjectPath, BusError> {
    let path = runtime.create(id, bundle, options).await?;
    tracing::info!(id, "container restored");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::error::ErrorKind;
    use super::*;

    fn options(pairs: &[(&str, zbus::Variant<'_>)]) -> HashMap<String, OwnedVariant> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    OwnedVariant::try_from(v.try_clone().unwrap()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn checkpoint_options_map_to_criu_opts() {
        let opts = checkpoint_options(
            "/img",
            &options(&[
                ("LeaveRunning", true.into()),
                ("ParentPath", "../parent".into()),
                ("ManageCgroupsMode", "soft".into()),
                ("PageServer", "10.0.0.1:27".into()),
            ]),
        )
        .unwrap();
        assert!(opts.leave_running && !opts.pre_dump);
        assert_eq!(opts.parent_image.as_deref(), Some(Path::new("../parent")));
        assert_eq!(opts.manage_cgroups_mode, ManageCgroupsMode::Soft);
        assert_eq!(opts.page_server.unwrap().port, 27);
        assert_eq!(
            checkpoint_options("/img", &HashMap::new())
                .unwrap()
                .manage_cgroups_mode,
            ManageCgroupsMode::Ignore
        );
    }

    #[test]
    fn bad_options_are_invalid_args_naming_the_key() {
        let rows: Vec<(&str, HashMap<String, OwnedVariant>, &str)> = vec![
            ("/img", options(&[("Bogus", true.into())]), "Bogus"),
            (
                "/img",
                options(&[("LeaveRunning", "yes".into())]),
                "LeaveRunning",
            ),
            (
                "/img",
                options(&[("ManageCgroupsMode", "all".into())]),
                "ManageCgroupsMode",
            ),
            (
                "/img",
                options(&[("PageServer", "nowhere".into())]),
                "PageServer",
            ),
            ("/img", options(&[("WorkPath", "rel".into())]), "WorkPath"),
            ("/img", options(&[("EmptyNs", "network".into())]), "EmptyNs"),
            (
                "/img",
                options(&[("EmptyNs", vec!["bogus"].into())]),
                "EmptyNs",
            ),
            ("relative", HashMap::new(), "image_dir"),
        ];
        for (image, opts, key) in rows {
            let err = checkpoint_options(image, &opts).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgs, "{key}");
            assert!(err.message.starts_with(key), "{key}: {}", err.message);
        }
        let err = restore_options("/img", &options(&[("LeaveRunning", true.into())])).unwrap_err();
        assert!(err.message.starts_with("LeaveRunning"), "{}", err.message);
        let err =
            restore_options("/img", &options(&[("EmptyNs", vec!["bogus"].into())])).unwrap_err();
        assert!(err.message.starts_with("EmptyNs"), "{}", err.message);
        let ok = restore_options("/img", &options(&[("EmptyNs", vec!["network"].into())])).unwrap();
        assert_eq!(
            ok.restore.unwrap().empty_namespaces.0,
            libc::CLONE_NEWNET as u32
        );
    }
}
