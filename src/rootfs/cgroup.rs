//! The `cgroup` mount: the container's own cgroup hierarchies at `/sys/fs/cgroup`.
//!
//! On a cgroup v2 host (or for a `cgroup2` mount) this is one cgroup2 mount. On a v1
//! hybrid host it is runc's layout (`mountCgroupV1`): a tmpfs at the destination, one
//! directory per host hierarchy (`cpu`, `memory`, `systemd`, `unified`, …) holding the
//! container's cgroup of that hierarchy, and links for co-mounted controllers
//! (`cpu -> cpu,cpuacct`). Inside a cgroup namespace each hierarchy is a fresh cgroupfs
//! mount (whose root is the namespace root); without one it is a bind of the host's
//! directory of the container's cgroup, never of the host's whole tree. The mount's
//! flags (read-only in practice) apply to every hierarchy, and a read-only mount makes
//! the tmpfs read-only last (CVE-2023-25809: the cgroupfs must not be writable when the
//! config asks for read-only).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::mount::{empty_readonly_tmpfs, errno_of, fs_attr_flags, mount_error, mountpoint};
use super::propagation::unescape_mountinfo;
use super::{RootContext, RootfsError};
use crate::config::Mount;
use crate::sys::mount::{
    attach_mount, clone_tree_at_path, fs_create, fs_mount, fs_open, fs_set_flag, fs_set_string,
    set_mount_attr, MountAttrChange, MountAttrFlags,
};
use crate::sys::path::{openat2, Resolve};

/// Where the host mounts its cgroup hierarchies.
const HOST_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One cgroup hierarchy mounted on the host, with the container's cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// Directory name under `/sys/fs/cgroup` (`cpu,cpuacct`, `systemd`, `unified`).
    pub name: String,
    /// Host mount point.
    pub mount_point: PathBuf,
    /// Root of the mount inside the hierarchy (mountinfo field 4).
    pub mount_root: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// The v1 superblock options naming the hierarchy (`cpu`, `cpuacct`, `name=systemd`).
    pub options: Vec<String>,
    /// The container's cgroup path in this hierarchy (from `/proc/self/cgroup`).
    pub cgroup_path: PathBuf,
}

impl Hierarchy {
    /// The host directory of the container's cgroup in this hierarchy.
    pub fn host_dir(&self) -> PathBuf {
        let inside = self
            .cgroup_path
            .strip_prefix(&self.mount_root)
            .unwrap_or(&self.cgroup_path);
        let inside = inside.strip_prefix("/").unwrap_or(inside);
        self.mount_point.join(inside)
    }
}

/// Mount a `cgroup`/`cgroup2` entry of the config.
pub(crate) fn mount_cgroup(ctx: &RootContext, m: &Mount) -> Result<(), RootfsError> {
    let host_is_v2 = statfs(HOST_CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let flags = MsFlags::from_bits_truncate(m.flags);
    let hierarchies = host_hierarchies()?;
    if m.device == "cgroup2" || host_is_v2 {
        let unified = hierarchies.iter().find(|h| h.fstype == "cgroup2");
        let detached = hierarchy_mount(ctx, m, unified, flags)?;
        let target = mountpoint(ctx, &m.destination, true)?;
        return attach_mount(detached.as_fd(), target.as_fd())
            .map_err(|e| mount_error(m, "move_mount", e));
    }
    let tmpfs = cgroup_tmpfs(m)?;
    let target = mountpoint(ctx, &m.destination, true)?;
    attach_mount(tmpfs.as_fd(), target.as_fd()).map_err(|e| mount_error(m, "move_mount", e))?;
    let dir = super::mount::existing_in_root(ctx, &m.destination, false)
        .map_err(|e| mount_error(m, "openat2", e))?;
    for h in hierarchies.iter().filter(|h| !h.name.is_empty()) {
        let sub = make_subdir(m, dir.as_fd(), &h.name)?;
        let detached = hierarchy_mount(ctx, m, Some(h), flags)?;
        attach_mount(detached.as_fd(), sub.as_fd()).map_err(|e| mount_error(m, "move_mount", e))?;
        for link in comount_links(&h.name) {
            match nix::unistd::symlinkat(h.name.as_str(), dir.as_fd(), link) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(mount_error(m, "symlinkat", e)),
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let change = MountAttrChange {
            set: MountAttrFlags::RDONLY,
            ..MountAttrChange::default()
        };
        set_mount_attr(dir.as_fd(), false, change)
            .map_err(|e| mount_error(m, "mount_setattr", e))?;
    }
    Ok(())
}

/// The tmpfs that holds the hierarchy directories (writable until they exist).
fn cgroup_tmpfs(m: &Mount) -> Result<OwnedFd, RootfsError> {
    let flags = MsFlags::from_bits_truncate(m.flags) & !MsFlags::MS_RDONLY;
    let fs = fs_open("tmpfs").map_err(|e| mount_error(m, "fsopen", e))?;
    for (key, value) in [("source", "tmpfs"), ("mode", "755")] {
        fs_set_string(fs.as_fd(), key, value).map_err(|e| mount_error(m, "fsconfig", e))?;
    }
    fs_create(fs.as_fd()).map_err(|e| mount_error(m, "fsconfig", e))?;
    fs_mount(fs.as_fd(), fs_attr_flags(flags)).map_err(|e| mount_error(m, "fsmount", e))
}

fn make_subdir(m: &Mount, dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, RootfsError> {
    match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(mount_error(m, "mkdirat", e)),
    }
    openat2(
        dir,
        Path::new(name),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW,
        Mode::empty(),
        Resolve::NO_SYMLINKS | Resolve::BENEATH,
    )
    .map_err(|e| mount_error(m, "openat2", e))
}

/// A detached mount of one hierarchy: a fresh cgroupfs inside a cgroup namespace, else a
/// bind of the host directory of the container's cgroup.
fn hierarchy_mount(
    ctx: &RootContext,
    m: &Mount,
    h: Option<&Hierarchy>,
    flags: MsFlags,
) -> Result<OwnedFd, RootfsError> {
    let attrs = fs_attr_flags(flags)
        | MountAttrFlags::NOSUID
        | MountAttrFlags::NODEV
        | MountAttrFlags::NOEXEC;
    match h {
        Some(h) if !ctx.in_cgroup_ns => bind_own_cgroup(ctx, m, h, attrs),
        // No hierarchy of ours to bind and no namespace to scope a fresh cgroupfs: a new
        // mount would show the host's whole tree, so show nothing instead.
        None if !ctx.in_cgroup_ns => {
            empty_readonly_tmpfs().map_err(|(syscall, e)| mount_error(m, syscall, e))
        }
        _ => {
            let fstype = h.map_or("cgroup2", |h| h.fstype.as_str());
            let fs = fs_open(fstype).map_err(|e| mount_error(m, "fsopen", e))?;
            fs_set_string(fs.as_fd(), "source", fstype)
                .map_err(|e| mount_error(m, "fsconfig", e))?;
            for option in h.map(|h| h.options.as_slice()).unwrap_or_default() {
                let set = match option.split_once('=') {
                    Some((key, value)) => fs_set_string(fs.as_fd(), key, value),
                    None => fs_set_flag(fs.as_fd(), option),
                };
                set.map_err(|e| mount_error(m, "fsconfig", e))?;
            }
            fs_create(fs.as_fd()).map_err(|e| mount_error(m, "fsconfig", e))?;
            fs_mount(fs.as_fd(), attrs).map_err(|e| mount_error(m, "fsmount", e))
        }
    }
}

/// A bind of the host directory of the container's cgroup. In a user namespace it is
/// always read-only, and a directory we may not see is replaced by an empty read-only
/// tmpfs rather than failing (CVE-2023-25809, runc df4eae457).
fn bind_own_cgroup(
    ctx: &RootContext,
    m: &Mount,
    h: &Hierarchy,
    attrs: MountAttrFlags,
) -> Result<OwnedFd, RootfsError> {
    let tree = match clone_tree_at_path(&h.host_dir(), false) {
        Ok(tree) => tree,
        Err(Errno::ENOENT | Errno::EACCES | Errno::EPERM) if ctx.in_user_ns => {
            return empty_readonly_tmpfs().map_err(|(syscall, e)| mount_error(m, syscall, e));
        }
        Err(e) => return Err(mount_error(m, "open_tree", e)),
    };
    let mut set = attrs;
    if ctx.in_user_ns {
        set |= MountAttrFlags::RDONLY;
    }
    let change = MountAttrChange {
        set,
        ..MountAttrChange::default()
    };
    set_mount_attr(tree.as_fd(), false, change).map_err(|e| mount_error(m, "mount_setattr", e))?;
    Ok(tree)
}

/// The host's cgroup hierarchies under `/sys/fs/cgroup` with the container's cgroups.
fn host_hierarchies() -> Result<Vec<Hierarchy>, RootfsError> {
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|e| RootfsError::ReadHostTable {
            path: PathBuf::from(path),
            source: errno_of(&e),
        })
    };
    Ok(parse_hierarchies(
        &read("/proc/self/mountinfo")?,
        &read("/proc/self/cgroup")?,
    ))
}

/// Join mountinfo's cgroup mounts under `/sys/fs/cgroup` with `/proc/self/cgroup`.
pub(crate) fn parse_hierarchies(mountinfo: &str, proc_cgroup: &str) -> Vec<Hierarchy> {
    let cgroups: Vec<(Vec<&str>, &str)> = proc_cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let list = controllers.split(',').filter(|c| !c.is_empty()).collect();
            Some((list, path))
        })
        .collect();
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < sep + 4 || fields.len() < 5 {
            continue;
        }
        let fstype = fields[sep + 1];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mount_point = unescape_mountinfo(fields[4]);
        let Ok(rel) = mount_point.strip_prefix(HOST_CGROUP_ROOT) else {
            continue;
        };
        let Some(name) = rel
            .to_str()
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(str::to_string)
        else {
            if fstype == "cgroup2" && rel.as_os_str().is_empty() {
                if let Some((_, path)) = cgroups.iter().find(|(c, _)| c.is_empty()) {
                    out.push(Hierarchy {
                        name: String::new(),
                        mount_point: mount_point.clone(),
                        mount_root: unescape_mountinfo(fields[3]),
                        fstype: fstype.to_string(),
                        options: Vec::new(),
                        cgroup_path: PathBuf::from(path),
                    });
                }
            }
            continue;
        };
        let superopts: Vec<&str> = fields[sep + 3].split(',').collect();
        let found = if fstype == "cgroup2" {
            cgroups.iter().find(|(c, _)| c.is_empty())
        } else {
            cgroups
                .iter()
                .find(|(c, _)| !c.is_empty() && c.iter().all(|ctl| superopts.contains(ctl)))
        };
        let Some((controllers, path)) = found else {
            continue;
        };
        out.push(Hierarchy {
            name,
            mount_point: mount_point.clone(),
            mount_root: unescape_mountinfo(fields[3]),
            fstype: fstype.to_string(),
            options: controllers.iter().map(|c| c.to_string()).collect(),
            cgroup_path: PathBuf::from(path),
        });
    }
    out
}

/// The links runc makes for a co-mounted hierarchy: `cpu,cpuacct` gets `cpu` and `cpuacct`.
pub(crate) fn comount_links(name: &str) -> Vec<&str> {
    if name.contains(',') {
        name.split(',').filter(|n| !n.contains('=')).collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 22 0:40 / /mnt/other rw - cgroup cgroup rw,pids
";
    const PROC_CGROUP: &str = "\
9:name=systemd:/system.slice/unitbox-x.scope
4:memory:/system.slice/unitbox-x.scope
2:cpu,cpuacct:/system.slice/unitbox-x.scope
1:pids:/system.slice/unitbox-x.scope
0::/system.slice/unitbox-x.scope
";

    #[test]
    fn hierarchies_join_mounts_and_cgroups() {
        let hs = parse_hierarchies(MOUNTINFO, PROC_CGROUP);
        let names: Vec<_> = hs.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(hs[0].options, ["cpu", "cpuacct"]);
        assert_eq!(hs[2].options, ["name=systemd"]);
        assert_eq!(hs[3].fstype, "cgroup2");
        assert_eq!(
            hs[1].host_dir(),
            Path::new("/sys/fs/cgroup/memory/system.slice/unitbox-x.scope")
        );
    }

    #[test]
    fn host_dir_strips_the_mount_root() {
        let h = Hierarchy {
            name: "memory".into(),
            mount_point: "/sys/fs/cgroup/memory".into(),
            mount_root: "/outer".into(),
            fstype: "cgroup".into(),
            options: vec!["memory".into()],
            cgroup_path: "/outer/inner".into(),
        };
        assert_eq!(h.host_dir(), Path::new("/sys/fs/cgroup/memory/inner"));
    }

    #[test]
    fn comounted_hierarchies_get_links() {
        assert_eq!(comount_links("cpu,cpuacct"), ["cpu", "cpuacct"]);
        assert!(comount_links("memory").is_empty());
    }

    #[test]
    fn pure_v2_host_is_one_hierarchy() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let hs = parse_hierarchies(mi, "0::/user.slice/x.scope\n");
        assert_eq!(hs.len(), 1);
        assert_eq!(
            hs[0].host_dir(),
            Path::new("/sys/fs/cgroup/user.slice/x.scope")
        );
    }
}
