//! `clone(CLONE_PARENT)`: the fork init makes into its new PID (and time) namespace.

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
/// process: this is checked (`/proc/self/task`) and refused with `EBUSY` otherwise.
/// glibc's cached thread id of the child is stale (no `CLONE_CHILD_SETTID`), so the child
/// must not rely on `pthread_kill`/`raise` on itself; init only `exec`s or exits.
///
/// # References
/// - [`clone(2)`](https://man7.org/linux/man-pages/man2/clone.2.html)
pub fn fork_sibling() -> nix::Result<Forked> {
    match thread_count() {
        Ok(1) => {}
        Ok(_) => return Err(Errno::EBUSY),
        // An exec has joined the container's mount namespace: /proc is the container's
        // procfs, where we (outside its pid namespace) have no /proc/self. init already
        // checked that it is single-threaded at its entry (the Bootstrap step).
        Err(Errno::ENOENT) => {}
        Err(error) => return Err(error),
    }
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a clone without CLONE_VM and with a null stack behaves like fork(2): the
    // child gets a copy-on-write copy of the caller, which we just checked has one thread.
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

/// Threads of the calling process (entries of `/proc/self/task`).
pub fn thread_count() -> nix::Result<usize> {
    let dir = std::fs::read_dir("/proc/self/task")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(dir.count())
}
