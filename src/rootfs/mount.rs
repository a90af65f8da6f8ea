//! The configured mounts (`config.mounts`, OCI `mounts[]`), each attached through an fd.
//!
//! A mount is built detached (`open_tree(OPEN_TREE_CLONE)` for binds, `fsopen`+`fsmount`
//! for filesystems), gets its attributes and propagation while nobody can see it, and is
//! attached with `move_mount` onto an `O_PATH` handle of its destination, which was
//! resolved inside the rootfs (`RESOLVE_IN_ROOT`) and created, when missing, by an in-root
//! `mkdirat`/`mknodat` walk. So a symlink in the image can neither send a mount outside
//! the rootfs (CVE-2021-30465) nor make us create a file on the host (CVE-2024-45310).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};

use super::{cgroup, proc_check, propagation, RootContext, RootfsError};
use crate::config::Mount;
use crate::sys::mount::{
    attach_mount, clone_tree_at_path, fs_create, fs_mount, fs_open, fs_set_flag, fs_set_string,
    new_user_namespace, set_mount_attr, set_mount_idmap, MountAttrChange, MountAttrFlags,
};
use crate::sys::path::{clean_in_root, mkdir_all_in_root, mkfile_in_root, open_in_root};
use crate::sys::procfs::ProcfsHandle;

/// Refuse, before anything is mounted, destinations that are not absolute and options
/// this runtime does not implement.
pub(crate) fn validate_mounts(mounts: &[Mount]) -> Result<(), RootfsError> {
    for m in mounts {
        if !m.destination.is_absolute() {
            return Err(RootfsError::RelativeDestination {
                destination: m.destination.clone(),
            });
        }
        if m.id_mapping.is_some() && !is_bind(m) {
            return Err(RootfsError::Unsupported {
                device: m.device.clone(),
                destination: m.destination.clone(),
                what: "an idmapped mount of a new filesystem (only binds can be idmapped)",
            });
        }
        proc_check::check_lexical_destination(m)?;
    }
    Ok(())
}

/// Whether the mount is a bind (`device == "bind"` or `MS_BIND` in its flags).
pub(crate) fn is_bind(m: &Mount) -> bool {
    m.device == "bind" || MsFlags::from_bits_truncate(m.flags).contains(MsFlags::MS_BIND)
}

/// Whether the mount puts a fresh filesystem at the container's `/dev`.
pub(crate) fn is_dev_mount(m: &Mount) -> bool {
    clean_in_root(&m.destination) == Path::new("dev")
}

/// Whether the (last) non-bind `/dev` mount asked to be read-only: it is mounted writable
/// so the devices can be made, and [`super::finalize`] makes it read-only afterwards.
pub(crate) fn dev_wants_readonly(mounts: &[Mount]) -> bool {
    mounts
        .iter()
        .rev()
        .find(|m| is_dev_mount(m))
        .is_some_and(|m| {
            !is_bind(m) && MsFlags::from_bits_truncate(m.flags).contains(MsFlags::MS_RDONLY)
        })
}

/// User namespaces carrying the id mappings of the config's idmapped mounts, one slot per
/// `config.mounts` entry (`None` for mounts without `id_mapping`).
#[derive(Debug, Default)]
pub struct IdmapNamespaces {
    by_mount: Vec<Option<OwnedFd>>,
}

impl IdmapNamespaces {
    /// The namespace for mount number `index`, if it is idmapped.
    pub(crate) fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.by_mount
            .get(index)
            .and_then(|fd| fd.as_ref())
            .map(AsFd::as_fd)
    }
}

/// Make the user namespaces of every idmapped mount of `config`.
///
/// Writing arbitrary host ids into a map needs the host's user namespace, so init calls
/// this before it enters the container's user namespace and hands the result to
/// [`super::prepare`] in [`super::RootfsOptions::idmap`]; without one, `prepare` calls it
/// itself (which works when the container has no user namespace).
pub fn idmap_namespaces(config: &crate::config::Config) -> Result<IdmapNamespaces, RootfsError> {
    let mut procfs = None;
    let mut by_mount = Vec::with_capacity(config.mounts.len());
    for m in &config.mounts {
        let Some(mapping) = &m.id_mapping else {
            by_mount.push(None);
            continue;
        };
        if procfs.is_none() {
            procfs = Some(ProcfsHandle::open().map_err(RootfsError::Procfs)?);
        }
        let procfs = procfs.as_ref().ok_or(RootfsError::Procfs(Errno::ENOENT))?;
        let fd = new_user_namespace(
            procfs,
            &id_map_text(&mapping.uid_mappings),
            &id_map_text(&mapping.gid_mappings),
        )
        .map_err(|e| mount_error(m, "create the idmap user namespace", e))?;
        by_mount.push(Some(fd));
    }
    Ok(IdmapNamespaces { by_mount })
}

/// The `/proc/<pid>/uid_map` text of a mapping.
pub(crate) fn id_map_text(maps: &[crate::config::IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// Perform one configured mount (`userns`: its idmap namespace, if idmapped).
pub(crate) fn mount_entry(
    ctx: &RootContext,
    m: &Mount,
    userns: Option<BorrowedFd<'_>>,
) -> Result<(), RootfsError> {
    tracing::debug!(device = %m.device, source = %m.source, destination = %m.destination.display(), "mount");
    if is_bind(m) {
        return bind_mount(ctx, m, userns);
    }
    match m.device.as_str() {
        "cgroup" | "cgroup2" => cgroup::mount_cgroup(ctx, m),
        "proc" => {
            let target = proc_check::proc_mountpoint(ctx, m)?;
            let detached = new_fs_mount(m, fs_flags(m))?;
            attach(m, detached.as_fd(), target.as_fd())
        }
        _ => {
            let mut flags = fs_flags(m);
            if is_dev_mount(m) {
                flags.remove(MsFlags::MS_RDONLY);
            }
            let detached = match new_fs_mount(m, flags) {
                Ok(fd) => fd,
                Err(err) => match rootless_fallback_source(ctx, m, &err) {
                    Some(host) if Path::new(host).exists() => {
                        tracing::debug!(device = %m.device, host, "new instance refused, binding the host's");
                        bind_detached(m, Path::new(host), true, flags)?
                    }
                    _ => return Err(err),
                },
            };
            let target = mountpoint(ctx, &m.destination, true)?;
            attach(m, detached.as_fd(), target.as_fd())
        }
    }
}

/// In a user namespace without its own network (IPC) namespace the kernel refuses a new
/// sysfs (mqueue); runc then binds the host's instead.
fn rootless_fallback_source(
    ctx: &RootContext,
    m: &Mount,
    err: &RootfsError,
) -> Option<&'static str> {
    let refused = matches!(
        err,
        RootfsError::Mount {
            source: Errno::EPERM,
            ..
        }
    );
    if !ctx.in_user_ns || !refused {
        return None;
    }
    match m.device.as_str() {
        "sysfs" => Some("/sys"),
        "mqueue" => Some("/dev/mqueue"),
        _ => None,
    }
}

fn fs_flags(m: &Mount) -> MsFlags {
    MsFlags::from_bits_truncate(m.flags)
}

/// A bind mount of a host path, with `ro`/`nosuid`/… applied to the top mount before it
/// becomes visible and `rro` & co. (`rec_attr`) applied recursively.
fn bind_mount(
    ctx: &RootContext,
    m: &Mount,
    userns: Option<BorrowedFd<'_>>,
) -> Result<(), RootfsError> {
    let flags = fs_flags(m);
    let source = Path::new(&m.source);
    let is_dir = std::fs::metadata(source)
        .map_err(|e| mount_error(m, "stat", errno_of(&e)))?
        .is_dir();
    let detached = bind_detached(m, source, flags.contains(MsFlags::MS_REC), flags)?;
    if let (Some(userns), Some(mapping)) = (userns, &m.id_mapping) {
        set_mount_idmap(detached.as_fd(), mapping.recursive, userns)
            .map_err(|e| mount_error(m, "mount_setattr", e))?;
    }
    let target = mountpoint(ctx, &m.destination, is_dir)?;
    proc_check::check_resolved_destination(ctx, m, target.as_fd())?;
    attach(m, detached.as_fd(), target.as_fd())
}

fn bind_detached(
    m: &Mount,
    source: &Path,
    recursive: bool,
    flags: MsFlags,
) -> Result<OwnedFd, RootfsError> {
    let tree = clone_tree_at_path(source, recursive).map_err(|e| mount_error(m, "open_tree", e))?;
    let change = bind_attr_change(flags, MsFlags::from_bits_truncate(m.cleared_flags));
    if !change.is_empty() {
        set_mount_attr(tree.as_fd(), false, change)
            .map_err(|e| mount_error(m, "mount_setattr", e))?;
    }
    Ok(tree)
}

/// A new filesystem instance, configured from `m.data` and the superblock flags, mounted
/// detached with the per-mount flags.
fn new_fs_mount(m: &Mount, flags: MsFlags) -> Result<OwnedFd, RootfsError> {
    let fs = fs_open(&m.device).map_err(|e| mount_error(m, "fsopen", e))?;
    if !m.source.is_empty() {
        set_option(m, fs.as_fd(), "source", Some(&m.source))?;
    }
    for key in superblock_flag_options(flags) {
        set_option(m, fs.as_fd(), key, None)?;
    }
    for (key, value) in data_options(&m.data) {
        set_option(m, fs.as_fd(), key, value)?;
    }
    fs_create(fs.as_fd()).map_err(|e| mount_error(m, "fsconfig", e))?;
    fs_mount(fs.as_fd(), fs_attr_flags(flags)).map_err(|e| mount_error(m, "fsmount", e))
}

fn set_option(
    m: &Mount,
    fs: BorrowedFd<'_>,
    key: &str,
    value: Option<&str>,
) -> Result<(), RootfsError> {
    let result = match value {
        Some(value) => fs_set_string(fs, key, value),
        None => fs_set_flag(fs, key),
    };
    result.map_err(|source| RootfsError::MountOption {
        option: match value {
            Some(value) => format!("{key}={value}"),
            None => key.to_string(),
        },
        destination: m.destination.clone(),
        source,
    })
}

/// Set the recursive attributes and the propagation of a detached mount, then attach it.
fn attach(m: &Mount, detached: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), RootfsError> {
    if let Some(rec) = m.rec_attr {
        let change = MountAttrChange {
            set: MountAttrFlags::from_bits(rec.attr_set),
            clear: MountAttrFlags::from_bits(rec.attr_clr),
            propagation: MsFlags::from_bits_truncate(rec.propagation) & !MsFlags::MS_REC,
        };
        set_mount_attr(detached, true, change).map_err(|e| mount_error(m, "mount_setattr", e))?;
    }
    for p in &m.propagation {
        let flags = propagation::propagation_flags(*p);
        let change = MountAttrChange {
            propagation: flags & !MsFlags::MS_REC,
            ..MountAttrChange::default()
        };
        set_mount_attr(detached, flags.contains(MsFlags::MS_REC), change)
            .map_err(|e| mount_error(m, "mount_setattr", e))?;
    }
    attach_mount(detached, target).map_err(|e| mount_error(m, "move_mount", e))
}

/// Resolve (creating when missing) a mount point inside the rootfs and check, through the
/// handle's `/proc/self/fd` link, that it really is inside (runc re-verifies the same way).
pub(crate) fn mountpoint(
    ctx: &RootContext,
    destination: &Path,
    is_dir: bool,
) -> Result<OwnedFd, RootfsError> {
    let made = if is_dir {
        mkdir_all_in_root(ctx.fd(), destination, Mode::from_bits_truncate(0o755))
    } else {
        mkfile_in_root(ctx.fd(), destination, Mode::from_bits_truncate(0o644))
    };
    let fd = made.map_err(|source| RootfsError::Mountpoint {
        path: destination.to_path_buf(),
        source,
    })?;
    verify_inside(ctx, destination, fd.as_fd())?;
    Ok(fd)
}

/// Resolve an existing path inside the rootfs without creating it.
pub(crate) fn existing_in_root(
    ctx: &RootContext,
    destination: &Path,
    nofollow: bool,
) -> Result<OwnedFd, Errno> {
    open_in_root(ctx.fd(), destination, nofollow)
}

/// Check that `fd` names something under the rootfs on the host.
pub(crate) fn verify_inside(
    ctx: &RootContext,
    destination: &Path,
    fd: BorrowedFd<'_>,
) -> Result<(), RootfsError> {
    let resolved = host_path_of(fd).map_err(|source| RootfsError::Mountpoint {
        path: destination.to_path_buf(),
        source,
    })?;
    if !resolved.starts_with(&ctx.path) {
        return Err(RootfsError::MountpointEscaped {
            path: destination.to_path_buf(),
            resolved,
        });
    }
    Ok(())
}

/// The host path of an fd, from its `/proc/self/fd` link.
pub(crate) fn host_path_of(fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
    nix::fcntl::readlink(&crate::sys::path::proc_fd_path(fd)).map(PathBuf::from)
}

/// The file type of a handle.
pub(crate) fn file_type(fd: BorrowedFd<'_>) -> Result<SFlag, Errno> {
    let st = nix::sys::stat::fstat(fd)?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

pub(crate) fn mount_error(m: &Mount, syscall: &'static str, source: Errno) -> RootfsError {
    RootfsError::Mount {
        src: m.source.clone(),
        destination: m.destination.clone(),
        syscall,
        source,
    }
}

pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A detached, empty, read-only tmpfs: what masks a directory (runc mounts `tmpfs` with
/// `MS_RDONLY`) or stands in for an unavailable cgroup hierarchy.
pub(crate) fn empty_readonly_tmpfs() -> Result<OwnedFd, (&'static str, Errno)> {
    let fs = fs_open("tmpfs").map_err(|e| ("fsopen", e))?;
    fs_set_string(fs.as_fd(), "source", "tmpfs").map_err(|e| ("fsconfig", e))?;
    fs_create(fs.as_fd()).map_err(|e| ("fsconfig", e))?;
    fs_mount(fs.as_fd(), MountAttrFlags::RDONLY).map_err(|e| ("fsmount", e))
}

/// The per-mount attributes that `MS_*` flags of a new filesystem ask for.
pub(crate) fn fs_attr_flags(flags: MsFlags) -> MountAttrFlags {
    let mut attrs = MountAttrFlags::EMPTY;
    for (ms, attr) in ATTR_TABLE {
        if flags.contains(*ms) {
            attrs |= *attr;
        }
    }
    attrs
}

/// `MS_*` flag → `MOUNT_ATTR_*` attribute, for the flags that are per mount.
const ATTR_TABLE: &[(MsFlags, MountAttrFlags)] = &[
    (MsFlags::MS_RDONLY, MountAttrFlags::RDONLY),
    (MsFlags::MS_NOSUID, MountAttrFlags::NOSUID),
    (MsFlags::MS_NODEV, MountAttrFlags::NODEV),
    (MsFlags::MS_NOEXEC, MountAttrFlags::NOEXEC),
    (MsFlags::MS_NOATIME, MountAttrFlags::NOATIME),
    (MsFlags::MS_STRICTATIME, MountAttrFlags::STRICTATIME),
    (MsFlags::MS_NODIRATIME, MountAttrFlags::NODIRATIME),
];

/// What to set and clear on a bind: the flags asked for and the ones explicitly cleared
/// (`rw`, `suid`, …); the atime mode is only touched when one is named.
pub(crate) fn bind_attr_change(flags: MsFlags, cleared: MsFlags) -> MountAttrChange {
    let mut set = fs_attr_flags(flags);
    let mut clear = fs_attr_flags(cleared);
    let atime_named = flags
        .intersects(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME)
        || cleared.intersects(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME);
    // The three atime modes are one field: clear the whole field, then set the one asked
    // (relatime is its zero value), as mount_setattr(2) requires.
    clear = MountAttrFlags::from_bits(clear.bits() & !MountAttrFlags::ATIME_MASK.bits());
    if atime_named {
        clear |= MountAttrFlags::ATIME_MASK;
        set = MountAttrFlags::from_bits(set.bits() & !MountAttrFlags::ATIME_MASK.bits());
        if flags.contains(MsFlags::MS_NOATIME) {
            set |= MountAttrFlags::NOATIME;
        } else if flags.contains(MsFlags::MS_STRICTATIME) {
            set |= MountAttrFlags::STRICTATIME;
        }
    }
    MountAttrChange {
        set,
        clear,
        propagation: MsFlags::empty(),
    }
}

/// Superblock flags of a new filesystem, as `fsconfig` flag parameters.
pub(crate) fn superblock_flag_options(flags: MsFlags) -> Vec<&'static str> {
    const TABLE: &[(MsFlags, &str)] = &[
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
        (MsFlags::MS_MANDLOCK, "mand"),
    ];
    TABLE
        .iter()
        .filter(|(ms, _)| flags.contains(*ms))
        .map(|(_, name)| *name)
        .collect()
}

/// Split mount data (`mode=755,size=65536k,newinstance`) into `fsconfig` parameters.
pub(crate) fn data_options(data: &str) -> Vec<(&str, Option<&str>)> {
    data.split(',')
        .filter(|opt| !opt.is_empty())
        .map(|opt| match opt.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (opt, None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_text_is_procfs_format() {
        use crate::config::IdMap;
        let maps = [
            IdMap {
                container_id: 0,
                host_id: 100000,
                size: 65536,
            },
            IdMap {
                container_id: 65536,
                host_id: 1000,
                size: 1,
            },
        ];
        assert_eq!(id_map_text(&maps), "0 100000 65536\n65536 1000 1\n");
        assert_eq!(id_map_text(&[]), "");
    }

    #[test]
    fn data_options_split() {
        assert_eq!(
            data_options("newinstance,ptmxmode=0666,mode=0620,gid=5"),
            vec![
                ("newinstance", None),
                ("ptmxmode", Some("0666")),
                ("mode", Some("0620")),
                ("gid", Some("5"))
            ]
        );
        assert_eq!(data_options(""), vec![]);
        assert_eq!(data_options("size=1k,,"), vec![("size", Some("1k"))]);
    }

    #[test]
    fn fs_attr_flags_table() {
        let cases = [
            (MsFlags::empty(), MountAttrFlags::EMPTY),
            (MsFlags::MS_RDONLY, MountAttrFlags::RDONLY),
            (
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                MountAttrFlags::NOSUID | MountAttrFlags::NODEV | MountAttrFlags::NOEXEC,
            ),
            (MsFlags::MS_BIND | MsFlags::MS_REC, MountAttrFlags::EMPTY),
            (MsFlags::MS_RELATIME, MountAttrFlags::RELATIME),
            (MsFlags::MS_NOATIME, MountAttrFlags::NOATIME),
        ];
        for (ms, want) in cases {
            assert_eq!(fs_attr_flags(ms), want, "{ms:?}");
        }
    }

    #[test]
    fn bind_attr_change_table() {
        let ro = bind_attr_change(MsFlags::MS_BIND | MsFlags::MS_RDONLY, MsFlags::empty());
        assert_eq!(
            (ro.set, ro.clear),
            (MountAttrFlags::RDONLY, MountAttrFlags::EMPTY)
        );
        let rw = bind_attr_change(MsFlags::MS_BIND, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(
            (rw.set, rw.clear),
            (
                MountAttrFlags::EMPTY,
                MountAttrFlags::RDONLY | MountAttrFlags::NOSUID
            )
        );
        let noatime = bind_attr_change(MsFlags::MS_BIND | MsFlags::MS_NOATIME, MsFlags::empty());
        assert_eq!(
            (noatime.set, noatime.clear),
            (MountAttrFlags::NOATIME, MountAttrFlags::ATIME_MASK)
        );
        let relatime = bind_attr_change(MsFlags::MS_RELATIME, MsFlags::empty());
        assert_eq!(
            (relatime.set, relatime.clear),
            (MountAttrFlags::RELATIME, MountAttrFlags::ATIME_MASK)
        );
        assert!(bind_attr_change(MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()).is_empty());
    }

    #[test]
    fn superblock_flags_become_options() {
        assert_eq!(
            superblock_flag_options(MsFlags::MS_SYNCHRONOUS | MsFlags::MS_RDONLY),
            vec!["sync"]
        );
        assert!(superblock_flag_options(MsFlags::MS_NOSUID).is_empty());
    }

    #[test]
    fn validate_refuses_relative_destination() {
        let m = Mount {
            destination: PathBuf::from("tmp"),
            device: "tmpfs".into(),
            ..Mount::default()
        };
        assert!(matches!(
            validate_mounts(&[m]),
            Err(RootfsError::RelativeDestination { .. })
        ));
    }

    #[test]
    fn dev_readonly_is_deferred() {
        let dev = |flags: MsFlags, device: &str| Mount {
            destination: PathBuf::from("/dev"),
            device: device.into(),
            flags: flags.bits(),
            ..Mount::default()
        };
        assert!(dev_wants_readonly(&[dev(MsFlags::MS_RDONLY, "tmpfs")]));
        assert!(!dev_wants_readonly(&[dev(MsFlags::MS_NOSUID, "tmpfs")]));
        assert!(!dev_wants_readonly(&[dev(
            MsFlags::MS_RDONLY | MsFlags::MS_BIND,
            "bind"
        )]));
        assert!(!dev_wants_readonly(&[]));
    }
}
