//! The per-container monitor: the parent of a container's init.
//!
//! The daemon never forks from its threaded process and must survive its own restarts, so
//! each container gets a process of its own as its creator, forked by the single-threaded
//! fork server ([`super::forkserver`]). Monitors are
//! started ahead of need ([`super::pool`]) and wait on their socket for a
//! [`ToMonitor::Create`]: the monitor then creates the container with the library's
//! `Factory` (init becomes its child), whose cgroup manager asks the daemon to make the
//! scope ([`super::remote_scope`]; the monitor never connects to systemd). The daemon puts
//! init and the monitor into the new scope together, so a monitor with a container never
//! stays in the daemon's cgroup. The monitor answers [`FromMonitor::Created`] (plus the
//! container's journal streams, if it opened them), then waits for init and writes
//! [`ExitRecord`] into the container's state folder (`exit.json`). A restarted daemon finds
//! the monitor by its [`MonitorRecord`] (`monitor.json`) and, if it is gone, the exit status
//! in `exit.json`. An idle monitor may instead be asked for journal streams of a scope it
//! was moved into ([`ToMonitor::OpenJournal`]), for execs after a daemon restart.
//!
//! The monitor ignores SIGTERM/SIGINT/SIGHUP: `systemctl stop` on the scope then kills init,
//! the monitor records its status and leaves, and the scope empties. Only SIGKILL to the
//! whole scope (`systemctl kill -s KILL`) kills it before it can write; the daemon then
//! records `killed by signal 9`, which is what init got too.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::journal;
use super::remote_scope::RemoteScopes;
use super::wire::{self, FromMonitor, MonitorRequest, ToMonitor};
use crate::config::Config;
use crate::factory::{Factory, FactoryOptions};
use crate::process::{ExitStatus, Process, Stdio};
use crate::systemd::connection::{Bus, SystemdConnection};

/// The record of how init ended (`exit.json`).
pub const EXIT_FILE: &str = "exit.json";

/// Marks that the daemon has signalled the end recorded in `exit.json`.
pub const EXIT_REPORTED_FILE: &str = "exit.reported";

/// The record of the monitor process (`monitor.json`).
pub const MONITOR_FILE: &str = "monitor.json";

/// `CLD_EXITED`: `status` is the exit code.
pub const CLD_EXITED: i32 = 1;

/// `CLD_KILLED`: `status` is the signal.
pub const CLD_KILLED: i32 = 2;

/// How init ended, as systemd's `ExecMainCode`/`ExecMainStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// `CLD_EXITED` or `CLD_KILLED`.
    pub code: i32,
    /// Exit code or signal number.
    pub status: i32,
}

impl From<ExitStatus> for ExitRecord {
    fn from(status: ExitStatus) -> ExitRecord {
        match status {
            ExitStatus::Exited(code) => ExitRecord {
                code: CLD_EXITED,
                status: code,
            },
            ExitStatus::Signaled(signal) => ExitRecord {
                code: CLD_KILLED,
                status: signal,
            },
        }
    }
}

/// Which process the monitor is (pid plus start time, so a recycled pid is not mistaken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRecord {
    /// Host pid.
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl MonitorRecord {
    /// Whether this monitor still runs.
    pub fn is_alive(&self) -> bool {
        crate::store::pid_start_time(self.pid) == Some(self.start_time)
    }
}

/// Reads `<dir>/exit.json`, if the monitor wrote it.
pub fn read_exit(dir: &Path) -> Option<ExitRecord> {
    let text = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Whether a daemon has already signalled the end in `<dir>/exit.json`.
pub fn exit_reported(dir: &Path) -> bool {
    dir.join(EXIT_REPORTED_FILE).exists()
}

/// Notes that the end in `<dir>/exit.json` was signalled (best effort: at worst a
/// restarted daemon signals it once more).
pub fn mark_exit_reported(dir: &Path) {
    let _ = std::fs::write(dir.join(EXIT_REPORTED_FILE), b"");
}

/// Reads `<dir>/monitor.json`.
pub fn read_record(dir: &Path) -> Option<MonitorRecord> {
    let text = std::fs::read(dir.join(MONITOR_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes `value` as JSON to `<dir>/<name>` atomically (temporary file, then rename).
fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(
        &tmp,
        serde_json::to_vec(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, dir.join(name))
}

/// The config of a create request: the inline JSON, or `<bundle>/config.json`.
pub fn load_config(bundle: &Path, inline: Option<&str>) -> Result<Config, crate::Error> {
    use crate::config::ConfigError;
    let config = match inline {
        None => crate::config::load_bundle(bundle)?,
        Some(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let spec: oci_spec::runtime::Spec =
                serde_path_to_error::deserialize(&mut de).map_err(|e| ConfigError::Parse {
                    path: PathBuf::from("<Config option>"),
                    json_path: e.path().to_string(),
                    source: e.into_inner(),
                })?;
            crate::config::from_spec(&spec, bundle)?
        }
    };
    Ok(config)
}

/// Entry point of a monitor forked by the fork server ([`super::forkserver`]): stdio is
/// `/dev/null`, `control` is its end of the daemon's socket, nothing else is open.
/// Returns the exit code for `_exit`.
pub fn run_forked(root: &Path, control: OwnedFd) -> u8 {
    // What `ps` and `systemctl status` show for the scope's processes (best effort: the
    // fork server's command line otherwise).
    let _ = crate::sys::procname::rename("unitbox-monitor", &["unitbox", "monitor"]);
    // Our own session: signals to the daemon's process group do not reach us.
    let _ = nix::unistd::setsid();
    // Caught (not ignored) signals: handlers reset on exec, so init does not inherit them.
    let _ = crate::sys::signal::catch_and_drop(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]);
    let control = Arc::new(UnixStream::from(control));
    // Idle until the daemon has work; end-of-file means it went away without any.
    let (work, fds) = match wire::recv::<ToMonitor>(&control) {
        Ok(work) => work,
        Err(_) => return 0,
    };
    let done = match work {
        ToMonitor::Create(request) => create_and_watch(root, *request, fds, &control),
        ToMonitor::OpenJournal { id, unit } => open_journal(&id, &unit, &control),
        _ => Err(()),
    };
    match done {
        Ok(()) => 0,
        Err(()) => 1,
    }
}

/// Connects the journal streams of a scope we were moved into, hands them over, leaves.
/// Once we are gone journald takes the unit from the stream header (root only), and while
/// we live it reads our cgroup: the scope's either way.
fn open_journal(id: &str, unit: &str, control: &UnixStream) -> Result<(), ()> {
    let streams = journal_streams(id, unit);
    let fds: Vec<_> = streams.iter().map(|fd| fd.as_fd()).collect();
    wire::send(control, &FromMonitor::Journal, &fds).map_err(drop)
}

/// stdout and stderr streams tagged `id` for `unit`, or none.
fn journal_streams(id: &str, unit: &str) -> Vec<OwnedFd> {
    let mut streams = Vec::new();
    for priority in [journal::PRIORITY_STDOUT, journal::PRIORITY_STDERR] {
        match journal::connect_stream(Path::new(journal::STREAM_SOCKET), id, unit, priority) {
            Ok(fd) => streams.push(fd),
            Err(_) => return Vec::new(),
        }
    }
    streams
}

/// Creates the container, answers the daemon, waits for init, records its end.
fn create_and_watch(
    root: &Path,
    request: MonitorRequest,
    fds: Vec<OwnedFd>,
    control: &Arc<UnixStream>,
) -> Result<(), ()> {
    let id = request.id.clone();
    let (init, dir, unit, journal) = match create(root, request, fds, control) {
        Ok(created) => created,
        Err(error) => {
            let failed = FromMonitor::Failed {
                code: error.code().as_str().to_owned(),
                message: super::error::chain(&error),
            };
            let _ = wire::send(control, &failed, &[]);
            return Err(());
        }
    };
    let record = MonitorRecord {
        pid: std::process::id() as i32,
        start_time: crate::store::pid_start_time(std::process::id() as i32).unwrap_or(0),
    };
    // Without the record a restarted daemon cannot tell us from a recycled pid; it then
    // falls back to init's liveness, so this is not fatal.
    let _ = write_json(&dir, MONITOR_FILE, &record);
    let fds: Vec<_> = journal.iter().map(|fd| fd.as_fd()).collect();
    let created = FromMonitor::Created {
        init_pid: init.pid(),
    };
    let _ = wire::send(control, &created, &fds);
    drop(journal);
    // The daemon moves us into the scope with its warm systemd connection and says so;
    // no word (it failed or died) means we must leave its cgroup ourselves.
    if !daemon_attached(control) {
        tracing::debug!(%id, "monitor not attached by the daemon");
        move_into_scope(&unit);
    }
    let status = match init.wait() {
        Ok(status) => status,
        Err(_) => return Err(()),
    };
    // The folder is gone when the container was destroyed: nothing to record then.
    let _ = write_json(&dir, EXIT_FILE, &ExitRecord::from(status));
    Ok(())
}

type Created = (crate::process::ProcessHandle, PathBuf, String, Vec<OwnedFd>);

fn create(
    root: &Path,
    request: MonitorRequest,
    fds: Vec<OwnedFd>,
    control: &Arc<UnixStream>,
) -> Result<Created, crate::Error> {
    let MonitorRequest {
        id,
        config,
        journal,
        stdout,
        stderr,
        start,
        restore,
    } = request;
    let restoring = restore.is_some();
    let mut process = match &config.process {
        Some(process) => Process::from_config(process),
        None => {
            return Err(crate::config::ConfigError::invalid(
                "process",
                "required to create a container",
            )
            .into())
        }
    };
    let unit = crate::systemd::unit_name::for_container(
        &config.cgroups.scope_prefix,
        if config.cgroups.name.is_empty() {
            &id
        } else {
            &config.cgroups.name
        },
    );
    process.stdin = Stdio::Null;
    let streams = if journal && !process.terminal {
        journal_streams(&id, unit.as_str())
    } else {
        Vec::new()
    };
    let mut given = fds.into_iter();
    match streams.as_slice() {
        [out, err] => {
            process.stdout = stdio_copy(out);
            process.stderr = stdio_copy(err);
        }
        _ => {
            let mut next = |wanted: bool| match wanted.then(|| given.next()).flatten() {
                Some(fd) => Stdio::Fd(fd),
                None => Stdio::Null,
            };
            process.stdout = next(stdout);
            process.stderr = next(stderr);
        }
    }
    let factory = Factory::new(root, FactoryOptions::default())?
        .with_manager_source(Arc::new(RemoteScopes::new(control.clone())));
    let mut container = match restore {
        // A restored container is running already: criu resumed its tasks.
        Some(opts) => factory.restore(&id, config, process, &opts)?,
        None => factory.create_with_process(&id, config, process)?,
    };
    if start && !restoring {
        // A start that fails leaves the container created; the daemon sees that status
        // and starts it itself, reporting the error.
        let _ = container.start();
    }
    let init = container
        .init_process()
        .and_then(|p| p.handle())
        .ok_or(crate::Error::NoProcessOps)?
        .try_clone()?;
    let dir = container.dir();
    let unit = container.unit_name().to_owned();
    Ok((init, dir, unit, streams))
}

/// Whether the daemon said it moved us into the scope.
fn daemon_attached(control: &UnixStream) -> bool {
    // The daemon answers right after the reply; a bound keeps a wedged daemon from
    // leaving us in its cgroup for long.
    let _ = control.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    matches!(
        wire::recv::<ToMonitor>(control),
        Ok((ToMonitor::Attached, _))
    )
}

/// Joins the container's scope with our own connection (the daemon could not); best effort.
fn move_into_scope(unit: &str) {
    if let Ok(conn) = SystemdConnection::connect(Bus::System) {
        let pid = std::process::id();
        let _ = conn.block_on(conn.systemd().attach_processes(unit, &[pid]));
    }
}

fn stdio_copy(fd: &OwnedFd) -> Stdio {
    fd.try_clone().map_or(Stdio::Null, Stdio::Fd)
}
