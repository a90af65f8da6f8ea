//! Mount propagation: of `/` before the rootfs is built, of single mounts, and of the
//! new root after the switch.
//!
//! runc makes `/` rslave by default (or `config.root_propagation`) so nothing mounted in
//! the container propagates back to the host while host mounts still reach it, and makes
//! the rootfs's parent mount private because `pivot_root(2)` refuses a shared parent
//! (runc PR #1500, `rootfsParentMountPrivate`).

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::RootfsError;
use crate::config::{Config, Propagation};

/// The `MS_*` bits of a propagation setting.
pub(crate) fn propagation_flags(p: Propagation) -> MsFlags {
    match p {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Rprivate => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Rslave => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Rshared => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
        Propagation::Runbindable => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
    }
}

/// Set `/` to the root propagation, make the rootfs's parent mount private, and bind the
/// rootfs onto itself so it is a mount point (`pivot_root` needs one).
pub(crate) fn prepare_root(config: &Config, rootfs: &Path) -> Result<(), RootfsError> {
    let flags = config
        .root_propagation
        .map(propagation_flags)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    set_propagation(Path::new("/"), flags)?;
    let parent = parent_mount_point(rootfs)?;
    set_propagation(&parent, MsFlags::MS_PRIVATE)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|source| RootfsError::BindRootfs {
        path: rootfs.to_path_buf(),
        source,
    })
}

/// After `pivot_root` the new `/` is the rootfs bind, which inherited the propagation of
/// its source; apply the configured root propagation to it as runc does.
pub(crate) fn apply_root_propagation_after_pivot(config: &Config) -> Result<(), RootfsError> {
    match config.root_propagation {
        Some(p) => set_propagation(Path::new("/"), propagation_flags(p)),
        None => Ok(()),
    }
}

fn set_propagation(path: &Path, flags: MsFlags) -> Result<(), RootfsError> {
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|source| {
        RootfsError::Propagation {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// The mount point the rootfs lives on: the longest mount point in `/proc/self/mountinfo`
/// that is a prefix of `rootfs`.
fn parent_mount_point(rootfs: &Path) -> Result<PathBuf, RootfsError> {
    let table = PathBuf::from("/proc/self/mountinfo");
    let text = std::fs::read_to_string(&table).map_err(|e| RootfsError::ReadHostTable {
        path: table.clone(),
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    Ok(longest_mount_prefix(&text, rootfs))
}

/// The longest mount point of a mountinfo text that contains `path`.
pub(crate) fn longest_mount_prefix(mountinfo: &str, path: &Path) -> PathBuf {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Undo mountinfo's octal escapes (`\040` for a space).
pub(crate) fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /var/lib rw shared:2 - ext4 /dev/sdb rw
31 30 0:26 / /var/lib/my\\040dir rw - tmpfs tmpfs rw
";

    #[test]
    fn parent_mount_is_the_longest_prefix() {
        const CASES: &[(&str, &str)] = &[
            ("/srv/bundle/rootfs", "/"),
            ("/var/lib/c/rootfs", "/var/lib"),
            ("/var/lib/my dir/rootfs", "/var/lib/my dir"),
            ("/var/library", "/"),
        ];
        for &(path, want) in CASES {
            assert_eq!(
                longest_mount_prefix(MOUNTINFO, Path::new(path)),
                Path::new(want),
                "{path}"
            );
        }
    }

    #[test]
    fn propagation_table() {
        use Propagation::*;
        let table = [
            (Private, MsFlags::MS_PRIVATE),
            (Rprivate, MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            (Slave, MsFlags::MS_SLAVE),
            (Rslave, MsFlags::MS_SLAVE | MsFlags::MS_REC),
            (Shared, MsFlags::MS_SHARED),
            (Rshared, MsFlags::MS_SHARED | MsFlags::MS_REC),
            (Unbindable, MsFlags::MS_UNBINDABLE),
            (Runbindable, MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        ];
        for (p, want) in table {
            assert_eq!(propagation_flags(p), want, "{p:?}");
        }
    }
}
