//! The processes of a scope: `cgroup.procs` of its directory and every sub-cgroup
//! (a delegated scope may hold a container that makes its own sub-cgroups).

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::{read_string, CgroupfsError};

/// Pids (host namespace) of every process in the cgroup at `dir` and below, sorted.
/// A missing directory means an empty cgroup.
pub fn all(dir: &Path) -> Result<Vec<i32>, CgroupfsError> {
    let mut pids = Vec::new();
    collect(dir, &mut pids)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn collect(dir: &Path, pids: &mut Vec<i32>) -> Result<(), CgroupfsError> {
    let procs = dir.join("cgroup.procs");
    let text = match fs::read_to_string(&procs) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => read_string(&procs)?,
    };
    pids.extend(parse_procs(&text));
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupfsError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&entry.path(), pids)?;
        }
    }
    Ok(())
}

fn parse_procs(text: &str) -> impl Iterator<Item = i32> + '_ {
    text.lines().filter_map(|l| l.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procs_parse() {
        assert_eq!(
            parse_procs("1\n22\n\n333\n").collect::<Vec<_>>(),
            vec![1, 22, 333]
        );
        assert_eq!(
            all(Path::new("/nonexistent/cgroup")).unwrap(),
            Vec::<i32>::new()
        );
    }
}
