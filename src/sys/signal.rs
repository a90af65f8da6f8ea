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

extern "C" fn do_nothing(_: libc::c_int) {}

/// Catches `signals` with a handler that does nothing (restarting interrupted calls).
///
/// Unlike `SIG_IGN`, a caught signal is reset to its default by `execve`, so children
/// that exec do not inherit the indifference.
pub fn catch_and_drop(signals: &[Signal]) -> nix::Result<()> {
    let handler = SigAction::new(
        SigHandler::Handler(do_nothing),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for &signal in signals {
        // SAFETY: the handler does nothing, so it is async-signal-safe and cannot break
        // any invariant of the interrupted code.
        unsafe { sigaction(signal, &handler) }?;
    }
    Ok(())
}
