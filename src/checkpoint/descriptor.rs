//! The checkpoint's own record in the images folder (`unitbox-checkpoint.json`).
//!
//! Written after a successful dump; read before a restore to refuse, with the field
//! named, a folder that holds no checkpoint or one taken of a container criu could not
//! bring back under this config (other namespaces, other mounts, a terminal where there
//! was none). It also carries what init's stdio pointed to (runc's `descriptors.json`),
//! so the restore can hand the recorded pipes over (`inherit_fd`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CheckpointError;
use crate::config::Config;

/// File name of the record.
pub const DESCRIPTOR_FILE: &str = "unitbox-checkpoint.json";

/// What a checkpoint was taken of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDescriptor {
    /// The container's id at checkpoint time.
    pub id: String,
    /// Namespace kinds the container had (`pid`, `network`, …), joined ones marked
    /// `network=path`.
    pub namespaces: BTreeSet<String>,
    /// Mount destinations, in config order.
    pub mounts: Vec<String>,
    /// Whether init had a terminal.
    pub terminal: bool,
    /// What init's fds 0–2 pointed to (`pipe:[123]`, `/dev/null`, …).
    pub descriptors: Vec<String>,
    /// For each of fds 0–2, the key criu recorded the file under as external
    /// (`pipe:[123]`, `socket:[45]`, `file[18:2a]`): the restore replaces it with the
    /// restorer's own fd of that number (`inherit_fd`).
    #[serde(default)]
    pub stdio_keys: Vec<Option<String>>,
}

impl ImageDescriptor {
    /// The record of a container with `config` and init stdio `descriptors`.
    pub fn of(id: &str, config: &Config, descriptors: &[String]) -> ImageDescriptor {
        ImageDescriptor {
            id: id.to_owned(),
            namespaces: config
                .namespaces
                .iter()
                .map(|ns| {
                    let kind = serde_json::to_value(ns.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| format!("{:?}", ns.kind));
                    match &ns.path {
                        Some(path) => format!("{kind}={}", path.display()),
                        None => kind,
                    }
                })
                .collect(),
            mounts: config
                .mounts
                .iter()
                .map(|m| m.destination.display().to_string())
                .collect(),
            terminal: config.process.as_ref().is_some_and(|p| p.terminal),
            descriptors: descriptors.to_vec(),
            stdio_keys: Vec::new(),
        }
    }

    /// Writes the record into `images_dir`.
    pub fn write(&self, images_dir: &Path) -> Result<(), CheckpointError> {
        let path = images_dir.join(DESCRIPTOR_FILE);
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|source| CheckpointError::ParseDescriptor {
                path: path.clone(),
                source,
            })?;
        std::fs::write(&path, bytes).map_err(|source| CheckpointError::Io {
            action: "write",
            path,
            source,
        })
    }

    /// Reads the record of `images_dir`: `ImagesMissing` / `NotACheckpoint` when there
    /// is no folder / no record.
    pub fn read(images_dir: &Path) -> Result<ImageDescriptor, CheckpointError> {
        if !images_dir.is_dir() {
            return Err(CheckpointError::ImagesMissing {
                path: images_dir.to_owned(),
            });
        }
        let path = images_dir.join(DESCRIPTOR_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CheckpointError::NotACheckpoint {
                    path: images_dir.to_owned(),
                })
            }
            Err(source) => {
                return Err(CheckpointError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes)
            .map_err(|source| CheckpointError::ParseDescriptor { path, source })
    }

    /// Checks that a container with `config` can be restored from this checkpoint.
    pub fn check_compatible(
        &self,
        images_dir: &Path,
        config: &Config,
    ) -> Result<(), CheckpointError> {
        let now = ImageDescriptor::of(&self.id, config, &[]);
        let mismatch = |field, image: String, config: String| {
            Err(CheckpointError::IncompatibleConfig {
                path: PathBuf::from(images_dir),
                field,
                image,
                config,
            })
        };
        if now.namespaces != self.namespaces {
            return mismatch(
                "linux.namespaces",
                list(&self.namespaces),
                list(&now.namespaces),
            );
        }
        if now.mounts != self.mounts {
            return mismatch("mounts", list(&self.mounts), list(&now.mounts));
        }
        if now.terminal != self.terminal {
            return mismatch(
                "process.terminal",
                self.terminal.to_string(),
                now.terminal.to_string(),
            );
        }
        Ok(())
    }
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.into_iter().map(String::as_str).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mount, Namespace, NamespaceType};

    fn config(namespaces: &[NamespaceType], mounts: &[&str]) -> Config {
        Config {
            namespaces: namespaces
                .iter()
                .map(|&kind| Namespace { kind, path: None })
                .collect(),
            mounts: mounts
                .iter()
                .map(|d| Mount {
                    destination: PathBuf::from(d),
                    ..Mount::default()
                })
                .collect(),
            ..Config::default()
        }
    }

    #[test]
    fn round_trips_and_names_the_differing_field() {
        let dir = std::env::temp_dir().join(format!("unitbox-desc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = config(&[NamespaceType::Pid, NamespaceType::Mount], &["/proc"]);
        let d = ImageDescriptor::of("c1", &base, &["pipe:[1]".to_owned()]);
        d.write(&dir).unwrap();
        let back = ImageDescriptor::read(&dir).unwrap();
        assert_eq!(back, d);
        back.check_compatible(&dir, &base).unwrap();

        let rows = [
            (
                config(&[NamespaceType::Pid], &["/proc"]),
                "linux.namespaces",
            ),
            (
                config(
                    &[NamespaceType::Pid, NamespaceType::Mount],
                    &["/proc", "/x"],
                ),
                "mounts",
            ),
        ];
        for (other, field) in rows {
            let err = back.check_compatible(&dir, &other).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
            assert!(err.is_invalid_input());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_folder_and_missing_record_are_told_apart() {
        let missing = Path::new("/nonexistent/unitbox/images");
        assert!(matches!(
            ImageDescriptor::read(missing),
            Err(CheckpointError::ImagesMissing { .. })
        ));
        let empty = std::env::temp_dir();
        assert!(matches!(
            ImageDescriptor::read(&empty),
            Err(CheckpointError::NotACheckpoint { .. })
        ));
    }
}
