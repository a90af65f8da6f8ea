//! The container's init: the child side of a start, run as `unitbox init` from a sealed
//! copy of our binary in a fresh, single-threaded process.
//!
//! The runtime (`process::start_init` / `start_exec`) spawns it with its channel at fd 3
//! (named by [`INIT_FD_ENV`]), puts it into the container's cgroup, then sends the
//! bootstrap. init runs these steps, each a small function below, in this order:
//!
//! **Intermediate (the exec'd process):**
//! 1. [`InitStep::Bootstrap`]: check we are single-threaded, receive the config.
//! 2. [`InitStep::ProcessAttributes`]: `PR_SET_DUMPABLE 0` until `execve` so nothing in
//!    the container can ptrace us or open our `/proc/<pid>/fd` (CVE-2016-9962);
//!    `oom_score_adj` while we are still host root (lowering it needs privilege);
//!    [`InitStep::Scheduling`]: `process.execCPUAffinity.initial`.
//! 3. [`InitStep::JoinNamespaces`]: `setns` by path, user namespace first (exec: one
//!    `setns` on the container init's pidfd).
//! 4. [`InitStep::UserNamespace`]: `unshare(CLONE_NEWUSER)`; the parent writes
//!    `setgroups`/`uid_map`/`gid_map` (we are dumpable just for that), then we become root
//!    inside.
//! 5. [`InitStep::UnshareNamespaces`]: every other new namespace in one `unshare`;
//!    [`InitStep::TimeOffsets`] before anything enters the time namespace.
//! 6. [`InitStep::Fork`]: `clone(CLONE_PARENT)` into the new PID/time namespaces; the
//!    intermediate reports the child's host pid and exits. The child is the container
//!    process and a child of the runtime, which reaps it.
//!
//! **Container process (init):**
//! 7. `setsid`; [`InitStep::SessionKeyring`]: a session keyring of our own, `_ses.<id>`
//!    (not with `no_new_keyring`); [`InitStep::Hooks`]: the runtime runs `createRuntime` hooks. `Proceed`
//!    told us our host pid, which the state of the hooks we run ourselves names.
//! 8. [`InitStep::Network`] loopback up; [`InitStep::Rootfs`] mounts, `/dev`, the
//!    `createContainer` hooks (host paths still resolve), `pivot_root`.
//! 9. [`InitStep::Console`]: a pty from the container's devpts (after `pivot_root`), bound
//!    on `/dev/console`, master to the console socket or the parent.
//! 10. [`InitStep::Sysctl`], [`InitStep::FinalizeRootfs`] (masked/read-only paths),
//!     [`InitStep::Hostname`], [`InitStep::Rlimits`],
//!     [`InitStep::SessionAndPersonality`] (personality, umask), [`InitStep::Scheduling`]
//!     (`process.scheduler`, `process.ioPriority`, while we still hold `CAP_SYS_NICE`).
//! 11. [`InitStep::User`] resolution in the container's `/etc/passwd`; without
//!     `no_new_privileges` seccomp loads now, while we still hold `CAP_SYS_ADMIN`.
//! 12. [`InitStep::BoundingSet`], user switch with `PR_SET_KEEPCAPS`,
//!     [`InitStep::Capabilities`].
//! 13. [`InitStep::Cwd`] (and the check that it is inside the container, CVE-2024-21626),
//!     [`InitStep::LookupExecutable`], [`InitStep::NoNewPrivileges`], [`InitStep::Fds`].
//! 14. Report `Ready`; [`InitStep::ExecFifo`] blocks until `start` opens the fifo;
//!     [`InitStep::StartContainerHooks`] run inside the container (their failure goes back
//!     to `start` over the fifo); `process.execCPUAffinity.final`; with
//!     `no_new_privileges`, seccomp loads here, as late as possible; [`InitStep::Exec`].
//!
//! An exec skips 7–10 except the session keyring, the console, rlimits, personality and
//! umask, and runs no hooks.

pub mod capabilities;
pub mod environment;
mod fds;
pub mod message;
pub mod namespaces;
pub mod rlimits;
pub mod scheduling;
pub mod seccomp;
pub mod user;

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::sys::prctl;

use self::fds::BootFds;
use self::message::{Bootstrap, FromInit, HookPoint, InitFailure, InitStep, Launch, ToInit};
use crate::channel::{Channel, ChannelError};
use crate::config::{Config, Hook, NamespaceType};
use crate::container::Status;
use crate::hooks::{HookKind, OciState};
use crate::rootfs::{self, RootfsOptions};
use crate::sys;

/// Environment variable naming init's channel fd.
pub const INIT_FD_ENV: &str = "_UNITBOX_INIT_FD";

/// Exit status of init when it failed before it could report (no channel).
const EXIT_NO_CHANNEL: u8 = 120;

/// init's end of the channel.
type InitChannel = Channel<FromInit, ToInit>;

/// A failure inside init; it travels to the parent as an [`InitFailure`].
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// init found more than one thread.
    #[error("init must be single-threaded")]
    Threaded(#[source] nix::Error),
    /// The channel env var is missing or names no open fd.
    #[error("find channel fd from `{INIT_FD_ENV}`")]
    NoChannel,
    /// The channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The runtime sent a message that does not belong here.
    #[error("unexpected `{0}` message from the runtime")]
    Unexpected(&'static str),
    /// The bootstrap carried a different number of fds than its layout says.
    #[error("bootstrap carried {got} descriptors, its layout says {want}")]
    FdCount {
        /// Expected.
        want: usize,
        /// Received.
        got: usize,
    },
    /// A descriptor the launch needs is missing.
    #[error("bootstrap lacks the {0} descriptor")]
    MissingFd(&'static str),
    /// A namespace step failed.
    #[error(transparent)]
    Namespace(#[from] namespaces::NamespaceError),
    /// The root filesystem failed.
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    /// The terminal failed.
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// User resolution or the switch failed.
    #[error(transparent)]
    User(#[from] user::UserError),
    /// Capabilities failed.
    #[error(transparent)]
    Capability(#[from] capabilities::CapabilityError),
    /// Seccomp failed.
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    /// rlimits failed.
    #[error(transparent)]
    Rlimit(#[from] rlimits::RlimitError),
    /// Scheduler, I/O priority or CPU affinity failed.
    #[error(transparent)]
    Scheduling(#[from] scheduling::SchedulingError),
    /// A `createContainer` or `startContainer` hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// A syscall failed.
    #[error("`{call}`")]
    Syscall {
        /// The call.
        call: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// A file operation failed.
    #[error("{action} `{}`", path.display())]
    File {
        /// `open`, `write`, `chdir`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The config has no mount namespace to build the root filesystem in.
    #[error("namespaces: a new mount namespace is required to build the root filesystem")]
    NoMountNamespace,
    /// After `chdir` the cwd is not inside the container (CVE-2024-21626).
    #[error("cwd `{}` is outside the container", .0.display())]
    CwdOutside(PathBuf),
    /// The program is not there.
    #[error("find executable `{program}` in `PATH={path}`")]
    NotFound {
        /// argv\[0\].
        program: String,
        /// The PATH searched.
        path: String,
    },
    /// argv or env holds a NUL byte.
    #[error("process.{0}: contains a NUL byte")]
    Nul(&'static str),
}

impl InitError {
    /// The errno at the bottom of the chain, 0 if none.
    fn errno(&self) -> i32 {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        let mut found = 0;
        while let Some(e) = cur {
            if let Some(n) = e.downcast_ref::<nix::Error>() {
                found = *n as i32;
            } else if let Some(io) = e.downcast_ref::<std::io::Error>() {
                found = io.raw_os_error().unwrap_or(found);
            }
            cur = e.source();
        }
        found
    }

    /// The failure sent to the parent: the whole chain as text, the errno apart.
    fn into_failure(self, step: InitStep) -> InitFailure {
        self.failure(step)
    }

    /// [`Self::into_failure`] by reference.
    fn failure(&self, step: InitStep) -> InitFailure {
        let mut message = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(e) = cur {
            message.push_str(": ");
            message.push_str(&e.to_string());
            cur = e.source();
        }
        InitFailure {
            step,
            errno: self.errno(),
            message,
        }
    }
}

/// A result tagged with the step it belongs to.
type Step<T> = Result<T, (InitStep, InitError)>;

/// Tags an error with its step.
trait At<T> {
    fn at(self, step: InitStep) -> Step<T>;
}

impl<T, E: Into<InitError>> At<T> for Result<T, E> {
    fn at(self, step: InitStep) -> Step<T> {
        self.map_err(|e| (step, e.into()))
    }
}

fn syscall<T>(call: &'static str, r: nix::Result<T>) -> Result<T, InitError> {
    r.map_err(|source| InitError::Syscall { call, source })
}

/// Entry point of `unitbox init` (dispatched first thing in `main`, before any thread).
pub fn run() -> ExitCode {
    let channel = match adopt_channel() {
        Ok(channel) => channel,
        Err(e) => {
            // No channel to report on: stderr is all there is.
            let _ = writeln!(std::io::stderr(), "unitbox init: {e}");
            return ExitCode::from(EXIT_NO_CHANNEL);
        }
    };
    ExitCode::from(run_on(&channel))
}

/// Entry point of an init forked (not exec'd) from a single-threaded runtime process that
/// itself runs from a sealed binary: `channel` is its end of the channel, stdio is in
/// place, every other descriptor is closed. Returns the exit code for `_exit`.
pub fn run_forked(channel: OwnedFd) -> u8 {
    // Until exec the channel must not leak into anything we run.
    if let Err(e) = syscall("fcntl(FD_CLOEXEC)", sys::fd::set_cloexec(channel.as_fd())) {
        let _ = writeln!(std::io::stderr(), "unitbox init: {e}");
        return EXIT_NO_CHANNEL;
    }
    run_on(&Channel::from_fd(channel))
}

/// Steps 1–14 on `channel`; the exit code of whichever process returns (the intermediate
/// after its fork, or a container process whose exec failed).
fn run_on(channel: &InitChannel) -> u8 {
    match start(channel) {
        Ok(Intermediate) => 0,
        Err((step, error)) => {
            let failure = error.into_failure(step);
            if channel
                .send(&FromInit::Failed(failure.clone()), &[])
                .is_err()
            {
                // After `Ready` the runtime has stopped listening (a failed exec after
                // `start`): the process's stderr is the only place left.
                let _ = writeln!(
                    std::io::stderr(),
                    "unitbox init: {}: {}",
                    step,
                    failure.message
                );
            }
            1
        }
    }
}

/// The intermediate's successful end: it forked the container process and reported it.
struct Intermediate;

/// Takes the channel fd named by [`INIT_FD_ENV`].
fn adopt_channel() -> Result<InitChannel, InitError> {
    let raw: i32 = std::env::var(INIT_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(InitError::NoChannel)?;
    let fd = sys::fd::adopt_inherited(raw).map_err(|_| InitError::NoChannel)?;
    // Until exec the channel must not leak into anything we run.
    syscall("fcntl(FD_CLOEXEC)", sys::fd::set_cloexec(fd.as_fd()))?;
    Ok(Channel::from_fd(fd))
}

/// Steps 1–6: bootstrap, namespaces, fork. Returns in the intermediate only; the container
/// process continues in [`container_process`] and never returns on success.
fn start(channel: &InitChannel) -> Step<Intermediate> {
    let single = sys::fork::single_threaded()
        .map_err(InitError::Threaded)
        .at(InitStep::Bootstrap)?;
    let (msg, fds) = channel.recv().at(InitStep::Bootstrap)?;
    let boot = match msg {
        ToInit::Bootstrap(boot) => boot,
        other => {
            return Err(InitError::Unexpected(crate::channel::Message::kind(&other)))
                .at(InitStep::Bootstrap)
        }
    };
    let mut fds = BootFds::split(&boot.fds, fds).at(InitStep::Bootstrap)?;

    set_process_attributes(&boot).at(InitStep::ProcessAttributes)?;
    if let Some(list) = boot
        .process
        .exec_cpu_affinity
        .as_ref()
        .and_then(|a| a.initial.as_deref())
    {
        // runc pins the process to `initial` from its start; the fork inherits it.
        scheduling::apply_affinity("process.execCPUAffinity.initial", list)
            .at(InitStep::Scheduling)?;
    }
    match boot.launch {
        Launch::Init => {
            namespaces::join_paths(&boot.config).at(InitStep::JoinNamespaces)?;
            if namespaces::creates(&boot.config, NamespaceType::User) {
                create_user_namespace(channel).at(InitStep::UserNamespace)?;
            }
            namespaces::unshare_others(&boot.config).at(InitStep::UnshareNamespaces)?;
            if namespaces::creates(&boot.config, NamespaceType::Time) {
                namespaces::write_time_offsets(&boot.config).at(InitStep::TimeOffsets)?;
            }
        }
        Launch::Exec => {
            let pidfd = fds
                .container_pidfd
                .take()
                .ok_or(InitError::MissingFd("container pidfd"))
                .at(InitStep::JoinNamespaces)?;
            namespaces::join_container(&pidfd, &boot.join).at(InitStep::JoinNamespaces)?;
        }
    }

    match syscall("clone", sys::fork::fork_sibling(&single)).at(InitStep::Fork)? {
        sys::fork::Forked::Parent(pid) => {
            channel
                .send(&FromInit::Forked { pid: pid.as_raw() }, &[])
                .at(InitStep::Fork)?;
            Ok(Intermediate)
        }
        sys::fork::Forked::Child => {
            // Our turn on the channel once the runtime has heard from the intermediate.
            let host_pid = await_proceed(channel).at(InitStep::Fork)?;
            match container_process(channel, &boot, fds, host_pid) {
                Err(e) => Err(e),
            }
        }
    }
}

/// Step 6 (child): waits for `Proceed`; returns our host pid.
fn await_proceed(channel: &InitChannel) -> Result<i32, InitError> {
    match channel.recv()?.0 {
        ToInit::Proceed { pid } => Ok(pid),
        other => Err(InitError::Unexpected(crate::channel::Message::kind(&other))),
    }
}

/// Step 2: non-dumpable, `oom_score_adj`.
fn set_process_attributes(boot: &Bootstrap) -> Result<(), InitError> {
    syscall("prctl(PR_SET_DUMPABLE)", prctl::set_dumpable(false))?;
    if let Some(score) = boot.process.oom_score_adj.or(boot.config.oom_score_adj) {
        let path = Path::new("/proc/self/oom_score_adj");
        std::fs::write(path, score.to_string()).map_err(|source| InitError::File {
            action: "write",
            path: path.into(),
            source,
        })?;
    }
    Ok(())
}

/// Step 4: new user namespace, maps written by the parent, root inside.
fn create_user_namespace(channel: &InitChannel) -> Result<(), InitError> {
    namespaces::unshare_user()?;
    // The parent writes our maps through /proc/<pid>; a non-dumpable process's proc files
    // belong to root of our (still unmapped) namespace, so be dumpable for the handshake.
    syscall("prctl(PR_SET_DUMPABLE)", prctl::set_dumpable(true))?;
    channel.send(&FromInit::NeedIdMaps, &[])?;
    let (reply, _) = channel.recv()?;
    syscall("prctl(PR_SET_DUMPABLE)", prctl::set_dumpable(false))?;
    match reply {
        ToInit::IdMapsWritten => {}
        other => return Err(InitError::Unexpected(crate::channel::Message::kind(&other))),
    }
    namespaces::become_root()?;
    Ok(())
}

/// Steps 7–14 in the container process.
fn container_process(
    channel: &InitChannel,
    boot: &Bootstrap,
    fds: BootFds,
    host_pid: i32,
) -> Step<Infallible> {
    let config = &boot.config;
    let spec = &boot.process;
    let is_init = boot.launch == Launch::Init;

    if is_init || spec.terminal {
        syscall("setsid", nix::unistd::setsid().map(drop)).at(InitStep::SessionAndPersonality)?;
    }
    if let Some(name) = &boot.session_keyring {
        join_session_keyring(name).at(InitStep::SessionKeyring)?;
    }
    if is_init {
        run_hooks(channel, HookPoint::CreateRuntime).at(InitStep::Hooks)?;
        if config.networks.iter().any(|n| n.kind == "loopback") {
            syscall("ioctl(SIOCSIFFLAGS)", sys::netdev::set_link_up("lo")).at(InitStep::Network)?;
        }
        let create_container = HookRun {
            kind: HookKind::CreateContainer,
            hooks: with_env(&config.hooks.create_container, &spec.env),
            state: hook_state(boot, Status::Creating, host_pid),
        };
        prepare_rootfs(config, create_container).at(InitStep::Rootfs)?;
    }
    if spec.terminal {
        set_up_terminal(channel, boot, fds.console_socket.as_ref()).at(InitStep::Console)?;
    }
    if is_init {
        rootfs::write_sysctls(config).at(InitStep::Sysctl)?;
        rootfs::finalize(config).at(InitStep::FinalizeRootfs)?;
        set_names(config).at(InitStep::Hostname)?;
    }
    rlimits::apply(&config.rlimits).at(InitStep::Rlimits)?;
    rlimits::apply(&spec.rlimits).at(InitStep::Rlimits)?;
    set_personality_and_umask(config, spec.umask).at(InitStep::SessionAndPersonality)?;
    // While we still hold CAP_SYS_NICE, as runc does: raising a priority needs it.
    if let Some(scheduler) = &spec.scheduler {
        scheduling::apply_scheduler(scheduler).at(InitStep::Scheduling)?;
    }
    if let Some(io) = &spec.io_priority {
        scheduling::apply_io_priority(io).at(InitStep::Scheduling)?;
    }

    let exec_user =
        user::resolve_in_container(&spec.user, &spec.additional_groups).at(InitStep::User)?;
    let nnp = spec.no_new_privileges;
    if let (Some(filter), false) = (&config.seccomp, nnp) {
        // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before the drop.
        seccomp::load(filter).at(InitStep::Seccomp)?;
    }
    let caps = spec
        .capabilities
        .as_ref()
        .or(config.capabilities.as_ref())
        .map(capabilities::CapabilitySets::from_config)
        .transpose()
        .at(InitStep::Capabilities)?;
    if let Some(caps) = &caps {
        caps.drop_bounding().at(InitStep::BoundingSet)?;
    }
    switch_user(&exec_user).at(InitStep::User)?;
    if let Some(caps) = &caps {
        caps.apply().at(InitStep::Capabilities)?;
    }
    if config.parent_death_signal != 0 {
        // After the user switch: setuid clears the parent-death signal.
        let signal = nix::sys::signal::Signal::try_from(config.parent_death_signal)
            .map_err(|source| InitError::Syscall {
                call: "prctl(PR_SET_PDEATHSIG)",
                source,
            })
            .at(InitStep::ProcessAttributes)?;
        syscall("prctl(PR_SET_PDEATHSIG)", prctl::set_pdeathsig(signal))
            .at(InitStep::ProcessAttributes)?;
    }

    change_directory(&spec.cwd).at(InitStep::Cwd)?;
    let env = environment::complete(&spec.env, &exec_user.home);
    let program = find_program(spec, &env).at(InitStep::LookupExecutable)?;
    let argv = to_cstrings(&spec.args, "args").at(InitStep::Exec)?;
    let envp = to_cstrings(&env, "env").at(InitStep::Exec)?;
    let program = CString::new(program.into_os_string().into_encoded_bytes())
        .map_err(|_| InitError::Nul("args"))
        .at(InitStep::Exec)?;
    if nnp {
        syscall("prctl(PR_SET_NO_NEW_PRIVS)", prctl::set_no_new_privs())
            .at(InitStep::NoNewPrivileges)?;
    }

    let first_free = 3 + fds.extra_files.len() as i32;
    let fifo = fds
        .exec_fifo
        .map(|f| fds::move_above(f, first_free))
        .transpose()
        .at(InitStep::Fds)?;
    let channel_fd = fds::move_above(
        channel
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| InitError::Syscall {
                call: "dup",
                source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
            })
            .at(InitStep::Fds)?,
        first_free,
    )
    .at(InitStep::Fds)?;
    let channel = Channel::<FromInit, ToInit>::from_fd(channel_fd);
    fds::install_preserved(fds.extra_files).at(InitStep::Fds)?;

    channel.send(&FromInit::Ready, &[]).at(InitStep::Fds)?;
    if let Some(fifo) = fifo {
        let start_container = HookRun {
            kind: HookKind::StartContainer,
            hooks: with_env(&config.hooks.start_container, &env),
            state: hook_state(boot, Status::Created, host_pid),
        };
        wait_for_start(fifo, &start_container)?;
    }
    if let Some(list) = spec
        .exec_cpu_affinity
        .as_ref()
        .and_then(|a| a.final_.as_deref())
    {
        scheduling::apply_affinity("process.execCPUAffinity.final", list)
            .at(InitStep::Scheduling)?;
    }
    if let (Some(filter), true) = (&config.seccomp, nnp) {
        seccomp::load(filter).at(InitStep::Seccomp)?;
    }
    syscall("sigaction", sys::signal::reset_for_exec()).at(InitStep::Exec)?;
    let err = nix::unistd::execve(&program, &argv, &envp).unwrap_err();
    Err((
        InitStep::Exec,
        InitError::Syscall {
            call: "execve",
            source: err,
        },
    ))
}

/// Step 7: our own session keyring, so the container cannot read the keys of the session
/// that started it (runc's `JoinSessionKeyring`): joined by name, so an exec lands in the
/// keyring init made, which is why its owner gets search permission. A kernel without
/// keyrings (`ENOSYS`) has nothing to leak.
fn join_session_keyring(name: &str) -> Result<(), InitError> {
    let cname = CString::new(name).map_err(|_| InitError::Syscall {
        call: "keyctl(KEYCTL_JOIN_SESSION_KEYRING)",
        source: nix::Error::EINVAL,
    })?;
    let serial = match sys::keyring::join_session_keyring(&cname) {
        Err(nix::Error::ENOSYS) => return Ok(()),
        other => syscall("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", other)?,
    };
    let perm = syscall("keyctl(KEYCTL_DESCRIBE)", sys::keyring::permissions(serial))?;
    syscall(
        "keyctl(KEYCTL_SETPERM)",
        sys::keyring::set_permissions(serial, perm | sys::keyring::KEY_USR_SEARCH),
    )
}

/// Step 7: asks the runtime to run its hooks and waits for it.
fn run_hooks(channel: &InitChannel, point: HookPoint) -> Result<(), InitError> {
    channel.send(&FromInit::RunHooks(point), &[])?;
    match channel.recv()?.0 {
        ToInit::HooksDone => Ok(()),
        other => Err(InitError::Unexpected(crate::channel::Message::kind(&other))),
    }
}

/// Hooks init runs itself, in the container's namespaces.
struct HookRun {
    kind: HookKind,
    hooks: Vec<Hook>,
    state: OciState,
}

impl HookRun {
    fn run(&self) -> Result<(), crate::hooks::HookError> {
        crate::hooks::run_hooks(self.kind, &self.hooks, &self.state)
    }
}

/// The hooks' state at `status`, with the container process's host pid (runc reports
/// the pid the runtime sees).
fn hook_state(boot: &Bootstrap, status: Status, host_pid: i32) -> OciState {
    let mut state = boot.hook_state.clone().unwrap_or_else(|| OciState {
        oci_version: crate::hooks::OCI_VERSION.to_owned(),
        id: String::new(),
        status,
        pid: None,
        bundle: PathBuf::new(),
        annotations: Default::default(),
    });
    state.status = status;
    state.pid = Some(host_pid);
    state
}

/// Hooks without an `env` of their own get the process's environment, as in runc (whose
/// init has it by then); ours has only the channel variable.
fn with_env(hooks: &[Hook], env: &[String]) -> Vec<Hook> {
    hooks
        .iter()
        .map(|hook| {
            let mut hook = hook.clone();
            if hook.env.is_empty() {
                hook.env = env.to_vec();
            }
            hook
        })
        .collect()
}

/// Step 8: the root filesystem (only in a mount namespace of our own); the
/// `createContainer` hooks run once the mounts exist, before `pivot_root`, so their paths
/// are still the host's.
fn prepare_rootfs(config: &Config, create_container: HookRun) -> Result<(), InitError> {
    if namespaces::creates(config, NamespaceType::Mount) {
        let mut before_pivot =
            || -> Result<(), rootfs::HookFailure> { create_container.run().map_err(Into::into) };
        rootfs::prepare(
            config,
            RootfsOptions {
                no_pivot: config.no_pivot_root,
                before_pivot: Some(&mut before_pivot),
                // prepare() makes the idmapped-mount user namespaces itself when none are
                // handed over.
                idmap: None,
            },
        )?;
        return Ok(());
    }
    if config
        .namespaces
        .iter()
        .any(|ns| ns.kind == NamespaceType::Mount)
    {
        // A joined mount namespace already has its root filesystem.
        create_container.run()?;
        return Ok(());
    }
    Err(InitError::NoMountNamespace)
}

/// Step 9: a pty from the container's devpts; its master to the console socket (or the
/// parent), its peer on `/dev/console` and as our stdio.
fn set_up_terminal(
    channel: &InitChannel,
    boot: &Bootstrap,
    socket: Option<&OwnedFd>,
) -> Result<(), InitError> {
    let pty = crate::console::open_pty(boot.process.console_size)?;
    if boot.launch == Launch::Init {
        rootfs::mount_console(pty.peer.as_fd())?;
    }
    match socket {
        Some(socket) => crate::console::send_master(socket.as_fd(), pty.master.as_fd())?,
        None => channel.send(&FromInit::Console, &[pty.master.as_fd()])?,
    }
    crate::console::attach_stdio(&pty.peer)?;
    Ok(())
}

/// Step 10: hostname and domain name.
fn set_names(config: &Config) -> Result<(), InitError> {
    if let Some(name) = config.hostname.as_deref().filter(|n| !n.is_empty()) {
        syscall("sethostname", nix::unistd::sethostname(name))?;
    }
    if let Some(name) = config.domainname.as_deref().filter(|n| !n.is_empty()) {
        syscall("setdomainname", sys::uts::set_domainname(name))?;
    }
    Ok(())
}

/// Step 10: personality and umask (runc's default umask is 0022).
fn set_personality_and_umask(config: &Config, umask: Option<u32>) -> Result<(), InitError> {
    if let Some(persona) = &config.personality {
        let value = match persona.domain.as_str() {
            "LINUX32" => sys::personality::LINUX32,
            _ => sys::personality::LINUX,
        };
        syscall("personality", sys::personality::set_personality(value))?;
    }
    let mask = umask.or(config.umask).unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    Ok(())
}

/// Step 12: switch user and groups keeping the permitted capabilities, so the exact
/// sets can be applied afterwards (runc's `finalizeNamespace`).
fn switch_user(exec_user: &user::ExecUser) -> Result<(), InitError> {
    syscall("prctl(PR_SET_KEEPCAPS)", prctl::set_keepcaps(true))?;
    user::switch(exec_user)?;
    syscall("prctl(PR_SET_KEEPCAPS)", prctl::set_keepcaps(false))
}

/// Step 13: `chdir`, then check the kernel's view of the cwd is inside our root: a
/// leaked host directory fd used as cwd shows up as a path that does not start with `/`
/// (`(unreachable)/…`) (CVE-2024-21626).
fn change_directory(cwd: &Path) -> Result<(), InitError> {
    let cwd = if cwd.as_os_str().is_empty() {
        Path::new("/")
    } else {
        cwd
    };
    nix::unistd::chdir(cwd).map_err(|source| InitError::File {
        action: "chdir",
        path: cwd.into(),
        source: source.into(),
    })?;
    // glibc turns the kernel's `(unreachable)/…` answer into ENOENT (CVE-2018-1000001);
    // a deleted directory gives the same. Either way the cwd is no path in the container.
    let actual = match nix::unistd::getcwd() {
        Ok(actual) => actual,
        Err(nix::Error::ENOENT) => return Err(InitError::CwdOutside(cwd.into())),
        Err(source) => {
            return Err(InitError::Syscall {
                call: "getcwd",
                source,
            })
        }
    };
    if !actual.is_absolute() {
        return Err(InitError::CwdOutside(actual));
    }
    Ok(())
}

/// Step 13: argv\[0\] in the container's `PATH`.
fn find_program(spec: &message::ProcessSpec, env: &[String]) -> Result<PathBuf, InitError> {
    let program = spec.args.first().ok_or(InitError::Nul("args"))?;
    let path = environment::lookup(env, "PATH").unwrap_or(environment::DEFAULT_PATH);
    environment::find_executable(program, path).ok_or_else(|| InitError::NotFound {
        program: program.clone(),
        path: path.to_owned(),
    })
}

fn to_cstrings(list: &[String], field: &'static str) -> Result<Vec<CString>, InitError> {
    list.iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|_| InitError::Nul(field)))
        .collect()
}

/// Step 14: reopen the `O_PATH` fifo for writing through `/proc/self/fd` (blocks until
/// `start` opens the read side), run the `startContainer` hooks, then write the byte that
/// releases `start`, or the hooks' failure (JSON), which `start` returns as its error.
fn wait_for_start(fifo: OwnedFd, start_container: &HookRun) -> Step<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", fifo.as_raw_fd()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| InitError::File {
            action: "open",
            path: path.clone(),
            source,
        })
        .at(InitStep::ExecFifo)?;
    drop(fifo);
    let written = match start_container.run() {
        Ok(()) => file.write_all(b"0"),
        Err(error) => {
            let error = InitError::from(error);
            let mut failure = error.failure(InitStep::StartContainerHooks);
            // One write below PIPE_BUF arrives whole: `start` reads it in one go.
            let mut end = failure.message.len().min(PIPE_MESSAGE_MAX);
            while !failure.message.is_char_boundary(end) {
                end -= 1;
            }
            failure.message.truncate(end);
            let json = serde_json::to_vec(&failure).unwrap_or_default();
            // `start` learns it from the fifo; our own report below is for the log.
            let _ = file.write_all(&json);
            return Err((InitStep::StartContainerHooks, error));
        }
    };
    written
        .map_err(|source| InitError::File {
            action: "write",
            path,
            source,
        })
        .at(InitStep::ExecFifo)
}

/// Longest failure text sent over the exec fifo: the JSON must stay below `PIPE_BUF`.
const PIPE_MESSAGE_MAX: usize = 3072;
