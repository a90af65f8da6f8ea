//! The runtime's side of starting a container process: spawn the sealed init, put it in
//! the cgroup, drive the channel until the process is ready.
//!
//! The order is the contract with `init` (see its module docs):
//! 1. spawn `unitbox init` from the sealed binary; the only code between fork and exec is
//!    `dup2` of the channel onto fd 3 (std's `Command` does the rest);
//! 2. send the bootstrap, then answer init's requests (id maps, hooks) until `Ready`;
//! 3. the container joins its cgroup so that nothing escapes it and no code of the
//!    container's runs outside it. An exec's helper joins (`add_process`) before it gets
//!    the bootstrap. A container's init joins with the container process
//!    (`cgroup.apply(pid)`, the scope's start job) *while* that process builds the root
//!    filesystem: the job wait (the largest cost of a create) overlaps that work instead
//!    of preceding it. The join is complete before any hook runs (runtime hooks see the
//!    process in its cgroup; `createContainer` hooks are processes it forks) and before
//!    `Ready`, so before `start` lets the container's program run. The process forks
//!    nothing else before `Ready`. With a new cgroup namespace, init joins before the
//!    bootstrap instead: the namespace's root is the cgroup it is made in; likewise with
//!    an `execCPUAffinity.initial`, which a later join would reset to the cpuset's CPUs.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::{exec_fifo, sealed, Process, ProcessError, ProcessHandle, Stdio};
use crate::cgroups::CgroupManager;
use crate::channel::{self, Channel};
use crate::config::{Config, IdMap, NamespaceType};
use crate::hooks::OciState;
use crate::init::message::{Bootstrap, FdLayout, FromInit, Launch, ToInit};
use crate::init::INIT_FD_ENV;
use crate::sys::fd;
use crate::sys::fork::{Forked, SingleThreaded};
use nix::unistd::Pid;

pub use crate::init::message::HookPoint;

/// The fd number init finds its channel at.
const INIT_FD: i32 = 3;

/// Lowest fd number for descriptors we `dup2` in the child, clear of 0–3.
const HIGH_FD: i32 = 10;

/// Exit code of a forked init that could not lay out its descriptors (or panicked): it
/// never reached the channel, so the runtime sees the channel close.
const EXIT_FORK_SETUP: u8 = 121;

/// What [`start_init`] needs to start a container's first process.
pub struct InitRequest<'a> {
    /// Container id (for errors and logs).
    pub id: &'a str,
    /// The container's config (namespaces, rootfs, `no_pivot_root`, …).
    pub config: &'a Config,
    /// The process to run; its stdio and extra files are consumed, and it becomes the
    /// handle of the started process.
    pub process: &'a mut Process,
    /// The container's state folder: the exec fifo is made there (`exec.fifo`).
    pub state_dir: &'a Path,
    /// The container's cgroup manager: `apply(pid)` is called with init's pid right after
    /// the spawn.
    pub cgroup: &'a dyn CgroupManager,
    /// Runs the runtime-side hooks of a [`HookPoint`]; gets the host pid of the container
    /// process. Called once, with [`HookPoint::CreateRuntime`], after the namespaces exist
    /// and before the root filesystem is built (run `prestart` there too).
    pub hooks: &'a mut dyn FnMut(HookPoint, i32) -> crate::Result<()>,
    /// The state the in-container hooks (`createContainer`, `startContainer` of
    /// `config.hooks`) read on stdin; init sets its pid (the container process's host pid)
    /// and status. `None`: a state with only the id.
    pub hook_state: Option<&'a OciState>,
    /// The binary to run init from (sealed before use); `None`: our own (`/proc/self/exe`).
    /// Tests pass the `unitbox` binary here.
    pub init_binary: Option<&'a Path>,
}

/// What [`start_exec`] needs to start another process in a running container.
pub struct ExecRequest<'a> {
    /// Container id.
    pub id: &'a str,
    /// The container's config (seccomp, default capabilities, rlimits, …).
    pub config: &'a Config,
    /// The process to run; becomes its handle.
    pub process: &'a mut Process,
    /// Host pid of the container's init: its namespaces are joined.
    pub init_pid: i32,
    /// The container's cgroup manager: `add_process(pid)` is called right after the spawn.
    pub cgroup: &'a dyn CgroupManager,
    /// As in [`InitRequest::init_binary`].
    pub init_binary: Option<&'a Path>,
}

/// A started process.
#[derive(Debug)]
pub struct Spawned {
    /// Host pid (PID 1 of the container inside a new PID namespace).
    pub pid: i32,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks since boot): with `pid`, the identity
    /// of the process that survives pid reuse.
    pub start_time: u64,
    /// `/proc/<pid>/ns/<name>` of every namespace kind.
    pub namespaces: BTreeMap<NamespaceType, PathBuf>,
    /// A handle to wait for and signal it (the [`Process`] got one too).
    pub handle: ProcessHandle,
}

/// Starts a container's first process and returns once it is set up and blocked on the
/// exec fifo (`state_dir/exec.fifo`); release it with [`super::release_exec_fifo`].
///
/// On failure nothing is left running: init and the container process are killed and
/// reaped (the caller destroys the cgroup).
pub fn start_init(req: InitRequest<'_>) -> crate::Result<Spawned> {
    let _span = tracing::debug_span!("start_init", id = req.id).entered();
    if req.process.args.is_empty() {
        return Err(ProcessError::NoArgs.into());
    }
    let fifo = exec_fifo::create(req.state_dir)?;
    let console_socket = connect_console_socket(req.process)?;
    let extra_files = std::mem::take(&mut req.process.extra_files);

    let (parent, child) = channel::pair::<ToInit, FromInit>().map_err(ProcessError::from)?;
    let mut init = spawn_init(req.init_binary, req.process, child.into_fd())?;
    // Joining a cgroup resets a task's CPU affinity to the cgroup's cpuset (v2 with the
    // cpuset controller): an `initial` affinity must be set after the join, so that join
    // cannot overlap the work init does once it has the bootstrap.
    let initial_affinity = req
        .process
        .exec_cpu_affinity
        .as_ref()
        .is_some_and(|affinity| affinity.initial.is_some());
    let join_early =
        crate::init::namespaces::creates(req.config, NamespaceType::Cgroup) || initial_affinity;
    if join_early {
        req.cgroup.apply(init.stage_one_pid())?;
    }

    let bootstrap = Bootstrap {
        launch: Launch::Init,
        config: req.config.clone(),
        process: req.process.spec(req.config.no_new_privileges),
        join: Vec::new(),
        hook_state: Some(req.hook_state.cloned().unwrap_or_else(|| OciState {
            oci_version: crate::hooks::OCI_VERSION.to_owned(),
            id: req.id.to_owned(),
            status: crate::container::Status::Creating,
            pid: None,
            bundle: PathBuf::new(),
            annotations: BTreeMap::new(),
        })),
        session_keyring: session_keyring(req.id, req.config),
        fds: FdLayout {
            exec_fifo: true,
            container_pidfd: false,
            console_socket: console_socket.is_some(),
            extra_files: extra_files.len(),
        },
    };
    let mut fds: Vec<BorrowedFd<'_>> = vec![fifo.as_fd()];
    fds.extend(console_socket.as_ref().map(AsFd::as_fd));
    fds.extend(extra_files.iter().map(AsFd::as_fd));
    parent
        .send(&ToInit::Bootstrap(Box::new(bootstrap)), &fds)
        .map_err(ProcessError::from)?;
    drop((fifo, console_socket, extra_files));

    let hooks = &req.config.hooks;
    let hooks_need_cgroup = !(hooks.prestart.is_empty()
        && hooks.create_runtime.is_empty()
        && hooks.create_container.is_empty());
    let cgroup = req.cgroup;
    std::thread::scope(|threads| -> crate::Result<()> {
        let mut joining = None;
        let mut join = |event: CgroupEvent| -> crate::Result<()> {
            match event {
                CgroupEvent::Forked(pid) if !join_early => {
                    joining = Some(threads.spawn(move || cgroup.apply(pid)));
                    Ok(())
                }
                CgroupEvent::Forked(_) => Ok(()),
                CgroupEvent::Hooks if !hooks_need_cgroup => Ok(()),
                CgroupEvent::Hooks | CgroupEvent::Ready => match joining.take() {
                    Some(thread) => thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    None => Ok(()),
                },
            }
        };
        drive(
            &parent,
            &mut init,
            req.process,
            req.config,
            Some(req.hooks),
            &mut join,
        )?;
        // A failed drive leaves the thread to the end of the scope, which waits for it: the
        // caller then destroys a scope that exists (or never will).
        join(CgroupEvent::Ready)
    })?;
    finish(init, req.process)
}

/// The points of a start where the container's cgroup membership matters.
#[derive(Debug, Clone, Copy)]
enum CgroupEvent {
    /// init forked the container process (host pid): it can join now.
    Forked(i32),
    /// init asks for the runtime hooks; after them it runs its `createContainer` hooks.
    Hooks,
    /// init is ready: every process must be in the cgroup.
    Ready,
}

/// Starts a process inside a running container (`exec`): init joins the namespaces of
/// the container's init that differ from ours, enters the cgroup (`add_process`), then
/// applies the process's own user, capabilities, seccomp, `no_new_privileges`, cwd, env
/// and terminal. Returns once the process has `execve`d.
pub fn start_exec(req: ExecRequest<'_>) -> crate::Result<Spawned> {
    let _span = tracing::debug_span!("start_exec", id = req.id).entered();
    if req.process.args.is_empty() {
        return Err(ProcessError::NoArgs.into());
    }
    let target = ProcessHandle::open(req.init_pid)?;
    let join = namespaces_to_join(req.init_pid)?;
    let console_socket = connect_console_socket(req.process)?;
    let extra_files = std::mem::take(&mut req.process.extra_files);

    let (parent, child) = channel::pair::<ToInit, FromInit>().map_err(ProcessError::from)?;
    let mut init = spawn_init(req.init_binary, req.process, child.into_fd())?;
    req.cgroup.add_process(init.stage_one_pid())?;

    let bootstrap = Bootstrap {
        launch: Launch::Exec,
        config: req.config.clone(),
        process: req.process.spec(req.config.no_new_privileges),
        join,
        hook_state: None,
        session_keyring: session_keyring(req.id, req.config),
        fds: FdLayout {
            exec_fifo: false,
            container_pidfd: true,
            console_socket: console_socket.is_some(),
            extra_files: extra_files.len(),
        },
    };
    let mut fds: Vec<BorrowedFd<'_>> = vec![target.as_fd()];
    fds.extend(console_socket.as_ref().map(AsFd::as_fd));
    fds.extend(extra_files.iter().map(AsFd::as_fd));
    parent
        .send(&ToInit::Bootstrap(Box::new(bootstrap)), &fds)
        .map_err(ProcessError::from)?;
    drop((console_socket, extra_files));

    drive(
        &parent,
        &mut init,
        req.process,
        req.config,
        None,
        &mut |_| Ok(()),
    )?;
    // After `Ready` the process execs: the close-on-exec channel closing is success, a
    // `Failed` is the exec failing.
    match parent.recv() {
        Err(channel::ChannelError::Closed) => {}
        Ok((FromInit::Failed(failure), _)) => return Err(ProcessError::Init { failure }.into()),
        Ok((other, _)) => {
            return Err(ProcessError::Unexpected {
                expected: "exec",
                got: crate::channel::Message::kind(&other),
            }
            .into())
        }
        Err(e) => return Err(ProcessError::from(e).into()),
    }
    finish(init, req.process)
}

/// The two processes of a start: the first process of init (our child) and, once it
/// forked, the container process (also our child, thanks to `CLONE_PARENT`). Dropping it
/// before [`finish`] kills and reaps both, so a failed start leaves no process behind.
struct Started {
    stage_one: Option<StageOne>,
    process: Option<ProcessHandle>,
}

/// init's first process.
enum StageOne {
    /// `unitbox init` exec'd from the sealed binary.
    Exec(Child),
    /// A fork of ours running init's code (we run from a sealed binary ourselves).
    Forked(Pid),
}

impl StageOne {
    fn pid(&self) -> i32 {
        match self {
            StageOne::Exec(child) => child.id() as i32,
            StageOne::Forked(pid) => pid.as_raw(),
        }
    }

    fn kill(&mut self) {
        match self {
            StageOne::Exec(child) => {
                let _ = child.kill();
            }
            StageOne::Forked(pid) => {
                let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    fn wait(&mut self) -> std::io::Result<()> {
        match self {
            StageOne::Exec(child) => child.wait().map(drop),
            StageOne::Forked(pid) => loop {
                match nix::sys::wait::waitpid(*pid, None) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => return other.map(drop).map_err(std::io::Error::from),
                }
            },
        }
    }
}

impl Started {
    fn stage_one_pid(&self) -> i32 {
        self.stage_one.as_ref().map_or(0, StageOne::pid)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            // Best effort: the start already failed; the process may be gone.
            let _ = process.signal(libc::SIGKILL);
            let _ = process.wait();
        }
        if let Some(mut stage_one) = self.stage_one.take() {
            stage_one.kill();
            let _ = stage_one.wait();
        }
    }
}

/// Starts init with `sock` as its channel: a fork of ours when we may (see [`forkable`]),
/// else `unitbox init` exec'd from the sealed binary with `sock` as fd 3.
fn spawn_init(
    binary: Option<&Path>,
    process: &mut Process,
    sock: OwnedFd,
) -> Result<Started, ProcessError> {
    if binary.is_none() {
        if let Some(proof) = forkable() {
            return fork_init(&proof, process, sock);
        }
    }
    let sealed = sealed::sealed_init_binary(binary)?;
    // Both numbers must stay clear of 0–3: stdio and the channel are dup2'd there.
    let exe =
        fd::dup_at_least(sealed.as_fd(), HIGH_FD).map_err(|e| ProcessError::Spawn(e.into()))?;
    let sock =
        fd::dup_at_least(sock.as_fd(), HIGH_FD).map_err(|e| ProcessError::Spawn(e.into()))?;
    let sock_raw = sock.as_raw_fd();

    let mut command = Command::new(format!("/proc/self/fd/{}", exe.as_raw_fd()));
    command
        .arg0("unitbox")
        .arg("init")
        .env_clear()
        .env(INIT_FD_ENV, INIT_FD.to_string())
        .stdin(into_std(std::mem::take(&mut process.stdin))?)
        .stdout(into_std(std::mem::take(&mut process.stdout))?)
        .stderr(into_std(std::mem::take(&mut process.stderr))?);
    crate::sys::spawn::place_fd_in_child(&mut command, sock_raw, INIT_FD);
    let child = command.spawn().map_err(ProcessError::Spawn)?;
    drop((exe, sock));
    Ok(Started {
        stage_one: Some(StageOne::Exec(child)),
        process: None,
    })
}

/// Proof that init may be a plain fork of this process instead of an exec: we run from a
/// sealed memfd (a unitboxd monitor does), so init's `/proc/self/exe` is as unwritable
/// as an exec'd init's (CVE-2019-5736), and we have one thread, so the fork may run any
/// code. A fork skips loading and linking the binary again (about 1 ms of CPU).
fn forkable() -> Option<SingleThreaded> {
    if !sealed::self_is_sealed() {
        return None;
    }
    crate::sys::fork::single_threaded().ok()
}

/// Forks init: the child sets up what an exec would have given it and runs init's code.
fn fork_init(
    proof: &SingleThreaded,
    process: &mut Process,
    sock: OwnedFd,
) -> Result<Started, ProcessError> {
    let spawn_err = |e: nix::Error| ProcessError::Spawn(e.into());
    // Every descriptor the child keeps sits above stdio first, so laying out 0–2 cannot
    // overwrite one that is still to be placed.
    let mut stdio: [Option<OwnedFd>; 3] = [None, None, None];
    for (slot, wanted) in stdio.iter_mut().zip([
        std::mem::take(&mut process.stdin),
        std::mem::take(&mut process.stdout),
        std::mem::take(&mut process.stderr),
    ]) {
        *slot = match wanted {
            Stdio::Inherit => None,
            Stdio::Null => {
                let null = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(ProcessError::Spawn)?;
                Some(fd::dup_at_least(null.as_fd(), HIGH_FD).map_err(spawn_err)?)
            }
            Stdio::Fd(given) => Some(fd::dup_at_least(given.as_fd(), HIGH_FD).map_err(spawn_err)?),
        };
    }
    let sock = fd::dup_at_least(sock.as_fd(), HIGH_FD).map_err(spawn_err)?;
    match crate::sys::fork::fork_copy(proof).map_err(spawn_err)? {
        Forked::Parent(pid) => Ok(Started {
            stage_one: Some(StageOne::Forked(pid)),
            process: None,
        }),
        Forked::Child => forked_init(proof, &stdio, sock),
    }
}

/// The child of [`fork_init`]: what `execve` and std's `Command` would have done (signal
/// dispositions and mask reset, an empty environment, stdio in place, nothing else open),
/// then init. Never returns into the frames it shares with the runtime.
fn forked_init(proof: &SingleThreaded, stdio: &[Option<OwnedFd>; 3], channel: OwnedFd) -> ! {
    let run = std::panic::AssertUnwindSafe(|| {
        let prepared = (|| -> std::io::Result<()> {
            crate::sys::signal::reset_for_exec()?;
            crate::sys::fork::clear_environment(proof);
            for (target, given) in (0..).zip(stdio) {
                if let Some(given) = given {
                    fd::dup_onto(given.as_raw_fd(), target)?;
                }
            }
            Ok(fd::close_all_but_stdio_and(channel.as_fd())?)
        })();
        // What `ps` shows until the exec (best effort).
        let _ = crate::sys::procname::rename("unitbox-init", &["unitbox", "init"]);
        match prepared {
            Ok(()) => crate::init::run_forked(channel),
            Err(_) => EXIT_FORK_SETUP,
        }
    });
    let code = std::panic::catch_unwind(run).unwrap_or(EXIT_FORK_SETUP);
    crate::sys::fork::exit_now(code)
}

/// runc's session keyring of container `id`: `_ses.<id>`, which every process of the
/// container joins (an exec finds the keyring init made), unless `no_new_keyring`.
fn session_keyring(id: &str, config: &Config) -> Option<String> {
    (!config.no_new_keyring).then(|| format!("_ses.{id}"))
}

fn into_std(stdio: Stdio) -> Result<std::process::Stdio, ProcessError> {
    Ok(match stdio {
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Null => std::process::Stdio::null(),
        Stdio::Fd(fd) => std::process::Stdio::from(fd),
    })
}

/// Connects to the process's console socket, if it wants a terminal through one.
fn connect_console_socket(process: &Process) -> Result<Option<OwnedFd>, ProcessError> {
    match (&process.console_socket, process.terminal) {
        (Some(path), true) => UnixStream::connect(path)
            .map(|s| Some(OwnedFd::from(s)))
            .map_err(|source| ProcessError::ConsoleSocket {
                path: path.clone(),
                source,
            }),
        _ => Ok(None),
    }
}

/// Answers init's requests until it reports `Ready`; tells `cgroup` of the points where
/// the container's cgroup membership matters (see [`CgroupEvent`]).
fn drive(
    channel: &Channel<ToInit, FromInit>,
    init: &mut Started,
    process: &mut Process,
    config: &Config,
    mut hooks: Option<&mut dyn FnMut(HookPoint, i32) -> crate::Result<()>>,
    cgroup: &mut dyn FnMut(CgroupEvent) -> crate::Result<()>,
) -> crate::Result<()> {
    loop {
        let (msg, mut fds) = channel.recv().map_err(|e| match e {
            channel::ChannelError::Closed => ProcessError::Unexpected {
                expected: "ready",
                got: "closed channel",
            },
            e => ProcessError::from(e),
        })?;
        match msg {
            FromInit::NeedIdMaps => {
                write_id_maps(init.stage_one_pid(), config)?;
                channel
                    .send(&ToInit::IdMapsWritten, &[])
                    .map_err(ProcessError::from)?;
            }
            FromInit::Forked { pid } => {
                init.process = Some(ProcessHandle::open(pid)?);
                cgroup(CgroupEvent::Forked(pid))?;
                channel
                    .send(&ToInit::Proceed { pid }, &[])
                    .map_err(ProcessError::from)?;
            }
            FromInit::RunHooks(point) => {
                cgroup(CgroupEvent::Hooks)?;
                let pid = init.process.as_ref().map_or(0, ProcessHandle::pid);
                if let Some(run) = hooks.as_mut() {
                    run(point, pid)?;
                }
                channel
                    .send(&ToInit::HooksDone, &[])
                    .map_err(ProcessError::from)?;
            }
            FromInit::Console => {
                process.console = fds.pop();
            }
            FromInit::Ready => return cgroup(CgroupEvent::Ready),
            FromInit::Failed(failure) => return Err(ProcessError::Init { failure }.into()),
        }
    }
}

/// Reaps the exec'd init (it exits after forking) and hands the process handle out.
fn finish(mut init: Started, process: &mut Process) -> crate::Result<Spawned> {
    let handle = init.process.take().ok_or(ProcessError::Unexpected {
        expected: "forked",
        got: "ready",
    })?;
    if let Some(mut stage_one) = init.stage_one.take() {
        stage_one.wait().map_err(ProcessError::Spawn)?;
    }
    let pid = handle.pid();
    let start_time = start_time(pid)?;
    let namespaces = NamespaceType::ALL
        .iter()
        .map(|&ns| {
            (
                ns,
                PathBuf::from(format!("/proc/{pid}/ns/{}", ns.proc_name())),
            )
        })
        .collect();
    process.handle = Some(handle.try_clone()?);
    Ok(Spawned {
        pid,
        start_time,
        namespaces,
        handle,
    })
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
pub(crate) fn start_time(pid: i32) -> Result<u64, ProcessError> {
    let err = |source| ProcessError::StartTime { pid, source };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(err)?;
    parse_start_time(&stat)
        .ok_or_else(|| err(std::io::Error::from(std::io::ErrorKind::InvalidData)))
}

/// Field 22 of a `/proc/<pid>/stat` line; the command (field 2) may contain spaces and
/// parentheses, so counting starts after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come fields 3, 4, …; field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Writes `setgroups` (when required), `uid_map` and `gid_map` of init's user namespace.
///
/// `deny` goes to `setgroups` for a rootless container: an unprivileged mapping must not
/// let the container drop groups that protect files (CVE-2014-8989); the kernel demands it
/// before an unprivileged `gid_map` write.
fn write_id_maps(pid: i32, config: &Config) -> Result<(), ProcessError> {
    let write = |name: &str, text: &str| {
        let path = PathBuf::from(format!("/proc/{pid}/{name}"));
        std::fs::write(&path, text).map_err(|source| ProcessError::IdMap { path, source })
    };
    if config.rootless_euid {
        write("setgroups", "deny")?;
    }
    write("uid_map", &id_map_text(&config.uid_mappings))?;
    write("gid_map", &id_map_text(&config.gid_mappings))
}

/// `container host size` lines, as `/proc/<pid>/uid_map` takes them.
fn id_map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// Namespace kinds in which `pid` differs from us: the ones an exec must join.
fn namespaces_to_join(pid: i32) -> Result<Vec<NamespaceType>, ProcessError> {
    use std::os::unix::fs::MetadataExt;
    let id = |path: PathBuf| {
        std::fs::metadata(&path)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|source| ProcessError::Namespace { path, source })
    };
    let mut join = Vec::new();
    for ns in NamespaceType::ALL {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", ns.proc_name()));
        let ours = PathBuf::from(format!("/proc/self/ns/{}", ns.proc_name()));
        if !ours.exists() {
            continue;
        }
        if id(theirs)? != id(ours)? {
            join.push(ns);
        }
    }
    Ok(join)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat =
            "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("12 (x) S 1"), None);
    }

    #[test]
    fn own_start_time_is_readable() {
        let ours = start_time(std::process::id() as i32).unwrap();
        assert!(ours > 0);
    }

    #[test]
    fn id_maps_render_one_line_per_range() {
        let maps = [
            IdMap {
                container_id: 0,
                host_id: 100000,
                size: 1,
            },
            IdMap {
                container_id: 1,
                host_id: 200000,
                size: 65535,
            },
        ];
        assert_eq!(id_map_text(&maps), "0 100000 1\n1 200000 65535\n");
        assert_eq!(id_map_text(&[]), "");
    }
}
