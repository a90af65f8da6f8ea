//! Resource counters of a scope, read from its cgroup files (v1 and v2) into
//! libcontainer's `Stats` (runc fs/*.go and fs2/*.go `GetStats`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::cgroups::{BlkioEntry, HugetlbStats, MemoryData, Stats};

use super::{CgroupMode, CgroupfsError, Controller, ScopePaths};

/// USER_HZ, the unit of `cpuacct.stat` (always 100 on Linux).
const USER_HZ: u64 = 100;
const NS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;

/// Reads every counter the host layout offers.
pub fn read(paths: &ScopePaths) -> Result<Stats, CgroupfsError> {
    match paths.mode {
        CgroupMode::Unified => read_v2(&paths.tracking()),
        _ => read_v1(paths),
    }
}

/// A file that may be missing: not on this kernel (no swap accounting, no hugetlb…), or
/// gone because the cgroup was removed while we read (ENOENT, ENODEV).
fn optional_string(path: &Path) -> Result<Option<String>, CgroupfsError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENODEV) =>
        {
            Ok(None)
        }
        Err(source) => Err(CgroupfsError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn optional_u64(path: &Path) -> Result<Option<u64>, CgroupfsError> {
    let Some(text) = optional_string(path)? else {
        return Ok(None);
    };
    let t = text.trim();
    if t == "max" {
        return Ok(Some(u64::MAX));
    }
    t.parse().map(Some).map_err(|_| CgroupfsError::Parse {
        path: path.to_owned(),
        content: t.to_owned(),
    })
}

fn read_v1(paths: &ScopePaths) -> Result<Stats, CgroupfsError> {
    let mut s = Stats::default();
    let cpuacct = paths.controller(Controller::Cpuacct);
    s.cpu.total_usage = optional_u64(&cpuacct.join("cpuacct.usage"))?.unwrap_or(0);
    if let Some(text) = optional_string(&cpuacct.join("cpuacct.usage_percpu"))? {
        s.cpu.percpu_usage = text
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
    }
    if let Some(text) = optional_string(&cpuacct.join("cpuacct.stat"))? {
        let kv = key_values(&text);
        s.cpu.usage_in_usermode = kv.get("user").copied().unwrap_or(0) * NS_PER_TICK;
        s.cpu.usage_in_kernelmode = kv.get("system").copied().unwrap_or(0) * NS_PER_TICK;
    }
    if let Some(text) = optional_string(&paths.controller(Controller::Cpu).join("cpu.stat"))? {
        let kv = key_values(&text);
        s.cpu.throttling_periods = kv.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
    }

    let mem = paths.controller(Controller::Memory);
    s.memory.usage = v1_memory_data(&mem, "memory")?;
    s.memory.swap_usage = v1_memory_data(&mem, "memory.memsw")?;
    s.memory.kernel_usage = v1_memory_data(&mem, "memory.kmem")?;
    if let Some(text) = optional_string(&mem.join("memory.stat"))? {
        let kv = key_values(&text);
        s.memory.cache = kv
            .get("total_cache")
            .or(kv.get("cache"))
            .copied()
            .unwrap_or(0);
        s.memory.rss = kv.get("total_rss").or(kv.get("rss")).copied().unwrap_or(0);
        s.memory.stats = kv;
    }
    if let Some(text) = optional_string(&mem.join("memory.oom_control"))? {
        s.memory.oom_kill = key_values(&text).get("oom_kill").copied().unwrap_or(0);
    }

    let pids = paths.controller(Controller::Pids);
    s.pids.current = optional_u64(&pids.join("pids.current"))?.unwrap_or(0);
    s.pids.limit = optional_u64(&pids.join("pids.max"))?
        .filter(|&m| m != u64::MAX)
        .unwrap_or(0);

    let blkio = paths.controller(Controller::Blkio);
    if let Some(text) = optional_string(&blkio.join("blkio.throttle.io_service_bytes_recursive"))? {
        s.blkio.io_service_bytes_recursive = parse_v1_blkio(&text);
    }
    if let Some(text) = optional_string(&blkio.join("blkio.throttle.io_serviced_recursive"))? {
        s.blkio.io_serviced_recursive = parse_v1_blkio(&text);
    }

    let hugetlb = paths.controller(Controller::Hugetlb);
    if paths.is_mounted(Controller::Hugetlb) {
        for size in hugepage_sizes() {
            let prefix = format!("hugetlb.{size}");
            s.hugetlb.insert(
                size,
                HugetlbStats {
                    usage: optional_u64(&hugetlb.join(format!("{prefix}.usage_in_bytes")))?
                        .unwrap_or(0),
                    max_usage: optional_u64(&hugetlb.join(format!("{prefix}.max_usage_in_bytes")))?
                        .unwrap_or(0),
                    failcnt: optional_u64(&hugetlb.join(format!("{prefix}.failcnt")))?.unwrap_or(0),
                },
            );
        }
    }
    Ok(s)
}

/// `<prefix>.usage_in_bytes`, `.max_usage_in_bytes`, `.failcnt`, `.limit_in_bytes`.
fn v1_memory_data(dir: &Path, prefix: &str) -> Result<MemoryData, CgroupfsError> {
    Ok(MemoryData {
        usage: optional_u64(&dir.join(format!("{prefix}.usage_in_bytes")))?.unwrap_or(0),
        max_usage: optional_u64(&dir.join(format!("{prefix}.max_usage_in_bytes")))?.unwrap_or(0),
        failcnt: optional_u64(&dir.join(format!("{prefix}.failcnt")))?.unwrap_or(0),
        limit: optional_u64(&dir.join(format!("{prefix}.limit_in_bytes")))?.unwrap_or(u64::MAX),
    })
}

fn read_v2(dir: &Path) -> Result<Stats, CgroupfsError> {
    let mut s = Stats::default();
    if let Some(text) = optional_string(&dir.join("cpu.stat"))? {
        let kv = key_values(&text);
        let us = |k: &str| kv.get(k).copied().unwrap_or(0) * 1000;
        s.cpu.total_usage = us("usage_usec");
        s.cpu.usage_in_usermode = us("user_usec");
        s.cpu.usage_in_kernelmode = us("system_usec");
        s.cpu.throttling_periods = kv.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttled_time = us("throttled_usec");
    }
    let events = optional_string(&dir.join("memory.events"))?
        .map(|t| key_values(&t))
        .unwrap_or_default();
    s.memory.usage = MemoryData {
        usage: optional_u64(&dir.join("memory.current"))?.unwrap_or(0),
        max_usage: optional_u64(&dir.join("memory.peak"))?.unwrap_or(0),
        failcnt: events.get("max").copied().unwrap_or(0),
        limit: optional_u64(&dir.join("memory.max"))?.unwrap_or(u64::MAX),
    };
    s.memory.swap_usage = MemoryData {
        usage: optional_u64(&dir.join("memory.swap.current"))?.unwrap_or(0),
        max_usage: optional_u64(&dir.join("memory.swap.peak"))?.unwrap_or(0),
        failcnt: 0,
        limit: optional_u64(&dir.join("memory.swap.max"))?.unwrap_or(u64::MAX),
    };
    s.memory.oom_kill = events.get("oom_kill").copied().unwrap_or(0);
    if let Some(text) = optional_string(&dir.join("memory.stat"))? {
        let kv = key_values(&text);
        s.memory.cache = kv.get("file").copied().unwrap_or(0);
        s.memory.rss = kv.get("anon").copied().unwrap_or(0);
        s.memory.stats = kv;
    }
    s.pids.current = optional_u64(&dir.join("pids.current"))?.unwrap_or(0);
    s.pids.limit = optional_u64(&dir.join("pids.max"))?
        .filter(|&m| m != u64::MAX)
        .unwrap_or(0);
    if let Some(text) = optional_string(&dir.join("io.stat"))? {
        let (bytes, ops) = parse_v2_io(&text);
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ops;
    }
    for size in hugepage_sizes() {
        if let Some(usage) = optional_u64(&dir.join(format!("hugetlb.{size}.current")))? {
            let failcnt = optional_string(&dir.join(format!("hugetlb.{size}.events")))?
                .map(|t| key_values(&t).get("max").copied().unwrap_or(0))
                .unwrap_or(0);
            s.hugetlb.insert(
                size,
                HugetlbStats {
                    usage,
                    max_usage: 0,
                    failcnt,
                },
            );
        }
    }
    Ok(s)
}

/// `key value` lines (memory.stat, cpu.stat, memory.events…).
pub fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let k = w.next()?;
            let v = w.next()?.parse().ok()?;
            Some((k.to_owned(), v))
        })
        .collect()
}

/// v1 `blkio.throttle.*` lines: `8:0 Read 4096`; the trailing `Total N` line is skipped.
pub fn parse_v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (major, minor) = w.next()?.split_once(':')?;
            let op = w.next()?;
            let value = w.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_owned(),
                value,
            })
        })
        .collect()
}

/// v2 `io.stat` lines (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 …`) as v1-style entries.
pub fn parse_v2_io(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ops = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let Some((major, minor)) = w.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in w {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ops, "Read"),
                "wios" => (&mut ops, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value,
            });
        }
    }
    (bytes, ops)
}

/// Hugepage sizes of the kernel as cgroup file names use them (`2MB`, `1GB`).
fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(hugepage_label(kb))
        })
        .collect()
}

/// `2048` kB → `2MB`, `1048576` → `1GB` (runc `HugePageSizes`).
pub fn hugepage_label(kb: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut size = kb;
    let mut unit = 0;
    while size >= 1024 && size % 1024 == 0 && unit < UNITS.len() - 1 {
        size /= 1024;
        unit += 1;
    }
    format!("{size}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_blkio_lines() {
        let text = "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n";
        let e = parse_v1_blkio(text);
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[1].major, e[1].minor, e[1].op.as_str(), e[1].value),
            (8, 0, "Write", 8192)
        );
    }

    #[test]
    fn v2_io_lines() {
        let (bytes, ops) = parse_v2_io("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            bytes
                .iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            vec![("Read", 10), ("Write", 20)]
        );
        assert_eq!(ops.iter().map(|e| e.value).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn key_value_lines() {
        let kv = key_values("cache 4096\nrss 8192\nbogus\n");
        assert_eq!(kv.get("cache"), Some(&4096));
        assert_eq!(kv.get("rss"), Some(&8192));
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn hugepage_labels() {
        assert_eq!(hugepage_label(2048), "2MB");
        assert_eq!(hugepage_label(1_048_576), "1GB");
        assert_eq!(hugepage_label(64), "64KB");
    }
}
