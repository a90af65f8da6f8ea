//! `process`: the container's first process, and the container-wide copies runc keeps of
//! its capabilities, rlimits, no_new_privileges, oom_score_adj and labels.

use oci_spec::runtime::{
    Capabilities as OciCapabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process,
};

use super::super::types::{
    Capabilities, Config, ConsoleSize, CpuAffinity, IoPriority, ProcessConfig, Rlimit, Scheduler,
    User,
};
use super::super::validate::ConfigError;
use super::oci_name;

/// Fill `config.process` and the container-wide process fields from `process`.
pub(super) fn convert(p: &Process, config: &mut Config) -> Result<(), ConfigError> {
    if p.command_line().is_some() {
        return Err(ConfigError::unsupported(
            "process.commandLine",
            "Windows only; use `process.args`",
        ));
    }
    let user = p.user();
    if user.username().is_some() {
        return Err(ConfigError::unsupported(
            "process.user.username",
            "Windows only; give `uid` and `gid`",
        ));
    }
    let terminal = p.terminal().unwrap_or(false);
    // The runtime spec: consoleSize "MUST be ignored if terminal is false or unset".
    let console_size = match p.console_size().filter(|_| terminal) {
        None => None,
        Some(b) => Some(ConsoleSize {
            height: console_dimension(b.height(), "height")?,
            width: console_dimension(b.width(), "width")?,
        }),
    };
    let io_priority = match p.io_priority() {
        None => None,
        Some(io) => Some(IoPriority {
            class: oci_name(&io.class()),
            priority: i32::try_from(io.priority()).map_err(|_| {
                ConfigError::invalid("process.ioPriority.priority", "must be 0 to 7")
            })?,
        }),
    };
    let converted = ProcessConfig {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().clone(),
        user: User {
            uid: user.uid(),
            gid: user.gid(),
            umask: user.umask(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            username: None,
        },
        terminal,
        console_size,
        capabilities: p.capabilities().as_ref().map(convert_capabilities),
        rlimits: p.rlimits().iter().flatten().map(convert_rlimit).collect(),
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        apparmor_profile: p.apparmor_profile().clone().unwrap_or_default(),
        selinux_label: p.selinux_label().clone().unwrap_or_default(),
        oom_score_adj: p.oom_score_adj(),
        scheduler: p.scheduler().as_ref().map(|s| Scheduler {
            policy: oci_name(s.policy()),
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0),
            flags: s.flags().iter().flatten().map(oci_name).collect(),
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        }),
        io_priority,
        exec_cpu_affinity: p.exec_cpu_affinity().as_ref().map(|a| CpuAffinity {
            initial: a.initial().clone(),
            final_: a.cpu_affinity_final().clone(),
        }),
    };
    config.capabilities = converted.capabilities.clone();
    config.rlimits = converted.rlimits.clone();
    config.no_new_privileges = converted.no_new_privileges;
    config.oom_score_adj = converted.oom_score_adj;
    config.apparmor_profile = converted.apparmor_profile.clone();
    config.process_label = converted.selinux_label.clone();
    config.umask = converted.user.umask;
    config.process = Some(converted);
    Ok(())
}

fn console_dimension(v: u64, name: &str) -> Result<u16, ConfigError> {
    u16::try_from(v).map_err(|_| {
        ConfigError::invalid(
            format!("process.consoleSize.{name}"),
            "must be at most 65535",
        )
    })
}

fn convert_capabilities(c: &LinuxCapabilities) -> Capabilities {
    // The spec's sets are unordered; sort them so a config is reproducible.
    let names = |set: &Option<OciCapabilities>| -> Vec<String> {
        let mut v: Vec<String> = set.iter().flatten().map(oci_name).collect();
        v.sort();
        v
    };
    Capabilities {
        bounding: names(c.bounding()),
        effective: names(c.effective()),
        inheritable: names(c.inheritable()),
        permitted: names(c.permitted()),
        ambient: names(c.ambient()),
    }
}

fn convert_rlimit(r: &PosixRlimit) -> Rlimit {
    Rlimit {
        resource: rlimit_number(r.typ()),
        hard: r.hard(),
        soft: r.soft(),
    }
}

/// `RLIMIT_*` name → resource number for `setrlimit(2)`.
pub fn rlimit_number(t: PosixRlimitType) -> i32 {
    let n = match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    // RLIMIT_* are small non-negative numbers (0..=15) whatever libc's type for them is.
    n as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_json(json: serde_json::Value) -> Config {
        let mut config = Config::default();
        convert(&serde_json::from_value(json).unwrap(), &mut config).unwrap();
        config
    }

    #[test]
    fn console_size_is_ignored_without_a_terminal() {
        let base = serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "consoleSize": {"height": 10, "width": 20}});
        let c = convert_json(base.clone());
        assert_eq!(c.process.unwrap().console_size, None);
        let mut with_tty = base;
        with_tty["terminal"] = true.into();
        let c = convert_json(with_tty);
        assert_eq!(
            c.process.unwrap().console_size,
            Some(ConsoleSize {
                height: 10,
                width: 20
            })
        );
    }

    #[test]
    fn every_rlimit_name_has_its_number() {
        let table = [
            ("RLIMIT_CPU", 0),
            ("RLIMIT_FSIZE", 1),
            ("RLIMIT_DATA", 2),
            ("RLIMIT_STACK", 3),
            ("RLIMIT_CORE", 4),
            ("RLIMIT_RSS", 5),
            ("RLIMIT_NPROC", 6),
            ("RLIMIT_NOFILE", 7),
            ("RLIMIT_MEMLOCK", 8),
            ("RLIMIT_AS", 9),
            ("RLIMIT_LOCKS", 10),
            ("RLIMIT_SIGPENDING", 11),
            ("RLIMIT_MSGQUEUE", 12),
            ("RLIMIT_NICE", 13),
            ("RLIMIT_RTPRIO", 14),
            ("RLIMIT_RTTIME", 15),
        ];
        for (name, number) in table {
            let t: PosixRlimitType = serde_json::from_value(name.into()).unwrap();
            assert_eq!(rlimit_number(t), number, "{name}");
        }
    }

    #[test]
    fn capability_names_keep_the_cap_prefix() {
        let c = convert_json(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "capabilities": {"bounding": ["CAP_SYS_ADMIN", "NET_RAW", "CAP_CHECKPOINT_RESTORE", "CAP_BPF"]}
        }));
        let caps = c.capabilities.unwrap();
        assert_eq!(
            caps.bounding,
            [
                "CAP_BPF",
                "CAP_CHECKPOINT_RESTORE",
                "CAP_NET_RAW",
                "CAP_SYS_ADMIN"
            ]
        );
        for cap in &caps.bounding {
            cap.parse::<caps::Capability>().unwrap();
        }
    }
}
