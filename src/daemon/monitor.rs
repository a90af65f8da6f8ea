//! The per-container monitor: `unitbox monitor`, the parent of a container's init.
//!
//! The daemon never forks from its threaded process and must survive its own restarts, so
//! each container gets a small re-exec of the `unitbox` binary as its creator. The monitor
//! reads one [`MonitorRequest`] from its stdin (a socket), creates the container with the
//! library's `Factory` (init becomes its child), answers one [`MonitorReply`] (plus the
//! container's journal streams, if it opened them), is moved into the container's scope by
//! the daemon's warm systemd connection (it moves itself if no [`ATTACHED_ACK`] comes: it
//! never stays in the daemon's cgroup), then waits for init and writes [`ExitRecord`] into the
//! container's state folder (`exit.json`). A restarted daemon finds the monitor by its
//! [`MonitorRecord`] (`monitor.json`) and, if it is gone, the exit status in `exit.json`.
//!
//! The monitor ignores SIGTERM/SIGINT/SIGHUP: `systemctl stop` on the scope then kills init,
//! the monitor records its status and leaves, and the scope empties. Only SIGKILL to the
//! whole scope (`systemctl kill -s KILL`) kills it before it can write; the daemon then
//! records `killed by signal 9`, which is what init got too.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::journal;
use crate::config::Config;
use crate::factory::{Factory, FactoryOptions};
use crate::process::{ExitStatus, Process, Stdio};
use crate::systemd::connection::{Bus, SystemdConnection};

/// The record of how init ended (`exit.json`).
pub const EXIT_FILE: &str = "exit.json";

/// The record of the monitor process (`monitor.json`).
pub const MONITOR_FILE: &str = "monitor.json";

/// What the daemon sends after it moved the monitor into the container's scope.
pub const ATTACHED_ACK: &[u8] = b"attached\n";

/// `CLD_EXITED`: `status` is the exit code.
pub const CLD_EXITED: i32 = 1;

/// `CLD_KILLED`: `status` is the signal.
pub const CLD_KILLED: i32 = 2;

/// What the daemon asks a monitor to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorRequest {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// An inline config.json replacing `<bundle>/config.json`.
    pub config: Option<String>,
    /// Open journal streams for stdout/stderr (else use the monitor's own fds 1 and 2).
    pub journal: bool,
    /// Restore the container from this checkpoint instead of creating it (`RestoreContainer`).
    #[serde(default)]
    pub restore: Option<crate::checkpoint::CriuOpts>,
}

/// The monitor's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MonitorReply {
    /// The container exists, init waits on the exec fifo. The journal streams, if any,
    /// travel with this message.
    Created {
        /// Host pid of init.
        init_pid: i32,
    },
    /// Nothing was made (the library undid every step).
    Failed {
        /// The library's `ErrorCode` name.
        code: String,
        /// The error chain.
        message: String,
    },
}

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

/// Entry point of `unitbox monitor --root <root> --id <id>` (argv after `monitor`).
pub fn main(args: &[String]) -> ExitCode {
    let (root, id) = match parse_args(args) {
        Some(parsed) => parsed,
        None => {
            eprintln!("usage: unitbox monitor --root <state root> --id <container id>");
            return ExitCode::from(2);
        }
    };
    // Our own session: signals to the daemon's process group do not reach us.
    let _ = nix::unistd::setsid();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return ExitCode::FAILURE,
    };
    // Handled (not ignored) signals: handlers reset on exec, so init does not inherit them.
    let _signals = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
        ]
        .into_iter()
        .filter_map(|kind| signal(kind).ok())
        .collect::<Vec<_>>()
    });
    let control = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => return ExitCode::FAILURE,
    };
    match create_and_watch(&root, &id, &control) {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

fn parse_args(args: &[String]) -> Option<(PathBuf, String)> {
    let mut root = None;
    let mut id = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--root" => root = it.next().map(PathBuf::from),
            "--id" => id = it.next().cloned(),
            _ => return None,
        }
    }
    Some((root?, id?))
}

/// Creates the container, answers the daemon, waits for init, records its end.
fn create_and_watch(root: &Path, id: &str, control: &UnixStream) -> Result<(), ()> {
    let mut line = String::new();
    BufReader::new(control).read_line(&mut line).map_err(drop)?;
    let request: MonitorRequest = match serde_json::from_str(&line) {
        Ok(request) => request,
        Err(error) => {
            reply(control, &failed_reply("SystemError", &error), &[]);
            return Err(());
        }
    };
    let created = create(root, id, &request);
    let (init, dir, unit, journal) = match created {
        Ok(created) => created,
        Err(error) => {
            reply(
                control,
                &MonitorReply::Failed {
                    code: error.code().as_str().to_owned(),
                    message: super::error::chain(&error),
                },
                &[],
            );
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
    reply(
        control,
        &MonitorReply::Created {
            init_pid: init.pid(),
        },
        &fds,
    );
    drop(journal);
    // The daemon moves us into the scope with its warm systemd connection and says so;
    // no ack (it failed or died) means we must leave its cgroup ourselves.
    if !daemon_attached(control) {
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

fn create(root: &Path, id: &str, request: &MonitorRequest) -> Result<Created, crate::Error> {
    let config = load_config(&request.bundle, request.config.as_deref())?;
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
            id
        } else {
            &config.cgroups.name
        },
    );
    process.stdin = Stdio::Null;
    let mut journal = Vec::new();
    if request.journal && !process.terminal {
        for priority in [journal::PRIORITY_STDOUT, journal::PRIORITY_STDERR] {
            match journal::connect_stream(
                Path::new(journal::STREAM_SOCKET),
                id,
                unit.as_str(),
                priority,
            ) {
                Ok(fd) => journal.push(fd),
                Err(_) => break,
            }
        }
    }
    let dup = |fd: OwnedFd| Stdio::Fd(fd);
    match journal.as_slice() {
        [out, err] => {
            process.stdout = stdio_copy(out);
            process.stderr = stdio_copy(err);
        }
        _ => {
            journal.clear();
            process.stdout = own_fd(1).map_or(Stdio::Null, dup);
            process.stderr = own_fd(2).map_or(Stdio::Null, dup);
        }
    }
    let factory = Factory::new(root, FactoryOptions::default())?;
    let mut container = match &request.restore {
        Some(opts) => factory.restore(id, config, process, opts)?,
        None => factory.create_with_process(id, config, process)?,
    };
    let init = container
        .init_process()
        .and_then(|p| p.handle())
        .ok_or(crate::Error::NoProcessOps)?
        .try_clone()?;
    let dir = container.dir();
    let unit = container.unit_name().to_owned();
    // Closing the factory's bus connection now: thousands of idle monitors must not each
    // hold a system-bus connection (the bus limits connections per user).
    drop(container);
    drop(factory);
    Ok((init, dir, unit, journal))
}

/// Whether the daemon acknowledged that it moved us into the scope.
fn daemon_attached(control: &UnixStream) -> bool {
    let mut line = String::new();
    // The daemon answers right after the reply; a bound keeps a wedged daemon from
    // leaving us in its cgroup for long.
    let _ = control.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    match BufReader::new(control).read_line(&mut line) {
        Ok(_) => line.as_bytes() == ATTACHED_ACK,
        Err(_) => false,
    }
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

fn own_fd(n: i32) -> Option<OwnedFd> {
    let fd = match n {
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        2 => std::io::stderr().as_fd().try_clone_to_owned(),
        _ => return None,
    };
    fd.ok()
}

fn failed_reply(code: &str, error: &dyn std::error::Error) -> MonitorReply {
    MonitorReply::Failed {
        code: code.to_owned(),
        message: super::error::chain(error),
    }
}

/// Sends one reply line, with `fds` attached; a daemon gone meanwhile is not our problem.
fn reply(control: &UnixStream, reply: &MonitorReply, fds: &[std::os::fd::BorrowedFd<'_>]) {
    let mut line = match serde_json::to_vec(reply) {
        Ok(line) => line,
        Err(_) => return,
    };
    line.push(b'\n');
    if fds.is_empty() {
        let _ = (&*control).write_all(&line);
    } else {
        let _ = crate::sys::scm::send_with_fds(control.as_fd(), &line, fds);
    }
}
