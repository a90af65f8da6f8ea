//! The container's `/dev`: default and configured device nodes, the `/dev` symlinks,
//! `/dev/ptmx`, and the `/dev/console` bind.
//!
//! All of it is done through fds: the `/dev` directory is resolved inside the rootfs and
//! each node is made with `mknodat` in that directory's fd, so a `/dev` (or `/dev/x`)
//! symlink in the image cannot make us touch a host path (CVE-2026-41579, runc
//! 864db8042). In a user namespace `mknod` is impossible: the host's node is bound onto
//! an empty file instead, after checking the host node is the configured device.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use super::mount::{file_type, is_bind, is_dev_mount, verify_inside};
use super::{RootContext, RootfsError};
use crate::config::default_devices::default_devices;
use crate::config::{Config, Device, DeviceType};
use crate::sys::mount::{attach_mount, clone_tree};
use crate::sys::path::{
    clean_in_root, fchmod_handle, fchown_handle, mkdir_all_in_root, openat2, split_parent, Resolve,
};

/// Symlinks made in `/dev` (runc `setupDevSymlinks`); `/dev/core` only when the host has
/// `/proc/kcore`.
const DEV_SYMLINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The devices to create: the defaults not overridden by a configured device of the same
/// path, then the configured ones in order.
pub(crate) fn devices_to_create(configured: &[Device]) -> Vec<Device> {
    let mut devices: Vec<Device> = default_devices()
        .into_iter()
        .filter(|d| {
            !configured
                .iter()
                .any(|c| clean_in_root(&c.path) == clean_in_root(&d.path))
        })
        .collect();
    devices.extend(configured.iter().cloned());
    devices
}

/// Refuse device entries that cannot be made, before anything is mounted.
pub(crate) fn validate_devices(devices: &[Device]) -> Result<(), RootfsError> {
    for d in devices {
        let invalid = |rule| RootfsError::InvalidDevice {
            path: d.path.clone(),
            rule,
        };
        if !d.path.is_absolute() {
            return Err(invalid("path must be absolute"));
        }
        if clean_in_root(&d.path).file_name().is_none() {
            return Err(invalid("path must name a file"));
        }
        if d.kind == DeviceType::All {
            return Err(invalid("type `a` is only valid in device cgroup rules"));
        }
        if !(0..=0xfff).contains(&d.major) || !(0..=0xfffff).contains(&d.minor) {
            return Err(invalid("major must be 0..=4095 and minor 0..=1048575"));
        }
    }
    Ok(())
}

/// Whether we build `/dev`: not when the config binds a host directory onto it.
pub(crate) fn needs_dev_setup(config: &Config) -> bool {
    !config.mounts.iter().any(|m| is_dev_mount(m) && is_bind(m))
}

/// Create the devices, `/dev/ptmx -> pts/ptmx` and the `/dev` symlinks.
pub(crate) fn setup_dev(ctx: &RootContext, config: &Config) -> Result<(), RootfsError> {
    let dev_dir = Path::new("/dev");
    let dev = mkdir_all_in_root(ctx.fd(), dev_dir, Mode::from_bits_truncate(0o755)).map_err(
        |source| RootfsError::Mountpoint {
            path: dev_dir.to_path_buf(),
            source,
        },
    )?;
    verify_inside(ctx, dev_dir, dev.as_fd())?;
    for device in devices_to_create(&config.devices) {
        if ctx.in_user_ns {
            bind_host_device(ctx, &device)?;
        } else {
            make_device(ctx, &device)?;
        }
    }
    make_ptmx_link(dev.as_fd())?;
    for (name, target) in DEV_SYMLINKS {
        make_symlink(dev.as_fd(), name, target)?;
    }
    if Path::new("/proc/kcore").exists() {
        make_symlink(dev.as_fd(), "core", "/proc/kcore")?;
    }
    Ok(())
}

/// Open (creating on the way) the parent directory of a device inside the rootfs.
fn device_parent(ctx: &RootContext, device: &Device) -> Result<(OwnedFd, PathBuf), RootfsError> {
    let clean = clean_in_root(&device.path);
    let (parent, name) = split_parent(&clean).map_err(|e| device_error(device, "resolve", e))?;
    let dir = mkdir_all_in_root(ctx.fd(), parent, Mode::from_bits_truncate(0o755))
        .map_err(|e| device_error(device, "mkdirat", e))?;
    verify_inside(ctx, &device.path, dir.as_fd())?;
    Ok((dir, PathBuf::from(name)))
}

/// Open a name inside `dir` without following any symlink.
fn open_nofollow(dir: BorrowedFd<'_>, name: &Path) -> nix::Result<OwnedFd> {
    openat2(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
        Mode::empty(),
        Resolve::NO_SYMLINKS | Resolve::NO_MAGICLINKS | Resolve::BENEATH,
    )
}

fn node_type(kind: DeviceType) -> SFlag {
    match kind {
        DeviceType::Block => SFlag::S_IFBLK,
        DeviceType::Fifo => SFlag::S_IFIFO,
        DeviceType::Char | DeviceType::All => SFlag::S_IFCHR,
    }
}

/// `mknodat` the node; an entry already there (from the image) is left alone as runc does.
/// The mode and owner are set through an `O_PATH` handle of the node we made, so the umask
/// does not matter and nothing is followed.
fn make_device(ctx: &RootContext, device: &Device) -> Result<(), RootfsError> {
    let (dir, name) = device_parent(ctx, device)?;
    let perm = Mode::from_bits_truncate(device.file_mode & 0o7777);
    let dev = libc::makedev(device.major as u32, device.minor as u32);
    match nix::sys::stat::mknodat(&dir, &name, node_type(device.kind), perm, dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(e) => return Err(device_error(device, "mknodat", e)),
    }
    let node = open_nofollow(dir.as_fd(), &name).map_err(|e| device_error(device, "openat2", e))?;
    fchmod_handle(node.as_fd(), perm).map_err(|e| device_error(device, "fchmodat2", e))?;
    fchown_handle(node.as_fd(), device.uid, device.gid)
        .map_err(|e| device_error(device, "fchownat", e))
}

/// Bind the host's node at the same path onto an empty file (user namespaces).
fn bind_host_device(ctx: &RootContext, device: &Device) -> Result<(), RootfsError> {
    let host = nix::fcntl::open(
        &device.path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| device_error(device, "open host node", e))?;
    let st =
        nix::sys::stat::fstat(&host).map_err(|e| device_error(device, "fstat host node", e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let expected = node_type(device.kind);
    let numbers = (
        libc::major(st.st_rdev) as i64,
        libc::minor(st.st_rdev) as i64,
    );
    if kind != expected || (expected != SFlag::S_IFIFO && numbers != (device.major, device.minor)) {
        return Err(RootfsError::HostDeviceMismatch {
            path: device.path.clone(),
            kind: type_letter(device.kind),
            major: device.major,
            minor: device.minor,
        });
    }
    let (dir, name) = device_parent(ctx, device)?;
    match nix::sys::stat::mknodat(
        &dir,
        &name,
        SFlag::S_IFREG,
        Mode::from_bits_truncate(0o644),
        0,
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(device_error(device, "mknodat", e)),
    }
    let target =
        open_nofollow(dir.as_fd(), &name).map_err(|e| device_error(device, "openat2", e))?;
    if file_type(target.as_fd()).map_err(|e| device_error(device, "fstat", e))? == SFlag::S_IFLNK {
        return Err(device_error(device, "openat2", Errno::ELOOP));
    }
    let tree = clone_tree(host.as_fd(), false).map_err(|e| device_error(device, "open_tree", e))?;
    attach_mount(tree.as_fd(), target.as_fd()).map_err(|e| device_error(device, "move_mount", e))
}

fn type_letter(kind: DeviceType) -> char {
    match kind {
        DeviceType::Char => 'c',
        DeviceType::Block => 'b',
        DeviceType::Fifo => 'p',
        DeviceType::All => 'a',
    }
}

/// `/dev/ptmx` becomes a link to the devpts instance's `ptmx` (runc `setupPtmx`).
fn make_ptmx_link(dev: BorrowedFd<'_>) -> Result<(), RootfsError> {
    match nix::unistd::unlinkat(dev, "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(RootfsError::DevSymlink {
                name: "ptmx",
                target: "pts/ptmx",
                source,
            })
        }
    }
    make_symlink(dev, "ptmx", "pts/ptmx")
}

fn make_symlink(
    dev: BorrowedFd<'_>,
    name: &'static str,
    target: &'static str,
) -> Result<(), RootfsError> {
    match nix::unistd::symlinkat(target, dev, name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(RootfsError::DevSymlink {
            name,
            target,
            source,
        }),
    }
}

fn device_error(device: &Device, syscall: &'static str, source: Errno) -> RootfsError {
    RootfsError::Device {
        path: device.path.clone(),
        syscall,
        source,
    }
}

/// Bind `pty_peer` onto `/dev/console` of the current root (see [`super::mount_console`]).
pub(crate) fn mount_console(
    root: BorrowedFd<'_>,
    pty_peer: BorrowedFd<'_>,
) -> Result<(), RootfsError> {
    let console = |syscall, source| RootfsError::Console { syscall, source };
    let dev = mkdir_all_in_root(root, Path::new("/dev"), Mode::from_bits_truncate(0o755))
        .map_err(|e| console("mkdirat", e))?;
    match nix::sys::stat::mknodat(
        &dev,
        "console",
        SFlag::S_IFREG,
        Mode::from_bits_truncate(0o666),
        0,
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(console("mknodat", e)),
    }
    let target =
        open_nofollow(dev.as_fd(), Path::new("console")).map_err(|e| console("openat2", e))?;
    match file_type(target.as_fd()).map_err(|e| console("fstat", e))? {
        SFlag::S_IFREG | SFlag::S_IFCHR => {}
        _ => return Err(console("openat2", Errno::ELOOP)),
    }
    let tree = clone_tree(pty_peer, false).map_err(|e| console("open_tree", e))?;
    attach_mount(tree.as_fd(), target.as_fd()).map_err(|e| console("move_mount", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(path: &str, major: i64, minor: i64) -> Device {
        Device {
            path: path.into(),
            kind: DeviceType::Char,
            major,
            minor,
            file_mode: 0o600,
            uid: 1,
            gid: 2,
        }
    }

    #[test]
    fn configured_devices_override_defaults() {
        let configured = [device("/dev//null", 1, 3), device("/dev/fuse", 10, 229)];
        let all = devices_to_create(&configured);
        assert_eq!(all.len(), 7);
        assert_eq!(
            all.iter()
                .filter(|d| clean_in_root(&d.path) == Path::new("dev/null"))
                .count(),
            1
        );
        assert_eq!(all[5].file_mode, 0o600, "the configured /dev/null wins");
        assert_eq!(all[6].path, Path::new("/dev/fuse"));
    }

    #[test]
    fn invalid_devices_are_refused() {
        let mut all = device("/dev/x", 1, 1);
        all.kind = DeviceType::All;
        let cases = [
            device("dev/x", 1, 1),
            device("/", 1, 1),
            all,
            device("/dev/x", 4096, 0),
            device("/dev/x", -1, 0),
        ];
        for d in cases {
            assert!(
                matches!(
                    validate_devices(std::slice::from_ref(&d)),
                    Err(RootfsError::InvalidDevice { .. })
                ),
                "{d:?}"
            );
        }
        assert!(validate_devices(&[device("/dev/fuse", 10, 229)]).is_ok());
    }
}
