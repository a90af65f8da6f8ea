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
    criu::usable_version(&opts.criu_path)?;
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
    let stdio = stdio_externals(state.init_pid);
    refuse_foreign_sockets(state)?;
    let mut external = external_namespaces(state)?;
    for ext in stdio.iter().flat_map(|s| s.external.clone()) {
        if !external.contains(&ext) {
            external.push(ext);
        }
    }
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
        external,
        empty_ns: opts.empty_namespaces.0,
        orphan_pts_master: true,
        ..Opts::default()
    };
    let mut worker = Worker::start(&opts.criu_path, WorkerFds::default())?;
    let request = Request {
        kind,
        opts: Some(rpc),
        notify_success: false,
    };
    let resp = worker
        .call(&request, &mut |_, _| Ok(()))
        .map_err(|e| criu::explain(&opts.criu_path, e))?;
    worker.finish()?;
    if !resp.success {
        let error = criu::failure(kind.as_str(), &resp, opts.work_dir().join(&log_file));
        return Err(criu::explain(&opts.criu_path, error));
    }
    let mut record = ImageDescriptor::of(&state.id, config, &state.external_descriptors);
    record.stdio_keys = stdio.into_iter().map(|s| s.inherit_key).collect();
    record.write(&opts.images_dir)
}

/// How criu is told about one of init's stdio descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StdioExternal {
    /// `--external` entry for the dump (a pipe needs none: criu records its peerless end).
    external: Option<String>,
    /// The `inherit_fd` key for the restore.
    inherit_key: Option<String>,
}

/// Init's fds 0–2 as criu externals: stdio opened by the caller lives on the host (a
/// host `/dev/null`, a log file), outside every mount criu dumps, so it is recorded as
/// external and the restore hands over its own descriptor instead (runc does this for
/// pipes only). A file on one of init's own mounts (its pty) stays criu's.
fn stdio_externals(pid: i32) -> Vec<StdioExternal> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    let container_mounts = mount_ids(&mountinfo);
    (0..3)
        .map(|fd| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok();
            let mnt_id = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
                .ok()
                .and_then(|info| fdinfo_mnt_id(&info));
            // A file on one of init's own mounts (its terminal on the container's devpts)
            // is dumped by criu like any other.
            let mnt_id = mnt_id.filter(|id| !container_mounts.contains(id));
            stdio_external(&link, meta.map(|m| m.ino()), mnt_id)
        })
        .collect()
}

/// The mount ids (first column) of a `/proc/<pid>/mountinfo`.
fn mount_ids(mountinfo: &str) -> Vec<u64> {
    mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Fails when one of init's fds 0–2 is a unix socket that init's network namespace does
/// not list (`/proc/<pid>/net/unix`): criu would stop with `Unix socket … not found`.
fn refuse_foreign_sockets(state: &State) -> Result<(), CheckpointError> {
    let pid = state.init_pid;
    let listed = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap_or_default();
    for fd in 0..3 {
        let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
            continue;
        };
        let link = link.to_string_lossy().into_owned();
        let Some(ino) = link
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
        else {
            continue;
        };
        if !unix_table_has(&listed, ino) {
            return Err(CheckpointError::ForeignSocket {
                id: state.id.clone(),
                fd,
                link,
            });
        }
    }
    Ok(())
}

/// Whether a `/proc/net/unix` table lists inode `ino` (its seventh column).
fn unix_table_has(table: &str, ino: &str) -> bool {
    table
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(6) == Some(ino))
}

/// The criu external of one stdio descriptor (`link` is its `/proc/<pid>/fd` target).
fn stdio_external(link: &str, ino: Option<u64>, mnt_id: Option<u64>) -> StdioExternal {
    if link.starts_with("pipe:") {
        return StdioExternal {
            external: None,
            inherit_key: Some(link.to_owned()),
        };
    }
    if let Some(ino) = link
        .strip_prefix("socket:[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return StdioExternal {
            external: Some(format!("unix[{ino}]")),
            inherit_key: Some(link.to_owned()),
        };
    }
    match (link.starts_with('/'), ino, mnt_id) {
        // criu's own spelling of an external file: `file[<mnt_id hex>:<inode hex>]`.
        (true, Some(ino), Some(mnt)) => {
            let key = format!("file[{mnt:x}:{ino:x}]");
            StdioExternal {
                external: Some(key.clone()),
                inherit_key: Some(key),
            }
        }
        _ => StdioExternal {
            external: None,
            inherit_key: None,
        },
    }
}

/// The `mnt_id:` line of a `/proc/<pid>/fdinfo/<fd>`.
fn fdinfo_mnt_id(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_are_the_first_column() {
        let info = "24 1 0:22 / / rw - overlay overlay rw\n\
                    31 24 0:5 / /dev/pts rw - devpts devpts rw\n";
        assert_eq!(mount_ids(info), [24, 31]);
    }

    #[test]
    fn unix_table_lookup_reads_the_inode_column() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                     0000000000000000: 00000002 00000000 00010000 0001 01 797 /run/x\n\
                     0000000000000000: 00000003 00000000 00000000 0001 03 12\n";
        assert!(unix_table_has(table, "797"));
        assert!(unix_table_has(table, "12"));
        assert!(!unix_table_has(table, "0001"));
        assert!(!unix_table_has(table, "798"));
    }

    #[test]
    fn stdio_becomes_criu_externals() {
        let rows = [
            ("pipe:[77]", None, None, None, Some("pipe:[77]")),
            (
                "socket:[12]",
                None,
                None,
                Some("unix[12]"),
                Some("socket:[12]"),
            ),
            (
                "/dev/null",
                Some(0x2a),
                Some(24),
                Some("file[18:2a]"),
                Some("file[18:2a]"),
            ),
            ("anon_inode:[eventfd]", Some(1), Some(1), None, None),
        ];
        for (link, ino, mnt, external, key) in rows {
            let got = stdio_external(link, ino, mnt);
            assert_eq!(got.external.as_deref(), external, "{link}");
            assert_eq!(got.inherit_key.as_deref(), key, "{link}");
        }
        assert_eq!(
            fdinfo_mnt_id("pos:\t0\nflags:\t02\nmnt_id:\t24\n"),
            Some(24)
        );
    }
}
