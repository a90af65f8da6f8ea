//! `Command::pre_exec` limited to `dup2`: the one thing we run between fork and exec.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::fd;

/// Makes the child of `command` find `fd` at number `target` (without close-on-exec).
///
/// The caller (possibly a threaded daemon) must keep `fd` open until `spawn` returns and
/// keep `target` clear of the numbers `Command` uses for stdio (0–2).
pub fn place_fd_in_child(command: &mut Command, fd: RawFd, target: RawFd) {
    // SAFETY: the closure calls only dup2, which is async-signal-safe, allocates nothing
    // and takes no lock, as code between fork and exec in a threaded process must.
    unsafe {
        command.pre_exec(move || fd::dup_onto(fd, target));
    }
}
