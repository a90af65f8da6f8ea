//! `clone(CLONE_PARENT)`: the fork init makes into its new PID (and time) namespace;
//! `fork` of a single-threaded runtime process, and the `_exit` such a child ends with.

use nix::errno::Errno;
use nix::unistd::Pid;

/// Which side of [`fork_sibling`] we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The caller; holds the child's pid as seen from the caller's PID namespace.
    Parent(Pid),
    /// The new process.
    Child,
}

/// `clone(CLONE_PARENT | SIGCHLD)`—Forks a child whose parent is the caller's parent.
///
/// init forks once to enter the PID and time namespaces it unshared (they apply to
/// children only). With `CLONE_PARENT` the container's process becomes a direct child of
/// the runtime that spawned init, so the runtime can `waitpid` it for its exit status while
/// the intermediate init simply exits.
///
/// The child continues running Rust code, which is only sound in a single-threaded
/// process: the caller proves it with a [`SingleThreaded`] token, taken at process start
/// (the check reads `/proc/self/task`, which may not resolve after `setns`).
/// glibc's cached thread id of the child is stale (no `CLONE_CHILD_SETTID`), so the child
/// must not rely on `pthread_kill`/`raise` on itself; init only `exec`s or exits.
///
/// # References
/// - [`clone(2)`](https://man7.org/linux/man-pages/man2/clone.2.html)
pub fn fork_sibling(_proof: &SingleThreaded) -> nix::Result<Forked> {
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a clone without CLONE_VM and with a null stack behaves like fork(2): the
    // child gets a copy-on-write copy of the caller, which the token proves has one thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match Errno::result(rc)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// `fork(2)`—A copy of the calling process, which the token proves single-threaded.
///
/// The child may run any code (allocate, take locks): no other thread held anything at
/// the fork. It must end with [`exit_now`] or an exec, never by returning into frames it
/// shares with the parent.
///
/// # References
/// - [`fork(2)`](https://man7.org/linux/man-pages/man2/fork.2.html)
pub fn fork_copy(_proof: &SingleThreaded) -> nix::Result<Forked> {
    // SAFETY: the token proves the caller has one thread, so the child's copy of every
    // lock and of the allocator is consistent.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// `_exit(2)`—Ends a forked child now, without the exit handlers, buffers or destructors
/// of the process it is a copy of.
pub fn exit_now(code: u8) -> ! {
    // SAFETY: _exit only ends the process; it runs no user code.
    unsafe { libc::_exit(i32::from(code)) }
}

/// `clearenv(3)`—Empties the environment of a forked child, as an exec with an empty
/// environment would.
pub fn clear_environment(_proof: &SingleThreaded) {
    // SAFETY: the token proves the process has one thread, so nothing reads the
    // environment concurrently.
    unsafe { libc::clearenv() };
}

/// Proof that the process was single-threaded when it was taken; neither `Send` nor
/// `Sync`, so it stays on the one thread. The holder promises not to start threads.
#[derive(Debug)]
pub struct SingleThreaded(std::marker::PhantomData<*const ()>);

/// Checks that the calling process has exactly one thread (`EBUSY` otherwise).
pub fn single_threaded() -> nix::Result<SingleThreaded> {
    if thread_count()? != 1 {
        return Err(Errno::EBUSY);
    }
    Ok(SingleThreaded(std::marker::PhantomData))
}

/// Threads of the calling process (entries of `/proc/self/task`).
pub fn thread_count() -> nix::Result<usize> {
    let dir = std::fs::read_dir("/proc/self/task")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(dir.count())
}
