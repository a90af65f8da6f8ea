//! A small rootfs from Debian's `busybox-static` (built by `scripts/busybox-rootfs`), and
//! fresh per-test directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::test_area::{run_dir, test_area};

/// The one recipe for the rootfs, shared with `scripts/install`.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/busybox-rootfs");

/// The shared busybox rootfs, built once. Treat it as read-only; use [`bundle`] for a copy.
///
/// Built in a private temp directory and renamed into place, so parallel tests and test
/// binaries never see a half-built tree.
pub fn busybox_rootfs() -> PathBuf {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            // Bump the version when the layout changes, so cached trees of older runs are not reused.
            let rootfs = test_area().join("busybox-rootfs-v1");
            if !rootfs.is_dir() {
                // Pids repeat across boxes (each has its own pid namespace): add the
                // namespace's inode so two boxes never build in the same directory.
                let build = test_area().join(format!(".busybox-rootfs-{}", process_tag()));
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

/// `<pid namespace inode>-<pid>`: names this process uniquely on the host.
fn process_tag() -> String {
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|link| link.display().to_string())
        .unwrap_or_default();
    let inode: String = ns.chars().filter(char::is_ascii_digit).collect();
    format!("{inode}-{}", std::process::id())
}

fn build_rootfs(root: &Path) {
    let out = Command::new("sh")
        .arg(BUILD_SCRIPT)
        .arg(root)
        .output()
        .expect("run scripts/busybox-rootfs");
    assert!(
        out.status.success(),
        "scripts/busybox-rootfs {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
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

/// A fresh path for a unix socket (a console socket, say), visible on the host and in a
/// box. Socket paths must fit `sun_path` (108 bytes), which a deep checkout's test area
/// may not, so these live in a short directory of their own under `/var/tmp`.
pub fn socket_path(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new("/var/tmp/unitbox-sock");
    std::fs::create_dir_all(dir).expect("create the socket directory");
    let name: String = name.chars().take(24).collect();
    let path = dir.join(format!("{}-{n}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}
