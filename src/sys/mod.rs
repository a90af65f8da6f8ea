//! Safe wrappers around the syscalls nix does not cover well: the only home of `unsafe`.
//!
//! One small file per syscall family, rustix-shaped: a safe function, a doc line naming the
//! syscall, a man-page reference, and a `// SAFETY:` line on every `unsafe` block.
#![allow(unsafe_code)]

pub mod mount;
pub mod path;
pub mod procfs;
