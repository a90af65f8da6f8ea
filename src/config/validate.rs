//! Validation of a [`Config`](super::Config), with errors that name the field and the rule
//! it broke.
//!
//! Field paths are the OCI `config.json` paths (`linux.namespaces[2].path`), because that
//! is what a user wrote; `config::oci` keeps list indices one to one so they line up.
//! Mirrors runc's `libcontainer/configs/validate/validator.go` plus the process checks
//! of runc's `utils_linux.go`. Reads the filesystem only to check the rootfs and the
//! kernel's namespace support. The rules are grouped by subject in the submodules
//! (`filesystem`, `namespaces`, `resources`, `seccomp`, `process`); [`validate`] runs them
//! in one fixed order so the same config always reports the same first error.

use std::path::PathBuf;

use super::types::{Config, NamespaceType};

pub use super::id::IdError;

mod filesystem;
mod namespaces;
mod process;
mod resources;
mod seccomp;

/// A configuration that cannot be turned into a container.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field breaks a rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// JSON path of the field (`linux.resources.hugepageLimits[0]`).
        field: String,
        /// The rule, in words.
        rule: String,
    },
    /// A field asks for something unitbox cannot honour.
    #[error("{field}: not supported: {reason}")]
    Unsupported {
        /// JSON path of the field (`linux.intelRdt`).
        field: String,
        /// Why, in words.
        reason: String,
    },
    /// The bundle directory cannot be made an absolute path.
    #[error("resolve bundle `{}`", path.display())]
    Bundle {
        /// The bundle as given.
        path: PathBuf,
        /// The I/O error (the working directory is gone).
        #[source]
        source: std::io::Error,
    },
    /// The bundle's `config.json` cannot be read.
    #[error("read `{}`", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle's `config.json` is not a valid OCI runtime spec.
    #[error("parse `{}` at `{json_path}`", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// JSON path where parsing stopped (`.` for the document itself).
        json_path: String,
        /// The serde error (with line and column).
        #[source]
        source: serde_json::Error,
    },
}

impl ConfigError {
    /// A rule broken by the value at `field`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A value at `field` that unitbox cannot honour.
    pub fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The JSON path this error is about, if it is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } | ConfigError::Unsupported { field, .. } => {
                Some(field)
            }
            ConfigError::Parse { json_path, .. } => Some(json_path),
            ConfigError::ReadFile { .. } | ConfigError::Bundle { .. } => None,
        }
    }
}

/// Check `config` against runc's rules; the first broken rule is returned.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    filesystem::check_rootfs(config)?;
    filesystem::check_mounts(config)?;
    namespaces::check_namespaces(config)?;
    namespaces::check_uts(config)?;
    namespaces::check_user_namespace(config)?;
    namespaces::check_sysctls(config)?;
    namespaces::check_time_offsets(config)?;
    resources::check_cgroups(config)?;
    namespaces::check_rootless(config)?;
    filesystem::check_devices(config)?;
    resources::check_resources(&config.cgroups.resources)?;
    filesystem::check_paths("linux.maskedPaths", &config.mask_paths)?;
    filesystem::check_paths("linux.readonlyPaths", &config.readonly_paths)?;
    filesystem::check_needs_mount_namespace(config)?;
    if let Some(s) = &config.seccomp {
        seccomp::check_seccomp(s)?;
    }
    process::check_hooks(&config.hooks)?;
    if let Some(p) = &config.process {
        process::check_process(p, config)?;
    }
    process::check_oom_score_adj("process.oomScoreAdj", config.oom_score_adj)?;
    process::check_umask("process.user.umask", config.umask)?;
    process::check_rlimits(&config.rlimits)?;
    process::check_personality(config)?;
    namespaces::check_networks(config)?;
    Ok(())
}

/// Whether the container gets a namespace of `kind` other than the caller's (created, or
/// joined by path), which is what runc's `Namespaces.Contains` means.
fn is_private(config: &Config, kind: NamespaceType) -> bool {
    config.namespaces.iter().any(|ns| ns.kind == kind)
}

/// Position of the namespace of `kind` in `linux.namespaces`, for error paths.
fn namespace_index(config: &Config, kind: NamespaceType) -> Option<usize> {
    config.namespaces.iter().position(|ns| ns.kind == kind)
}

#[cfg(test)]
mod tests;
