//! Users and groups: resolving a process's `user` in the container's `/etc/passwd` and
//! `/etc/group`, then switching to it.
//!
//! Mirrors runc's `libcontainer/user.GetExecUser`: the user is `user[:group]`, each part
//! a name or a number; a number need not exist in the files (it gets home `/`), a name
//! must. Without an explicit group the supplementary groups are those of `/etc/group`
//! that list the user; the process's additional groups are added to them.

use std::path::PathBuf;

use nix::unistd::{Gid, Uid};

/// A user spec that cannot be resolved, or a switch that failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A user name absent from `/etc/passwd`.
    #[error("find user `{0}` in `/etc/passwd`")]
    NoSuchUser(String),
    /// A group name absent from `/etc/group`.
    #[error("find group `{0}` in `/etc/group`")]
    NoSuchGroup(String),
    /// A user spec with an empty part (`:5`, `bob:`).
    #[error("user `{0}`: empty user or group")]
    Malformed(String),
    /// `setgroups` is denied in this user namespace, but groups were asked for.
    #[error("set supplementary groups {0:?}: `setgroups` is denied in this user namespace")]
    SetgroupsDenied(Vec<u32>),
    /// A syscall of the switch failed.
    #[error("`{call}`")]
    Switch {
        /// `setgroups`, `setresgid`, `setresuid`.
        call: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// uid in the container.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids (sorted, without duplicates).
    pub groups: Vec<u32>,
    /// Home directory (`HOME` when the environment lacks one).
    pub home: PathBuf,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: f.first()?,
            gid: f.get(2)?.parse().ok()?,
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` (`user[:group]`, empty = root) and `additional` groups against the
/// contents of `/etc/passwd` and `/etc/group` (empty strings when the files are absent).
pub fn resolve(
    spec: &str,
    additional: &[String],
    passwd: &str,
    group: &str,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if (user_part.is_empty() && !spec.is_empty()) || group_part == Some("") {
        return Err(UserError::Malformed(spec.to_owned()));
    }
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    let (uid, mut gid, home, name) = match user_part.parse::<u32>() {
        Ok(uid) => match passwd_entries(passwd).find(|e| e.uid == uid) {
            Some(e) => (e.uid, e.gid, e.home, Some(e.name)),
            // A number without a passwd entry: runc's defaults.
            None => (uid, 0, "/", None),
        },
        Err(_) => {
            let e = passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::NoSuchUser(user_part.to_owned()))?;
            (e.uid, e.gid, e.home, Some(e.name))
        }
    };

    let mut groups = Vec::new();
    match group_part {
        Some(g) => gid = resolve_group(g, group)?,
        None => {
            if let Some(name) = name {
                groups.extend(
                    group_entries(group)
                        .filter(|e| e.members.contains(&name))
                        .map(|e| e.gid),
                );
            }
        }
    }
    for extra in additional {
        groups.push(resolve_group(extra, group)?);
    }
    groups.sort_unstable();
    groups.dedup();
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home: PathBuf::from(if home.is_empty() { "/" } else { home }),
    })
}

/// A group name or number.
fn resolve_group(spec: &str, group: &str) -> Result<u32, UserError> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(gid);
    }
    group_entries(group)
        .find(|e| e.name == spec)
        .map(|e| e.gid)
        .ok_or_else(|| UserError::NoSuchGroup(spec.to_owned()))
}

/// Reads the container's `/etc/passwd` and `/etc/group` (after `pivot_root`) and resolves.
pub fn resolve_in_container(spec: &str, additional: &[String]) -> Result<ExecUser, UserError> {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    resolve(spec, additional, &read("/etc/passwd"), &read("/etc/group"))
}

/// Whether `setgroups(2)` is denied in our user namespace (`/proc/self/setgroups`).
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// Switches to `user`: supplementary groups, then gid, then uid (each for real, effective
/// and saved ids). The caller keeps capabilities across with `PR_SET_KEEPCAPS`.
pub fn switch(user: &ExecUser) -> Result<(), UserError> {
    let sys = |call| move |source| UserError::Switch { call, source };
    if setgroups_denied() {
        if !user.groups.is_empty() {
            return Err(UserError::SetgroupsDenied(user.groups.clone()));
        }
    } else {
        let gids: Vec<Gid> = user.groups.iter().copied().map(Gid::from_raw).collect();
        nix::unistd::setgroups(&gids).map_err(sys("setgroups"))?;
    }
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(sys("setresgid"))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(sys("setresuid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # comment\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        bob:x:1000:1000:Bob:/home/bob:/bin/sh\n\
        nohome:x:1001:1001::\n";
    const GROUP: &str = "root:x:0:\n\
        wheel:x:10:bob,root\n\
        audio:x:29:bob\n\
        bob:x:1000:\n\
        staff:x:50:\n";

    fn user(uid: u32, gid: u32, groups: &[u32], home: &str) -> ExecUser {
        ExecUser {
            uid,
            gid,
            groups: groups.to_vec(),
            home: PathBuf::from(home),
        }
    }

    #[test]
    fn user_specs_resolve_like_runc() {
        let table: &[(&str, &[&str], ExecUser)] = &[
            ("", &[], user(0, 0, &[10], "/root")),
            ("root", &[], user(0, 0, &[10], "/root")),
            ("bob", &[], user(1000, 1000, &[10, 29], "/home/bob")),
            ("1000", &[], user(1000, 1000, &[10, 29], "/home/bob")),
            ("bob:staff", &[], user(1000, 50, &[], "/home/bob")),
            ("bob:50", &[], user(1000, 50, &[], "/home/bob")),
            ("1000:7", &["staff"], user(1000, 7, &[50], "/home/bob")),
            ("4242", &[], user(4242, 0, &[], "/")),
            (
                "4242:4343",
                &["99", "audio"],
                user(4242, 4343, &[29, 99], "/"),
            ),
            ("nohome", &[], user(1001, 1001, &[], "/")),
            ("bob", &["wheel"], user(1000, 1000, &[10, 29], "/home/bob")),
        ];
        for (spec, extra, want) in table {
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                &resolve(spec, &extra, PASSWD, GROUP).unwrap(),
                want,
                "user {spec:?} + {extra:?}"
            );
        }
    }

    #[test]
    fn unknown_names_and_malformed_specs_are_refused() {
        let no = |spec: &str, extra: &[&str]| {
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            resolve(spec, &extra, PASSWD, GROUP)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(no("alice", &[]), "find user `alice` in `/etc/passwd`");
        assert_eq!(
            no("bob:nogroup", &[]),
            "find group `nogroup` in `/etc/group`"
        );
        assert_eq!(
            no("bob", &["nogroup"]),
            "find group `nogroup` in `/etc/group`"
        );
        assert_eq!(no(":5", &[]), "user `:5`: empty user or group");
        assert_eq!(no("bob:", &[]), "user `bob:`: empty user or group");
    }

    #[test]
    fn missing_files_still_allow_numeric_users() {
        assert_eq!(resolve("5:6", &[], "", "").unwrap(), user(5, 6, &[], "/"));
        assert_eq!(resolve("", &[], "", "").unwrap(), user(0, 0, &[], "/"));
        assert!(resolve("bob", &[], "", "").is_err());
    }
}
