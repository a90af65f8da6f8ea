//! Tests of the harness's busybox rootfs and per-test directories.

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn busybox_rootfs_runs_a_shell_with_users() {
    let rootfs = support::busybox_rootfs();
    assert!(rootfs.starts_with(support::test_area()));
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args([
            "/bin/sh",
            "-c",
            "id -u root; id -u user; id -u nobody; ls /bin/ls; echo ok",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chroot sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "0\n1000\n65534\n/bin/ls\nok\n");
    for dir in ["proc", "sys", "dev", "tmp"] {
        assert!(rootfs.join(dir).is_dir(), "/{dir} missing");
    }
}

#[test]
fn parallel_first_builds_agree() {
    // Every thread asks at once; all must get the same complete tree.
    let roots: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(support::busybox_rootfs)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(roots.windows(2).all(|w| w[0] == w[1]));
    assert!(roots[0].join("bin/sh").symlink_metadata().is_ok());
}

#[test]
fn bundles_and_scratch_dirs_are_fresh_and_distinct() {
    let a = support::bundle("same");
    let b = support::bundle("same");
    assert_ne!(a, b);
    for bundle in [&a, &b] {
        assert!(bundle.join("rootfs/bin/busybox").is_file());
        assert!(!bundle.join("config.json").exists());
        for hidden in ["/tmp", "/run"] {
            assert!(
                !bundle.starts_with(hidden),
                "{} is under {hidden}",
                bundle.display()
            );
        }
    }
    // A bundle is a copy: writing into it leaves the cached rootfs alone.
    std::fs::write(a.join("rootfs/etc/marker"), "a").unwrap();
    assert!(!support::busybox_rootfs().join("etc/marker").exists());

    let s1 = support::scratch_dir("state");
    let s2 = support::scratch_dir("state");
    assert_ne!(s1, s2);
    assert_eq!(std::fs::read_dir(&s1).unwrap().count(), 0);
    assert!(Path::new(&s1).starts_with(support::test_area()));
}

#[test]
fn bundles_work_inside_the_box() {
    support::in_systemd(|| {
        let bundle = support::bundle("inside");
        let status = Command::new("chroot")
            .arg(bundle.join("rootfs"))
            .arg("/bin/true")
            .status()
            .unwrap();
        assert!(status.success());
        // Inside a box, /tmp is the box's own tmpfs: the bundle must not be there.
        assert!(!bundle.starts_with("/tmp"));
    });
}
