//! The restore: the checkpointed tree comes back as container `id` in a new scope.
//!
//! Order (runc `Restore` + `criuSwrk`, with systemd's scope in place of cgroupfs):
//! validate id and config → probe criu → read and check the checkpoint record → claim
//! `<root>/<id>` → bind the rootfs where criu wants its root → start `criu swrk` (it waits
//! for its request) → `StartTransientUnit` of `unitbox-<id>.scope` holding the worker,
//! with the config's resources → send the restore request (recorded stdio pipes are
//! replaced by the worker's own stdio, host binds re-bound, the cgroup mount taken from
//! the new scope) → the restored init is our child (`rst_sibling`) → save the state.
//! Any failure undoes the scope and the folder; criu kills a half-restored tree itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::criu::{self, extra_fd_number, Worker, WorkerFds};
use super::descriptor::ImageDescriptor;
use super::dump::EXTERNAL_NETNS_KEY;
use super::mounts::{self, RestoreRoot};
use super::rpc::{InheritFd, Opts, ReqType, Request, Response};
use super::{CheckpointError, CriuOpts};
use crate::cgroups::CgroupManager;
use crate::config::validate::validate;
use crate::config::{validate_id, Config, NamespaceType};
use crate::container::Container;
use crate::factory::Factory;
use crate::process::{Process, ProcessHandle, Stdio};
use crate::store::{now_rfc3339, pid_start_time, State};
use crate::systemd::unit_name;

/// Folder (in the container's state folder) the rootfs is bound onto for criu.
const RESTORE_ROOT: &str = "criu-root";

/// Restores container `id` with `config` from the checkpoint in `opts.images_dir`;
/// `process` gives the stdio (and console socket) of the restored init. Returns the
/// container `running`, its state saved, init our child.
pub(crate) fn restore(
    factory: &Factory,
    id: &str,
    mut config: Config,
    mut process: Process,
    opts: &CriuOpts,
) -> crate::Result<Container> {
    let _span = tracing::info_span!("container", id = %id).entered();
    validate_id(id)?;
    if config.cgroups.name.is_empty() {
        config.cgroups.name = id.to_owned();
    }
    validate(&config)?;
    criu::usable_version(&opts.criu_path)?;
    let record = ImageDescriptor::read(&opts.images_dir)?;
    record.check_compatible(&opts.images_dir, &config)?;
    if record.terminal && process.console_socket.is_none() {
        return Err(CheckpointError::ConsoleSocketNeeded { id: id.to_owned() }.into());
    }

    let store = factory.store();
    let reservation = store.reserve(id)?;
    let unit = unit_name::for_container(&config.cgroups.scope_prefix, &config.cgroups.name);
    let manager = factory.new_scope_manager(&config, unit)?;
    let dir = reservation.lock().dir().to_owned();
    let handle = match run_criu(&config, &record, &mut process, opts, &dir, manager.as_ref()) {
        Ok(handle) => handle,
        Err(error) => {
            destroy_scope(manager.as_ref());
            return Err(error);
        }
    };
    let pid = handle.pid();
    let (bundle, annotations) = crate::factory::bundle_and_annotations(&config.labels);
    let state = State {
        id: id.to_owned(),
        init_pid: pid,
        init_start_time: pid_start_time(pid).unwrap_or(0),
        created: now_rfc3339(),
        cgroup_paths: manager.paths().unwrap_or_default(),
        namespace_paths: namespace_paths(&config, pid),
        unit_name: manager.unit_name().to_owned(),
        rootless: config.rootless_euid,
        external_descriptors: crate::factory::external_descriptors(pid),
        bundle,
        annotations,
        paused: false,
        config,
    };
    if let Err(error) = store.save(reservation.lock(), &state) {
        let _ = handle.signal(libc::SIGKILL);
        let _ = handle.wait();
        destroy_scope(manager.as_ref());
        return Err(error.into());
    }
    drop(reservation.commit());
    tracing::info!(pid, unit = %state.unit_name, "container restored");
    process.adopt_handle(handle);
    let mut container = Container::new(
        store.clone(),
        state,
        manager,
        factory.init_binary().map(Path::to_owned),
    );
    container.set_init_process(process);
    Ok(container)
}

/// Runs the criu worker inside the new scope; returns the restored init.
fn run_criu(
    config: &Config,
    record: &ImageDescriptor,
    process: &mut Process,
    opts: &CriuOpts,
    state_dir: &Path,
    manager: &dyn CgroupManager,
) -> crate::Result<ProcessHandle> {
    super::make_dir(opts.work_dir())?;
    let images = super::open_dir(&opts.images_dir)?;
    let work = super::open_dir(opts.work_dir())?;
    let root = RestoreRoot::bind(&config.rootfs, &state_dir.join(RESTORE_ROOT))?;

    let mut inherit_fd: Vec<InheritFd> = record
        .stdio_keys
        .iter()
        .take(3)
        .enumerate()
        .filter_map(|(fd, key)| {
            Some(InheritFd {
                key: key.clone()?,
                fd: fd as i32,
            })
        })
        .collect();
    let mut extra = Vec::new();
    for ns in &config.namespaces {
        let (NamespaceType::Network, Some(path)) = (ns.kind, &ns.path) else {
            continue;
        };
        let file = File::open(path).map_err(|source| CheckpointError::Namespace {
            path: path.clone(),
            source,
        })?;
        extra.push(OwnedFd::from(file));
        inherit_fd.push(InheritFd {
            key: EXTERNAL_NETNS_KEY.to_owned(),
            fd: extra_fd_number(extra.len() - 1),
        });
    }
    let stdio = [
        worker_stdio(std::mem::take(&mut process.stdin), 0)?,
        worker_stdio(std::mem::take(&mut process.stdout), 1)?,
        worker_stdio(std::mem::take(&mut process.stderr), 2)?,
    ];
    let mut worker = Worker::start(&opts.criu_path, WorkerFds { stdio, extra })?;
    // The worker waits for its request: in the scope before it forks anything.
    manager.apply(worker.pid())?;
    let cgroup_paths: BTreeMap<String, PathBuf> = manager.paths().unwrap_or_default();
    let terminal = record.terminal;
    let rpc = Opts {
        images_dir_fd: images.as_raw_fd(),
        work_dir_fd: Some(work.as_raw_fd()),
        log_level: 4,
        log_file: "restore.log".to_owned(),
        root: Some(root.path().display().to_string()),
        rst_sibling: true,
        evasive_devices: true,
        ext_unix_sk: opts.external_unix_connections,
        tcp_established: opts.tcp_established,
        shell_job: opts.shell_job,
        file_locks: opts.file_locks,
        manage_cgroups_mode: opts.manage_cgroups_mode.rpc_value(),
        empty_ns: opts.empty_namespaces.0,
        inherit_fd,
        ext_mnt: mounts::restore_ext_mounts(config, &cgroup_paths),
        notify_scripts: terminal,
        orphan_pts_master: terminal,
        ..Opts::default()
    };
    let request = Request {
        kind: ReqType::Restore,
        opts: Some(rpc),
        notify_success: false,
    };
    let console_socket = process.console_socket.clone();
    let resp = worker
        .call(&request, &mut |note: &Response, fds: Vec<OwnedFd>| match (
            note.notify_script.as_deref(),
            &console_socket,
        ) {
            (Some("orphan-pts-master"), Some(socket)) => send_console(socket, &fds),
            _ => Ok(()),
        })
        .map_err(|e| criu::explain(&opts.criu_path, e))?;
    if !resp.success {
        let error = criu::failure("restore", &resp, opts.work_dir().join("restore.log"));
        return Err(criu::explain(&opts.criu_path, error).into());
    }
    let pid = resp.restored_pid.ok_or(CheckpointError::NoRestoredPid)?;
    let handle = ProcessHandle::open(pid)?;
    worker.finish()?;
    drop(root);
    Ok(handle)
}

/// The worker's fd `n` for one stdio choice of the process (`None`: `/dev/null`).
fn worker_stdio(stdio: Stdio, n: i32) -> Result<Option<OwnedFd>, CheckpointError> {
    let own = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map_err(|source| CheckpointError::Io {
                action: "duplicate",
                path: PathBuf::from(format!("/proc/self/fd/{n}")),
                source,
            })
    };
    Ok(match stdio {
        Stdio::Null => None,
        Stdio::Fd(fd) => Some(fd),
        Stdio::Inherit => Some(match n {
            0 => own(std::io::stdin().as_fd())?,
            1 => own(std::io::stdout().as_fd())?,
            _ => own(std::io::stderr().as_fd())?,
        }),
    })
}

/// Hands the restored terminal's master to the console socket (runc's protocol: the
/// descriptor with a name as payload).
fn send_console(socket: &Path, fds: &[OwnedFd]) -> Result<(), CheckpointError> {
    let fail = |source| CheckpointError::ConsoleSocket {
        path: socket.to_owned(),
        source,
    };
    let master = fds
        .first()
        .ok_or_else(|| fail(std::io::Error::from(std::io::ErrorKind::InvalidData)))?;
    let stream = UnixStream::connect(socket).map_err(fail)?;
    crate::sys::scm::send_with_fds(stream.as_fd(), b"/dev/ptmx", &[master.as_fd()])
        .map_err(|e| fail(e.into()))?;
    Ok(())
}

/// The namespace files of the restored init.
fn namespace_paths(config: &Config, pid: i32) -> BTreeMap<NamespaceType, PathBuf> {
    config
        .namespaces
        .iter()
        .map(|ns| {
            let path = ns.path.clone().unwrap_or_else(|| {
                PathBuf::from(format!("/proc/{pid}/ns/{}", ns.kind.proc_name()))
            });
            (ns.kind, path)
        })
        .collect()
}

/// Undoes the scope of a restore that failed; the restore's error is what the caller
/// sees.
fn destroy_scope(manager: &dyn CgroupManager) {
    if let Err(error) = manager.destroy() {
        tracing::warn!(%error, unit = manager.unit_name(), "remove scope of failed restore");
    }
}
