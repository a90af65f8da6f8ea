//! The container's root filesystem: mounts, `/dev`, `pivot_root`, masked and read-only
//! paths, sysctls and the console bind.
//!
//! Owns everything init does to the mount namespace between `unshare(CLONE_NEWNS)` and
//! `execve`. Every path the image controls is resolved inside the rootfs through an fd
//! (`sys::path`), every mount is made detached and attached onto an `O_PATH` handle
//! (`sys::mount`), and procfs writes go through a private procfs handle (`sys::procfs`):
//! the defences against CVE-2021-30465, CVE-2024-45310, CVE-2019-19921, CVE-2019-16884,
//! CVE-2023-25809, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881 and CVE-2026-41579 (see
//! `shared/design/security.md`; each has a regression test in `tests/rootfs.rs`).
//! Never touches the host's mount table: init calls this only in its own mount namespace.
//! Mirrors runc's `libcontainer/rootfs_linux.go`.
//!
//! Call order in init (single-threaded, in the new mount namespace, user namespace maps
//! already written):
//! 0. [`idmap_namespaces`], only for idmapped mounts in a user-namespaced container,
//!    while init is still in the host's user namespace.
//! 1. [`prepare`]: root propagation, rootfs bind, `config.mounts`, `/dev`, the
//!    `before_pivot` callback (createContainer hooks), `pivot_root`.
//! 2. [`mount_console`] when the process has a terminal.
//! 3. [`write_sysctls`] (before `/proc/sys` is made read-only by [`finalize`]).
//! 4. [`finalize`]: read-only paths, masked paths, read-only `/dev` and rootfs.

mod cgroup;
mod dev;
mod masked;
mod mount;
mod pivot;
mod proc_check;
mod propagation;
mod readonly;
mod sysctl;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::config::{Config, NamespaceType};

pub use crate::config::default_devices::{default_devices, DEFAULT_DEVICE_NAMES};
pub use mount::{idmap_namespaces, IdmapNamespaces};

/// The error a `before_pivot` callback returns; kept boxed so the engine's own error type
/// survives (downcast it from [`RootfsError::BeforePivot`]).
pub type HookFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What init hands [`prepare`] beyond the configuration.
#[derive(Default)]
pub struct RootfsOptions<'a> {
    /// Use `MS_MOVE` + `chroot` instead of `pivot_root` (runc `--no-pivot`, for ramfs
    /// roots where `pivot_root` is impossible). `config.no_pivot_root` also selects it.
    pub no_pivot: bool,
    /// Run after every mount and device exists and before the root is switched: the
    /// place for createContainer hooks (runc runs them there so they still see the host
    /// root). Its error aborts [`prepare`] as [`RootfsError::BeforePivot`].
    pub before_pivot: Option<&'a mut dyn FnMut() -> Result<(), HookFailure>>,
    /// The user namespaces of idmapped mounts, made by [`idmap_namespaces`] before init
    /// entered the container's user namespace; `None` makes them in [`prepare`].
    pub idmap: Option<IdmapNamespaces>,
}

/// A failure while building the root filesystem; each variant names the step and its
/// object, the cause is the `#[source]`.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A mount destination is not an absolute path.
    #[error("mount destination `{}` is not absolute", destination.display())]
    RelativeDestination {
        /// The destination as configured.
        destination: PathBuf,
    },
    /// A mount option this runtime does not implement.
    #[error("mount of `{device}` on `{}`: {what} is not supported", destination.display())]
    Unsupported {
        /// Filesystem type of the mount.
        device: String,
        /// Its destination.
        destination: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// A device entry with an impossible type or number.
    #[error("device `{}`: {rule}", path.display())]
    InvalidDevice {
        /// Path of the device in the container.
        path: PathBuf,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A sysctl key that does not name a file under `/proc/sys`.
    #[error("sysctl `{key}`: {rule}")]
    InvalidSysctl {
        /// The key as configured.
        key: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// The rootfs directory cannot be opened or resolved.
    #[error("open rootfs `{}`", path.display())]
    OpenRootfs {
        /// The configured rootfs path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Changing the propagation of a host-side mount (`/`, the rootfs parent) failed.
    #[error("set propagation of `{}`", path.display())]
    Propagation {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Binding the rootfs onto itself failed.
    #[error("bind rootfs `{}` onto itself", path.display())]
    BindRootfs {
        /// The rootfs path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// A mount destination could not be resolved or created inside the rootfs.
    #[error("create mount point `{}`", path.display())]
    Mountpoint {
        /// Path inside the container.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// A mount point resolved to somewhere outside the rootfs (CVE-2021-30465).
    #[error("mount point `{}` resolved outside the rootfs to `{}`", path.display(), resolved.display())]
    MountpointEscaped {
        /// Path inside the container.
        path: PathBuf,
        /// Where it resolved on the host.
        resolved: PathBuf,
    },
    /// A step of one configured mount failed.
    #[error("{syscall} `{src}` on `{}`", destination.display())]
    Mount {
        /// Mount source.
        src: String,
        /// Destination inside the container.
        destination: PathBuf,
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// A filesystem option (`mode=755`) was refused.
    #[error("set option `{option}` of mount on `{}`", destination.display())]
    MountOption {
        /// The option.
        option: String,
        /// Destination inside the container.
        destination: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// proc may only be mounted on a real directory (CVE-2019-19921).
    #[error("refuse to mount proc on `{}`: {reason}", destination.display())]
    ProcDestination {
        /// Destination inside the container.
        destination: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Nothing but a few lxcfs-style files may be mounted inside `/proc`.
    #[error("`{}` cannot be mounted because it is inside /proc", destination.display())]
    InsideProc {
        /// Destination inside the container.
        destination: PathBuf,
    },
    /// Only procfs may be mounted on `/proc` itself.
    #[error(
        "`{}` cannot be mounted on /proc because it is not the root of a procfs",
        src
    )]
    NotProcOnProc {
        /// Mount source.
        src: String,
    },
    /// Reading the host's mount or cgroup tables failed.
    #[error("read `{}`", path.display())]
    ReadHostTable {
        /// The table.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Creating a device node (or its bind) failed.
    #[error("{syscall} device `{}`", path.display())]
    Device {
        /// Path inside the container.
        path: PathBuf,
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// The host node to bind into a user-namespaced container is not the configured device.
    #[error("host node `{}` is not device {kind} {major}:{minor}", path.display())]
    HostDeviceMismatch {
        /// Host path.
        path: PathBuf,
        /// Expected type letter.
        kind: char,
        /// Expected major.
        major: i64,
        /// Expected minor.
        minor: i64,
    },
    /// Creating a `/dev` symlink failed.
    #[error("symlink `/dev/{name}` to `{target}`")]
    DevSymlink {
        /// Link name in `/dev`.
        name: &'static str,
        /// Link target.
        target: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// The createContainer-hook callback failed.
    #[error("run hooks before `pivot_root`")]
    BeforePivot(#[source] HookFailure),
    /// Switching the root failed.
    #[error("{syscall} into rootfs `{}`", rootfs.display())]
    Pivot {
        /// The rootfs path.
        rootfs: PathBuf,
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// The container's `/dev/null` is not the null device (CVE-2025-31133).
    #[error("refuse to mask paths with `/dev/null`: it is {found}, not the char device 1:3")]
    DevNullNotVerified {
        /// What was found instead.
        found: String,
    },
    /// Masking a path failed.
    #[error("{syscall} masking `{}`", path.display())]
    Mask {
        /// Path inside the container.
        path: PathBuf,
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Making a path read-only failed.
    #[error("{syscall} making `{}` read-only", path.display())]
    Readonly {
        /// Path inside the container.
        path: PathBuf,
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// No trustworthy procfs could be opened.
    #[error("open a safe procfs handle")]
    Procfs(#[source] Errno),
    /// Writing one sysctl failed.
    #[error("write sysctl `{key}`")]
    Sysctl {
        /// The key.
        key: String,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Binding the terminal onto `/dev/console` failed.
    #[error("{syscall} `/dev/console`")]
    Console {
        /// The failing syscall.
        syscall: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
}

impl RootfsError {
    /// Whether the configuration itself is at fault (libcontainer `ConfigInvalid`) rather
    /// than the system.
    pub fn is_invalid_config(&self) -> bool {
        matches!(
            self,
            RootfsError::RelativeDestination { .. }
                | RootfsError::Unsupported { .. }
                | RootfsError::InvalidDevice { .. }
                | RootfsError::InvalidSysctl { .. }
                | RootfsError::InsideProc { .. }
                | RootfsError::NotProcOnProc { .. }
        )
    }
}

/// What the mount steps need to know about the rootfs and the namespaces.
pub(crate) struct RootContext {
    /// `O_PATH` handle of the rootfs (the bind of it onto itself).
    pub root: OwnedFd,
    /// Canonical host path of the rootfs, for the escape check.
    pub path: PathBuf,
    /// init runs in a user namespace: `mknod` is impossible, binds may have locked flags.
    pub in_user_ns: bool,
    /// init runs in a cgroup namespace: cgroupfs can be mounted instead of bound.
    pub in_cgroup_ns: bool,
}

impl RootContext {
    fn fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Build the root filesystem and switch into it.
///
/// Call in init, single-threaded, after `unshare(CLONE_NEWNS)` (and the user namespace's
/// maps are written), with the container's cgroup already joined (the cgroup mount reads
/// `/proc/self/cgroup`) and before any other process can see the namespace. Every mount,
/// device and path is checked first (nothing is mounted when one is invalid), and the
/// user namespaces of idmapped mounts are made unless `opts.idmap` brings them. In order:
/// 1. `/` becomes `config.root_propagation` (default rslave, as runc), the rootfs parent
///    mount private, and the rootfs is bound onto itself (`MS_BIND|MS_REC`);
/// 2. every `config.mounts` entry in order, each destination resolved inside the rootfs
///    (never following a symlink out of it, never creating anything on the host);
/// 3. unless `/dev` is a bind from the host: the default devices, `config.devices`,
///    `/dev/ptmx -> pts/ptmx` and the `/dev/fd`, `/dev/std*`, `/dev/core` links;
/// 4. `opts.before_pivot` (createContainer hooks);
/// 5. `pivot_root` (or `MS_MOVE`+`chroot` with `no_pivot`), cwd `/`.
///
/// On error the mount namespace is left half-built: init must exit, which discards it.
pub fn prepare(config: &Config, opts: RootfsOptions<'_>) -> Result<(), RootfsError> {
    mount::validate_mounts(&config.mounts)?;
    dev::validate_devices(&config.devices)?;
    let idmap = match opts.idmap {
        Some(namespaces) => namespaces,
        None => idmap_namespaces(config)?,
    };
    let rootfs =
        std::fs::canonicalize(&config.rootfs).map_err(|source| RootfsError::OpenRootfs {
            path: config.rootfs.clone(),
            source,
        })?;
    propagation::prepare_root(config, &rootfs)?;
    let ctx = RootContext {
        root: open_rootfs(&rootfs)?,
        path: rootfs.clone(),
        in_user_ns: has_namespace(config, NamespaceType::User),
        in_cgroup_ns: has_namespace(config, NamespaceType::Cgroup),
    };
    for (index, entry) in config.mounts.iter().enumerate() {
        mount::mount_entry(&ctx, entry, idmap.get(index))?;
    }
    if dev::needs_dev_setup(config) {
        dev::setup_dev(&ctx, config)?;
    }
    if let Some(callback) = opts.before_pivot {
        callback().map_err(RootfsError::BeforePivot)?;
    }
    if opts.no_pivot || config.no_pivot_root {
        pivot::move_root(&rootfs)?;
    } else {
        pivot::pivot_root(ctx.fd(), &rootfs)?;
    }
    propagation::apply_root_propagation_after_pivot(config)
}

/// Finish the root filesystem after the root switch: read-only paths (bind onto
/// themselves, recursively read-only), masked paths (files: a bind of the verified
/// `/dev/null`, CVE-2025-31133; directories: a read-only tmpfs), a read-only `/dev` if
/// its mount asked for `ro` (it was mounted writable to create the devices), and the
/// read-only rootfs. Paths that do not exist are skipped, as runc does.
///
/// Call after [`prepare`], [`mount_console`] and [`write_sysctls`].
pub fn finalize(config: &Config) -> Result<(), RootfsError> {
    let root = open_current_root()?;
    for path in &config.readonly_paths {
        readonly::make_readonly(root.as_fd(), path)?;
    }
    masked::mask_paths(root.as_fd(), &config.mask_paths)?;
    if mount::dev_wants_readonly(&config.mounts) {
        readonly::remount_readonly(root.as_fd(), Path::new("/dev"))?;
    }
    if config.readonly_rootfs {
        readonly::remount_readonly(root.as_fd(), Path::new("/"))?;
    }
    Ok(())
}

/// Write `config.sysctl` through a private procfs handle (CVE-2025-52881), so racing
/// mounts over `/proc/sys` cannot redirect the writes. Keys use dots or slashes
/// (`net.ipv4.ip_forward`); every key is checked before the first write.
///
/// Call in the container's namespaces (the network namespace decides `net.*`).
pub fn write_sysctls(config: &Config) -> Result<(), RootfsError> {
    sysctl::write_all(&config.sysctl)
}

/// Bind the terminal's peer (from `TIOCGPTPEER`, never a `/dev/pts/N` path) onto
/// `/dev/console`, which is created with `mknodat` (never through a symlink) and mounted
/// onto through an `O_PATH|O_NOFOLLOW` handle (CVE-2025-52565).
///
/// Call after [`prepare`] (in the new root) and before [`finalize`].
pub fn mount_console(pty_peer: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let root = open_current_root()?;
    dev::mount_console(root.as_fd(), pty_peer)
}

fn has_namespace(config: &Config, kind: NamespaceType) -> bool {
    config.namespaces.iter().any(|ns| ns.kind == kind)
}

fn open_rootfs(path: &Path) -> Result<OwnedFd, RootfsError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootfsError::OpenRootfs {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

fn open_current_root() -> Result<OwnedFd, RootfsError> {
    open_rootfs(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_step_and_object() {
        let cases: Vec<(RootfsError, &str)> = vec![
            (
                RootfsError::Mount {
                    src: "tmpfs".into(),
                    destination: "/run".into(),
                    syscall: "fsmount",
                    source: Errno::EINVAL,
                },
                "fsmount `tmpfs` on `/run`",
            ),
            (
                RootfsError::ProcDestination {
                    destination: "/proc".into(),
                    reason: "it is a symlink",
                },
                "refuse to mount proc on `/proc`: it is a symlink",
            ),
            (
                RootfsError::DevNullNotVerified {
                    found: "a symlink".into(),
                },
                "refuse to mask paths with `/dev/null`: it is a symlink, not the char device 1:3",
            ),
            (
                RootfsError::Sysctl {
                    key: "kernel.shmmni".into(),
                    source: Errno::EACCES,
                },
                "write sysctl `kernel.shmmni`",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn config_errors_are_told_apart() {
        let invalid = RootfsError::InvalidSysctl {
            key: "x".into(),
            rule: "r",
        };
        assert!(invalid.is_invalid_config());
        let system = RootfsError::Procfs(Errno::EPERM);
        assert!(!system.is_invalid_config());
        assert_eq!(
            crate::Error::from(invalid).code(),
            crate::ErrorCode::ConfigInvalid
        );
        assert_eq!(
            crate::Error::from(system).code(),
            crate::ErrorCode::SystemError
        );
    }
}
