//! `mounts[]`: OCI mount options → `MS_*` flags, propagation, recursive attributes and data.
//!
//! The option tables are runc's `parseMountOptions` (`libcontainer/specconv/spec_linux.go`):
//! an option that is neither a flag, a propagation, a recursive attribute nor `idmap`
//! is filesystem data and passed to `mount(2)` verbatim.

use std::path::Path;

use oci_spec::runtime::Mount as OciMount;

use super::super::types::{Config, IdMap, Mount, MountAttr, MountIdMapping, Propagation};
use super::super::validate::ConfigError;
use super::linux::convert_id_maps;

/// `mount_setattr(2)` attribute bits (linux/mount.h); libc does not export them at its root.
mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// Mask of the access-time setting; setting one of them requires clearing this.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// What an option does to `mount(2)` flags: `(name, clears, MS_* bits)`.
// `MS_*` are `c_ulong`, which is `u64` on the 64-bit targets unitbox builds for.
const FLAG_OPTIONS: &[(&str, bool, u64)] = &[
    ("acl", false, libc::MS_POSIXACL),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("iversion", false, libc::MS_I_VERSION),
    ("lazytime", false, libc::MS_LAZYTIME),
    ("loud", true, libc::MS_SILENT),
    ("mand", false, libc::MS_MANDLOCK),
    ("noacl", true, libc::MS_POSIXACL),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("noiversion", true, libc::MS_I_VERSION),
    ("nolazytime", true, libc::MS_LAZYTIME),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("nosymfollow", false, libc::MS_NOSYMFOLLOW),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("silent", false, libc::MS_SILENT),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("symfollow", true, libc::MS_NOSYMFOLLOW),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

const PROPAGATION_OPTIONS: &[(&str, Propagation)] = &[
    ("private", Propagation::Private),
    ("rprivate", Propagation::Rprivate),
    ("shared", Propagation::Shared),
    ("rshared", Propagation::Rshared),
    ("slave", Propagation::Slave),
    ("rslave", Propagation::Rslave),
    ("unbindable", Propagation::Unbindable),
    ("runbindable", Propagation::Runbindable),
];

/// Recursive attributes applied with `mount_setattr(AT_RECURSIVE)`: `(name, clears, bits)`.
const REC_ATTR_OPTIONS: &[(&str, bool, u64)] = &[
    ("rro", false, attr::RDONLY),
    ("rrw", true, attr::RDONLY),
    ("rnosuid", false, attr::NOSUID),
    ("rsuid", true, attr::NOSUID),
    ("rnodev", false, attr::NODEV),
    ("rdev", true, attr::NODEV),
    ("rnoexec", false, attr::NOEXEC),
    ("rexec", true, attr::NOEXEC),
    ("rnodiratime", false, attr::NODIRATIME),
    ("rdiratime", true, attr::NODIRATIME),
    ("rrelatime", false, attr::RELATIME),
    ("rnorelatime", true, attr::RELATIME),
    ("rnoatime", false, attr::NOATIME),
    ("ratime", true, attr::NOATIME),
    ("rstrictatime", false, attr::STRICTATIME),
    ("rnostrictatime", true, attr::STRICTATIME),
    ("rnosymfollow", false, attr::NOSYMFOLLOW),
    ("rsymfollow", true, attr::NOSYMFOLLOW),
];

/// Convert `mounts[]`, one to one; relative bind sources are resolved against `bundle`.
pub(super) fn convert(mounts: &[OciMount], bundle: &Path) -> Result<Vec<Mount>, ConfigError> {
    mounts
        .iter()
        .enumerate()
        .map(|(i, m)| convert_one(m, &format!("mounts[{i}]"), bundle))
        .collect()
}

fn convert_one(m: &OciMount, field: &str, bundle: &Path) -> Result<Mount, ConfigError> {
    let kind = m.typ().clone().unwrap_or_default();
    let mut mount = Mount {
        destination: m.destination().clone(),
        device: kind.clone(),
        source: m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Mount::default()
    };
    let idmap = apply_options(
        m.options().as_deref().unwrap_or_default(),
        field,
        &mut mount,
    )?;
    if kind == "bind" {
        mount.flags |= libc::MS_BIND;
    }
    if mount.flags & libc::MS_BIND != 0 {
        mount.device = "bind".to_owned();
        if !mount.source.is_empty() && !Path::new(&mount.source).is_absolute() {
            mount.source = bundle.join(&mount.source).to_string_lossy().into_owned();
        }
    }
    let uid_mappings =
        convert_id_maps(m.uid_mappings().as_deref(), &format!("{field}.uidMappings"))?;
    let gid_mappings =
        convert_id_maps(m.gid_mappings().as_deref(), &format!("{field}.gidMappings"))?;
    if idmap.is_some() || !uid_mappings.is_empty() || !gid_mappings.is_empty() {
        mount.id_mapping = Some(MountIdMapping {
            uid_mappings,
            gid_mappings,
            recursive: idmap == Some(IdmapOption::Recursive),
        });
    }
    Ok(mount)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdmapOption {
    /// `idmap`: this mount only.
    Plain,
    /// `ridmap`: the mount and its submounts.
    Recursive,
}

/// Fold `options` into `mount`; returns the idmap option if one was given.
fn apply_options(
    options: &[String],
    field: &str,
    mount: &mut Mount,
) -> Result<Option<IdmapOption>, ConfigError> {
    let mut data = Vec::new();
    let mut rec_attr: Option<MountAttr> = None;
    let mut idmap = None;
    for (j, option) in options.iter().enumerate() {
        let option = option.as_str();
        if let Some(&(_, clears, bits)) = FLAG_OPTIONS.iter().find(|(n, ..)| *n == option) {
            if clears {
                mount.flags &= !bits;
                mount.cleared_flags |= bits;
            } else {
                mount.flags |= bits;
                mount.cleared_flags &= !bits;
            }
        } else if let Some(&(_, p)) = PROPAGATION_OPTIONS.iter().find(|(n, _)| *n == option) {
            mount.propagation.push(p);
        } else if let Some(&(_, clears, bits)) =
            REC_ATTR_OPTIONS.iter().find(|(n, ..)| *n == option)
        {
            let a = rec_attr.get_or_insert_with(MountAttr::default);
            if clears {
                a.attr_clr |= bits;
            } else {
                a.attr_set |= bits;
                // mount_setattr(2): an access-time setting in attr_set needs the
                // whole access-time mask in attr_clr.
                if bits & attr::ATIME_MASK == bits {
                    a.attr_clr |= attr::ATIME_MASK;
                }
            }
        } else if option == "idmap" {
            idmap = Some(IdmapOption::Plain);
        } else if option == "ridmap" {
            idmap = Some(IdmapOption::Recursive);
        } else if option == "tmpcopyup" {
            return Err(ConfigError::unsupported(
                format!("{field}.options[{j}]"),
                "`tmpcopyup` (copying the image's files into a tmpfs) is not implemented",
            ));
        } else {
            data.push(option);
        }
    }
    mount.data = data.join(",");
    mount.rec_attr = rec_attr;
    Ok(idmap)
}

/// An `idmap` mount without its own mappings uses the container's user namespace
/// mappings (runc 1.2); without those there is nothing to map with.
pub(super) fn fill_idmap_defaults(config: &mut Config) -> Result<(), ConfigError> {
    let (uids, gids): (Vec<IdMap>, Vec<IdMap>) =
        (config.uid_mappings.clone(), config.gid_mappings.clone());
    for (i, mount) in config.mounts.iter_mut().enumerate() {
        let Some(mapping) = mount.id_mapping.as_mut() else {
            continue;
        };
        if mapping.uid_mappings.is_empty() && mapping.gid_mappings.is_empty() {
            if uids.is_empty() || gids.is_empty() {
                return Err(ConfigError::invalid(
                    format!("mounts[{i}].options"),
                    "`idmap` needs uidMappings/gidMappings on the mount or in linux.uidMappings/gidMappings",
                ));
            }
            mapping.uid_mappings = uids.clone();
            mapping.gid_mappings = gids.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> Mount {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        let mut m = Mount::default();
        apply_options(&options, "mounts[0]", &mut m).unwrap();
        m
    }

    #[test]
    fn flag_options() {
        let ms = |f: u64| f;
        let table: &[(&[&str], u64, u64)] = &[
            (&["ro"], ms(libc::MS_RDONLY), 0),
            (&["ro", "rw"], 0, ms(libc::MS_RDONLY)),
            (&["nosuid", "suid"], 0, ms(libc::MS_NOSUID)),
            (
                &["nodev", "noexec"],
                ms(libc::MS_NODEV | libc::MS_NOEXEC),
                0,
            ),
            (&["dev", "exec"], 0, ms(libc::MS_NODEV | libc::MS_NOEXEC)),
            (&["rbind"], ms(libc::MS_BIND | libc::MS_REC), 0),
            (
                &["bind", "remount"],
                ms(libc::MS_BIND | libc::MS_REMOUNT),
                0,
            ),
            (&["relatime"], ms(libc::MS_RELATIME), 0),
            (&["norelatime"], 0, ms(libc::MS_RELATIME)),
            (
                &["strictatime", "noatime", "nodiratime"],
                ms(libc::MS_STRICTATIME | libc::MS_NOATIME | libc::MS_NODIRATIME),
                0,
            ),
            (&["sync"], ms(libc::MS_SYNCHRONOUS), 0),
            (&["sync", "async"], 0, ms(libc::MS_SYNCHRONOUS)),
            (&["mand"], ms(libc::MS_MANDLOCK), 0),
            (&["defaults"], 0, 0),
        ];
        for (options, flags, cleared) in table {
            let m = parse(options);
            assert_eq!(
                (m.flags, m.cleared_flags),
                (*flags, *cleared),
                "{options:?}"
            );
            assert_eq!(m.data, "", "{options:?}");
        }
    }

    #[test]
    fn propagation_rec_attrs_and_data() {
        let m = parse(&[
            "rprivate",
            "shared",
            "rslave",
            "unbindable",
            "runbindable",
            "private",
            "slave",
            "rshared",
        ]);
        use Propagation::*;
        assert_eq!(
            m.propagation,
            vec![
                Rprivate,
                Shared,
                Rslave,
                Unbindable,
                Runbindable,
                Private,
                Slave,
                Rshared
            ]
        );
        let m = parse(&["rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rexec"]);
        let a = m.rec_attr.unwrap();
        assert_eq!(
            a.attr_set,
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOATIME
        );
        assert_eq!(a.attr_clr, attr::ATIME_MASK | attr::NOEXEC);
        let m = parse(&["mode=755", "nosuid", "size=65536k"]);
        assert_eq!(m.data, "mode=755,size=65536k");
    }

    #[test]
    fn tmpcopyup_is_refused_with_its_path() {
        let mut m = Mount::default();
        let err =
            apply_options(&["ro".into(), "tmpcopyup".into()], "mounts[3]", &mut m).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("mounts[3].options[1]: not supported"),
            "{err}"
        );
    }
}
