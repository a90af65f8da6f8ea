//! `linux.devices[]` and the devices every container gets (runc's `AllowedDevices`).

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::super::default_devices::default_devices;
use super::super::resources::DeviceRule;
use super::super::types::{Config, Device, DeviceType};
use super::super::validate::ConfigError;

/// Device cgroup rules runc appends after the spec's own, besides the default nodes:
/// mknod of anything, `/dev/pts/*`, `/dev/ptmx` and `/dev/net/tun`.
const DEFAULT_RULES: &[(DeviceType, Option<i64>, Option<i64>, &str)] = &[
    (DeviceType::Char, None, None, "m"),
    (DeviceType::Block, None, None, "m"),
    (DeviceType::Char, Some(136), None, "rwm"),
    (DeviceType::Char, Some(5), Some(2), "rwm"),
    (DeviceType::Char, Some(10), Some(200), "rwm"),
];

/// Convert `linux.devices[]`, one to one.
pub(super) fn convert(devices: &[LinuxDevice]) -> Result<Vec<Device>, ConfigError> {
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
                LinuxDeviceType::B => DeviceType::Block,
                LinuxDeviceType::P => DeviceType::Fifo,
                LinuxDeviceType::A => {
                    return Err(ConfigError::invalid(
                        format!("linux.devices[{i}].type"),
                        "a device node must be `c`, `u`, `b` or `p` (`a` is for cgroup rules)",
                    ))
                }
            };
            Ok(Device {
                path: d.path().clone(),
                kind,
                major: d.major(),
                minor: d.minor(),
                // The type bits belong to `type`, not to the mode (runc masks S_IFMT too).
                file_mode: d.file_mode().unwrap_or(0o666) & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            })
        })
        .collect()
}

/// Convert one `linux.resources.devices[]` rule.
pub(super) fn device_type_of_rule(t: Option<LinuxDeviceType>) -> DeviceType {
    match t {
        None | Some(LinuxDeviceType::A) => DeviceType::All,
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => DeviceType::Char,
        Some(LinuxDeviceType::B) => DeviceType::Block,
        Some(LinuxDeviceType::P) => DeviceType::Fifo,
    }
}

/// Add runc's default nodes (after the spec's) and allow them, the spec's nodes and the
/// default rules in the device cgroup (after the spec's rules, so they win).
pub(super) fn add_defaults(config: &mut Config) {
    for device in default_devices() {
        if config.devices.iter().all(|d| d.path != device.path) {
            config.devices.push(device);
        }
    }
    let rules = &mut config.cgroups.resources.devices;
    for &(kind, major, minor, access) in DEFAULT_RULES {
        rules.push(DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: access.to_owned(),
        });
    }
    // The device cgroup knows only character and block devices; a FIFO needs no rule.
    let nodes = config
        .devices
        .iter()
        .filter(|d| matches!(d.kind, DeviceType::Char | DeviceType::Block));
    for d in nodes {
        rules.push(DeviceRule {
            allow: true,
            kind: d.kind,
            major: Some(d.major),
            minor: Some(d.minor),
            access: "rwm".to_owned(),
        });
    }
}
