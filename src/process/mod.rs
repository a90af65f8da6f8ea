//! Processes of a container: what to run ([`Process`]) and how it is started
//! ([`start_init`], [`start_exec`]).
//!
//! A [`Process`] is libcontainer's `Process`: argv, environment, user, stdio, terminal,
//! capabilities, rlimits. Starting one spawns a sealed copy of our own binary as
//! `unitbox init` (see `init`), places it in the container's cgroup, and drives it over the
//! channel until the process is ready. Afterwards the [`Process`] is the handle to it:
//! [`Process::pid`], [`Process::signal`], [`Process::wait`]. Never runs Rust code in a
//! forked child: the only code between fork and exec is `dup2`.

mod exec_fifo;
mod sealed;
mod spawn;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::config::{
    Capabilities, ConsoleSize, CpuAffinity, IoPriority, ProcessConfig, Rlimit, Scheduler,
};
use crate::init::message::{InitFailure, InitStep, ProcessSpec};
use crate::sys::pidfd::{self, Exit};

pub use exec_fifo::{release_exec_fifo, EXEC_FIFO};
pub use sealed::{seal_with_overlay, sealed_init_binary};
pub use spawn::{start_exec, start_init, ExecRequest, HookPoint, InitRequest, Spawned};

/// Where one stdio stream of the process goes.
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own stream.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// This descriptor (a pipe end, a file, a socket).
    Fd(OwnedFd),
}

/// The caller's ends of the pipes made by [`Process::pipes`].
#[derive(Debug)]
pub struct ParentPipes {
    /// Write end of the process's stdin.
    pub stdin: OwnedFd,
    /// Read end of its stdout.
    pub stdout: OwnedFd,
    /// Read end of its stderr.
    pub stderr: OwnedFd,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// This signal killed it.
    Signaled(i32),
}

impl ExitStatus {
    /// The status as a shell reports it: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }

    /// Whether it exited with 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

impl From<Exit> for ExitStatus {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Code(code) => ExitStatus::Exited(code),
            Exit::Signal(signal) => ExitStatus::Signaled(signal),
        }
    }
}

/// A started process: its host pid and a pidfd, so signals and waits cannot hit a recycled pid.
///
/// The process is a child of the caller (init forks it with `CLONE_PARENT`), so
/// [`ProcessHandle::wait`] gets its exit status.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    pidfd: OwnedFd,
}

impl ProcessHandle {
    /// Opens a handle on `pid` (which must be a child of the caller for [`Self::wait`]).
    pub fn open(pid: i32) -> Result<Self, ProcessError> {
        let pidfd = pidfd::pidfd_open(pid).map_err(|source| ProcessError::Pidfd { pid, source })?;
        Ok(ProcessHandle { pid, pidfd })
    }

    /// Host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` (a raw signal number).
    pub fn signal(&self, signal: i32) -> Result<(), ProcessError> {
        pidfd::pidfd_send_signal(self.pidfd.as_fd(), signal).map_err(|source| {
            ProcessError::Signal {
                pid: self.pid,
                signal,
                source,
            }
        })
    }

    /// Blocks until the process exits and reaps it.
    pub fn wait(&self) -> Result<ExitStatus, ProcessError> {
        match pidfd::wait_pidfd(self.pidfd.as_fd(), true) {
            Ok(Some(exit)) => Ok(exit.into()),
            Ok(None) => Err(ProcessError::Wait {
                pid: self.pid,
                source: nix::Error::ECHILD,
            }),
            Err(source) => Err(ProcessError::Wait {
                pid: self.pid,
                source,
            }),
        }
    }

    /// Reaps the process if it has exited; `None` while it runs.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>, ProcessError> {
        pidfd::wait_pidfd(self.pidfd.as_fd(), false)
            .map(|exit| exit.map(ExitStatus::from))
            .map_err(|source| ProcessError::Wait {
                pid: self.pid,
                source,
            })
    }

    /// A second handle on the same process.
    pub fn try_clone(&self) -> Result<Self, ProcessError> {
        let pidfd = self.pidfd.try_clone().map_err(|e| ProcessError::Pidfd {
            pid: self.pid,
            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
        })?;
        Ok(ProcessHandle {
            pid: self.pid,
            pidfd,
        })
    }
}

impl AsFd for ProcessHandle {
    /// The pidfd: it polls readable when the process exits.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

/// A process to run in a container (libcontainer `Process`).
///
/// Fill the public fields, then pass it to [`start_init`] / [`start_exec`] (through
/// `Container::start`/`run`/`exec`). The stdio and extra files are consumed by the start.
#[derive(Debug, Default)]
pub struct Process {
    /// argv; `args[0]` is looked up in the container's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// Environment as `KEY=value`; `PATH` defaults like runc's, `HOME` from `/etc/passwd`.
    pub env: Vec<String>,
    /// User: a name or `uid[:gid]` (each a name or a number), resolved in the container's
    /// `/etc/passwd` and `/etc/group`. Empty: root.
    pub user: String,
    /// Supplementary groups (names or numbers), on top of the user's own in `/etc/group`.
    pub additional_groups: Vec<String>,
    /// Working directory inside the container (absolute; empty: `/`).
    pub cwd: PathBuf,
    /// Standard input.
    pub stdin: Stdio,
    /// Standard output.
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
    /// Descriptors the process gets as fds 3, 4, … (runc `--preserve-fds`).
    pub extra_files: Vec<OwnedFd>,
    /// Capability sets (`None`: the container's).
    pub capabilities: Option<Capabilities>,
    /// Set `PR_SET_NO_NEW_PRIVS` (`None`: the container's setting).
    pub no_new_privileges: Option<bool>,
    /// Resource limits, applied after the container's.
    pub rlimits: Vec<Rlimit>,
    /// SELinux/AppArmor label (recorded; neither exists on this host).
    pub label: String,
    /// `oom_score_adj` (`None`: the container's).
    pub oom_score_adj: Option<i32>,
    /// umask (`None`: the container's, else 0022).
    pub umask: Option<u32>,
    /// Allocate a pseudo-terminal from the container's devpts for stdio.
    pub terminal: bool,
    /// Its initial size.
    pub console_size: Option<ConsoleSize>,
    /// Unix socket that receives the pty master (runc `--console-socket`). Without it a
    /// terminal's master is kept here: [`Process::take_console`].
    pub console_socket: Option<PathBuf>,
    /// Scheduling policy and attributes (`sched_setattr`).
    pub scheduler: Option<Scheduler>,
    /// I/O priority (`ioprio_set`).
    pub io_priority: Option<IoPriority>,
    /// CPU affinity while init sets the process up (`initial`) and for the exec'd program
    /// (`final`).
    pub exec_cpu_affinity: Option<CpuAffinity>,
    handle: Option<ProcessHandle>,
    console: Option<OwnedFd>,
}

impl Process {
    /// A process running `args`, as root in `/`, with inherited stdio.
    pub fn new(args: Vec<String>) -> Self {
        Process {
            args,
            ..Default::default()
        }
    }

    /// The process an OCI `process` object describes (user from `username` or
    /// `uid:gid`, supplementary gids as numbers).
    pub fn from_config(config: &ProcessConfig) -> Self {
        let user = match &config.user.username {
            Some(name) if !name.is_empty() => name.clone(),
            _ => format!("{}:{}", config.user.uid, config.user.gid),
        };
        Process {
            args: config.args.clone(),
            env: config.env.clone(),
            user,
            additional_groups: config
                .user
                .additional_gids
                .iter()
                .map(u32::to_string)
                .collect(),
            cwd: config.cwd.clone(),
            capabilities: config.capabilities.clone(),
            no_new_privileges: Some(config.no_new_privileges),
            rlimits: config.rlimits.clone(),
            label: config.selinux_label.clone(),
            oom_score_adj: config.oom_score_adj,
            umask: config.user.umask,
            terminal: config.terminal,
            console_size: config.console_size,
            scheduler: config.scheduler.clone(),
            io_priority: config.io_priority.clone(),
            exec_cpu_affinity: config.exec_cpu_affinity.clone(),
            ..Default::default()
        }
    }

    /// Replaces stdin/stdout/stderr with new pipes and returns the caller's ends.
    pub fn pipes(&mut self) -> Result<ParentPipes, ProcessError> {
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ProcessError::Pipe);
        let (stdin_r, stdin_w) = pipe()?;
        let (stdout_r, stdout_w) = pipe()?;
        let (stderr_r, stderr_w) = pipe()?;
        self.stdin = Stdio::Fd(stdin_r);
        self.stdout = Stdio::Fd(stdout_w);
        self.stderr = Stdio::Fd(stderr_w);
        Ok(ParentPipes {
            stdin: stdin_w,
            stdout: stdout_r,
            stderr: stderr_r,
        })
    }

    /// Host pid, once started.
    pub fn pid(&self) -> Option<i32> {
        self.handle.as_ref().map(ProcessHandle::pid)
    }

    /// The handle of the started process.
    pub fn handle(&self) -> Option<&ProcessHandle> {
        self.handle.as_ref()
    }

    /// Sends `signal` to the started process.
    pub fn signal(&self, signal: i32) -> crate::Result<()> {
        let handle = self.handle.as_ref().ok_or(crate::Error::NoProcessOps)?;
        Ok(handle.signal(signal)?)
    }

    /// Waits for the started process to exit.
    pub fn wait(&self) -> crate::Result<ExitStatus> {
        let handle = self.handle.as_ref().ok_or(crate::Error::NoProcessOps)?;
        Ok(handle.wait()?)
    }

    /// Makes this the handle of a process started elsewhere (a restored init).
    pub(crate) fn adopt_handle(&mut self, handle: ProcessHandle) {
        self.handle = Some(handle);
    }

    /// The pty master of a terminal process started without a console socket.
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// The serialisable part sent to init; `no_new_privileges` defaults to `container_nnp`.
    fn spec(&self, container_nnp: bool) -> ProcessSpec {
        ProcessSpec {
            args: self.args.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            user: self.user.clone(),
            additional_groups: self.additional_groups.clone(),
            capabilities: self.capabilities.clone(),
            no_new_privileges: self.no_new_privileges.unwrap_or(container_nnp),
            rlimits: self.rlimits.clone(),
            terminal: self.terminal,
            console_size: self.console_size,
            oom_score_adj: self.oom_score_adj,
            umask: self.umask,
            scheduler: self.scheduler.clone(),
            io_priority: self.io_priority.clone(),
            exec_cpu_affinity: self.exec_cpu_affinity.clone(),
        }
    }
}

/// A failure to start or handle a process, on the runtime's side.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The process has no argv.
    #[error("process.args: must name a program")]
    NoArgs,
    /// The init binary could not be sealed.
    #[error("seal init binary `{}`", path.display())]
    Seal {
        /// The binary.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `pipe2` failed.
    #[error("create `pipe`")]
    Pipe(#[source] nix::Error),
    /// Opening `/dev/null` or duplicating a stdio fd failed.
    #[error("prepare stdio of init")]
    Stdio(#[source] std::io::Error),
    /// Spawning init failed.
    #[error("spawn `unitbox init`")]
    Spawn(#[source] std::io::Error),
    /// The channel to init failed.
    #[error("talk to init")]
    Channel(#[from] crate::channel::ChannelError),
    /// init reported a failure.
    #[error("init failed to {}", failure.step)]
    Init {
        /// What init said.
        #[source]
        failure: InitFailure,
    },
    /// init sent a message that does not belong at this point.
    #[error("unexpected `{got}` message from init while waiting for {expected}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// A uid/gid map or setgroups write failed.
    #[error("write `{}`", path.display())]
    IdMap {
        /// The proc file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The exec fifo could not be made or used.
    #[error("{action} exec fifo `{}`", path.display())]
    ExecFifo {
        /// `create`, `open`, `read`, `remove`.
        action: &'static str,
        /// The fifo.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The container's init exited before `start` released it.
    #[error("container init {pid} exited before start")]
    InitGone {
        /// Its pid.
        pid: i32,
    },
    /// Connecting to the console socket failed.
    #[error("connect to console socket `{}`", path.display())]
    ConsoleSocket {
        /// The socket.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading the start time of a pid failed.
    #[error("read start time of pid {pid}")]
    StartTime {
        /// The pid.
        pid: i32,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `pidfd_open` failed.
    #[error("open pidfd of pid {pid}")]
    Pidfd {
        /// The pid.
        pid: i32,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `waitid` failed.
    #[error("wait for pid {pid}")]
    Wait {
        /// The pid.
        pid: i32,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `pidfd_send_signal` failed.
    #[error("send signal {signal} to pid {pid}")]
    Signal {
        /// The pid.
        pid: i32,
        /// The signal.
        signal: i32,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// Comparing the runtime's namespaces with the container's failed.
    #[error("inspect namespace `{}`", path.display())]
    Namespace {
        /// The nsfs file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl ProcessError {
    /// The step init failed at, if it was init that failed.
    pub fn init_step(&self) -> Option<InitStep> {
        match self {
            ProcessError::Init { failure } => Some(failure.step),
            _ => None,
        }
    }
}
