//! The host's cgroup hierarchies as a test box needs them: where each is mounted, how
//! to mount it again inside the box, and which directory is ours in it.

use std::path::{Path, PathBuf};

/// The cgroup file systems mounted under `/sys/fs/cgroup`.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Mount point, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// Super-block options to mount it again (`rw,memory`, `rw,name=systemd`).
    pub options: String,
    /// Our own cgroup in it, as a directory (`<mount point>/<path from /proc/self/cgroup>`).
    pub own_dir: PathBuf,
}

impl Hierarchy {
    /// Directories a test box of this hierarchy may live in: our own cgroup (where we
    /// create boxes) and the hierarchy root (where an earlier layout may have put them).
    pub fn box_parents(&self) -> Vec<PathBuf> {
        let mut parents = vec![self.own_dir.clone()];
        if self.own_dir != self.mount_point {
            parents.push(self.mount_point.clone());
        }
        parents
    }

    /// The mount spec box-boot.sh takes: `<dir under /sys/fs/cgroup>:<fstype>:<options>`.
    pub fn boot_spec(&self) -> String {
        let dir = self
            .mount_point
            .strip_prefix(CGROUP_ROOT)
            .expect("hierarchies are under /sys/fs/cgroup");
        format!("{}:{}:{}", dir.display(), self.fstype, self.options)
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone)]
pub struct CgroupLayout {
    /// `true` when cgroup2 is mounted at `/sys/fs/cgroup` itself (no tmpfs, no v1).
    pub unified_at_root: bool,
    /// Every hierarchy, v1 and v2.
    pub hierarchies: Vec<Hierarchy>,
}

impl CgroupLayout {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn discover() -> CgroupLayout {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        let membership =
            std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        let mut hierarchies = Vec::new();
        let mut unified_at_root = false;
        for line in mountinfo.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let (Some(root), Some(mount_point), Some(fstype), Some(super_opts)) =
                (pre.get(3), pre.get(4), post.first(), post.get(2))
            else {
                continue;
            };
            if *fstype != "cgroup" && *fstype != "cgroup2" {
                continue;
            }
            let mount_point = PathBuf::from(mount_point);
            if !mount_point.starts_with(CGROUP_ROOT) {
                continue;
            }
            if mount_point == Path::new(CGROUP_ROOT) {
                unified_at_root = true;
            }
            let options: Vec<&str> = super_opts
                .split(',')
                .filter(|o| !o.starts_with("release_agent="))
                .collect();
            let Some(own_path) = own_cgroup_path(&membership, fstype, &options) else {
                continue;
            };
            let relative = own_path
                .strip_prefix(root)
                .unwrap_or(&own_path)
                .trim_start_matches('/');
            hierarchies.push(Hierarchy {
                own_dir: mount_point.join(relative),
                mount_point,
                fstype: fstype.to_string(),
                options: options.join(","),
            });
        }
        assert!(
            !hierarchies.is_empty(),
            "no cgroup hierarchy mounted under {CGROUP_ROOT}"
        );
        CgroupLayout {
            unified_at_root,
            hierarchies,
        }
    }

    /// The layout argument of box-boot.sh.
    pub fn boot_layout(&self) -> &'static str {
        if self.unified_at_root {
            "unified"
        } else {
            "tmpfs"
        }
    }
}

/// Our path in the hierarchy mounted with `options`, from `/proc/self/cgroup`
/// (`4:memory:/a/b`, `9:name=systemd:/`, `0::/` for cgroup2).
fn own_cgroup_path(membership: &str, fstype: &str, options: &[&str]) -> Option<String> {
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let matches = if fstype == "cgroup2" {
            id == "0" && controllers.is_empty()
        } else {
            !controllers.is_empty() && controllers.split(',').all(|c| options.contains(&c))
        };
        matches.then(|| path.to_string())
    })
}
