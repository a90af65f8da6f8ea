//! OCI runtime spec (a bundle's `config.json`) → [`Config`].
//!
//! Covers the whole Linux section of the runtime spec. A field unitbox cannot honour is an
//! error naming its JSON path (`linux.intelRdt: not supported: …`), never dropped; list
//! indices are kept one to one so `config::validate` can name the same paths. Nothing here
//! checks whether the config makes sense as a whole: that is `config::validate`.
//! Mirrors runc's `libcontainer/specconv/spec_linux.go` (`CreateLibcontainerConfig`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hook as OciHook, Hooks as OciHooks, Spec};
use serde::Serialize;

use super::types::{Config, Hook, Hooks, Network};
use super::validate::ConfigError;

mod devices;
mod linux;
mod mounts;
mod process;
mod resources;

/// Annotation prefix runc turns into systemd unit properties.
pub const SYSTEMD_PROPERTY_PREFIX: &str = "org.systemd.property.";

/// Read `<bundle>/config.json` and convert it; parse errors name the JSON path.
pub fn load_bundle(bundle: &Path) -> Result<Config, ConfigError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| ConfigError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&text);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let json_path = e.path().to_string();
        ConfigError::Parse {
            path: path.clone(),
            json_path,
            source: e.into_inner(),
        }
    })?;
    from_spec(&spec, bundle)
}

/// Convert an OCI spec whose bundle directory is `bundle` (relative paths in the spec,
/// the rootfs and bind sources, are resolved against it).
///
/// The cgroup name is left empty unless `linux.cgroupsPath` gives one: the caller fills
/// in the container id. `rootless_euid` reflects this process's effective uid, as in runc.
pub fn from_spec(spec: &Spec, bundle: &Path) -> Result<Config, ConfigError> {
    let bundle = std::path::absolute(bundle).map_err(|source| ConfigError::Bundle {
        path: bundle.to_path_buf(),
        source,
    })?;
    reject_other_platforms(spec)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| ConfigError::invalid("root", "required"))?;
    let mut config = Config {
        rootfs: resolve(&bundle, root.path()),
        readonly_rootfs: root.readonly().unwrap_or(false),
        version: spec.version().clone(),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|d| !d.is_empty()),
        rootless_euid: !nix::unistd::geteuid().is_root(),
        ..Config::default()
    };
    config.mounts = mounts::convert(spec.mounts().as_deref().unwrap_or_default(), &bundle)?;
    if let Some(linux) = spec.linux() {
        linux::convert(linux, &mut config)?;
    }
    mounts::fill_idmap_defaults(&mut config)?;
    devices::add_defaults(&mut config);
    if let Some(process) = spec.process() {
        process::convert(process, &mut config)?;
    }
    if let Some(hooks) = spec.hooks() {
        config.hooks = convert_hooks(hooks)?;
    }
    convert_annotations(spec, &bundle, &mut config)?;
    if config
        .namespaces
        .iter()
        .any(|ns| ns.kind == super::types::NamespaceType::Network && ns.path.is_none())
    {
        // runc brings up `lo` in every network namespace it creates.
        config.networks = vec![Network {
            kind: "loopback".to_owned(),
            ..Network::default()
        }];
    }
    Ok(config)
}

/// A bundle for another platform would run as something it is not.
fn reject_other_platforms(spec: &Spec) -> Result<(), ConfigError> {
    let others = [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
    ];
    match others.iter().find(|(_, present)| *present) {
        Some((name, _)) => Err(ConfigError::unsupported(
            *name,
            "unitbox runs Linux containers only",
        )),
        None => Ok(()),
    }
}

/// `path` if absolute, else `bundle/path`.
fn resolve(bundle: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        bundle.join(path)
    }
}

/// The OCI spelling of an enum value (`SCMP_ACT_ERRNO`, `CAP_KILL`), which is its serde
/// form; falls back to `Display` for a type that does not serialize to a string.
fn oci_name<T: Serialize + std::fmt::Display>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => value.to_string(),
    }
}

fn convert_hooks(hooks: &OciHooks) -> Result<Hooks, ConfigError> {
    let list = |name: &str, hooks: &Option<Vec<OciHook>>| -> Result<Vec<Hook>, ConfigError> {
        hooks
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, h)| convert_hook(h, &format!("hooks.{name}[{i}]")))
            .collect()
    };
    Ok(Hooks {
        prestart: list("prestart", hooks.prestart())?,
        create_runtime: list("createRuntime", hooks.create_runtime())?,
        create_container: list("createContainer", hooks.create_container())?,
        start_container: list("startContainer", hooks.start_container())?,
        poststart: list("poststart", hooks.poststart())?,
        poststop: list("poststop", hooks.poststop())?,
    })
}

fn convert_hook(hook: &OciHook, field: &str) -> Result<Hook, ConfigError> {
    let timeout = match hook.timeout() {
        None => None,
        Some(t) => Some(u32::try_from(t).ok().filter(|&t| t > 0).ok_or_else(|| {
            ConfigError::invalid(
                format!("{field}.timeout"),
                format!("must be a positive number of seconds, got {t}"),
            )
        })?),
    };
    Ok(Hook {
        path: hook.path().clone(),
        args: hook.args().clone().unwrap_or_default(),
        env: hook.env().clone().unwrap_or_default(),
        timeout,
    })
}

/// Annotations become `key=value` labels (as in runc), followed by `bundle=<path>`;
/// `org.systemd.property.<Name>` ones also become unit properties.
fn convert_annotations(spec: &Spec, bundle: &Path, config: &mut Config) -> Result<(), ConfigError> {
    let mut annotations: Vec<(&String, &String)> = spec.annotations().iter().flatten().collect();
    annotations.sort();
    for (key, value) in annotations {
        config.labels.push(format!("{key}={value}"));
        if let Some(name) = key.strip_prefix(SYSTEMD_PROPERTY_PREFIX) {
            if !is_unit_property_name(name) {
                return Err(ConfigError::invalid(
                    format!("annotations.\"{key}\""),
                    "a systemd property name starts with an uppercase letter and has only letters and digits",
                ));
            }
            config
                .cgroups
                .systemd_properties
                .push((name.to_owned(), value.clone()));
        }
    }
    config.labels.push(format!("bundle={}", bundle.display()));
    Ok(())
}

/// runc's `isValidName` for `org.systemd.property.*` annotations.
fn is_unit_property_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}
