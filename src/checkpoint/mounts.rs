//! Mounts criu cannot dump from inside the container: host binds declared as external
//! (`ext_mnt`), re-bound from the host on restore; and the bind of the rootfs that criu
//! takes as its restore root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::rpc::ExtMount;
use super::CheckpointError;
use crate::config::{Config, NamespaceType};

/// Whether the container's `/sys/fs/cgroup` is a bind of its host cgroup (no cgroup
/// namespace): criu then sees a host mount it must treat as external.
fn cgroup_is_host_bind(config: &Config) -> bool {
    !config
        .namespaces
        .iter()
        .any(|ns| ns.kind == NamespaceType::Cgroup)
}

fn is_bind(device: &str) -> bool {
    device == "bind"
}

/// `ext_mnt` for a dump: every bind mount and a host-bound cgroup mount, keyed by its
/// destination (runc `addCriuDumpMount`).
pub fn dump_ext_mounts(config: &Config) -> Vec<ExtMount> {
    config
        .mounts
        .iter()
        .filter(|m| {
            is_bind(&m.device)
                || (matches!(m.device.as_str(), "cgroup" | "cgroup2")
                    && cgroup_is_host_bind(config))
        })
        .map(|m| {
            let dest = m.destination.display().to_string();
            ExtMount {
                key: dest.clone(),
                val: dest,
            }
        })
        .collect()
}

/// `ext_mnt` for a restore: each key of the dump bound again from its host source; the
/// cgroup mount from the new scope's cgroup directory (`cgroup_paths`, after the scope
/// exists).
pub fn restore_ext_mounts(
    config: &Config,
    cgroup_paths: &BTreeMap<String, PathBuf>,
) -> Vec<ExtMount> {
    let unified = cgroup_paths
        .get("")
        .or_else(|| cgroup_paths.get("unified"))
        .map(|p| p.display().to_string());
    config
        .mounts
        .iter()
        .filter_map(|m| {
            let key = m.destination.display().to_string();
            if is_bind(&m.device) {
                return Some(ExtMount {
                    key,
                    val: m.source.clone(),
                });
            }
            if matches!(m.device.as_str(), "cgroup" | "cgroup2") && cgroup_is_host_bind(config) {
                return unified.clone().map(|val| ExtMount { key, val });
            }
            None
        })
        .collect()
}

/// The rootfs bound (recursively) onto a folder: criu wants its root to be a mountpoint
/// whose parent is not overmounted (runc binds `c.config.Rootfs` the same way). Unmounted
/// (lazily) and removed on drop.
#[derive(Debug)]
pub struct RestoreRoot {
    target: PathBuf,
}

impl RestoreRoot {
    /// Binds `rootfs` onto `target` (created).
    pub fn bind(rootfs: &Path, target: &Path) -> Result<RestoreRoot, CheckpointError> {
        super::make_dir(target)?;
        mount(
            Some(rootfs),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|source| {
            let _ = std::fs::remove_dir(target);
            CheckpointError::BindRoot {
                rootfs: rootfs.to_owned(),
                target: target.to_owned(),
                source,
            }
        })?;
        Ok(RestoreRoot {
            target: target.to_owned(),
        })
    }

    /// The mountpoint.
    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for RestoreRoot {
    fn drop(&mut self) {
        // Best effort: the restored tree has its own mount namespace by now.
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mount, Namespace};

    fn mount_of(dest: &str, device: &str, source: &str) -> Mount {
        Mount {
            destination: PathBuf::from(dest),
            device: device.to_owned(),
            source: source.to_owned(),
            ..Mount::default()
        }
    }

    #[test]
    fn binds_and_host_cgroup_are_external() {
        let mut config = Config {
            mounts: vec![
                mount_of("/proc", "proc", "proc"),
                mount_of("/etc/hosts", "bind", "/srv/hosts"),
                mount_of("/sys/fs/cgroup", "cgroup", "cgroup"),
            ],
            ..Config::default()
        };
        let dump: Vec<_> = dump_ext_mounts(&config)
            .into_iter()
            .map(|e| (e.key, e.val))
            .collect();
        assert_eq!(
            dump,
            [
                ("/etc/hosts".into(), "/etc/hosts".into()),
                ("/sys/fs/cgroup".into(), "/sys/fs/cgroup".into())
            ]
        );
        let paths = BTreeMap::from([(
            String::new(),
            PathBuf::from("/sys/fs/cgroup/system.slice/unitbox-c.scope"),
        )]);
        let restore: Vec<_> = restore_ext_mounts(&config, &paths)
            .into_iter()
            .map(|e| (e.key, e.val))
            .collect();
        assert_eq!(
            restore,
            [
                ("/etc/hosts".into(), "/srv/hosts".into()),
                (
                    "/sys/fs/cgroup".into(),
                    "/sys/fs/cgroup/system.slice/unitbox-c.scope".into()
                )
            ]
        );
        // With a cgroup namespace criu mounts the cgroupfs itself.
        config.namespaces.push(Namespace {
            kind: NamespaceType::Cgroup,
            path: None,
        });
        assert_eq!(dump_ext_mounts(&config).len(), 1);
    }
}
