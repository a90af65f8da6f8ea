//! The part of a scope unitbox runs itself: v1 hierarchies systemd does not manage
//! (freezer, cpuset, hugetlb, net_cls, net_prio, rdma) and the knobs without a unit
//! property.
//!
//! On v1 systemd only creates a unit's directory in the hierarchies of `CGROUP_MASK_V1`
//! (cpu, cpuacct, blkio, memory, devices, pids) and only writes the attributes its
//! properties map to. So a knob with no property is written here, in a file systemd never
//! touches, and `systemctl daemon-reload` keeps it. For unmanaged hierarchies the
//! same-named directory is created, joined and removed here, as runc does.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CgroupfsError, Controller, ScopePaths};

/// How long `remove_own_dirs` retries a busy directory (processes still leaving).
const RMDIR_PATIENCE: Duration = Duration::from_secs(2);

/// One file write into the scope's cgroup that no unit property can express.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupWrite {
    /// The v1 hierarchy, or `None` for the scope's v2 directory.
    pub controller: Option<Controller>,
    /// File name inside the scope's directory (`memory.swappiness`).
    pub file: String,
    /// The text written.
    pub value: String,
    /// The config field it comes from, for errors (`resources.memory_swappiness`).
    pub field: String,
}

impl CgroupWrite {
    /// A write into a v1 hierarchy.
    pub fn v1(
        controller: Controller,
        file: &str,
        value: impl ToString,
        field: &str,
    ) -> CgroupWrite {
        CgroupWrite {
            controller: Some(controller),
            file: file.to_owned(),
            value: value.to_string(),
            field: field.to_owned(),
        }
    }

    /// A write into the scope's v2 directory.
    pub fn v2(file: &str, value: impl ToString, field: &str) -> CgroupWrite {
        CgroupWrite {
            controller: None,
            file: file.to_owned(),
            value: value.to_string(),
            field: field.to_owned(),
        }
    }
}

/// Performs the writes in order, creating unmanaged v1 directories as needed.
pub fn apply(paths: &ScopePaths, writes: &[CgroupWrite]) -> Result<(), CgroupfsError> {
    for w in writes {
        let dir = match w.controller {
            None => paths.tracking(),
            Some(c) if paths.mode.is_v1() => {
                if !paths.is_mounted(c) {
                    return Err(CgroupfsError::NotMounted {
                        field: w.field.clone(),
                        controller: c.name(),
                        path: paths.hierarchy(c),
                    });
                }
                if c.is_managed_by_systemd_on_v1() {
                    paths.controller(c)
                } else {
                    ensure_own_dir(paths, c)?
                }
            }
            Some(_) => paths.tracking(),
        };
        write_file(&dir.join(&w.file), &w.value, &w.field)?;
    }
    Ok(())
}

/// Writes `value` to a cgroup file, naming the config field on failure.
pub fn write_file(path: &Path, value: &str, field: &str) -> Result<(), CgroupfsError> {
    fs::write(path, value).map_err(|source| CgroupfsError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        field: field.to_owned(),
        source,
    })
}

/// Creates the scope's directory in an unmanaged v1 hierarchy (and the slices above it).
///
/// cpuset directories start with empty `cpuset.cpus`/`cpuset.mems`, and joining one fails
/// with ENOSPC, so every level inherits its parent's sets while they are empty. That is
/// done for levels found as well as made: when two creates race on a shared slice, the
/// loser sees the directory before the winner has filled it, and must fill it itself
/// (writing the parent's value twice is harmless).
pub fn ensure_own_dir(
    paths: &ScopePaths,
    controller: Controller,
) -> Result<PathBuf, CgroupfsError> {
    let mut dir = paths.hierarchy(controller);
    for part in paths.cgroup.split('/').filter(|p| !p.is_empty()) {
        let parent = dir.clone();
        dir.push(part);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupfsError::Mkdir { path: dir, source }),
        }
        if controller == Controller::Cpuset {
            inherit_cpuset(&parent, &dir)?;
        }
    }
    Ok(dir)
}

/// Copies `cpuset.cpus` and `cpuset.mems` from `parent` into `dir` where `dir`'s are empty.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupfsError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if !super::read_string(&dir.join(file))?.trim().is_empty() {
            continue;
        }
        let inherited = super::read_string(&parent.join(file))?;
        write_file(
            &dir.join(file),
            inherited.trim(),
            "cgroup (cpuset inheritance)",
        )?;
    }
    Ok(())
}

/// Puts `pid` into the scope's directory of every mounted v1 hierarchy it is not in yet;
/// no-op on v2.
///
/// That is always the freezer and cpuset (systemd never manages them), and any hierarchy
/// systemd skipped on this host: with `cpu` and `cpuacct` mounted apart, systemd 252 only
/// realizes the unit in `cpu`, so without this the container's CPU time would be
/// uncounted. Reading `/proc/<pid>/cgroup` makes this work for `exec` from another
/// process too, with no record of what was joined before.
pub fn join_own_dirs(paths: &ScopePaths, pid: i32) -> Result<(), CgroupfsError> {
    if !paths.mode.is_v1() {
        return Ok(());
    }
    let proc_cgroup = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let membership = super::read_string(&proc_cgroup)?;
    for c in Controller::ALL {
        if !paths.is_mounted(c) || current_path(&membership, c) == Some(paths.cgroup.as_str()) {
            continue;
        }
        let dir = ensure_own_dir(paths, c)?;
        write_file(&dir.join("cgroup.procs"), &pid.to_string(), "cgroup.procs")?;
    }
    Ok(())
}

/// The path of controller `c` in a `/proc/<pid>/cgroup` text (`4:memory:/a/b`).
fn current_path(membership: &str, c: Controller) -> Option<&str> {
    membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|name| name == c.name())
            .then_some(path)
    })
}

/// Removes the scope's directory, children first, from every mounted v1 hierarchy:
/// those unitbox made, and any systemd left behind. Call it once the unit is stopped.
/// Missing directories are fine: removal is idempotent.
pub fn remove_own_dirs(paths: &ScopePaths) -> Result<(), CgroupfsError> {
    if !paths.mode.is_v1() {
        return Ok(());
    }
    for c in Controller::ALL {
        if paths.is_mounted(c) {
            remove_tree(&paths.controller(c))?;
        }
    }
    Ok(())
}

/// Removes a cgroup directory and its sub-cgroups, retrying while the kernel still counts
/// exiting tasks in it (EBUSY).
pub fn remove_tree(dir: &Path) -> Result<(), CgroupfsError> {
    let children = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupfsError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let children: Vec<PathBuf> = children;
    for child in children {
        remove_tree(&child)?;
    }
    let start = Instant::now();
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_PATIENCE => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupfsError::Rmdir {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_lines() {
        let text = "9:name=systemd:/a.scope\n4:memory:/a.scope\n2:cpuacct:/\n1:cpu,cpuacct:/b\n0::/a.scope\n";
        assert_eq!(current_path(text, Controller::Memory), Some("/a.scope"));
        assert_eq!(current_path(text, Controller::Cpuacct), Some("/"));
        assert_eq!(current_path(text, Controller::Cpu), Some("/b"));
        assert_eq!(current_path(text, Controller::Freezer), None);
    }
}
