//! The directory tree every test box and test shares: `<target>/unitbox-test/`.
//!
//! It must be visible both on the host and inside a box, so never under `/tmp` or
//! `/run` (the box mounts its own tmpfs there). Each test run gets `run-<id>/` below it,
//! where `<id>` is `box-<launcher pid>` inside a box and `host-<pid>` otherwise. A box's
//! files are in `run-box-<pid>/box/`: `console.log`, and `journal.log` (the box's journal,
//! saved when it is torn down). A run directory whose process is dead is removed by a
//! later run once it is an hour old.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// `<target>/unitbox-test`, created on first use.
pub fn test_area() -> &'static Path {
    static AREA: OnceLock<PathBuf> = OnceLock::new();
    AREA.get_or_init(|| {
        // CARGO_TARGET_TMPDIR is `<target>/tmp`; the test exe lives under `<target>` too.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent")
            .to_path_buf();
        for hidden in ["/tmp", "/run"] {
            assert!(
                !target.starts_with(hidden),
                "the cargo target dir `{}` is under `{hidden}`, which test boxes hide; \
                 set CARGO_TARGET_DIR elsewhere",
                target.display()
            );
        }
        let area = target.join("unitbox-test");
        std::fs::create_dir_all(&area).expect("create the test area");
        let_mapped_users_traverse(&area);
        area
    })
}

/// Gives every ancestor of `dir` search permission for others. A container with a user
/// namespace runs as a host uid that is not root, and (as with runc) that uid must be
/// able to walk to its bundle; a checkout in a `mktemp -d` folder (mode 0700) would
/// otherwise make every user-namespace test fail with EACCES on the rootfs.
fn let_mapped_users_traverse(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            let _ = std::fs::set_permissions(
                ancestor,
                std::fs::Permissions::from_mode((mode | 0o001) & 0o7777),
            );
        }
    }
}

/// This process's run directory (see the module doc), created on first use.
pub fn run_dir() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let id = match std::env::var(super::IN_BOX_ENV) {
            Ok(box_name) => box_run_id(&box_name),
            Err(_) => {
                remove_dead_runs();
                format!("host-{}", std::process::id())
            }
        };
        let dir = test_area().join(format!("run-{id}"));
        std::fs::create_dir_all(&dir).expect("create the run directory");
        dir
    })
}

/// The run id of a box, from its name `unitbox-testbox-<pid>[-<n>]`: `box-<pid>[-<n>]`.
pub fn box_run_id(box_name: &str) -> String {
    let suffix = box_name
        .strip_prefix(super::systemd_box::BOX_PREFIX)
        .unwrap_or(box_name);
    format!("box-{suffix}")
}

/// The launcher pid in a box name or a run directory name: the first number after
/// `prefix` (`unitbox-testbox-` + `123-2` → 123, `run-box-` + `123` → 123).
pub fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    rest.split('-').next()?.parse().ok()
}

/// How long the run directory of a finished (or killed) test binary is kept.
pub const KEEP_DEAD_RUNS: Duration = Duration::from_secs(3600);

/// Removes run directories whose owning process is dead and that are older than
/// [`KEEP_DEAD_RUNS`].
///
/// Only called on the host side (outside any box), where pids are the host's.
pub fn remove_dead_runs() {
    let Ok(entries) = std::fs::read_dir(test_area()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| owner_pid(n, "run-box-").or_else(|| owner_pid(n, "run-host-")))
        else {
            continue;
        };
        // Recent ones stay for post-mortems (the box journal, bundles of failed tests).
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < KEEP_DEAD_RUNS);
        if !recent && !Path::new(&format!("/proc/{pid}")).exists() {
            // --one-file-system: never follow a mount a dead test left behind.
            let _ = std::process::Command::new("rm")
                .args(["-rf", "--one-file-system"])
                .arg(entry.path())
                .status();
        }
    }
}

/// The run directory of the box named `box_name` (seen from the host), created on use.
pub fn run_dir_for_box(box_name: &str) -> PathBuf {
    let dir = test_area().join(format!("run-{}", box_run_id(box_name)));
    std::fs::create_dir_all(&dir).expect("create the box run directory");
    dir
}
