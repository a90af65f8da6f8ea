//! systemd's own counters of a scope (`MemoryCurrent`, `CPUUsageNSec`, `TasksCurrent`,
//! `IO{Read,Write}{Bytes,Operations}`) and how they complete the cgroup files' [`Stats`].
//!
//! Which source wins: the cgroup files. They are what systemd itself reads, at the same
//! moment as the rest of the [`Stats`], and they carry detail (per cpu, per device) the
//! properties do not. A property only fills a counter the files left at zero or empty:
//! e.g. IO bytes on cgroup v1, where `blkio.throttle.*` stay empty on devices without a
//! throttling rule, or when a hierarchy is not mounted. Per-device IO entries filled this
//! way carry device `0:0` (systemd sums all devices).

use std::collections::HashMap;

use zbus::OwnedVariant;

use crate::cgroups::{BlkioEntry, Stats};

/// The accounting properties of a scope unit; `None` is systemd's "unavailable"
/// (`UINT64_MAX`: accounting off, controller missing, or unit gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitAccounting {
    /// `MemoryCurrent`, bytes.
    pub memory_current: Option<u64>,
    /// `CPUUsageNSec`, nanoseconds.
    pub cpu_usage_nsec: Option<u64>,
    /// `TasksCurrent`.
    pub tasks_current: Option<u64>,
    /// `IOReadBytes`.
    pub io_read_bytes: Option<u64>,
    /// `IOWriteBytes`.
    pub io_write_bytes: Option<u64>,
    /// `IOReadOperations`.
    pub io_read_operations: Option<u64>,
    /// `IOWriteOperations`.
    pub io_write_operations: Option<u64>,
}

impl UnitAccounting {
    /// The property names read, in one `GetAll` of the Scope interface.
    pub const PROPERTIES: [&'static str; 7] = [
        "MemoryCurrent",
        "CPUUsageNSec",
        "TasksCurrent",
        "IOReadBytes",
        "IOWriteBytes",
        "IOReadOperations",
        "IOWriteOperations",
    ];

    /// Picks the counters out of a `GetAll` answer; missing, mistyped and `UINT64_MAX`
    /// values are `None`.
    pub fn from_properties(all: &HashMap<String, OwnedVariant>) -> UnitAccounting {
        let get = |name: &str| {
            all.get(name)
                .and_then(|v| u64::try_from(v).ok())
                .filter(|&n| n != u64::MAX)
        };
        UnitAccounting {
            memory_current: get("MemoryCurrent"),
            cpu_usage_nsec: get("CPUUsageNSec"),
            tasks_current: get("TasksCurrent"),
            io_read_bytes: get("IOReadBytes"),
            io_write_bytes: get("IOWriteBytes"),
            io_read_operations: get("IOReadOperations"),
            io_write_operations: get("IOWriteOperations"),
        }
    }

    /// Fills the counters `stats` (read from the files) left at zero or empty.
    pub fn complete(&self, stats: &mut Stats) {
        fill(&mut stats.memory.usage.usage, self.memory_current);
        fill(&mut stats.cpu.total_usage, self.cpu_usage_nsec);
        fill(&mut stats.pids.current, self.tasks_current);
        if stats.blkio.io_service_bytes_recursive.is_empty() {
            stats.blkio.io_service_bytes_recursive =
                all_devices(self.io_read_bytes, self.io_write_bytes);
        }
        if stats.blkio.io_serviced_recursive.is_empty() {
            stats.blkio.io_serviced_recursive =
                all_devices(self.io_read_operations, self.io_write_operations);
        }
    }
}

fn fill(counter: &mut u64, property: Option<u64>) {
    if *counter == 0 {
        if let Some(v) = property {
            *counter = v;
        }
    }
}

/// `Read`/`Write` entries for device `0:0` (all devices), for the values systemd has.
fn all_devices(read: Option<u64>, write: Option<u64>) -> Vec<BlkioEntry> {
    [("Read", read), ("Write", write)]
        .into_iter()
        .filter_map(|(op, v)| {
            v.map(|value| BlkioEntry {
                major: 0,
                minor: 0,
                op: op.to_owned(),
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pairs: &[(&str, u64)]) -> HashMap<String, OwnedVariant> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OwnedVariant::from(*v)))
            .collect()
    }

    #[test]
    fn unavailable_and_missing_are_none() {
        let a = UnitAccounting::from_properties(&answer(&[
            ("MemoryCurrent", 4096),
            ("CPUUsageNSec", u64::MAX),
            ("IOReadBytes", 512),
        ]));
        assert_eq!(a.memory_current, Some(4096));
        assert_eq!(a.cpu_usage_nsec, None);
        assert_eq!(a.tasks_current, None);
        assert_eq!(a.io_read_bytes, Some(512));
        assert_eq!(a.io_write_bytes, None);
    }

    #[test]
    fn files_win_properties_fill_gaps() {
        let a = UnitAccounting {
            memory_current: Some(1),
            cpu_usage_nsec: Some(2),
            tasks_current: Some(3),
            io_read_bytes: Some(10),
            io_write_bytes: Some(20),
            io_read_operations: None,
            io_write_operations: Some(5),
        };
        let mut s = Stats::default();
        s.memory.usage.usage = 100;
        s.blkio.io_serviced_recursive = vec![BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 7,
        }];
        a.complete(&mut s);
        assert_eq!(s.memory.usage.usage, 100, "file value kept");
        assert_eq!(s.cpu.total_usage, 2);
        assert_eq!(s.pids.current, 3);
        let bytes: Vec<_> = s
            .blkio
            .io_service_bytes_recursive
            .iter()
            .map(|e| (e.major, e.minor, e.op.as_str(), e.value))
            .collect();
        assert_eq!(bytes, [(0, 0, "Read", 10), (0, 0, "Write", 20)]);
        assert_eq!(s.blkio.io_serviced_recursive.len(), 1, "file entries kept");
    }

    #[test]
    fn nothing_available_leaves_stats_alone() {
        let mut s = Stats::default();
        UnitAccounting::default().complete(&mut s);
        assert!(s.blkio.io_service_bytes_recursive.is_empty());
        assert_eq!(s.cpu.total_usage, 0);
    }
}
