//! Host-side guard: no container run, user namespaces included, changes the owner or mode
//! of a host file. An older runtime chowned the host's `/dev/null` while setting up a
//! user-namespaced container's `/dev`; here containers even try it on purpose.
//!
//! Named `zz` so cargo runs it after the other container test binaries; it checks the
//! host both around its own containers and against what the earlier binaries left.

mod container_support;
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use container_support::{run_in, spec};
use serde_json::json;

/// Owner, group, mode and device number of a path (not following a final symlink).
fn identity(path: &Path) -> (u32, u32, u32, u64) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid(), meta.mode(), meta.rdev())
}

/// What the containers try against their `/dev/null` and `/dev/zero` (in a user namespace
/// these are binds of the host's nodes).
const TAMPER: &str = "chown 1:1 /dev/null /dev/zero; chmod 600 /dev/null /dev/zero; exit 0";

fn userns(spec: &mut serde_json::Value) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
}

#[test]
fn containers_never_change_host_files() {
    let host_files = [PathBuf::from("/dev/null"), PathBuf::from("/dev/zero")];
    let before: Vec<_> = host_files.iter().map(|p| identity(p)).collect();
    assert_eq!(
        before[0].2 & 0o777,
        0o666,
        "host /dev/null is already damaged: {before:?}"
    );

    support::in_systemd(|| {
        let factory = container_support::factory("guard");
        let mut plain = spec(TAMPER);
        plain["root"]["readonly"] = json!(false);
        let mut mapped = plain.clone();
        userns(&mut mapped);
        for (id, spec) in [("guard-plain", plain), ("guard-userns", mapped)] {
            let bundle = container_support::bundle_with(id, &spec);
            let watched = [
                bundle.clone(),
                bundle.join("rootfs"),
                bundle.join("config.json"),
                bundle.join("rootfs/dev"),
                bundle.join("rootfs/bin/busybox"),
            ];
            let bundle_before: Vec<_> = watched.iter().map(|p| identity(p)).collect();
            let host_before: Vec<_> = host_files.iter().map(|p| identity(p)).collect();

            let (status, out) = run_in(&factory, id, bundle.clone());
            assert!(status.success(), "{id}: {status:?}\n{out}");

            let host_after: Vec<_> = host_files.iter().map(|p| identity(p)).collect();
            assert_eq!(
                host_after, host_before,
                "{id} changed a host device:\n{out}"
            );
            let bundle_after: Vec<_> = watched.iter().map(|p| identity(p)).collect();
            assert_eq!(
                bundle_after, bundle_before,
                "{id} changed its bundle's owners or modes:\n{out}"
            );
        }
    });

    let after: Vec<_> = host_files.iter().map(|p| identity(p)).collect();
    assert_eq!(
        after, before,
        "host /dev/null and /dev/zero unchanged after the suite"
    );
}
