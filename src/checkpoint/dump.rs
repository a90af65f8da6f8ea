//! The dump: criu saves the container's process tree into the images folder.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use super::criu::{self, Worker, WorkerFds};
use super::descriptor::ImageDescriptor;
use super::rpc::{Opts, ReqType, Request};
use super::{mounts, CheckpointError, CriuOpts};
use crate::config::NamespaceType;
use crate::store::State;

/// The key a joined network namespace is recorded under (runc's name).
pub(super) const EXTERNAL_NETNS_KEY: &str = "extRootNetNS";

/// Dumps (or pre-dumps) the tree of the container whose state is `state`.
///
/// Without `leave_running`/`pre_dump` criu kills the tree once it is saved. The images
/// folder (and the work folder) are made if missing; the checkpoint record is written
/// after criu succeeded, so a folder with a record always holds a whole dump.
pub(crate) fn dump(state: &State, opts: &CriuOpts) -> Result<(), CheckpointError> {
    criu::probe(&opts.criu_path)?;
    super::make_dir(&opts.images_dir)?;
    super::make_dir(opts.work_dir())?;
    let images = super::open_dir(&opts.images_dir)?;
    let work = super::open_dir(opts.work_dir())?;
    let kind = if opts.pre_dump {
        ReqType::PreDump
    } else {
        ReqType::Dump
    };
    let log_file = format!("{}.log", kind.as_str());
    let config = &state.config;
    let rpc = Opts {
        images_dir_fd: images.as_raw_fd(),
        pid: Some(state.init_pid),
        leave_running: opts.keeps_running(),
        ext_unix_sk: opts.external_unix_connections,
        tcp_established: opts.tcp_established,
        shell_job: opts.shell_job,
        file_locks: opts.file_locks,
        log_level: 4,
        log_file: log_file.clone(),
        page_server: opts
            .page_server
            .as_ref()
            .map(|ps| (ps.address.clone(), i32::from(ps.port))),
        root: Some(config.rootfs.display().to_string()),
        parent_img: opts.parent_image.as_ref().map(|p| p.display().to_string()),
        // Memory tracking is what makes a pre-dump a base for the next dump.
        track_mem: opts.pre_dump || opts.parent_image.is_some(),
        work_dir_fd: Some(work.as_raw_fd()),
        ext_mnt: mounts::dump_ext_mounts(config),
        manage_cgroups_mode: opts.manage_cgroups_mode.rpc_value(),
        external: external_namespaces(state)?,
        orphan_pts_master: true,
        ..Opts::default()
    };
    let mut worker = Worker::start(&opts.criu_path, WorkerFds::default())?;
    let request = Request {
        kind,
        opts: Some(rpc),
        notify_success: false,
    };
    let resp = worker.call(&request, &mut |_, _| Ok(()))?;
    worker.finish()?;
    if !resp.success {
        let log = opts.work_dir().join(&log_file);
        return Err(CheckpointError::CriuFailed {
            action: kind.as_str(),
            message: resp
                .cr_errmsg
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| criu::log_message(&log)),
            log,
        });
    }
    ImageDescriptor::of(&state.id, config, &state.external_descriptors).write(&opts.images_dir)
}

/// `--external net[<inode>]:extRootNetNS` for a joined network namespace: criu leaves
/// it out of the images and the restore joins the one given then.
fn external_namespaces(state: &State) -> Result<Vec<String>, CheckpointError> {
    let mut external = Vec::new();
    for ns in &state.config.namespaces {
        let (NamespaceType::Network, Some(path)) = (ns.kind, &ns.path) else {
            continue;
        };
        let meta = std::fs::metadata(path).map_err(|source| CheckpointError::Namespace {
            path: path.clone(),
            source,
        })?;
        external.push(format!("net[{}]:{EXTERNAL_NETNS_KEY}", meta.ino()));
    }
    Ok(external)
}
