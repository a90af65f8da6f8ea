//! The device nodes every container gets: runc's `AllowedDevices` that have a path.
//!
//! One table for both users: the OCI conversion adds them to a config (and allows them
//! in the device cgroup), and `rootfs` creates them for configs built without it.

use std::path::Path;

use super::types::{Device, DeviceType};

/// The default devices, by name under `/dev`, with their major:minor, in runc's order.
pub const DEFAULT_DEVICE_NAMES: [(&str, i64, i64); 6] = [
    ("null", 1, 3),
    ("random", 1, 8),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("zero", 1, 5),
    ("urandom", 1, 9),
];

/// The default devices as configuration entries: character devices, mode 0666, root-owned.
pub fn default_devices() -> Vec<Device> {
    DEFAULT_DEVICE_NAMES
        .iter()
        .map(|&(name, major, minor)| Device {
            path: Path::new("/dev").join(name),
            kind: DeviceType::Char,
            major,
            minor,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_runcs() {
        let names: Vec<_> = default_devices()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/random",
                "/dev/full",
                "/dev/tty",
                "/dev/zero",
                "/dev/urandom"
            ]
        );
        assert!(default_devices()
            .iter()
            .all(|d| d.file_mode == 0o666 && d.kind == DeviceType::Char));
    }
}
