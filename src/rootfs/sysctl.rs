//! Sysctls (`config.sysctl`), written through a safe procfs handle (CVE-2025-52881).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;

use super::mount::errno_of;
use super::RootfsError;
use crate::sys::procfs::ProcfsHandle;

/// The path under `/proc/sys` of a key (`net.ipv4.ip_forward` or `net/ipv4/ip_forward`),
/// refused when it could name anything outside `/proc/sys`.
pub(crate) fn sysctl_path(key: &str) -> Result<PathBuf, RootfsError> {
    let invalid = |rule| RootfsError::InvalidSysctl {
        key: key.to_string(),
        rule,
    };
    if key.is_empty() {
        return Err(invalid("key is empty"));
    }
    if key.starts_with('/') {
        return Err(invalid("key must be relative to /proc/sys"));
    }
    let path = PathBuf::from(key.replace('.', "/"));
    let mut count = 0;
    for comp in path.components() {
        match comp {
            Component::Normal(_) => count += 1,
            _ => return Err(invalid("key must not contain `..` or empty parts")),
        }
    }
    if count != key.split(['.', '/']).count() {
        return Err(invalid("key must not contain empty parts"));
    }
    Ok(path)
}

/// Check every key, then write each value through one procfs handle.
pub(crate) fn write_all(sysctls: &BTreeMap<String, String>) -> Result<(), RootfsError> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let paths = sysctls
        .keys()
        .map(|key| sysctl_path(key).map(|path| (key, path)))
        .collect::<Result<Vec<_>, _>>()?;
    let procfs = ProcfsHandle::open().map_err(RootfsError::Procfs)?;
    for (key, path) in paths {
        write_one(&procfs, key, &path, &sysctls[key])?;
    }
    Ok(())
}

fn write_one(
    procfs: &ProcfsHandle,
    key: &str,
    path: &Path,
    value: &str,
) -> Result<(), RootfsError> {
    let fail = |source| RootfsError::Sysctl {
        key: key.to_string(),
        source,
    };
    let fd = procfs.open_sys(path, OFlag::O_WRONLY).map_err(fail)?;
    std::fs::File::from(fd)
        .write_all(value.as_bytes())
        .map_err(|e| fail(errno_of(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        const GOOD: &[(&str, &str)] = &[
            ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
            ("kernel/shmmax", "kernel/shmmax"),
            ("fs.mqueue.queues_max", "fs/mqueue/queues_max"),
        ];
        for &(key, want) in GOOD {
            assert_eq!(sysctl_path(key).unwrap(), Path::new(want), "{key}");
        }
        for key in [
            "",
            "/kernel/x",
            "net..x",
            "kernel/../../etc",
            "..",
            "net.",
            "kernel//x",
        ] {
            assert!(
                matches!(sysctl_path(key), Err(RootfsError::InvalidSysctl { .. })),
                "{key:?}"
            );
        }
    }
}
