//! `unitbox update`: change the resource limits of a live container.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oci_spec::runtime::{LinuxBuilder, LinuxResources};

use super::Globals;
use crate::config::{default_spec::default_spec, from_spec, Resources};
use crate::Error;

/// Update the resource limits of a container.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The container id.
    pub id: String,
    /// OCI `LinuxResources` JSON to apply (`-` reads stdin); the flags below override it.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g, t; -1: unlimited).
    #[arg(long, value_parser = parse_bytes)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    #[arg(long, value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited swap).
    #[arg(long, value_parser = parse_bytes)]
    pub memory_swap: Option<i64>,
    /// CPU CFS quota in microseconds per period.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CPUs the container may use (`0-2,4`).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1: unlimited).
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10 to 1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

/// Applies the new limits on top of the container's current ones.
pub fn run(args: UpdateArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let mut container = super::load(globals, &args.id)?;
    let mut resources = container.config().cgroups.resources.clone();
    if let Some(path) = &args.resources {
        merge(&mut resources, read_resources(path)?);
    }
    let flags = Resources {
        memory: args.memory,
        memory_reservation: args.memory_reservation,
        memory_swap: args.memory_swap,
        cpu_quota: args.cpu_quota,
        cpu_period: args.cpu_period,
        cpu_shares: args.cpu_shares,
        cpuset_cpus: args.cpuset_cpus,
        cpuset_mems: args.cpuset_mems,
        pids_limit: args.pids_limit,
        blkio_weight: args.blkio_weight,
        ..Resources::default()
    };
    merge(&mut resources, flags);
    container.set(resources)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads OCI `LinuxResources` JSON and converts it as `config.json` would be.
fn read_resources(path: &Path) -> Result<Resources, Error> {
    let oci: LinuxResources = super::input::read_json(path)?;
    // The conversion lives with the config; a default spec carries these resources there.
    let mut spec = default_spec(false);
    let mut linux = spec.linux().clone().unwrap_or_else(|| {
        LinuxBuilder::default()
            .build()
            .unwrap_or_default()
    });
    linux.set_resources(Some(oci));
    spec.set_linux(Some(linux));
    Ok(from_spec(&spec, Path::new("/"))?.cgroups.resources)
}

/// Sets in `current` every limit `new` gives (runc's update changes only what it is told).
fn merge(current: &mut Resources, new: Resources) {
    macro_rules! take {
        ($($field:ident),*) => { $( if new.$field.is_some() { current.$field = new.$field; } )* };
    }
    take!(
        memory,
        memory_reservation,
        memory_swap,
        memory_swappiness,
        cpu_shares,
        cpu_quota,
        cpu_period,
        cpu_burst,
        cpu_rt_runtime,
        cpu_rt_period,
        cpu_idle,
        cpuset_cpus,
        cpuset_mems,
        pids_limit,
        blkio_weight
    );
    current.unified.extend(new.unified);
}

/// `1024`, `100k`, `64m`, `1G`, `2gb`, `-1` → bytes (binary units, as runc's `RAMInBytes`).
pub fn parse_bytes(text: &str) -> Result<i64, String> {
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches("ib").trim_end_matches('b');
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("invalid size `{text}`: unit must be k, m, g or t")),
    };
    let number: i64 = digits
        .parse()
        .map_err(|_| format!("invalid size `{text}`: not a number of bytes"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("invalid size `{text}`: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_runc() {
        let table: &[(&str, Option<i64>)] = &[
            ("1024", Some(1024)),
            ("100k", Some(100 << 10)),
            ("64M", Some(64 << 20)),
            ("1g", Some(1 << 30)),
            ("2GB", Some(2 << 30)),
            ("3MiB", Some(3 << 20)),
            ("-1", Some(-1)),
            ("12x", None),
            ("m", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_bytes(text).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn merge_keeps_what_is_not_given() {
        let mut current = Resources {
            memory: Some(1),
            pids_limit: Some(5),
            ..Resources::default()
        };
        merge(
            &mut current,
            Resources {
                memory: Some(2),
                ..Resources::default()
            },
        );
        assert_eq!((current.memory, current.pids_limit), (Some(2), Some(5)));
    }
}
