//! What the parent and init say to each other: one enum per direction.
//!
//! The parent sends [`ToInit`], init answers with [`FromInit`]; a failure anywhere in init
//! travels back as [`InitFailure`] naming the [`InitStep`], which the parent turns into a
//! `ProcessError::Init`. Descriptors ride along as `SCM_RIGHTS` in the order [`FdLayout`]
//! documents.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::channel::Message;
use crate::config::{
    Capabilities, Config, ConsoleSize, CpuAffinity, IoPriority, NamespaceType, Rlimit, Scheduler,
};
use crate::hooks::OciState;

/// Parent → init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// Everything init needs; fds per [`FdLayout`]. Sent once the parent has put init
    /// into the container's cgroup.
    Bootstrap(Box<Bootstrap>),
    /// The uid/gid maps (and `setgroups`) of init's new user namespace are written.
    IdMapsWritten,
    /// The hooks init asked for ran.
    HooksDone,
    /// `Forked` arrived: the container process may use the channel (the intermediate is
    /// done with it). Carries its host pid, which it cannot see from inside a new PID
    /// namespace and which its hooks' state names.
    Proceed {
        /// Host pid of the container process.
        pid: i32,
    },
}

/// Init → parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// init unshared its user namespace: write `/proc/<init>/{setgroups,uid_map,gid_map}`.
    NeedIdMaps,
    /// The container's process now exists; `pid` is its host pid. Sent by the
    /// intermediate init, which exits right after.
    Forked {
        /// Host pid of the container's process (PID 1 inside a new PID namespace).
        pid: i32,
    },
    /// Run the runtime-side hooks of this point, then answer `HooksDone`.
    RunHooks(HookPoint),
    /// The pty master of a terminal process without a console socket (1 fd).
    Console,
    /// Set-up is done: init blocks on the exec fifo next (create), or `execve`s (exec).
    Ready,
    /// A step failed; init exits.
    Failed(InitFailure),
}

/// Points of the lifecycle where init hands control to the parent for hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookPoint {
    /// The namespaces exist, the root filesystem is not built yet: `createRuntime` (and
    /// the legacy `prestart`) hooks run in the runtime's namespaces.
    CreateRuntime,
}

/// A failure inside init, as it crosses the process boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InitFailure {
    /// The step that failed.
    pub step: InitStep,
    /// The errno behind it (0 when there is none).
    pub errno: i32,
    /// The error chain, rendered in init.
    pub message: String,
}

/// The named steps of init, in the order they run (see `init` module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitStep {
    /// Receiving the bootstrap message.
    Bootstrap,
    /// `PR_SET_DUMPABLE`, parent-death signal, `oom_score_adj`.
    ProcessAttributes,
    /// `setns` into namespaces given by path (or the pidfd of an exec's container).
    JoinNamespaces,
    /// `unshare(CLONE_NEWUSER)` and the id-map handshake.
    UserNamespace,
    /// `unshare` of the other new namespaces.
    UnshareNamespaces,
    /// `/proc/self/timens_offsets`.
    TimeOffsets,
    /// The fork into the new PID/time namespaces.
    Fork,
    /// Waiting for runtime-side hooks.
    Hooks,
    /// Running the `startContainer` hooks after `start` released init.
    StartContainerHooks,
    /// `sched_setattr`, `ioprio_set`, `sched_setaffinity`.
    Scheduling,
    /// Loopback up in a new network namespace.
    Network,
    /// Mounts, devices, `pivot_root`.
    Rootfs,
    /// The pty and `/dev/console`.
    Console,
    /// `/proc/sys` writes.
    Sysctl,
    /// Masked and read-only paths, read-only root.
    FinalizeRootfs,
    /// Hostname and domain name.
    Hostname,
    /// `setrlimit`.
    Rlimits,
    /// `personality(2)`, `umask`, `setsid`.
    SessionAndPersonality,
    /// Joining the container's own session keyring (`_ses.<id>`).
    SessionKeyring,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivileges,
    /// Loading the seccomp filter.
    Seccomp,
    /// The bounding set.
    BoundingSet,
    /// Resolving and switching user and groups.
    User,
    /// Effective, permitted, inheritable, ambient sets.
    Capabilities,
    /// `chdir` and the check that the cwd is inside the container.
    Cwd,
    /// Finding the executable in `PATH`.
    LookupExecutable,
    /// Preserved fds in place, every other fd close-on-exec.
    Fds,
    /// Waiting on the exec fifo for `start`.
    ExecFifo,
    /// `execve`.
    Exec,
}

impl InitStep {
    /// The step as the words of an error message ("init failed to …").
    pub fn as_str(self) -> &'static str {
        match self {
            InitStep::Bootstrap => "receive bootstrap",
            InitStep::ProcessAttributes => "set process attributes",
            InitStep::JoinNamespaces => "join namespaces",
            InitStep::UserNamespace => "create user namespace",
            InitStep::UnshareNamespaces => "create namespaces",
            InitStep::TimeOffsets => "set time namespace offsets",
            InitStep::Fork => "fork into pid namespace",
            InitStep::Hooks => "wait for hooks",
            InitStep::StartContainerHooks => "run startContainer hooks",
            InitStep::Scheduling => "set scheduling attributes",
            InitStep::Network => "set up loopback",
            InitStep::Rootfs => "prepare rootfs",
            InitStep::Console => "set up console",
            InitStep::Sysctl => "write sysctls",
            InitStep::FinalizeRootfs => "finalize rootfs",
            InitStep::Hostname => "set hostname",
            InitStep::Rlimits => "set rlimits",
            InitStep::SessionAndPersonality => "set session, umask and personality",
            InitStep::SessionKeyring => "join session keyring",
            InitStep::NoNewPrivileges => "set no_new_privs",
            InitStep::Seccomp => "load seccomp filter",
            InitStep::BoundingSet => "drop bounding capabilities",
            InitStep::User => "switch user",
            InitStep::Capabilities => "set capabilities",
            InitStep::Cwd => "change directory",
            InitStep::LookupExecutable => "find executable",
            InitStep::Fds => "prepare file descriptors",
            InitStep::ExecFifo => "wait on exec fifo",
            InitStep::Exec => "exec",
        }
    }
}

impl fmt::Display for InitStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What init is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Launch {
    /// Become the container's first process: create/join namespaces, build the rootfs,
    /// block on the exec fifo.
    Init,
    /// Run a process in a running container: join these namespaces of its init through
    /// the pidfd, then the process set-up.
    Exec,
}

/// The bootstrap message: the container config and the process to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Init or exec.
    pub launch: Launch,
    /// The container's config.
    pub config: Config,
    /// The process to run.
    pub process: ProcessSpec,
    /// Namespaces of the container init to join (exec only): those that differ from the
    /// runtime's own.
    pub join: Vec<NamespaceType>,
    /// Which fds came with the message.
    pub fds: FdLayout,
    /// The container's state for the hooks init runs itself (`createContainer`,
    /// `startContainer`, from `config.hooks`); init fills in the pid. `None` (exec, or a
    /// caller without a bundle): those hooks get a state with only the id.
    pub hook_state: Option<OciState>,
    /// The session keyring the process joins (created if missing), runc's `_ses.<id>`;
    /// `None` (`--no-new-keyring`): it keeps the runtime's.
    #[serde(default)]
    pub session_keyring: Option<String>,
}

/// The fds attached to [`ToInit::Bootstrap`], in this order: the exec fifo (O_PATH), the
/// container init's pidfd (exec), the console socket, then the extra files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdLayout {
    /// `state_dir/exec.fifo` opened `O_PATH` (init only).
    pub exec_fifo: bool,
    /// pidfd of the container's init (exec only).
    pub container_pidfd: bool,
    /// A connected `--console-socket`.
    pub console_socket: bool,
    /// How many extra files follow (they become fds 3, 4, …).
    pub extra_files: usize,
}

/// The serialisable part of a [`crate::process::Process`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Working directory in the container.
    pub cwd: PathBuf,
    /// User: name or `uid[:gid]` (name or number each).
    pub user: String,
    /// Supplementary groups: names or numbers.
    pub additional_groups: Vec<String>,
    /// Capability sets (`None`: the container's).
    pub capabilities: Option<Capabilities>,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// Resource limits (on top of the container's).
    pub rlimits: Vec<Rlimit>,
    /// Allocate a pty for stdio.
    pub terminal: bool,
    /// Its size.
    pub console_size: Option<ConsoleSize>,
    /// `oom_score_adj` (`None`: the container's).
    pub oom_score_adj: Option<i32>,
    /// umask (`None`: the container's, else 0022).
    pub umask: Option<u32>,
    /// `process.scheduler`.
    pub scheduler: Option<Scheduler>,
    /// `process.ioPriority`.
    pub io_priority: Option<IoPriority>,
    /// `process.execCPUAffinity`.
    pub exec_cpu_affinity: Option<CpuAffinity>,
}

impl Message for ToInit {
    fn kind(&self) -> &'static str {
        match self {
            ToInit::Bootstrap(_) => "bootstrap",
            ToInit::IdMapsWritten => "id maps written",
            ToInit::HooksDone => "hooks done",
            ToInit::Proceed { .. } => "proceed",
        }
    }
}

impl Message for FromInit {
    fn kind(&self) -> &'static str {
        match self {
            FromInit::NeedIdMaps => "need id maps",
            FromInit::Forked { .. } => "forked",
            FromInit::RunHooks(_) => "run hooks",
            FromInit::Console => "console",
            FromInit::Ready => "ready",
            FromInit::Failed(_) => "failed",
        }
    }
}
