//! Safe wrappers around the syscalls nix does not cover well: the only home of `unsafe`.
//!
//! One small file per syscall family, rustix-shaped: a safe function, a doc line naming the
//! syscall, a man-page reference, and a `// SAFETY:` line on every `unsafe` block.
#![allow(unsafe_code)]

pub mod fd;
pub mod fork;
pub mod keyring;
pub mod memfd;
pub mod mount;
pub mod netdev;
pub mod path;
pub mod personality;
pub mod pidfd;
pub mod procfs;
pub mod procname;
pub mod pty;
pub mod reactor;
pub mod rlimit;
pub mod sched;
pub mod scm;
pub mod signal;
pub mod spawn;
pub mod uts;
