//! `unitbox events`: resource statistics and OOM notifications as runc's JSON lines.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{CliError, Globals};
use crate::cgroups::{BlkioEntry, Stats};
use crate::cgroupfs::oom::{self, OomEvent};
use crate::cgroupfs::{CgroupMode, ScopePaths};
use crate::container::{Container, Status};
use crate::Error;

/// Display container events such as OOM notifications and resource statistics.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// How often to collect statistics (`5s`, `500ms`, `1m`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Print the container's statistics once and exit.
    #[arg(long)]
    pub stats: bool,
    /// The container id.
    pub id: String,
}

/// One-shot with `--stats`; else a `stats` line per interval and an `oom` line whenever
/// the kernel's OOM killer hit the container, until the container stops.
pub fn run(args: EventsArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let mut container = super::load(globals, &args.id)?;
    let mut stdout = std::io::stdout();
    let mut emit = |event: Value| -> Result<(), CliError> {
        writeln!(stdout, "{event}")
            .and_then(|()| stdout.flush())
            .map_err(CliError::Output)
    };
    if args.stats {
        emit(stats_event(&args.id, &container.stats()?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let ooms = watch_oom(&container);
    let mut oom_kills = None;
    let mut next_stats = Instant::now();
    loop {
        if container.refresh_status() == Status::Stopped {
            // An OOM kill may be what stopped it.
            for _ in ooms.iter().flat_map(|ooms| ooms.try_iter()) {
                emit(json!({"type": "oom", "id": args.id}))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= next_stats {
            let stats = container.stats()?;
            // Without a notification (no memory controller to watch), the counter tells.
            let kills = stats.memory.oom_kill;
            if ooms.is_none() && oom_kills.is_some_and(|before| kills > before) {
                emit(json!({"type": "oom", "id": args.id}))?;
            }
            oom_kills = Some(kills);
            emit(stats_event(&args.id, &stats))?;
            next_stats += args.interval;
        }
        let wait = next_stats.saturating_duration_since(Instant::now());
        match &ooms {
            Some(ooms) => match ooms.recv_timeout(wait) {
                Ok(_) => emit(json!({"type": "oom", "id": args.id}))?,
                Err(RecvTimeoutError::Timeout) => {}
                // The cgroup is gone: the next round sees the container stopped.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            },
            None => std::thread::sleep(wait),
        }
    }
}

/// The kernel's OOM notifications for the container's scope (v1 `memory.oom_control`
/// eventfd, v2 `memory.events`); `None` when they cannot be had.
fn watch_oom(container: &Container) -> Option<Receiver<OomEvent>> {
    let mode = CgroupMode::detect().ok()?;
    let paths = &container.state().cgroup_paths;
    let (key, hierarchy) = if mode.is_v1() {
        ("memory", "/sys/fs/cgroup/memory")
    } else {
        ("", "/sys/fs/cgroup")
    };
    let cgroup = paths.get(key)?.strip_prefix(hierarchy).ok()?;
    let cgroup = format!("/{}", cgroup.display());
    match oom::watch(&ScopePaths::new(mode, &cgroup)) {
        Ok(ooms) => Some(ooms),
        Err(error) => {
            tracing::warn!(%error, "no OOM notifications; counting OOM kills in the stats");
            None
        }
    }
}

/// `{"type":"stats","id":…,"data":{…}}` with runc's `types.Stats` field names.
pub fn stats_event(id: &str, stats: &Stats) -> Value {
    let m = &stats.memory;
    let memory_data = |d: &crate::cgroups::MemoryData| {
        json!({"limit": d.limit, "usage": d.usage, "max": d.max_usage, "failcnt": d.failcnt})
    };
    let blkio = |entries: &[BlkioEntry]| -> Value {
        entries
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect()
    };
    let hugetlb: serde_json::Map<String, Value> = stats
        .hugetlb
        .iter()
        .map(|(size, h)| {
            let value = json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.failcnt});
            (size.clone(), value)
        })
        .collect();
    json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {
                "usage": {
                    "total": stats.cpu.total_usage,
                    "percpu": stats.cpu.percpu_usage,
                    "kernel": stats.cpu.usage_in_kernelmode,
                    "user": stats.cpu.usage_in_usermode
                },
                "throttling": {
                    "periods": stats.cpu.throttling_periods,
                    "throttledPeriods": stats.cpu.throttled_periods,
                    "throttledTime": stats.cpu.throttled_time
                }
            },
            "memory": {
                "cache": m.cache,
                "usage": memory_data(&m.usage),
                "swap": memory_data(&m.swap_usage),
                "kernel": memory_data(&m.kernel_usage),
                "raw": m.stats
            },
            "pids": {"current": stats.pids.current, "limit": stats.pids.limit},
            "blkio": {
                "ioServiceBytesRecursive": blkio(&stats.blkio.io_service_bytes_recursive),
                "ioServicedRecursive": blkio(&stats.blkio.io_serviced_recursive)
            },
            "hugetlb": hugetlb,
            "intel_rdt": {},
            "network_interfaces": stats.network_interfaces
        }
    })
}

/// Go-style durations: `5s`, `500ms`, `1m`, `1.5s`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}`"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("invalid duration `{text}`: unit must be ms, s, m or h")),
    };
    if seconds <= 0.0 {
        return Err(format!("invalid duration `{text}`: must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let table: &[(&str, Option<Duration>)] = &[
            ("5s", Some(Duration::from_secs(5))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1m", Some(Duration::from_secs(60))),
            ("2", Some(Duration::from_secs(2))),
            ("0s", None),
            ("5x", None),
            ("s", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn stats_event_has_runc_shape() {
        let event = stats_event("c1", &Stats::default());
        assert_eq!(event["type"], "stats");
        assert_eq!(event["id"], "c1");
        for key in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
            assert!(event["data"].get(key).is_some(), "{key}");
        }
        assert!(event["data"]["memory"]["usage"].get("limit").is_some());
    }
}
