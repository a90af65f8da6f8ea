//! The anchor slice that keeps a slice's controllers enabled between containers.
//!
//! systemd enables a controller on a slice while some member wants it. Our scopes ask for
//! accounting and (on v1) a device policy, so without a member that always does, the first
//! container after an idle moment re-realizes the slice tree (`-.slice`, `machine.slice`)
//! and the last one's removal migrates it back: on every create/destroy of a lone
//! container, which is what a CLI user does (two `-.slice: Failed to migrate controller
//! cgroups` per create in the test box's journal without it). The anchor is an empty
//! transient slice inside the container slice with the same accounting and device policy;
//! having no processes, its own limits bind nothing. The daemon and the CLI share it.

use crate::cgroupfs::{CgroupMode, ScopePaths};

use super::connection::Systemd;
use super::properties::{self, Property, Value};
use super::unit_name::slice_cgroup_path;

/// The slice that keeps `slice`'s controllers enabled (`machine.slice` →
/// `machine-unitboxd.slice`).
pub fn anchor_slice(slice: &str) -> String {
    match slice.strip_suffix(".slice") {
        Some("-") | None => "unitboxd.slice".to_owned(),
        Some(stem) => format!("{stem}-unitboxd.slice"),
    }
}

/// Starts the anchor of `slice` unless its cgroup exists already (a file-system check, so
/// a create pays no bus call once the anchor is up). Best effort: a failure only costs the
/// re-realization the anchor saves, so it is logged at debug level and not returned.
pub async fn hold_slice_controllers(sd: &Systemd, slice: &str, mode: CgroupMode) {
    let anchor = anchor_slice(slice);
    let cgroup = format!("{}/{anchor}", slice_cgroup_path(slice));
    if ScopePaths::new(mode, &cgroup).tracking().is_dir() {
        return;
    }
    let mut props = vec![Property::new(
        "Description",
        Value::Str(format!("unitbox: keeps the controllers of {slice} enabled")),
    )];
    props.extend(properties::accounting_properties(mode));
    if mode.is_v1() {
        props.push(Property::new(
            "DevicePolicy",
            Value::Str("strict".to_owned()),
        ));
    }
    if let Err(error) = sd.start_transient_unit(&anchor, &props).await {
        tracing::debug!(%anchor, %error, "slice anchor not started");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_named_inside_their_slice() {
        assert_eq!(anchor_slice("machine.slice"), "machine-unitboxd.slice");
        assert_eq!(anchor_slice("a-b.slice"), "a-b-unitboxd.slice");
        assert_eq!(anchor_slice("-.slice"), "unitboxd.slice");
    }
}
