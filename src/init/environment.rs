//! The container process's environment and executable lookup.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// runc's `PATH` when the process's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment handed to `execve`: `env` with later duplicates winning (runc), plus
/// `PATH` (runc's default) and `HOME` (from `/etc/passwd`) when absent.
pub fn complete(env: &[String], home: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len() + 2);
    for entry in env {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(existing) => existing.clone_from(entry),
            None => out.push(entry.clone()),
        }
    }
    let has = |out: &[String], key: &str| {
        out.iter()
            .any(|e| e.starts_with(key) && e[key.len()..].starts_with('='))
    };
    if !has(&out, "PATH") {
        out.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&out, "HOME") {
        out.push(format!("HOME={}", home.display()));
    }
    out
}

/// The value of `key` in a `KEY=value` list.
pub fn lookup<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
}

/// Finds `program` like `execvp`: a name with `/` is taken as is, others are searched in
/// `path`. Returns the first executable regular file.
pub fn find_executable(program: &str, path: &str) -> Option<PathBuf> {
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return runnable(&p).then_some(p);
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| runnable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_duplicates_follow_runc() {
        let table: &[(&[&str], &str, &[&str])] = &[
            (
                &[],
                "/root",
                &[
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/root",
                ],
            ),
            (&["PATH=/bin", "A=1"], "/", &["PATH=/bin", "A=1", "HOME=/"]),
            (
                &["HOME=/x", "A=1", "A=2"],
                "/root",
                &[
                    "HOME=/x",
                    "A=2",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ],
            ),
            (
                &["PATHX=1", "HOMEY=2"],
                "/h",
                &[
                    "PATHX=1",
                    "HOMEY=2",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/h",
                ],
            ),
        ];
        for (input, home, want) in table {
            assert_eq!(
                complete(&env(input), Path::new(home)),
                env(want),
                "env {input:?}"
            );
        }
    }

    #[test]
    fn lookup_takes_the_last_value() {
        let e = env(&["PATH=/a", "X=1", "PATH=/b"]);
        assert_eq!(lookup(&e, "PATH"), Some("/b"));
        assert_eq!(lookup(&e, "PAT"), None);
    }

    #[test]
    fn executables_are_found_in_path_order() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin:/usr/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            find_executable("/bin/sh", ""),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_executable("no-such-program-xyz", DEFAULT_PATH), None);
        // Not executable.
        assert_eq!(find_executable("/etc/passwd", ""), None);
    }
}
