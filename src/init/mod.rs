//! The container's init: the child side of a start, run as `unitbox init` from a sealed
//! copy of our binary in a fresh, single-threaded process.
pub mod message;

/// Environment variable naming init's channel fd.
pub const INIT_FD_ENV: &str = "_UNITBOX_INIT_FD";

/// Entry point of `unitbox init`.
pub fn run() -> std::process::ExitCode {
    todo!()
}
