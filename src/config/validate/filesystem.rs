//! The container's filesystem: rootfs, mounts, masked and read-only paths, device nodes.

use std::path::{Component, Path, PathBuf};

use super::super::types::{Config, DeviceType, NamespaceType};
use super::{is_private, ConfigError};

/// The rootfs must be an existing directory.
pub(super) fn check_rootfs(config: &Config) -> Result<(), ConfigError> {
    let rootfs = &config.rootfs;
    let field = "root.path";
    if !rootfs.is_absolute() {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must be absolute", rootfs.display()),
        ));
    }
    match std::fs::metadata(rootfs) {
        Err(_) => Err(ConfigError::invalid(
            field,
            format!("`{}` does not exist", rootfs.display()),
        )),
        Ok(m) if !m.is_dir() => Err(ConfigError::invalid(
            field,
            format!("`{}` is not a directory", rootfs.display()),
        )),
        Ok(_) => Ok(()),
    }
}

/// An absolute path without `..`, so it cannot climb out of the rootfs.
fn check_container_path(field: &str, path: &Path) -> Result<(), ConfigError> {
    if !path.is_absolute() {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must be an absolute path", path.display()),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must not contain `..`", path.display()),
        ));
    }
    Ok(())
}

pub(super) fn check_mounts(config: &Config) -> Result<(), ConfigError> {
    for (i, m) in config.mounts.iter().enumerate() {
        check_container_path(&format!("mounts[{i}].destination"), &m.destination)?;
        let Some(idmap) = &m.id_mapping else {
            continue;
        };
        let field = format!("mounts[{i}].options");
        if m.device != "bind" {
            return Err(ConfigError::invalid(
                field,
                "idmapped mounts are only supported for bind mounts",
            ));
        }
        if idmap.uid_mappings.is_empty() || idmap.gid_mappings.is_empty() {
            return Err(ConfigError::invalid(
                field,
                "an idmapped mount needs both uidMappings and gidMappings",
            ));
        }
        if config.rootless_euid {
            return Err(ConfigError::invalid(
                field,
                "idmapped mounts need root on the host (mount_setattr on a detached mount)",
            ));
        }
    }
    Ok(())
}

/// Masking and read-only paths are mounts: doing them in the host's mount namespace
/// would change the host (runc: "unable to restrict sys entries").
pub(super) fn check_needs_mount_namespace(config: &Config) -> Result<(), ConfigError> {
    if is_private(config, NamespaceType::Mount) {
        return Ok(());
    }
    let field = if !config.mask_paths.is_empty() {
        "linux.maskedPaths"
    } else if !config.readonly_paths.is_empty() {
        "linux.readonlyPaths"
    } else if !config.mounts.is_empty() {
        "mounts"
    } else {
        return Ok(());
    };
    Err(ConfigError::invalid(
        field,
        "needs a private mount namespace (linux.namespaces `mount`)",
    ))
}

pub(super) fn check_paths(field: &str, paths: &[PathBuf]) -> Result<(), ConfigError> {
    for (i, p) in paths.iter().enumerate() {
        check_container_path(&format!("{field}[{i}]"), p)?;
    }
    Ok(())
}

pub(super) fn check_devices(config: &Config) -> Result<(), ConfigError> {
    for (i, d) in config.devices.iter().enumerate() {
        let field = format!("linux.devices[{i}].path");
        check_container_path(&field, &d.path)?;
        if !d.path.starts_with("/dev") || d.path == Path::new("/dev") {
            return Err(ConfigError::invalid(
                field,
                format!("`{}` must be under /dev", d.path.display()),
            ));
        }
        if d.kind == DeviceType::All {
            return Err(ConfigError::invalid(
                format!("linux.devices[{i}].type"),
                "a device node must be `c`, `b` or `p`",
            ));
        }
    }
    for (i, rule) in config.cgroups.resources.devices.iter().enumerate() {
        if rule.access.is_empty() || !rule.access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(ConfigError::invalid(
                format!("linux.resources.devices[{i}].access"),
                format!("`{}` must be a non-empty subset of `rwm`", rule.access),
            ));
        }
        if rule.kind == DeviceType::Fifo {
            return Err(ConfigError::invalid(
                format!("linux.resources.devices[{i}].type"),
                "the device cgroup knows only `a`, `c` and `b`",
            ));
        }
    }
    Ok(())
}
