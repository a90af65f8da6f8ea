//! The OCI process's scheduling attributes: `process.scheduler` (`sched_setattr`),
//! `process.ioPriority` (`ioprio_set`) and `process.execCPUAffinity` (`sched_setaffinity`,
//! `initial` when init starts, `final` just before `execve`), as runc applies them.
//!
//! The config is validated already (names, ranges, cpu-list syntax); what can still fail
//! is the kernel refusing, e.g. a realtime or deadline policy without `CAP_SYS_NICE` in a
//! user namespace. That is an error naming the field, never a silent drop.

use crate::config::{IoPriority, Scheduler};
use crate::sys::sched::{self, SchedAttr};

/// A scheduling attribute the kernel refused or the config could not express.
#[derive(Debug, thiserror::Error)]
pub enum SchedulingError {
    /// `sched_setattr` failed.
    #[error("apply `process.scheduler` policy `{policy}`")]
    Scheduler {
        /// The OCI policy name.
        policy: String,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `ioprio_set` failed.
    #[error("apply `process.ioPriority` class `{class}` priority {priority}")]
    IoPriority {
        /// The OCI class name.
        class: String,
        /// The level.
        priority: i32,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// A name the kernel has no number for (validation should have refused it).
    #[error("{field}: unknown value `{value}`")]
    Unknown {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A cpu list that does not parse (validation should have refused it).
    #[error("{field}: `{list}` is not a list like `0-3,7`")]
    CpuList {
        /// `process.execCPUAffinity.initial` or `.final`.
        field: &'static str,
        /// The list.
        list: String,
    },
    /// `sched_setaffinity` failed.
    #[error("apply `{field}` cpus `{list}`")]
    Affinity {
        /// `process.execCPUAffinity.initial` or `.final`.
        field: &'static str,
        /// The list.
        list: String,
        /// Cause.
        #[source]
        source: nix::Error,
    },
}

/// `process.scheduler` through `sched_setattr`.
pub fn apply_scheduler(s: &Scheduler) -> Result<(), SchedulingError> {
    let attr = sched_attr(s)?;
    sched::set_attr(&attr).map_err(|source| SchedulingError::Scheduler {
        policy: s.policy.clone(),
        source,
    })
}

/// `process.ioPriority` through `ioprio_set`.
pub fn apply_io_priority(io: &IoPriority) -> Result<(), SchedulingError> {
    let class = match io.class.as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => {
            return Err(SchedulingError::Unknown {
                field: "process.ioPriority.class",
                value: other.to_owned(),
            })
        }
    };
    let level = u32::try_from(io.priority).map_err(|_| SchedulingError::Unknown {
        field: "process.ioPriority.priority",
        value: io.priority.to_string(),
    })?;
    sched::set_io_priority(class, level).map_err(|source| SchedulingError::IoPriority {
        class: io.class.clone(),
        priority: io.priority,
        source,
    })
}

/// One side of `process.execCPUAffinity` (`field` names it) through `sched_setaffinity`.
pub fn apply_affinity(field: &'static str, list: &str) -> Result<(), SchedulingError> {
    let cpus = parse_cpu_list(list).ok_or_else(|| SchedulingError::CpuList {
        field,
        list: list.to_owned(),
    })?;
    sched::set_affinity(&cpus).map_err(|source| SchedulingError::Affinity {
        field,
        list: list.to_owned(),
        source,
    })
}

/// The numeric `sched_attr` of an OCI scheduler object.
fn sched_attr(s: &Scheduler) -> Result<SchedAttr, SchedulingError> {
    let policy = match s.policy.as_str() {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        other => {
            return Err(SchedulingError::Unknown {
                field: "process.scheduler.policy",
                value: other.to_owned(),
            })
        }
    };
    let mut flags = 0;
    for flag in &s.flags {
        flags |= match flag.as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            other => {
                return Err(SchedulingError::Unknown {
                    field: "process.scheduler.flags",
                    value: other.to_owned(),
                })
            }
        };
    }
    let priority = u32::try_from(s.priority).map_err(|_| SchedulingError::Unknown {
        field: "process.scheduler.priority",
        value: s.priority.to_string(),
    })?;
    Ok(SchedAttr {
        policy,
        flags,
        nice: s.nice,
        priority,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
    })
}

/// `0-3,7` → `[0, 1, 2, 3, 7]`; `None` when it does not parse.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: usize = lo.trim().parse().ok()?;
        let hi: usize = hi.trim().parse().ok()?;
        if lo > hi {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        let table: &[(&str, Option<Vec<usize>>)] = &[
            ("0", Some(vec![0])),
            ("0-3,7", Some(vec![0, 1, 2, 3, 7])),
            ("1, 3-4", Some(vec![1, 3, 4])),
            ("3-1", None),
            ("a", None),
            ("", None),
        ];
        for (list, want) in table {
            assert_eq!(&parse_cpu_list(list), want, "{list}");
        }
    }

    #[test]
    fn scheduler_names_become_numbers() {
        let s = Scheduler {
            policy: "SCHED_RR".into(),
            priority: 5,
            flags: vec![
                "SCHED_FLAG_RESET_ON_FORK".into(),
                "SCHED_FLAG_KEEP_PARAMS".into(),
            ],
            ..Default::default()
        };
        let attr = sched_attr(&s).unwrap();
        assert_eq!((attr.policy, attr.priority, attr.flags), (2, 5, 0x11));
        let bad = Scheduler {
            policy: "SCHED_NOPE".into(),
            ..Default::default()
        };
        assert!(sched_attr(&bad)
            .unwrap_err()
            .to_string()
            .contains("process.scheduler.policy"));
    }
}
