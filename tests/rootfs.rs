//! The root filesystem built for real, in fresh namespaces, with the CVE regressions of
//! the mount path.
//!
//! The test harness is multi-threaded, so no test forks and runs Rust: each test
//! re-executes this test binary through `unshare --mount --pid --fork …` with
//! `--exact <its own name>` and an environment marker. The child (a fresh process, in its
//! own mount, pid, IPC, UTS and network namespaces) builds a busybox rootfs with
//! `unitbox::rootfs`, checks what it sees from inside, and prints `CHILD-OK`; the parent
//! asserts on that and on the host (nothing created, host device nodes unchanged).
//!
//! See: shared/design/security.md (CVE-2021-30465, CVE-2024-45310, CVE-2019-19921,
//! CVE-2025-31133, CVE-2025-52565, CVE-2025-52881, CVE-2026-41579).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::MsFlags;
use unitbox::config::{Config, Device, DeviceType, Mount, Namespace, NamespaceType, Propagation};
use unitbox::rootfs::{self, RootfsError, RootfsOptions};

/// Set in the re-executed child: the test's work directory.
const CHILD_ENV: &str = "UNITBOX_ROOTFS_TEST_DIR";

/// Set in the re-executed child: the parent test process's pid, so both compute the same
/// probe names.
const PARENT_PID_ENV: &str = "UNITBOX_ROOTFS_TEST_PARENT";

/// A unique name for host-side escape probes (the same in the parent and its child).
/// A config that must be refused, and the check that the error is the expected one.
type RefusalCase = (Config, fn(&RootfsError) -> bool);

fn probe_name(test: &str) -> String {
    let pid = std::env::var(PARENT_PID_ENV).unwrap_or_else(|_| std::process::id().to_string());
    format!("unitbox-escape-{test}-{pid}")
}

// ---------------------------------------------------------------------------------------
// Tests

/// The OCI default mounts, devices, readonly/masked paths, sysctls and a readonly rootfs,
/// checked from inside.
#[test]
fn standard_container_rootfs() {
    const NAME: &str = "standard_container_rootfs";
    if let Some(dir) = child_dir() {
        let config = standard_config(&dir);
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        rootfs::write_sysctls(&config).expect("write sysctls");
        rootfs::finalize(&config).expect("finalize");
        check_standard_container();
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("data/hello"), "hello").unwrap();
    fs::write(dir.join("hostfile"), "from the host").unwrap();
    let before = host_nodes();
    run_child(NAME, &dir, &[]);
    assert_eq!(host_nodes(), before, "host device nodes changed");
}

/// CVE-2021-30465 / CVE-2024-45310: destinations through `mnt -> /` and `up -> ../../..`
/// land inside the rootfs, and nothing is created on the host.
#[test]
fn cve_2021_30465_symlinked_destinations_stay_inside() {
    const NAME: &str = "cve_2021_30465_symlinked_destinations_stay_inside";
    let probe = probe_name("30465");
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.mounts.push(mount(
            "tmpfs",
            "tmpfs",
            &format!("/mnt/{probe}/dir"),
            MsFlags::empty(),
            "",
        ));
        config.mounts.push(mount(
            "tmpfs",
            "tmpfs",
            &format!("/up/{probe}"),
            MsFlags::empty(),
            "",
        ));
        let file = dir.join("hostfile").display().to_string();
        config.mounts.push(mount(
            "bind",
            &file,
            &format!("/mnt/etc/{probe}"),
            MsFlags::MS_BIND,
            "",
        ));
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let mounts = mountinfo();
        assert_eq!(
            fstype_at(&mounts, &format!("/{probe}/dir")),
            Some("tmpfs"),
            "{mounts:#?}"
        );
        assert_eq!(
            fstype_at(&mounts, &format!("/tmp/{probe}")),
            Some("tmpfs"),
            "{mounts:#?}"
        );
        assert_eq!(
            fs::read_to_string(format!("/etc/{probe}")).unwrap(),
            "from the host"
        );
        return child_ok();
    }
    let dir = work_dir(NAME);
    let root = dir.join("rootfs");
    make_rootfs(&root);
    std::os::unix::fs::symlink("/", root.join("mnt")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../tmp", root.join("up")).unwrap();
    fs::write(dir.join("hostfile"), "from the host").unwrap();
    run_child(NAME, &dir, &[]);
    for host in [
        format!("/{probe}"),
        format!("/tmp/{probe}"),
        format!("/etc/{probe}"),
    ] {
        assert!(!Path::new(&host).exists(), "{host} was created on the host");
    }
    assert!(
        root.join(&probe).join("dir").is_dir(),
        "mount point not made inside the rootfs"
    );
    assert!(
        root.join("etc").join(&probe).is_file(),
        "file mount point not made inside the rootfs"
    );
}

/// CVE-2024-45310: a dangling symlink as destination is refused instead of followed to
/// create its target; nothing appears on the host.
#[test]
fn cve_2024_45310_dangling_symlink_is_not_followed() {
    const NAME: &str = "cve_2024_45310_dangling_symlink_is_not_followed";
    let probe = probe_name("45310");
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config
            .mounts
            .push(mount("tmpfs", "tmpfs", "/dangling", MsFlags::empty(), ""));
        let err = rootfs::prepare(&config, RootfsOptions::default())
            .expect_err("dangling symlink followed");
        assert!(matches!(err, RootfsError::Mountpoint { .. }), "{err:?}");
        return child_ok();
    }
    let dir = work_dir(NAME);
    let root = dir.join("rootfs");
    make_rootfs(&root);
    std::os::unix::fs::symlink(format!("/tmp/{probe}"), root.join("dangling")).unwrap();
    run_child(NAME, &dir, &[]);
    assert!(
        !Path::new(&format!("/tmp/{probe}")).exists(),
        "created on the host"
    );
    assert!(
        !root.join("tmp").join(&probe).exists(),
        "symlink target created in the rootfs"
    );
}

/// CVE-2026-41579: an image whose `/dev` is a symlink to the host's `/dev` path gets its
/// devices inside the rootfs; the host's `/dev/null` and `/dev/zero` are untouched.
#[test]
fn cve_2026_41579_dev_symlink_stays_inside() {
    const NAME: &str = "cve_2026_41579_dev_symlink_stays_inside";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config
            .devices
            .push(device("/dev/custom0", 1, 7, 0o600, 123, 456));
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        assert_char_device("/hostdev/custom0", 1, 7, 0o600, (123, 456));
        assert_char_device("/hostdev/null", 1, 3, 0o666, (0, 0));
        return child_ok();
    }
    let dir = work_dir(NAME);
    let root = dir.join("rootfs");
    make_rootfs(&root);
    fs::remove_dir(root.join("dev")).unwrap();
    fs::create_dir(root.join("hostdev")).unwrap();
    // Absolute: on the host this would be the real /dev.
    std::os::unix::fs::symlink("/hostdev", root.join("dev")).unwrap();
    let before = host_nodes();
    run_child(NAME, &dir, &[]);
    assert_eq!(host_nodes(), before, "host device nodes changed");
    assert!(
        !Path::new("/dev/custom0").exists(),
        "device created on the host"
    );
    assert!(
        !Path::new("/hostdev").exists(),
        "directory created on the host"
    );
}

/// CVE-2019-19921: proc is refused on a symlink and on a regular file.
#[test]
fn cve_2019_19921_proc_on_symlink_is_refused() {
    const NAME: &str = "cve_2019_19921_proc_on_symlink_is_refused";
    if let Some(dir) = child_dir() {
        for (name, reason) in [
            ("rootfs-link", "it is a symlink"),
            ("rootfs-file", "it is not a directory"),
        ] {
            let mut config = minimal_config(&dir);
            config.rootfs = dir.join(name);
            config.mounts = vec![proc_mount()];
            match rootfs::prepare(&config, RootfsOptions::default()) {
                Err(RootfsError::ProcDestination { reason: got, .. }) => {
                    assert_eq!(got, reason, "{name}")
                }
                other => panic!("{name}: proc mount not refused: {other:?}"),
            }
        }
        return child_ok();
    }
    let dir = work_dir(NAME);
    let link = dir.join("rootfs-link");
    make_rootfs(&link);
    fs::remove_dir(link.join("proc")).unwrap();
    fs::create_dir_all(link.join("tmp/fakeproc")).unwrap();
    std::os::unix::fs::symlink("/tmp/fakeproc", link.join("proc")).unwrap();
    let file = dir.join("rootfs-file");
    make_rootfs(&file);
    fs::remove_dir(file.join("proc")).unwrap();
    fs::write(file.join("proc"), "").unwrap();
    run_child(NAME, &dir, &[]);
    assert_eq!(fs::read_dir(link.join("tmp/fakeproc")).unwrap().count(), 0);
}

/// CVE-2025-31133: a `/dev/null` that is a symlink (here to `core_pattern`) is refused as
/// the source of masks, so nothing is exposed in place of the masked path.
#[test]
fn cve_2025_31133_symlinked_dev_null_is_refused() {
    const NAME: &str = "cve_2025_31133_symlinked_dev_null_is_refused";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        // No /dev mount: the image's /dev, with its fake null, is used as it is.
        config.mounts = vec![proc_mount()];
        config.mask_paths = vec!["/proc/keys".into()];
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        match rootfs::finalize(&config) {
            Err(RootfsError::DevNullNotVerified { found }) => assert_eq!(found, "a symlink"),
            other => panic!("fake /dev/null accepted: {other:?}"),
        }
        assert_eq!(
            fstype_at(&mountinfo(), "/proc/keys"),
            None,
            "/proc/keys was covered"
        );
        return child_ok();
    }
    let dir = work_dir(NAME);
    let root = dir.join("rootfs");
    make_rootfs(&root);
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", root.join("dev/null")).unwrap();
    run_child(NAME, &dir, &[]);
}

/// CVE-2025-31133, the regular-file variant (a separate child: the first one pivoted).
#[test]
fn cve_2025_31133_regular_file_dev_null_is_refused() {
    const NAME: &str = "cve_2025_31133_regular_file_dev_null_is_refused";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.mounts = vec![proc_mount()];
        config.mask_paths = vec!["/proc/keys".into()];
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        match rootfs::finalize(&config) {
            Err(RootfsError::DevNullNotVerified { found }) => assert_eq!(found, "a regular file"),
            other => panic!("fake /dev/null accepted: {other:?}"),
        }
        return child_ok();
    }
    let dir = work_dir(NAME);
    let root = dir.join("rootfs");
    make_rootfs(&root);
    fs::write(root.join("dev/null"), "not a device").unwrap();
    run_child(NAME, &dir, &[]);
}

/// `--no-pivot`: `MS_MOVE` + `chroot` puts the rootfs at `/` too, and the callback runs
/// before the switch (it still sees the host side).
#[test]
fn no_pivot_switches_root_and_runs_callback_first() {
    const NAME: &str = "no_pivot_switches_root_and_runs_callback_first";
    if let Some(dir) = child_dir() {
        let config = minimal_config(&dir);
        let marker = dir.join("rootfs/marker");
        let mut saw_host_side = false;
        let mut callback = || -> Result<(), rootfs::HookFailure> {
            saw_host_side = marker.exists();
            Ok(())
        };
        let opts = RootfsOptions {
            no_pivot: true,
            before_pivot: Some(&mut callback),
            ..RootfsOptions::default()
        };
        rootfs::prepare(&config, opts).expect("prepare");
        assert!(saw_host_side, "callback did not run before the root switch");
        assert_eq!(fs::read_to_string("/marker").unwrap(), "rootfs");
        assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    fs::write(dir.join("rootfs/marker"), "rootfs").unwrap();
    run_child(NAME, &dir, &[]);
}

/// A failing callback aborts before the root switch with `BeforePivot`.
#[test]
fn failing_callback_aborts_before_pivot() {
    const NAME: &str = "failing_callback_aborts_before_pivot";
    if let Some(dir) = child_dir() {
        let config = minimal_config(&dir);
        let mut callback = || -> Result<(), rootfs::HookFailure> { Err("hook exited 1".into()) };
        let opts = RootfsOptions {
            no_pivot: false,
            before_pivot: Some(&mut callback),
            ..RootfsOptions::default()
        };
        let err = rootfs::prepare(&config, opts).expect_err("callback error ignored");
        assert!(matches!(err, RootfsError::BeforePivot(_)), "{err:?}");
        assert!(Path::new(&dir).exists(), "root was switched");
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    run_child(NAME, &dir, &[]);
}

/// CVE-2025-52565: `/dev/console` gets the pty peer through an fd; a symlink planted at
/// `/dev/console` is refused.
#[test]
fn cve_2025_52565_console_bind_refuses_symlink() {
    const NAME: &str = "cve_2025_52565_console_bind_refuses_symlink";
    if let Some(dir) = child_dir() {
        let config = standard_config(&dir);
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let (_master, peer) = open_pty();
        std::os::unix::fs::symlink("/proc/sysrq-trigger", "/dev/console").unwrap();
        let err = rootfs::mount_console(peer.as_fd()).expect_err("symlink followed");
        assert!(matches!(err, RootfsError::Console { .. }), "{err:?}");
        fs::remove_file("/dev/console").unwrap();
        rootfs::mount_console(peer.as_fd()).expect("mount console");
        let st = fs::metadata("/dev/console").unwrap();
        assert!(st.file_type().is_char_device());
        assert_eq!(nix::sys::stat::major(st.rdev()), 136, "not a devpts node");
        assert_eq!(fstype_at(&mountinfo(), "/dev/console"), Some("devpts"));
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("hostfile"), "from the host").unwrap();
    run_child(NAME, &dir, &[]);
}

/// CVE-2025-52881: sysctls are written through a private procfs, so a mount over
/// `/proc/sys/kernel` (the attack's redirection) neither receives the write nor hides it.
#[test]
fn cve_2025_52881_sysctl_ignores_overmounted_proc() {
    const NAME: &str = "cve_2025_52881_sysctl_ignores_overmounted_proc";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.sysctl = BTreeMap::from([("kernel.shmmni".to_string(), "2345".to_string())]);
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let decoy_dir = "/proc/sys/kernel";
        nix::mount::mount(
            Some("tmpfs"),
            decoy_dir,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        fs::write("/proc/sys/kernel/shmmni", "decoy").unwrap();
        rootfs::write_sysctls(&config).expect("write sysctls");
        assert_eq!(
            fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
            "decoy",
            "write went to the decoy"
        );
        nix::mount::umount2(decoy_dir, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert_eq!(
            fs::read_to_string("/proc/sys/kernel/shmmni")
                .unwrap()
                .trim(),
            "2345"
        );
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    let host_before = fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    run_child(NAME, &dir, &[]);
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_before,
        "host sysctl changed"
    );
}

/// Bind flags: `rbind,ro` makes only the top mount read-only (runc), `rro` (`rec_attr`)
/// every submount; propagation flags land on the new mounts.
#[test]
fn bind_recursion_and_propagation() {
    const NAME: &str = "bind_recursion_and_propagation";
    if let Some(dir) = child_dir() {
        // A submount in the bind source, made in the child's private namespace.
        let sub = dir.join("data/sub");
        nix::mount::mount(
            Some("tmpfs"),
            &sub,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let src = dir.join("data").display().to_string();
        let mut config = minimal_config(&dir);
        let rbind_ro = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY;
        config
            .mounts
            .push(mount("bind", &src, "/top-ro", rbind_ro, ""));
        let mut rro = mount(
            "bind",
            &src,
            "/all-ro",
            MsFlags::MS_BIND | MsFlags::MS_REC,
            "",
        );
        rro.rec_attr = Some(unitbox::config::MountAttr {
            attr_set: libc::MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
        });
        config.mounts.push(rro);
        let mut shared = mount("tmpfs", "tmpfs", "/shared", MsFlags::empty(), "");
        shared.propagation = vec![Propagation::Shared];
        config.mounts.push(shared);
        let mut private = mount("tmpfs", "tmpfs", "/private", MsFlags::empty(), "");
        private.propagation = vec![Propagation::Rprivate];
        config.mounts.push(private);
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let mounts = mountinfo();
        let at = |mp: &str| {
            mounts
                .iter()
                .rev()
                .find(|m| m.mount_point == mp)
                .unwrap_or_else(|| panic!("{mp}"))
        };
        assert!(at("/top-ro").has_opts(&["ro"]));
        assert!(
            at("/top-ro/sub").has_opts(&["rw"]),
            "rbind,ro must not be recursive"
        );
        assert!(at("/all-ro").has_opts(&["ro"]));
        assert!(at("/all-ro/sub").has_opts(&["ro"]), "rro must be recursive");
        assert!(
            at("/shared")
                .optional
                .iter()
                .any(|f| f.starts_with("shared:")),
            "{:?}",
            at("/shared")
        );
        assert!(at("/private").optional.is_empty(), "{:?}", at("/private"));
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    run_child(NAME, &dir, &[]);
}

/// Inside a cgroup namespace each v1 hierarchy (and the unified one) is a fresh cgroupfs
/// whose root is the namespace's root, read-only as configured.
#[test]
fn cgroup_namespace_mounts_its_own_hierarchies() {
    const NAME: &str = "cgroup_namespace_mounts_its_own_hierarchies";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.namespaces.push(Namespace {
            kind: NamespaceType::Cgroup,
            path: None,
        });
        let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        config.mounts.push(mount("sysfs", "sysfs", "/sys", ro, ""));
        config
            .mounts
            .push(mount("cgroup", "cgroup", "/sys/fs/cgroup", ro, ""));
        config
            .mounts
            .push(mount("cgroup2", "cgroup2", "/cg2", ro, ""));
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let mounts = mountinfo();
        let cgroups: Vec<&MountLine> = mounts
            .iter()
            .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup/") || m.mount_point == "/cg2")
            .collect();
        assert!(cgroups.len() >= 2, "{mounts:#?}");
        for m in &cgroups {
            assert!(m.fstype == "cgroup" || m.fstype == "cgroup2", "{m:?}");
            assert_eq!(m.root, "/", "not the namespace root: {m:?}");
            assert!(m.has_opts(&["ro", "nosuid", "nodev", "noexec"]), "{m:?}");
        }
        assert!(fs::metadata("/sys/fs/cgroup/memory/memory.limit_in_bytes").is_ok());
        assert_eq!(
            erofs(fs::create_dir("/sys/fs/cgroup/memory/escape")),
            Some(libc::EROFS)
        );
        assert_eq!(
            erofs(fs::create_dir("/sys/fs/cgroup/new")),
            Some(libc::EROFS)
        );
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    run_child(NAME, &dir, &["--cgroup"]);
}

/// An idmapped bind (`idmap` with uid/gid mappings): files owned by 0 on disk appear as
/// the mapped host id, the on-disk owner is unchanged.
#[test]
fn idmapped_bind_maps_owners() {
    const NAME: &str = "idmapped_bind_maps_owners";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        let one = |host_id| unitbox::config::IdMap {
            container_id: 0,
            host_id,
            size: 1,
        };
        let mut idmapped = mount(
            "bind",
            &dir.join("data").display().to_string(),
            "/idmapped",
            MsFlags::MS_BIND | MsFlags::MS_REC,
            "",
        );
        idmapped.id_mapping = Some(unitbox::config::MountIdMapping {
            uid_mappings: vec![one(1000)],
            gid_mappings: vec![one(2000)],
            recursive: false,
        });
        config.mounts.push(idmapped);
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let st = fs::metadata("/idmapped/owned-by-root").unwrap();
        assert_eq!((st.uid(), st.gid()), (1000, 2000), "not idmapped");
        let mounts = mountinfo();
        let m = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == "/idmapped")
            .unwrap();
        assert!(m.has_opts(&["idmapped"]), "{m:?}");
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("data/owned-by-root"), "x").unwrap();
    run_child(NAME, &dir, &[]);
    let st = fs::metadata(dir.join("data/owned-by-root")).unwrap();
    assert_eq!((st.uid(), st.gid()), (0, 0), "on-disk owner changed");
}

/// CVE-2019-16884: only a procfs may cover `/proc` (a bind of a host directory there is
/// refused, a bind of the host's procfs root accepted), and the procfs handle refuses a
/// `/proc` that is not procfs.
#[test]
fn cve_2019_16884_only_procfs_covers_proc() {
    const NAME: &str = "cve_2019_16884_only_procfs_covers_proc";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        let fake = dir.join("fakeproc").display().to_string();
        config.mounts = vec![mount("bind", &fake, "/proc", MsFlags::MS_BIND, "")];
        let err =
            rootfs::prepare(&config, RootfsOptions::default()).expect_err("fake /proc accepted");
        assert!(matches!(err, RootfsError::NotProcOnProc { .. }), "{err:?}");
        // The same check through a symlink to /proc.
        config.mounts = vec![mount("bind", &fake, "/proc-link", MsFlags::MS_BIND, "")];
        let err = rootfs::prepare(&config, RootfsOptions::default())
            .expect_err("fake /proc via symlink accepted");
        assert!(matches!(err, RootfsError::NotProcOnProc { .. }), "{err:?}");
        config.mounts = vec![mount(
            "bind",
            "/proc",
            "/proc",
            MsFlags::MS_BIND | MsFlags::MS_REC,
            "",
        )];
        rootfs::prepare(&config, RootfsOptions::default())
            .expect("bind of the host procfs refused");
        // An image (or a racing mount) hiding /proc behind a tmpfs is noticed.
        nix::mount::mount(
            Some("tmpfs"),
            "/proc",
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let err = unitbox::sys::procfs::ProcfsHandle::open_mounted(Path::new("/proc"))
            .expect_err("tmpfs taken for procfs");
        assert_eq!(err, nix::errno::Errno::EXDEV);
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    std::os::unix::fs::symlink("/proc", dir.join("rootfs/proc-link")).unwrap();
    fs::create_dir_all(dir.join("fakeproc/self/attr")).unwrap();
    run_child(NAME, &dir, &[]);
}

/// In a user namespace without its own network namespace the kernel refuses a new sysfs;
/// the host's is bound instead (runc's rootless fallback), read-only as configured.
#[test]
fn user_namespace_without_netns_binds_host_sysfs() {
    const NAME: &str = "user_namespace_without_netns_binds_host_sysfs";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.namespaces.push(Namespace {
            kind: NamespaceType::User,
            path: None,
        });
        let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        config.mounts.push(mount("sysfs", "sysfs", "/sys", ro, ""));
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        let mounts = mountinfo();
        let sys = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == "/sys")
            .expect("no /sys mount");
        assert!(
            sys.fstype == "sysfs" && sys.has_opts(&["ro", "nosuid"]),
            "{sys:?}"
        );
        assert!(fs::metadata("/sys/kernel").is_ok());
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    run_child_with(NAME, &dir, &["--user", "--map-root-user"]);
}

/// In a user namespace the default devices are binds of the host's nodes, and the host's
/// nodes keep their owner and mode.
#[test]
fn user_namespace_binds_host_devices() {
    const NAME: &str = "user_namespace_binds_host_devices";
    if let Some(dir) = child_dir() {
        let mut config = minimal_config(&dir);
        config.namespaces.push(Namespace {
            kind: NamespaceType::User,
            path: None,
        });
        config.mounts = vec![
            proc_mount(),
            mount("tmpfs", "tmpfs", "/dev", MsFlags::MS_NOSUID, "mode=755"),
            mount(
                "devpts",
                "devpts",
                "/dev/pts",
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                "newinstance,ptmxmode=0666",
            ),
            mount(
                "sysfs",
                "sysfs",
                "/sys",
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
                "",
            ),
            // Not asked read-only: in a user namespace it must be anyway (CVE-2023-25809).
            mount("cgroup", "cgroup", "/sys/fs/cgroup", MsFlags::MS_NOSUID, ""),
        ];
        config.mask_paths = vec!["/proc/keys".into()];
        rootfs::prepare(&config, RootfsOptions::default()).expect("prepare");
        rootfs::finalize(&config).expect("finalize");
        for (name, major, minor) in rootfs::DEFAULT_DEVICE_NAMES {
            let st = fs::metadata(Path::new("/dev").join(name)).unwrap();
            assert!(st.file_type().is_char_device(), "{name}");
            assert_eq!(
                (
                    nix::sys::stat::major(st.rdev()) as i64,
                    nix::sys::stat::minor(st.rdev()) as i64
                ),
                (major, minor)
            );
        }
        assert_eq!(
            fs::read("/proc/keys").unwrap().len(),
            0,
            "/proc/keys not masked"
        );
        let mounts = mountinfo();
        let hierarchies: Vec<&MountLine> = mounts
            .iter()
            .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup/"))
            .collect();
        assert!(!hierarchies.is_empty(), "{mounts:#?}");
        for m in hierarchies {
            assert!(
                m.has_opts(&["ro"]),
                "writable cgroup bind in a user namespace: {m:?}"
            );
        }
        assert_eq!(
            erofs(fs::create_dir("/sys/fs/cgroup/memory/escape")),
            Some(libc::EROFS)
        );
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    let before = host_nodes();
    run_child(NAME, &dir, &["--user", "--map-root-user"]);
    assert_eq!(host_nodes(), before, "host device nodes changed");
}

/// Bad configurations are refused before anything is mounted: a valid mount listed
/// before the bad entry is not made, and the mount table is unchanged.
#[test]
fn invalid_config_is_refused_before_any_mount() {
    const NAME: &str = "invalid_config_is_refused_before_any_mount";
    if let Some(dir) = child_dir() {
        let before = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let bad_mount = mount("tmpfs", "tmpfs", "/proc/sys", MsFlags::empty(), "");
        let relative = mount("tmpfs", "tmpfs", "relative", MsFlags::empty(), "");
        let mut bad_device = device("/dev/any", 1, 1, 0o600, 0, 0);
        bad_device.kind = DeviceType::All;
        let cases: Vec<RefusalCase> = vec![
            (
                Config {
                    mounts: vec![proc_mount(), bad_mount],
                    ..minimal_config(&dir)
                },
                |e| matches!(e, RootfsError::InsideProc { .. }),
            ),
            (
                Config {
                    mounts: vec![proc_mount(), relative],
                    ..minimal_config(&dir)
                },
                |e| matches!(e, RootfsError::RelativeDestination { .. }),
            ),
            (
                Config {
                    devices: vec![bad_device],
                    ..minimal_config(&dir)
                },
                |e| matches!(e, RootfsError::InvalidDevice { .. }),
            ),
        ];
        for (config, expected) in cases {
            let err = rootfs::prepare(&config, RootfsOptions::default())
                .expect_err("bad config accepted");
            assert!(expected(&err), "{err:?}");
            assert!(err.is_invalid_config(), "{err:?}");
            assert_eq!(
                fs::read_to_string("/proc/self/mountinfo").unwrap(),
                before,
                "something was mounted"
            );
        }
        let config = Config {
            sysctl: BTreeMap::from([("kernel/../../etc/passwd".to_string(), "x".to_string())]),
            ..Config::default()
        };
        let err = rootfs::write_sysctls(&config).expect_err("escaping sysctl key accepted");
        assert!(matches!(err, RootfsError::InvalidSysctl { .. }), "{err:?}");
        return child_ok();
    }
    let dir = work_dir(NAME);
    make_rootfs(&dir.join("rootfs"));
    run_child(NAME, &dir, &[]);
    assert!(fs::read_dir(dir.join("rootfs/proc"))
        .unwrap()
        .next()
        .is_none());
}

// ---------------------------------------------------------------------------------------
// What the standard container must see

fn check_standard_container() {
    let mounts = mountinfo();
    let find = |mp: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == mp)
            .unwrap_or_else(|| panic!("no mount at {mp}: {mounts:#?}"))
    };
    let proc = find("/proc");
    assert_eq!(proc.fstype, "proc");
    assert!(proc.has_opts(&["nosuid", "nodev", "noexec"]), "{proc:?}");
    assert_eq!(find("/dev").fstype, "tmpfs");
    assert!(
        find("/dev").has_opts(&["ro", "nosuid"]),
        "/dev not made read-only at the end"
    );
    let pts = find("/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(pts.super_opts.contains("ptmxmode=666"), "{pts:?}");
    assert!(find("/dev/shm").has_opts(&["nosuid", "nodev", "noexec"]));
    assert_eq!(find("/dev/mqueue").fstype, "mqueue");
    let sys = find("/sys");
    assert!(
        sys.fstype == "sysfs" && sys.has_opts(&["ro", "nosuid"]),
        "{sys:?}"
    );
    let cgroup = find("/sys/fs/cgroup");
    assert!(
        cgroup.fstype == "tmpfs" && cgroup.has_opts(&["ro"]),
        "{cgroup:?}"
    );
    let memory = find("/sys/fs/cgroup/memory");
    assert!(
        memory.fstype == "cgroup" && memory.has_opts(&["ro"]),
        "{memory:?}"
    );
    // Without a cgroup namespace: a bind of the container's own cgroup, not the host tree.
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let own_memory = own
        .lines()
        .find_map(|l| l.split_once(":memory:"))
        .map(|(_, p)| p)
        .unwrap();
    assert_eq!(memory.root, own_memory, "{memory:?}");
    let cg2 = find("/cg2");
    let own_unified = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    assert!(cg2.fstype == "cgroup2" && cg2.has_opts(&["ro"]), "{cg2:?}");
    assert_eq!(
        cg2.root, own_unified,
        "cgroup2 mount shows more than our cgroup: {cg2:?}"
    );
    let data = find("/data");
    assert!(data.has_opts(&["ro"]), "{data:?}");
    assert_eq!(fs::read_to_string("/data/hello").unwrap(), "hello");
    assert_eq!(
        fs::read_to_string("/etc/hostfile").unwrap(),
        "from the host"
    );
    assert!(find("/").has_opts(&["ro"]), "rootfs not read-only");
    assert!(find("/run").has_opts(&["noexec"]));

    // Devices.
    assert_char_device("/dev/null", 1, 3, 0o666, (0, 0));
    assert_char_device("/dev/zero", 1, 5, 0o666, (0, 0));
    assert_char_device("/dev/full", 1, 7, 0o666, (0, 0));
    assert_char_device("/dev/random", 1, 8, 0o666, (0, 0));
    assert_char_device("/dev/urandom", 1, 9, 0o666, (0, 0));
    assert_char_device("/dev/tty", 5, 0, 0o666, (0, 0));
    assert_char_device("/dev/fuse", 10, 229, 0o600, (1000, 1001));
    let block = fs::metadata("/dev/disks/loop-test").unwrap();
    assert!(block.file_type().is_block_device());
    assert_eq!(
        (
            nix::sys::stat::major(block.rdev()),
            nix::sys::stat::minor(block.rdev())
        ),
        (7, 0)
    );
    assert_eq!(
        (block.permissions().mode() & 0o7777, block.gid()),
        (0o640, 6)
    );
    let fifo = fs::metadata("/dev/fifo-test").unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.permissions().mode() & 0o7777, 0o620);
    for (link, target) in [
        ("/dev/ptmx", "pts/ptmx"),
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        assert_eq!(fs::read_link(link).unwrap(), Path::new(target), "{link}");
    }
    let mut zero = [1u8; 4];
    fs::File::open("/dev/zero")
        .unwrap()
        .read_exact(&mut zero)
        .unwrap();
    assert_eq!(zero, [0; 4]);

    // Masked paths: a file reads as /dev/null, a directory is an empty read-only tmpfs.
    assert_eq!(
        fs::read("/proc/keys").unwrap().len(),
        0,
        "/proc/keys readable"
    );
    assert_eq!(
        fs::read_dir("/sys/firmware").unwrap().count(),
        0,
        "/sys/firmware not masked"
    );
    assert_eq!(fstype_at(&mounts, "/sys/firmware"), Some("tmpfs"));
    assert_eq!(erofs(fs::write("/sys/firmware/x", "x")), Some(libc::EROFS));

    // Read-only paths and the read-only rootfs.
    assert_eq!(
        erofs(
            fs::OpenOptions::new()
                .write(true)
                .open("/proc/sys/kernel/hostname")
                .map(drop)
        ),
        Some(libc::EROFS)
    );
    assert_eq!(erofs(fs::write("/newfile", "x")), Some(libc::EROFS));
    // A file bound writable, then listed as a read-only path.
    let append = fs::OpenOptions::new()
        .append(true)
        .open("/etc/hostfile")
        .map(drop);
    assert_eq!(erofs(append), Some(libc::EROFS), "/etc/hostfile writable");
    fs::write("/dev/shm/ok", "x").expect("/dev/shm writable");

    // Sysctls written through the private procfs, in the container's namespaces.
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmni")
            .unwrap()
            .trim(),
        "1234"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
}

fn erofs(result: std::io::Result<()>) -> Option<i32> {
    result.err().and_then(|e| e.raw_os_error())
}

fn assert_char_device(path: &str, major: u64, minor: u64, mode: u32, owner: (u32, u32)) {
    let st = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        st.file_type().is_char_device(),
        "{path} is not a char device"
    );
    assert_eq!(
        (
            nix::sys::stat::major(st.rdev()),
            nix::sys::stat::minor(st.rdev())
        ),
        (major, minor),
        "{path}"
    );
    assert_eq!(st.permissions().mode() & 0o7777, mode, "{path} mode");
    assert_eq!((st.uid(), st.gid()), owner, "{path} owner");
}

// ---------------------------------------------------------------------------------------
// Configurations

fn mount(device: &str, source: &str, dest: &str, flags: MsFlags, data: &str) -> Mount {
    Mount {
        source: source.into(),
        destination: dest.into(),
        device: device.into(),
        flags: flags.bits(),
        data: data.into(),
        ..Mount::default()
    }
}

fn proc_mount() -> Mount {
    mount(
        "proc",
        "proc",
        "/proc",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        "",
    )
}

fn device(path: &str, major: i64, minor: i64, mode: u32, uid: u32, gid: u32) -> Device {
    Device {
        path: path.into(),
        kind: DeviceType::Char,
        major,
        minor,
        file_mode: mode,
        uid,
        gid,
    }
}

fn minimal_config(dir: &Path) -> Config {
    Config {
        rootfs: dir.join("rootfs"),
        mounts: vec![
            proc_mount(),
            mount("tmpfs", "tmpfs", "/dev", MsFlags::MS_NOSUID, "mode=755"),
        ],
        ..Config::default()
    }
}

fn standard_config(dir: &Path) -> Config {
    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let mut tmpfs_run = mount("tmpfs", "tmpfs", "/run", nosuid_noexec_nodev, "mode=755");
    tmpfs_run.propagation = vec![Propagation::Rprivate];
    Config {
        rootfs: dir.join("rootfs"),
        mounts: vec![
            proc_mount(),
            mount(
                "tmpfs",
                "tmpfs",
                "/dev",
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY,
                "mode=755,size=65536k",
            ),
            mount(
                "devpts",
                "devpts",
                "/dev/pts",
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5",
            ),
            mount(
                "tmpfs",
                "shm",
                "/dev/shm",
                nosuid_noexec_nodev,
                "mode=1777,size=65536k",
            ),
            mount("mqueue", "mqueue", "/dev/mqueue", nosuid_noexec_nodev, ""),
            mount(
                "sysfs",
                "sysfs",
                "/sys",
                nosuid_noexec_nodev | MsFlags::MS_RDONLY,
                "",
            ),
            mount(
                "cgroup",
                "cgroup",
                "/sys/fs/cgroup",
                nosuid_noexec_nodev | MsFlags::MS_RDONLY,
                "",
            ),
            mount(
                "bind",
                &dir.join("data").display().to_string(),
                "/data",
                MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
                "",
            ),
            mount(
                "bind",
                &dir.join("hostfile").display().to_string(),
                "/etc/hostfile",
                MsFlags::MS_BIND,
                "",
            ),
            mount(
                "cgroup2",
                "cgroup2",
                "/cg2",
                nosuid_noexec_nodev | MsFlags::MS_RDONLY,
                "",
            ),
            tmpfs_run,
        ],
        devices: vec![
            device("/dev/fuse", 10, 229, 0o600, 1000, 1001),
            Device {
                kind: DeviceType::Block,
                ..device("/dev/disks/loop-test", 7, 0, 0o640, 0, 6)
            },
            Device {
                kind: DeviceType::Fifo,
                ..device("/dev/fifo-test", 0, 0, 0o620, 0, 0)
            },
        ],
        namespaces: [
            NamespaceType::Mount,
            NamespaceType::Pid,
            NamespaceType::Ipc,
            NamespaceType::Network,
        ]
        .into_iter()
        .map(|kind| Namespace { kind, path: None })
        .collect(),
        readonly_paths: vec![
            "/proc/sys".into(),
            "/proc/sysrq-trigger".into(),
            "/etc/hostfile".into(),
            "/proc/bus".into(),
        ],
        mask_paths: vec![
            "/proc/keys".into(),
            "/proc/timer_list".into(),
            "/proc/acpi".into(),
            "/sys/firmware".into(),
            "/proc/does-not-exist".into(),
        ],
        sysctl: BTreeMap::from([
            ("kernel.shmmni".to_string(), "1234".to_string()),
            ("net/ipv4/ip_forward".to_string(), "1".to_string()),
        ]),
        readonly_rootfs: true,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// The child driver

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

fn child_ok() {
    println!("CHILD-OK");
    std::io::stdout().flush().unwrap();
}

/// A fresh work directory for one test under the cargo target's temp dir.
fn work_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rootfs-tests")
        .join(test);
    if dir.exists() {
        // A previous run may have left the rootfs bind or busybox in place; mounts died
        // with its namespace, so a plain removal is enough.
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A minimal busybox rootfs: `/bin/busybox`, `/bin/sh`, and the usual empty directories.
fn make_rootfs(root: &Path) {
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp", "run"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
}

/// Run this test again in new mount, pid, IPC, UTS and network namespaces (plus
/// `extra_unshare`) and require the child to report success.
fn run_child(test: &str, dir: &Path, extra_unshare: &[&str]) {
    let mut flags = vec!["--ipc", "--uts", "--net"];
    flags.extend_from_slice(extra_unshare);
    run_child_with(test, dir, &flags);
}

/// Run this test again in a new mount and pid namespace plus the `unshare` flags given.
fn run_child_with(test: &str, dir: &Path, unshare_flags: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("timeout")
        .arg("120")
        .arg("unshare")
        .args(unshare_flags)
        .args([
            "--mount",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            "--",
        ])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("CHILD-OK"),
        "child {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

/// Owner, mode and device numbers of host nodes a runtime must never change.
fn host_nodes() -> Vec<(String, u32, u32, u32, u64)> {
    [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/tty",
        "/dev/random",
        "/dev/urandom",
    ]
    .iter()
    .map(|p| {
        let st = fs::metadata(p).unwrap();
        (
            p.to_string(),
            st.uid(),
            st.gid(),
            st.permissions().mode(),
            st.rdev(),
        )
    })
    .collect()
}

fn open_pty() -> (nix::pty::PtyMaster, fs::File) {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let name = nix::pty::ptsname_r(&master).unwrap();
    let peer = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name)
        .unwrap();
    (master, peer)
}

// ---------------------------------------------------------------------------------------
// mountinfo

#[derive(Debug)]
struct MountLine {
    root: String,
    mount_point: String,
    opts: String,
    optional: Vec<String>,
    fstype: String,
    super_opts: String,
}

impl MountLine {
    fn has_opts(&self, wanted: &[&str]) -> bool {
        let opts: Vec<&str> = self.opts.split(',').collect();
        wanted.iter().all(|w| opts.contains(w))
    }
}

fn mountinfo() -> Vec<MountLine> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(MountLine {
                root: fields[3].to_string(),
                mount_point: fields[4].to_string(),
                opts: fields[5].to_string(),
                optional: fields[6..sep].iter().map(|f| f.to_string()).collect(),
                fstype: fields.get(sep + 1)?.to_string(),
                super_opts: fields.get(sep + 3).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn fstype_at<'a>(mounts: &'a [MountLine], mount_point: &str) -> Option<&'a str> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .map(|m| m.fstype.as_str())
}
