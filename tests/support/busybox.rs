//! A small rootfs from Debian's `busybox-static`, and fresh per-test directories.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::test_area::{run_dir, test_area};

/// The static busybox the rootfs is built from (package `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";
const GROUP: &str = "root:x:0:
user:x:1000:
nogroup:x:65534:
";

/// The shared busybox rootfs, built once. Treat it as read-only; use [`bundle`] for a copy.
///
/// Built in a private temp directory and renamed into place, so parallel tests and test
/// binaries never see a half-built tree.
pub fn busybox_rootfs() -> PathBuf {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let rootfs = test_area().join("busybox-rootfs");
            if !rootfs.is_dir() {
                let build = test_area().join(format!(".busybox-rootfs-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&build);
                build_rootfs(&build);
                // Another process may have won the race; then its tree is as good as ours.
                if std::fs::rename(&build, &rootfs).is_err() {
                    assert!(
                        rootfs.is_dir(),
                        "rename the busybox rootfs into `{}`",
                        rootfs.display()
                    );
                    std::fs::remove_dir_all(&build).expect("remove the spare busybox rootfs");
                }
            }
            rootfs
        })
        .clone()
}

fn build_rootfs(root: &Path) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "`{BUSYBOX}` is missing: apt-get install busybox-static (scripts/install-deps)"
    );
    for dir in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "root",
        "home/user",
        "var/tmp",
        "usr",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("create rootfs dir");
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("run `busybox --list`");
    assert!(list.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            symlink("busybox", root.join("bin").join(applet)).expect("link busybox applet");
        }
    }
    symlink("bin", root.join("sbin")).expect("link /sbin");
    symlink("../bin", root.join("usr/bin")).expect("link /usr/bin");
    symlink("../bin", root.join("usr/sbin")).expect("link /usr/sbin");
    std::fs::write(root.join("etc/passwd"), PASSWD).expect("write /etc/passwd");
    std::fs::write(root.join("etc/group"), GROUP).expect("write /etc/group");
    std::fs::write(root.join("etc/hostname"), "unitbox\n").expect("write /etc/hostname");
    set_mode(&root.join("tmp"), 0o1777);
    set_mode(&root.join("var/tmp"), 0o1777);
    set_mode(&root.join("root"), 0o700);
    std::os::unix::fs::chown(root.join("home/user"), Some(1000), Some(1000))
        .expect("chown /home/user");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("chmod rootfs dir");
}

/// A fresh directory `<run dir>/<kind>/<name>-<pid>-<n>` (unique in this run).
fn fresh_dir(kind: &str, name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = run_dir()
        .join(kind)
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a fresh test directory");
    dir
}

/// A fresh bundle directory holding `rootfs/`, a copy of [`busybox_rootfs`]; the test
/// writes `config.json` next to it.
pub fn bundle(name: &str) -> PathBuf {
    let rootfs = busybox_rootfs();
    let dir = fresh_dir("bundles", name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(&rootfs)
        .arg(dir.join("rootfs"))
        .status()
        .expect("run `cp -a`");
    assert!(
        status.success(),
        "copy the busybox rootfs into `{}`",
        dir.display()
    );
    dir
}

/// A fresh empty directory for one test, e.g. a state root (`--root`).
pub fn scratch_dir(name: &str) -> PathBuf {
    fresh_dir("scratch", name)
}
