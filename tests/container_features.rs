//! Issue 3 features that no other container test covers from inside a real container:
//! bind mount flags as mountinfo shows them and as they hold, a hook killed at its
//! timeout, `setgroups` refused to a rootless container's root (CVE-2014-8989), process
//! settings and `--no-pivot`, and a `cgroup` mount under its own cgroup namespace.

mod container_support;
mod support;

use container_support::{
    chain, create_with_config, mount_options, mountinfo_line, run, section, show, spec, value,
};
use serde_json::json;

/// Bind flags `ro,nosuid,nodev,noexec`: each shows in `/proc/self/mountinfo`, and writing
/// or executing through the bind fails.
#[test]
fn bind_mount_flags_show_in_mountinfo_and_hold() {
    support::in_systemd(|| {
        let factory = container_support::factory("bindflags");
        let source = support::scratch_dir("bindflags-src");
        std::fs::copy("/bin/busybox", source.join("busybox")).unwrap();
        let script = [
            show("mountinfo", "cat /proc/self/mountinfo"),
            show("write", "touch /data/new && echo WRITABLE"),
            show("exec", "/data/busybox true && echo EXECUTED"),
            "exit 0".to_owned(),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": source,
            "options": ["bind", "ro", "nosuid", "nodev", "noexec"]
        }));
        let (status, out) = run(&factory, "bindflags", &spec);
        assert!(status.success(), "{status:?}\n{out}");
        let mountinfo = section(&out, "mountinfo");
        let data = mount_options(mountinfo_line(&mountinfo, "/data"));
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(data.contains(&flag), "/data {flag}: {data:?}");
        }
        assert!(
            value(&out, "write").contains("Read-only file system"),
            "{out}"
        );
        assert!(value(&out, "exec").contains("Permission denied"), "{out}");
        assert!(
            !source.join("new").exists(),
            "a file was created through the bind"
        );
    });
}

/// A createRuntime hook past its timeout is killed; create fails naming the hook and
/// leaves no state, well before the hook would have finished.
#[test]
fn hook_past_its_timeout_fails_create() {
    support::in_systemd(|| {
        let factory = container_support::factory("hooktimeout");
        let mut spec = spec("exit 0");
        spec["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
        ]});
        let bundle = container_support::bundle_with("hooktimeout", &spec);
        let config = unitbox::config::oci::load_bundle(&bundle).unwrap();
        let started = std::time::Instant::now();
        let err = match factory.create("hooktimeout", config) {
            Ok(_) => panic!("create with a hanging hook succeeded"),
            Err(err) => chain(&err),
        };
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "the hook was not killed at its timeout: {:?}",
            started.elapsed()
        );
        assert!(err.contains("timed out after 1s"), "{err}");
        assert!(factory.list().unwrap().is_empty(), "state left");
    });
}

/// CVE-2014-8989: in a user namespace made for a rootless runtime `setgroups` is denied,
/// so root in the container cannot drop a group to get past a "group may not" permission;
/// `su` (which calls `setgroups`) fails there, and works when a root runtime made the maps.
#[test]
fn cve_2014_8989_rootless_root_cannot_setgroups() {
    support::in_systemd(|| {
        let factory = container_support::factory("setgroups");
        let script = [
            show("setgroups", "cat /proc/self/setgroups"),
            show("su", "su -s /bin/sh nobody -c 'echo SWITCHED'"),
            "exit 0".to_owned(),
        ]
        .concat();
        let mut spec = spec(&script);
        container_support::add_user_namespace(&mut spec, 100000);
        spec["process"]["capabilities"] = json!({
            "bounding": ["CAP_SETUID", "CAP_SETGID"],
            "effective": ["CAP_SETUID", "CAP_SETGID"],
            "permitted": ["CAP_SETUID", "CAP_SETGID"]
        });
        for (id, rootless) in [("setgroups-root", false), ("setgroups-rootless", true)] {
            let bundle = container_support::bundle_with(id, &spec);
            let mut config = unitbox::config::oci::load_bundle(&bundle).unwrap();
            config.rootless_euid = rootless;
            let (status, out) = finish(create_with_config(&factory, id, config, bundle));
            assert!(status.success(), "{id}: {status:?}\n{out}");
            if rootless {
                assert_eq!(value(&out, "setgroups"), "deny", "{out}");
                assert!(value(&out, "su").contains("can't set groups"), "{out}");
            } else {
                assert_eq!(value(&out, "setgroups"), "allow", "{out}");
                assert_eq!(value(&out, "su"), "SWITCHED", "{out}");
            }
        }
    });
}

/// Process settings seen from inside: `oomScoreAdj`, `user.umask`; and runc's
/// `--no-pivot`: the rootfs is `/` (moved and chrooted), with the same view as with
/// `pivot_root` (the image's files, not the host's).
#[test]
fn oom_score_adj_umask_and_no_pivot_apply_inside() {
    support::in_systemd(|| {
        let factory = container_support::factory("procsettings");
        let script = [
            show("oom", "cat /proc/self/oom_score_adj"),
            show("umask", "umask"),
            show("marker", "cat /marker"),
            show("root", "awk '$5 == \"/\"' /proc/self/mountinfo | wc -l"),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["process"]["oomScoreAdj"] = json!(123);
        spec["process"]["user"]["umask"] = json!(0o027);
        for no_pivot in [false, true] {
            let id = format!("procsettings-{no_pivot}");
            let bundle = container_support::bundle_with(&id, &spec);
            std::fs::write(bundle.join("rootfs/marker"), "the image\n").unwrap();
            let mut config = unitbox::config::oci::load_bundle(&bundle).unwrap();
            config.no_pivot_root = no_pivot;
            let (status, out) = finish(create_with_config(&factory, &id, config, bundle));
            assert!(status.success(), "{id}: {status:?}\n{out}");
            assert_eq!(value(&out, "oom"), "123", "{id}: {out}");
            assert_eq!(value(&out, "umask"), "0027", "{id}: {out}");
            assert_eq!(value(&out, "marker"), "the image", "{id}: {out}");
            assert_eq!(value(&out, "root"), "1", "{id}: one mount on `/`: {out}");
        }
    });
}

/// Start, wait, destroy: how `created` ended and what it printed.
fn finish(mut created: container_support::Created) -> (unitbox::process::ExitStatus, String) {
    created.container.start().unwrap();
    let status = created.container.wait().unwrap();
    let output = created.output();
    created.container.destroy().unwrap();
    (status, output)
}

/// A `cgroup` mount in a container with its own cgroup namespace: the hierarchies appear
/// under `/sys/fs/cgroup`, read-only, and the container's own cgroup is their root.
#[test]
fn cgroup_mount_shows_the_container_cgroup_as_root() {
    support::in_systemd(|| {
        let factory = container_support::factory("cgroupmount");
        let script = [
            show(
                "mounts",
                "awk '$5 ~ \"^/sys/fs/cgroup\" {print $5, $6}' /proc/self/mountinfo",
            ),
            show("self", "cut -d: -f3 /proc/self/cgroup | sort -u"),
            show(
                "write",
                "mkdir /sys/fs/cgroup/x; \
                 for d in /sys/fs/cgroup/*/; do [ -d \"$d\" ] && mkdir ${d}x; done",
            ),
            "exit 0".to_owned(),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        let (status, out) = run(&factory, "cgroupmount", &spec);
        assert!(status.success(), "{status:?}\n{out}");
        let mounts = section(&out, "mounts");
        assert!(!mounts.is_empty(), "no cgroup mount: {out}");
        for line in &mounts {
            let options: Vec<&str> = line.split(' ').nth(1).unwrap().split(',').collect();
            assert!(options.contains(&"ro"), "{line}: {out}");
        }
        assert_eq!(section(&out, "self"), ["/"], "{out}");
        let writes = section(&out, "write");
        assert!(!writes.is_empty(), "{out}");
        assert!(
            writes.iter().all(|l| l.contains("Read-only file system")),
            "{out}"
        );
    });
}
