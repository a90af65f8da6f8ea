//! Descriptors registered with the Tokio reactor (`AsyncFd`), sound by construction.

use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Registers `fd` with the current Tokio runtime's reactor for `interest`. Call it on the
/// runtime.
pub fn register(fd: OwnedFd, interest: Interest) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `AsyncFd` owns `fd`, so the descriptor stays open and refers to the same
    // file description until the `AsyncFd` is dropped, and `as_raw_fd` never changes.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into())
}
