//! Resource limits of the container process (`setrlimit`).

use crate::config::Rlimit;
use crate::sys::rlimit;

/// A limit that cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// A resource number outside `RLIMIT_*`.
    #[error("rlimits: unknown resource number {0}")]
    Unknown(i32),
    /// soft above hard.
    #[error("rlimits: {name} soft limit {soft} is above the hard limit {hard}")]
    SoftAboveHard {
        /// `RLIMIT_*` name.
        name: &'static str,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
    },
    /// `prlimit` failed (raising a hard limit needs `CAP_SYS_RESOURCE`).
    #[error("set {name} to {soft}/{hard}")]
    Set {
        /// `RLIMIT_*` name.
        name: &'static str,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
        /// Cause.
        #[source]
        source: nix::Error,
    },
}

/// `RLIMIT_*` names by number (x86-64/aarch64 numbering).
const NAMES: [&str; rlimit::RLIMIT_COUNT as usize] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// The `RLIMIT_*` name of a resource number.
pub fn name(resource: i32) -> Result<&'static str, RlimitError> {
    usize::try_from(resource)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .ok_or(RlimitError::Unknown(resource))
}

/// Checks one limit without applying it.
pub fn check(limit: &Rlimit) -> Result<&'static str, RlimitError> {
    let name = name(limit.resource)?;
    if limit.soft > limit.hard {
        return Err(RlimitError::SoftAboveHard {
            name,
            soft: limit.soft,
            hard: limit.hard,
        });
    }
    Ok(name)
}

/// Applies `limits` in order (a later entry for one resource wins).
pub fn apply(limits: &[Rlimit]) -> Result<(), RlimitError> {
    for limit in limits {
        let name = check(limit)?;
        rlimit::set_rlimit(limit.resource, limit.soft, limit.hard).map_err(|source| {
            RlimitError::Set {
                name,
                soft: limit.soft,
                hard: limit.hard,
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_numbers_match_libc() {
        let table = [
            (libc::RLIMIT_CPU, "RLIMIT_CPU"),
            (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
            (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
            (libc::RLIMIT_AS, "RLIMIT_AS"),
            (libc::RLIMIT_CORE, "RLIMIT_CORE"),
            (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
            (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
        ];
        for (number, want) in table {
            assert_eq!(name(number as i32).unwrap(), want, "resource {number}");
        }
        assert!(matches!(name(16), Err(RlimitError::Unknown(16))));
        assert!(matches!(name(-1), Err(RlimitError::Unknown(-1))));
    }

    #[test]
    fn soft_above_hard_is_refused_before_any_syscall() {
        let bad = Rlimit {
            resource: libc::RLIMIT_NOFILE as i32,
            soft: 2048,
            hard: 1024,
        };
        assert_eq!(
            apply(&[bad]).unwrap_err().to_string(),
            "rlimits: RLIMIT_NOFILE soft limit 2048 is above the hard limit 1024"
        );
    }
}
