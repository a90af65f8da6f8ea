//! unitbox: a systemd-native OCI container runtime.
//!
//! A Rust reimplementation of runc's `libcontainer` whose cgroups are systemd transient
//! scopes (`<prefix>-<id>.scope`, created over D-Bus) and whose lifecycle is also served
//! as a D-Bus service. The library is driven by the `unitbox` CLI (runc-compatible) and
//! by the `unitboxd` daemon. See `shared/design/ARCHITECTURE.md` for the layout.
#![deny(unsafe_code)]

pub mod cgroupfs;
pub mod cgroups;
pub mod channel;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod console;
pub mod container;
pub mod daemon;
pub mod error;
pub mod factory;
pub mod hooks;
pub mod init;
pub mod process;
pub mod rootfs;
pub mod store;
pub mod sys;
pub mod systemd;

pub use error::{Error, ErrorCode, Result};
