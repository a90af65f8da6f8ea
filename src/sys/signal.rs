//! Signal dispositions and mask handed to the container process.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// Resets every catchable signal to `SIG_DFL` and empties the signal mask.
///
/// `execve` keeps ignored signals ignored; the Rust runtime ignores `SIGPIPE`, and the
/// container process must not inherit that.
pub fn reset_for_exec() -> nix::Result<()> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no handler code, so it cannot break any
        // invariant of the (single-threaded) caller.
        unsafe { sigaction(signal, &default) }?;
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}
