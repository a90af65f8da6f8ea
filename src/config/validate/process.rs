//! The programs unitbox runs: the container's process (user, capabilities, rlimits,
//! scheduling) and the hooks.

use std::collections::BTreeSet;

use super::super::types::{Capabilities, Config, Hooks, ProcessConfig, Rlimit, Scheduler};
use super::resources::check_cpu_list;
use super::ConfigError;

pub(super) fn check_hooks(hooks: &Hooks) -> Result<(), ConfigError> {
    let lists = [
        ("prestart", &hooks.prestart),
        ("createRuntime", &hooks.create_runtime),
        ("createContainer", &hooks.create_container),
        ("startContainer", &hooks.start_container),
        ("poststart", &hooks.poststart),
        ("poststop", &hooks.poststop),
    ];
    for (name, list) in lists {
        for (i, hook) in list.iter().enumerate() {
            if !hook.path.is_absolute() {
                return Err(ConfigError::invalid(
                    format!("hooks.{name}[{i}].path"),
                    format!("`{}` must be an absolute path", hook.path.display()),
                ));
            }
            if hook.timeout == Some(0) {
                return Err(ConfigError::invalid(
                    format!("hooks.{name}[{i}].timeout"),
                    "must be a positive number of seconds",
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn check_process(p: &ProcessConfig, config: &Config) -> Result<(), ConfigError> {
    if p.args.is_empty() {
        return Err(ConfigError::invalid("process.args", "must not be empty"));
    }
    // execve(2) takes C strings: a NUL would silently cut an argument short.
    if let Some(i) = p.args.iter().position(|a| a.contains('\0')) {
        return Err(ConfigError::invalid(
            format!("process.args[{i}]"),
            "must not contain NUL",
        ));
    }
    for (i, var) in p.env.iter().enumerate() {
        let well_formed =
            var.split_once('=').is_some_and(|(key, _)| !key.is_empty()) && !var.contains('\0');
        if !well_formed {
            return Err(ConfigError::invalid(
                format!("process.env[{i}]"),
                format!("`{var}` is not `KEY=value`"),
            ));
        }
    }
    if !p.cwd.is_absolute() {
        return Err(ConfigError::invalid(
            "process.cwd",
            format!("`{}` must be an absolute path", p.cwd.display()),
        ));
    }
    if p.no_new_privileges != config.no_new_privileges {
        return Err(ConfigError::invalid(
            "process.noNewPrivileges",
            "the init process and the container disagree on no_new_privileges",
        ));
    }
    if let Some(caps) = &p.capabilities {
        check_capabilities(caps)?;
    }
    check_oom_score_adj("process.oomScoreAdj", p.oom_score_adj)?;
    check_umask("process.user.umask", p.user.umask)?;
    check_rlimits(&p.rlimits)?;
    if let Some(affinity) = &p.exec_cpu_affinity {
        for (name, list) in [("initial", &affinity.initial), ("final", &affinity.final_)] {
            if let Some(list) = list {
                check_cpu_list(&format!("process.execCPUAffinity.{name}"), list)?;
            }
        }
    }
    if let Some(io) = &p.io_priority {
        if !IO_PRIORITY_CLASSES.contains(&io.class.as_str()) {
            return Err(ConfigError::invalid(
                "process.ioPriority.class",
                format!("unknown class `{}`", io.class),
            ));
        }
        if !(0..=7).contains(&io.priority) {
            return Err(ConfigError::invalid(
                "process.ioPriority.priority",
                format!("{} is outside 0..=7", io.priority),
            ));
        }
    }
    if let Some(s) = &p.scheduler {
        check_scheduler(s)?;
    }
    if p.console_size.is_some() && !p.terminal {
        return Err(ConfigError::invalid(
            "process.consoleSize",
            "needs `process.terminal`",
        ));
    }
    Ok(())
}

fn check_capabilities(caps: &Capabilities) -> Result<(), ConfigError> {
    let sets = [
        ("bounding", &caps.bounding),
        ("effective", &caps.effective),
        ("inheritable", &caps.inheritable),
        ("permitted", &caps.permitted),
        ("ambient", &caps.ambient),
    ];
    for (name, set) in sets {
        for (i, cap) in set.iter().enumerate() {
            if cap.parse::<caps::Capability>().is_err() {
                return Err(ConfigError::invalid(
                    format!("process.capabilities.{name}[{i}]"),
                    format!("unknown capability `{cap}`"),
                ));
            }
        }
    }
    Ok(())
}

const IO_PRIORITY_CLASSES: &[&str] = &["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"];

const SCHEDULER_POLICIES: &[&str] = &[
    "SCHED_OTHER",
    "SCHED_FIFO",
    "SCHED_RR",
    "SCHED_BATCH",
    "SCHED_ISO",
    "SCHED_IDLE",
    "SCHED_DEADLINE",
];

const SCHEDULER_FLAGS: &[&str] = &[
    "SCHED_FLAG_RESET_ON_FORK",
    "SCHED_FLAG_RECLAIM",
    "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS",
    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
];

/// runc's `validateScheduler` (`libcontainer/configs/validate`).
fn check_scheduler(s: &Scheduler) -> Result<(), ConfigError> {
    const F: &str = "process.scheduler";
    if !SCHEDULER_POLICIES.contains(&s.policy.as_str()) {
        return Err(ConfigError::invalid(
            format!("{F}.policy"),
            format!("unknown policy `{}`", s.policy),
        ));
    }
    for (i, flag) in s.flags.iter().enumerate() {
        if !SCHEDULER_FLAGS.contains(&flag.as_str()) {
            return Err(ConfigError::invalid(
                format!("{F}.flags[{i}]"),
                format!("unknown flag `{flag}`"),
            ));
        }
    }
    let realtime = matches!(s.policy.as_str(), "SCHED_FIFO" | "SCHED_RR");
    if !(-20..=19).contains(&s.nice) {
        return Err(ConfigError::invalid(
            format!("{F}.nice"),
            "must be -20..=19",
        ));
    }
    if s.priority != 0 && !realtime {
        return Err(ConfigError::invalid(
            format!("{F}.priority"),
            "only SCHED_FIFO and SCHED_RR take a priority",
        ));
    }
    if s.policy == "SCHED_DEADLINE" && (s.runtime == 0 || s.deadline == 0 || s.period == 0) {
        return Err(ConfigError::invalid(
            F,
            "SCHED_DEADLINE needs runtime, deadline and period",
        ));
    }
    if s.policy != "SCHED_DEADLINE" && (s.runtime != 0 || s.deadline != 0 || s.period != 0) {
        return Err(ConfigError::invalid(
            F,
            "runtime, deadline and period are for SCHED_DEADLINE only",
        ));
    }
    Ok(())
}

pub(super) fn check_oom_score_adj(field: &str, v: Option<i32>) -> Result<(), ConfigError> {
    match v {
        Some(v) if !(-1000..=1000).contains(&v) => Err(ConfigError::invalid(
            field,
            format!("{v} is outside -1000..=1000"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_umask(field: &str, v: Option<u32>) -> Result<(), ConfigError> {
    match v {
        Some(v) if v > 0o777 => Err(ConfigError::invalid(
            field,
            format!("{v:#o} is more than 0o777"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_rlimits(rlimits: &[Rlimit]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, r) in rlimits.iter().enumerate() {
        if r.soft > r.hard {
            return Err(ConfigError::invalid(
                format!("process.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft, r.hard),
            ));
        }
        if !seen.insert(r.resource) {
            return Err(ConfigError::invalid(
                format!("process.rlimits[{i}].type"),
                "the same rlimit is given twice",
            ));
        }
    }
    Ok(())
}

/// The execution domain: the two the runtime spec names, and no flags (it defines none).
pub(super) fn check_personality(config: &Config) -> Result<(), ConfigError> {
    let Some(personality) = &config.personality else {
        return Ok(());
    };
    if !matches!(personality.domain.as_str(), "LINUX" | "LINUX32") {
        return Err(ConfigError::invalid(
            "linux.personality.domain",
            "must be `LINUX` or `LINUX32`",
        ));
    }
    if let Some(flag) = personality.flags.first() {
        return Err(ConfigError::invalid(
            "linux.personality.flags[0]",
            format!("unknown flag `{flag}` (the runtime spec defines none)"),
        ));
    }
    Ok(())
}
