//! runc's mount, procfs and `/dev/null` CVE defences, attacked through real busybox
//! containers made by `Factory` against the harness systemd (tests/rootfs.rs runs the same
//! rootfs code in bare namespaces; here the whole create/start path is under attack).

mod container_support;
mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use container_support::{bundle_with, chain, run_in, show, spec, value};
use serde_json::{json, Value};
use unitbox::factory::Factory;

/// A name no other test or run uses, for paths that must not appear on the host.
fn probe(tag: &str) -> String {
    format!("unitbox-{tag}-{}", std::process::id())
}

/// Creating `id` from `bundle` must fail; returns the error text, after checking that
/// nothing of the container is left: no state, no scope.
fn create_fails(factory: &Factory, id: &str, bundle: &Path) -> String {
    let config = unitbox::config::oci::load_bundle(bundle).unwrap();
    let err = match factory.create(id, config) {
        Ok(container) => {
            let _ = { container }.destroy();
            panic!("create `{id}` succeeded");
        }
        Err(err) => chain(&err),
    };
    assert!(factory.list().unwrap().is_empty(), "{id}: state left");
    assert!(
        !factory.store().container_dir(id).exists(),
        "{id}: state dir left"
    );
    assert_eq!(
        support::systemctl_show(&format!("unitbox-{id}.scope"), "LoadState"),
        "not-found",
        "{id}: scope left"
    );
    err
}

/// The `/dev/null` identity of the host: owner, group, mode, device.
fn host_dev_null() -> (u32, u32, u32, u64) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata("/dev/null").unwrap();
    (meta.uid(), meta.gid(), meta.mode(), meta.rdev())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// CVE-2021-30465 / CVE-2024-45310: the image holds `mnt -> /` and
/// `up -> ../../../../../../tmp`; mounts whose destinations go through them land inside
/// the rootfs, and no mount point is created on the host.
#[test]
fn cve_2021_30465_mounts_through_image_symlinks_land_inside() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-30465");
        let probe = probe("30465");
        let hostfile = support::scratch_dir("cve-30465-src").join("hostfile");
        std::fs::write(&hostfile, "from the host").unwrap();
        let script = [
            show(
                "root",
                &format!("grep ' /{probe}/dir ' /proc/self/mountinfo | cut -d' ' -f9"),
            ),
            show(
                "tmp",
                &format!("grep ' /tmp/{probe} ' /proc/self/mountinfo | cut -d' ' -f9"),
            ),
            show("etc", &format!("cat /etc/{probe}")),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["root"]["readonly"] = json!(false);
        let mounts = spec["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"destination": format!("/mnt/{probe}/dir"), "type": "tmpfs", "source": "tmpfs"}),
        );
        mounts.push(
            json!({"destination": format!("/up/{probe}"), "type": "tmpfs", "source": "tmpfs"}),
        );
        mounts.push(
            json!({"destination": format!("/mnt/etc/{probe}"), "type": "bind",
            "source": hostfile, "options": ["bind", "ro"]}),
        );
        let bundle = bundle_with("cve-30465", &spec);
        let rootfs = bundle.join("rootfs");
        symlink("/", rootfs.join("mnt")).unwrap();
        symlink("../../../../../../../../../../tmp", rootfs.join("up")).unwrap();
        let on_host = [
            PathBuf::from(format!("/{probe}")),
            PathBuf::from(format!("/tmp/{probe}")),
            PathBuf::from(format!("/etc/{probe}")),
        ];
        for path in &on_host {
            assert!(!path.exists(), "{} exists before the run", path.display());
        }

        let (status, out) = run_in(&factory, "cve-30465", bundle.clone());
        assert!(status.success(), "{status:?}\n{out}");
        assert_eq!(value(&out, "root"), "tmpfs", "{out}");
        assert_eq!(value(&out, "tmp"), "tmpfs", "{out}");
        assert_eq!(value(&out, "etc"), "from the host", "{out}");
        for path in &on_host {
            assert!(!path.exists(), "{} was created on the host", path.display());
        }
        assert!(
            rootfs.join(&probe).join("dir").is_dir(),
            "mount point not in the rootfs"
        );
        assert!(
            rootfs.join("etc").join(&probe).is_file(),
            "file mount point not in the rootfs"
        );
        assert_eq!(read(&hostfile.display().to_string()), "from the host");
    });
}

/// CVE-2024-45310: a destination that is a dangling symlink to a host path fails create;
/// the symlink's target is created neither on the host nor in the rootfs.
#[test]
fn cve_2024_45310_dangling_symlink_destination_fails_create() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-45310");
        let probe = probe("45310");
        let mut spec = spec("exit 0");
        spec["root"]["readonly"] = json!(false);
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/dangling", "type": "tmpfs", "source": "tmpfs"}));
        let bundle = bundle_with("cve-45310", &spec);
        let rootfs = bundle.join("rootfs");
        symlink(format!("/var/{probe}"), rootfs.join("dangling")).unwrap();
        let host = PathBuf::from(format!("/var/{probe}"));
        assert!(!host.exists());

        let err = create_fails(&factory, "cve-45310", &bundle);
        assert!(
            err.contains("/dangling"),
            "the error names the mount: {err}"
        );
        assert!(!host.exists(), "{} was created on the host", host.display());
        assert!(
            !rootfs.join("var").join(&probe).exists(),
            "symlink target created in the rootfs"
        );
    });
}

/// CVE-2019-19921: an image whose `/proc` is a symlink (to a directory it controls) fails
/// create with an error saying so; nothing is mounted on the symlink's target.
#[test]
fn cve_2019_19921_proc_symlink_in_the_image_fails_create() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-19921");
        let bundle = bundle_with("cve-19921", &spec("exit 0"));
        let rootfs = bundle.join("rootfs");
        std::fs::remove_dir(rootfs.join("proc")).unwrap();
        std::fs::create_dir_all(rootfs.join("fakeproc")).unwrap();
        symlink("/fakeproc", rootfs.join("proc")).unwrap();

        let err = create_fails(&factory, "cve-19921", &bundle);
        assert!(
            err.contains("refuse to mount proc on `/proc`: it is a symlink"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(rootfs.join("fakeproc")).unwrap().count(),
            0
        );
    });
}

/// CVE-2019-16884: only a procfs may cover `/proc`; a bind of a fake tree there (which
/// would fake `/proc/self/attr` for the label writes) fails create.
#[test]
fn cve_2019_16884_fake_proc_bind_fails_create() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-16884");
        let fake = support::scratch_dir("cve-16884-fake");
        std::fs::create_dir_all(fake.join("self/attr")).unwrap();
        let mut spec = spec("exit 0");
        spec["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/proc", "type": "bind", "source": fake, "options": ["rbind"]}),
        );
        let bundle = bundle_with("cve-16884", &spec);
        let err = create_fails(&factory, "cve-16884", &bundle);
        assert!(err.contains("not the root of a procfs"), "{err}");
    });
}

/// The spec without the `/dev` tmpfs: the image's own `/dev` is used as it is.
fn image_dev_spec(script: &str) -> Value {
    let mut spec = spec(script);
    spec["root"]["readonly"] = json!(false);
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    spec["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/sys/kernel/core_pattern"]);
    spec
}

/// CVE-2025-31133: an image whose `/dev/null` is a symlink to `core_pattern`, or a
/// regular file, must not serve as the mask: masking `core_pattern` with it would expose
/// (and let the container write) the host's `core_pattern`. Create fails, the host's
/// `core_pattern` and `/dev/null` stay as they were.
#[test]
fn cve_2025_31133_fake_dev_null_in_the_image_fails_create() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-31133");
        let pattern = read("/proc/sys/kernel/core_pattern");
        let null = host_dev_null();
        for (id, fake) in [("cve-31133-link", true), ("cve-31133-file", false)] {
            let script = "echo '|/bin/false' > /proc/sys/kernel/core_pattern; exit 0";
            let bundle = bundle_with(id, &image_dev_spec(script));
            let dev_null = bundle.join("rootfs/dev/null");
            let _ = std::fs::remove_file(&dev_null);
            if fake {
                symlink("/proc/sys/kernel/core_pattern", &dev_null).unwrap();
            } else {
                std::fs::write(&dev_null, "").unwrap();
            }
            let err = create_fails(&factory, id, &bundle);
            assert!(
                err.contains("refuse to mask paths with `/dev/null`"),
                "{id}: {err}"
            );
            assert_eq!(read("/proc/sys/kernel/core_pattern"), pattern, "{id}");
            assert_eq!(host_dev_null(), null, "{id}");
        }
    });
}

/// CVE-2025-31133, seen from inside a normal container: a masked `core_pattern` reads
/// empty, and a write to it lands in `/dev/null`, not in the host's `core_pattern`.
#[test]
fn cve_2025_31133_masked_file_reads_empty_and_swallows_writes() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-31133-mask");
        let pattern = read("/proc/sys/kernel/core_pattern");
        let null = host_dev_null();
        let script = [
            show("before", "wc -c < /proc/sys/kernel/core_pattern"),
            show(
                "write",
                "echo '|/bin/false' > /proc/sys/kernel/core_pattern; echo $?",
            ),
            show("after", "wc -c < /proc/sys/kernel/core_pattern"),
            show("node", "stat -c '%F %t:%T' /proc/sys/kernel/core_pattern"),
        ]
        .concat();
        let mut spec = spec(&script);
        spec["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/sys/kernel/core_pattern"]);
        let (status, out) = container_support::run(&factory, "cve-31133-mask", &spec);
        assert!(status.success(), "{status:?}\n{out}");
        assert_eq!(value(&out, "before"), "0", "{out}");
        assert_eq!(value(&out, "after"), "0", "{out}");
        assert_eq!(value(&out, "node"), "character special file 1:3", "{out}");
        assert_eq!(
            read("/proc/sys/kernel/core_pattern"),
            pattern,
            "host core_pattern changed"
        );
        assert_eq!(host_dev_null(), null, "host /dev/null changed");
        assert_eq!(
            value(&out, "write"),
            "0",
            "the write went to /dev/null: {out}"
        );
    });
}

/// CVE-2025-52881: sysctls go to the container's own `/proc/sys` files (through a private
/// procfs, even though `/proc/sys` is read-only in the container), never to the host's; a
/// key that tries to walk out of `/proc/sys` fails create and writes nothing.
#[test]
fn cve_2025_52881_sysctls_reach_only_the_container() {
    support::in_systemd(|| {
        let factory = container_support::factory("cve-52881");
        let host_shmmni = read("/proc/sys/kernel/shmmni");
        let host_forward = read("/proc/sys/net/ipv4/ip_forward");
        let script = [
            show("shmmni", "cat /proc/sys/kernel/shmmni"),
            show("forward", "cat /proc/sys/net/ipv4/ip_forward"),
        ]
        .concat();
        let mut good = spec(&script);
        let forward = if host_forward.trim() == "1" { "0" } else { "1" };
        good["linux"]["sysctl"] = json!({"kernel.shmmni": "2345", "net.ipv4.ip_forward": forward});
        let (status, out) = run_in(&factory, "cve-52881", bundle_with("cve-52881", &good));
        assert!(status.success(), "{status:?}\n{out}");
        assert_eq!(value(&out, "shmmni"), "2345", "{out}");
        assert_eq!(value(&out, "forward"), forward, "{out}");
        assert_eq!(
            read("/proc/sys/kernel/shmmni"),
            host_shmmni,
            "host shmmni changed"
        );
        assert_eq!(
            read("/proc/sys/net/ipv4/ip_forward"),
            host_forward,
            "host ip_forward changed"
        );

        // A namespaced-looking key that walks to a host-wide file.
        let pattern = read("/proc/sys/kernel/core_pattern");
        let mut evil = spec("exit 0");
        evil["linux"]["sysctl"] = json!({"net.ipv4/../../kernel/core_pattern": "|/bin/false"});
        let err = create_fails(
            &factory,
            "cve-52881-evil",
            &bundle_with("cve-52881-evil", &evil),
        );
        assert!(err.contains("net.ipv4/../../kernel/core_pattern"), "{err}");
        assert_eq!(
            read("/proc/sys/kernel/core_pattern"),
            pattern,
            "host core_pattern changed"
        );
    });
}

/// A terminal session through `--console-socket` (the path CVE-2025-52565 hardened): the
/// caller receives the pty master, types a line the container reads on its terminal, and
/// reads the container's answer back; the exit status comes through as well.
#[test]
fn console_socket_session_carries_input_and_output() {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;

    support::in_systemd(|| {
        let factory = container_support::factory("console");
        let path = support::socket_path("console");
        let listener = UnixListener::bind(&path).unwrap();
        let session = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let (_, master) = unitbox::console::receive_master(conn.as_fd()).unwrap();
            let mut tty = std::fs::File::from(master);
            tty.write_all(b"hello\n").unwrap();
            let mut out = Vec::new();
            // EIO once the container's side of the pty is closed.
            let _ = tty.read_to_end(&mut out);
            String::from_utf8_lossy(&out).replace('\r', "")
        });
        let script = "read line; echo got:$line; test -t 0 && test -t 1 && echo both-tty; exit 3";
        let mut spec = spec(script);
        spec["process"]["terminal"] = json!(true);
        let bundle = bundle_with("console", &spec);
        let config = unitbox::config::oci::load_bundle(&bundle).unwrap();
        let mut process = unitbox::process::Process::from_config(config.process.as_ref().unwrap());
        process.console_socket = Some(path);
        let mut container = factory
            .create_with_process("console", config, process)
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        container.start().unwrap();
        let status = container.wait().unwrap();
        container.destroy().unwrap();
        let out = session.join().unwrap();
        assert_eq!(status, unitbox::process::ExitStatus::Exited(3), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"got:hello"), "{out}");
        assert!(lines.contains(&"both-tty"), "{out}");
    });
}
