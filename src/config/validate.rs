//! Validation of a [`Config`](super::Config), with errors that name the field and the rule
//! it broke.
//!
//! Field paths are the OCI `config.json` paths (`linux.namespaces[2].path`), because that
//! is what a user wrote; `config::oci` keeps list indices one to one so they line up.
//! Mirrors runc's `libcontainer/configs/validate/validator.go` plus the process checks
//! of runc's `utils_linux.go`. Reads the filesystem only to check the rootfs and the
//! kernel's namespace support.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::resources::Resources;
use super::types::{
    Config, DeviceType, Hooks, NamespaceType, ProcessConfig, SeccompAction, SeccompSyscall,
};

pub use super::id::IdError;

/// A configuration that cannot be turned into a container.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field breaks a rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// JSON path of the field (`linux.resources.hugepageLimits[0]`).
        field: String,
        /// The rule, in words.
        rule: String,
    },
    /// A field asks for something unitbox cannot honour.
    #[error("{field}: not supported: {reason}")]
    Unsupported {
        /// JSON path of the field (`linux.intelRdt`).
        field: String,
        /// Why, in words.
        reason: String,
    },
    /// The bundle directory cannot be made an absolute path.
    #[error("resolve bundle `{}`", path.display())]
    Bundle {
        /// The bundle as given.
        path: PathBuf,
        /// The I/O error (the working directory is gone).
        #[source]
        source: std::io::Error,
    },
    /// The bundle's `config.json` cannot be read.
    #[error("read `{}`", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle's `config.json` is not a valid OCI runtime spec.
    #[error("parse `{}` at `{json_path}`", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// JSON path where parsing stopped (`.` for the document itself).
        json_path: String,
        /// The serde error (with line and column).
        #[source]
        source: serde_json::Error,
    },
}

impl ConfigError {
    /// A rule broken by the value at `field`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A value at `field` that unitbox cannot honour.
    pub fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The JSON path this error is about, if it is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } | ConfigError::Unsupported { field, .. } => {
                Some(field)
            }
            ConfigError::Parse { json_path, .. } => Some(json_path),
            ConfigError::ReadFile { .. } | ConfigError::Bundle { .. } => None,
        }
    }
}

/// Check `config` against runc's rules; the first broken rule is returned.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    check_rootfs(config)?;
    check_mounts(config)?;
    check_namespaces(config)?;
    check_uts(config)?;
    check_user_namespace(config)?;
    check_sysctls(config)?;
    check_time_offsets(config)?;
    check_cgroups(config)?;
    check_rootless(config)?;
    check_devices(config)?;
    check_resources(&config.cgroups.resources)?;
    check_paths("linux.maskedPaths", &config.mask_paths)?;
    check_paths("linux.readonlyPaths", &config.readonly_paths)?;
    if let Some(seccomp) = &config.seccomp {
        check_seccomp(seccomp)?;
    }
    check_hooks(&config.hooks)?;
    if let Some(p) = &config.process {
        check_process(p, config)?;
    }
    check_oom_score_adj("process.oomScoreAdj", config.oom_score_adj)?;
    check_umask("process.user.umask", config.umask)?;
    check_rlimits(&config.rlimits)?;
    if let Some(personality) = &config.personality {
        if !matches!(personality.domain.as_str(), "LINUX" | "LINUX32") {
            return Err(ConfigError::invalid(
                "linux.personality.domain",
                "must be `LINUX` or `LINUX32`",
            ));
        }
    }
    for (i, n) in config.networks.iter().enumerate() {
        if n.kind != "loopback" {
            return Err(ConfigError::invalid(
                format!("networks[{i}].type"),
                format!("`{}` is not supported, only `loopback`", n.kind),
            ));
        }
    }
    Ok(())
}

fn is_private(config: &Config, kind: NamespaceType) -> bool {
    config.namespaces.iter().any(|ns| ns.kind == kind)
}

fn namespace_index(config: &Config, kind: NamespaceType) -> Option<usize> {
    config.namespaces.iter().position(|ns| ns.kind == kind)
}

/// The rootfs must be an existing directory.
fn check_rootfs(config: &Config) -> Result<(), ConfigError> {
    let rootfs = &config.rootfs;
    let field = "root.path";
    if !rootfs.is_absolute() {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must be absolute", rootfs.display()),
        ));
    }
    match std::fs::metadata(rootfs) {
        Err(_) => Err(ConfigError::invalid(
            field,
            format!("`{}` does not exist", rootfs.display()),
        )),
        Ok(m) if !m.is_dir() => Err(ConfigError::invalid(
            field,
            format!("`{}` is not a directory", rootfs.display()),
        )),
        Ok(_) => Ok(()),
    }
}

/// An absolute path without `..`, so it cannot climb out of the rootfs.
fn check_container_path(field: &str, path: &Path) -> Result<(), ConfigError> {
    if !path.is_absolute() {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must be an absolute path", path.display()),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ConfigError::invalid(
            field,
            format!("`{}` must not contain `..`", path.display()),
        ));
    }
    Ok(())
}

fn check_mounts(config: &Config) -> Result<(), ConfigError> {
    for (i, m) in config.mounts.iter().enumerate() {
        check_container_path(&format!("mounts[{i}].destination"), &m.destination)?;
        if m.id_mapping.is_some() && m.device != "bind" {
            return Err(ConfigError::invalid(
                format!("mounts[{i}].options"),
                "idmapped mounts are only supported for bind mounts",
            ));
        }
    }
    Ok(())
}

fn check_paths(field: &str, paths: &[std::path::PathBuf]) -> Result<(), ConfigError> {
    for (i, p) in paths.iter().enumerate() {
        check_container_path(&format!("{field}[{i}]"), p)?;
    }
    Ok(())
}

/// No namespace twice; joined namespaces by absolute path; the kernel must know the type.
fn check_namespaces(config: &Config) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, ns) in config.namespaces.iter().enumerate() {
        if !seen.insert(ns.kind) {
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate `{}` namespace", ns.kind.oci_name()),
            ));
        }
        if let Some(path) = &ns.path {
            if !path.is_absolute() {
                return Err(ConfigError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("`{}` must be an absolute path", path.display()),
                ));
            }
        }
        let probe = Path::new("/proc/self/ns").join(ns.kind.proc_name());
        if std::fs::symlink_metadata(&probe).is_err() {
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!(
                    "`{}` namespaces are not supported by this kernel",
                    ns.kind.oci_name()
                ),
            ));
        }
    }
    Ok(())
}

fn check_uts(config: &Config) -> Result<(), ConfigError> {
    let private_uts = is_private(config, NamespaceType::Uts);
    if config.hostname.is_some() && !private_uts {
        return Err(ConfigError::invalid(
            "hostname",
            "setting the hostname needs a private UTS namespace (linux.namespaces `uts`)",
        ));
    }
    if config.domainname.is_some() && !private_uts {
        return Err(ConfigError::invalid(
            "domainname",
            "setting the domainname needs a private UTS namespace (linux.namespaces `uts`)",
        ));
    }
    Ok(())
}

/// A new user namespace needs mappings; mappings need a user namespace.
fn check_user_namespace(config: &Config) -> Result<(), ConfigError> {
    match namespace_index(config, NamespaceType::User) {
        Some(i) if config.namespaces[i].path.is_none() => {
            if config.uid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.uidMappings",
                    "a new user namespace needs uid mappings",
                ));
            }
            if config.gid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.gidMappings",
                    "a new user namespace needs gid mappings",
                ));
            }
        }
        Some(_) => {}
        None => {
            if !config.uid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.uidMappings",
                    "uid mappings need a user namespace (linux.namespaces `user`)",
                ));
            }
            if !config.gid_mappings.is_empty() {
                return Err(ConfigError::invalid(
                    "linux.gidMappings",
                    "gid mappings need a user namespace (linux.namespaces `user`)",
                ));
            }
        }
    }
    Ok(())
}

/// IPC sysctls that are namespaced (runc's list).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A sysctl may only be set in a namespace the container does not share with the host.
fn check_sysctls(config: &Config) -> Result<(), ConfigError> {
    for key in config.sysctl.keys() {
        let field = format!("linux.sysctl.\"{key}\"");
        let (needed, ns_name) =
            if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
                (NamespaceType::Ipc, "ipc")
            } else if key.starts_with("net.") {
                (NamespaceType::Network, "network")
            } else if key == "kernel.domainname" || key == "kernel.hostname" {
                (NamespaceType::Uts, "uts")
            } else {
                return Err(ConfigError::invalid(
                    field,
                    "not in a kernel namespace of its own, so it would change the host",
                ));
            };
        if !is_private(config, needed) {
            return Err(ConfigError::invalid(
                field,
                format!("needs a private {ns_name} namespace (linux.namespaces `{ns_name}`)"),
            ));
        }
        if key == "kernel.hostname" {
            return Err(ConfigError::invalid(
                field,
                "conflicts with the `hostname` field; set that instead",
            ));
        }
    }
    Ok(())
}

fn check_time_offsets(config: &Config) -> Result<(), ConfigError> {
    if !config.time_offsets.is_empty() && !is_private(config, NamespaceType::Time) {
        return Err(ConfigError::invalid(
            "linux.timeOffsets",
            "time offsets need a time namespace (linux.namespaces `time`)",
        ));
    }
    if let Some(i) = namespace_index(config, NamespaceType::Time) {
        if config.namespaces[i].path.is_some() && !config.time_offsets.is_empty() {
            return Err(ConfigError::invalid(
                "linux.timeOffsets",
                "offsets cannot be set on a time namespace that is joined by path",
            ));
        }
    }
    for (clock, offset) in &config.time_offsets {
        if offset.nanosecs >= 1_000_000_000 {
            let name = match clock {
                super::types::TimeClock::Monotonic => "monotonic",
                super::types::TimeClock::Boottime => "boottime",
            };
            return Err(ConfigError::invalid(
                format!("linux.timeOffsets.{name}.nanosecs"),
                "must be below 1000000000",
            ));
        }
    }
    Ok(())
}

/// The scope name `<prefix>-<name>.scope` lives in `<slice>`: no path separators, a real
/// slice, and a cgroup namespace only if the kernel has one (checked with the others).
fn check_cgroups(config: &Config) -> Result<(), ConfigError> {
    let c = &config.cgroups;
    if !c.slice.ends_with(".slice") || c.slice.contains('/') || c.slice.len() <= ".slice".len() {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!(
                "slice `{}` must be a systemd slice name (`name.slice`)",
                c.slice
            ),
        ));
    }
    for (what, part) in [("prefix", &c.scope_prefix), ("name", &c.name)] {
        if part.contains('/') {
            return Err(ConfigError::invalid(
                "linux.cgroupsPath",
                format!("{what} `{part}` must not contain `/`"),
            ));
        }
    }
    if c.scope_prefix.is_empty() {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            "the scope prefix must not be empty",
        ));
    }
    if let Some(i) = namespace_index(config, NamespaceType::Cgroup) {
        if config.namespaces[i].path.is_none() && !is_private(config, NamespaceType::Mount) {
            // The container's /sys/fs/cgroup view comes from mounting cgroupfs inside the
            // new cgroup namespace, which needs a mount namespace of its own.
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}]"),
                "a new cgroup namespace needs a private mount namespace",
            ));
        }
    }
    for key in c.resources.unified.keys() {
        if key.contains('/') || !key.contains('.') {
            return Err(ConfigError::invalid(
                format!("linux.resources.unified.\"{key}\""),
                "must be a cgroup file name like `memory.high`",
            ));
        }
    }
    Ok(())
}

fn check_rootless(config: &Config) -> Result<(), ConfigError> {
    if config.rootless_euid && !is_private(config, NamespaceType::User) {
        return Err(ConfigError::invalid(
            "linux.namespaces",
            "a rootless container needs a user namespace",
        ));
    }
    Ok(())
}

fn check_devices(config: &Config) -> Result<(), ConfigError> {
    for (i, d) in config.devices.iter().enumerate() {
        let field = format!("linux.devices[{i}].path");
        check_container_path(&field, &d.path)?;
        if !d.path.starts_with("/dev") || d.path == Path::new("/dev") {
            return Err(ConfigError::invalid(
                field,
                format!("`{}` must be under /dev", d.path.display()),
            ));
        }
        if d.kind == DeviceType::All {
            return Err(ConfigError::invalid(
                format!("linux.devices[{i}].type"),
                "a device node must be `c`, `b` or `p`",
            ));
        }
    }
    for (i, rule) in config.cgroups.resources.devices.iter().enumerate() {
        if rule.access.is_empty() || !rule.access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(ConfigError::invalid(
                format!("linux.resources.devices[{i}].access"),
                format!("`{}` must be a non-empty subset of `rwm`", rule.access),
            ));
        }
    }
    Ok(())
}

fn check_resources(r: &Resources) -> Result<(), ConfigError> {
    const F: &str = "linux.resources";
    if let Some(shares) = r.cpu_shares {
        if !(2..=262_144).contains(&shares) {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.shares"),
                format!("{shares} is outside 2..=262144"),
            ));
        }
    }
    if let Some(quota) = r.cpu_quota {
        if quota != -1 && quota < 1000 {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.quota"),
                format!("{quota} must be -1 (unlimited) or at least 1000 µs"),
            ));
        }
    }
    if let Some(period) = r.cpu_period {
        if !(1000..=1_000_000).contains(&period) {
            return Err(ConfigError::invalid(
                format!("{F}.cpu.period"),
                format!("{period} is outside 1000..=1000000 µs"),
            ));
        }
    }
    if let Some(limit) = r.pids_limit {
        if limit < -1 {
            return Err(ConfigError::invalid(
                format!("{F}.pids.limit"),
                format!("{limit} must be -1 (unlimited), 0 (unset) or positive"),
            ));
        }
    }
    for (name, value) in [
        ("limit", r.memory),
        ("swap", r.memory_swap),
        ("reservation", r.memory_reservation),
    ] {
        if let Some(v) = value {
            if v < -1 {
                return Err(ConfigError::invalid(
                    format!("{F}.memory.{name}"),
                    format!("{v} must be -1 (unlimited) or a number of bytes"),
                ));
            }
        }
    }
    if let (Some(memory), Some(swap)) = (r.memory, r.memory_swap) {
        if memory > 0 && swap >= 0 && swap < memory {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swap"),
                format!("memory+swap limit {swap} must not be below the memory limit {memory}"),
            ));
        }
        if memory == -1 && swap > 0 {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swap"),
                "a memory+swap limit needs a memory limit",
            ));
        }
    }
    if let Some(s) = r.memory_swappiness {
        if s > 100 {
            return Err(ConfigError::invalid(
                format!("{F}.memory.swappiness"),
                format!("{s} is outside 0..=100"),
            ));
        }
    }
    let weight_ok = |w: Option<u16>| w.is_none_or(|w| (10..=1000).contains(&w));
    if !weight_ok(r.blkio_weight) {
        return Err(ConfigError::invalid(
            format!("{F}.blockIO.weight"),
            "must be 10..=1000",
        ));
    }
    if !weight_ok(r.blkio_leaf_weight) {
        return Err(ConfigError::invalid(
            format!("{F}.blockIO.leafWeight"),
            "must be 10..=1000",
        ));
    }
    for (i, d) in r.blkio_weight_device.iter().enumerate() {
        if !weight_ok(d.weight) || !weight_ok(d.leaf_weight) {
            return Err(ConfigError::invalid(
                format!("{F}.blockIO.weightDevice[{i}]"),
                "weights must be 10..=1000",
            ));
        }
    }
    Ok(())
}

/// Syscall argument positions are 0 to 5.
const SECCOMP_MAX_ARG_INDEX: u32 = 5;

/// Architecture names libseccomp knows (runc's `archs` map).
const SECCOMP_ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

fn check_seccomp(s: &super::types::Seccomp) -> Result<(), ConfigError> {
    const F: &str = "linux.seccomp";
    if s.default_action == SeccompAction::Notify {
        return Err(ConfigError::invalid(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    for (i, arch) in s.architectures.iter().enumerate() {
        if !SECCOMP_ARCHES.contains(&arch.as_str()) {
            return Err(ConfigError::invalid(
                format!("{F}.architectures[{i}]"),
                format!("unknown architecture `{arch}`"),
            ));
        }
    }
    for (i, flag) in s.flags.iter().enumerate() {
        if !SECCOMP_FLAGS.contains(&flag.as_str()) {
            return Err(ConfigError::invalid(
                format!("{F}.flags[{i}]"),
                format!("unknown flag `{flag}`"),
            ));
        }
    }
    let notifies = s.syscalls.iter().any(|c| c.action == SeccompAction::Notify);
    if notifies && s.listener_path.is_none() {
        return Err(ConfigError::invalid(
            format!("{F}.listenerPath"),
            "required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    if let Some(path) = &s.listener_path {
        if !path.is_absolute() {
            return Err(ConfigError::invalid(
                format!("{F}.listenerPath"),
                format!("`{}` must be an absolute path", path.display()),
            ));
        }
    }
    for (i, call) in s.syscalls.iter().enumerate() {
        check_seccomp_syscall(call, &format!("{F}.syscalls[{i}]"))?;
    }
    Ok(())
}

fn check_seccomp_syscall(call: &SeccompSyscall, field: &str) -> Result<(), ConfigError> {
    if call.names.is_empty() {
        return Err(ConfigError::invalid(
            format!("{field}.names"),
            "must name at least one syscall",
        ));
    }
    for (j, name) in call.names.iter().enumerate() {
        if name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{field}.names[{j}]"),
                "must not be empty",
            ));
        }
        // init writes its ready message after loading the filter: a notify on write
        // would deadlock it (runc refuses this too).
        if call.action == SeccompAction::Notify && name == "write" {
            return Err(ConfigError::invalid(
                format!("{field}.names[{j}]"),
                "SCMP_ACT_NOTIFY cannot be used for `write`",
            ));
        }
    }
    for (j, arg) in call.args.iter().enumerate() {
        if arg.index > SECCOMP_MAX_ARG_INDEX {
            return Err(ConfigError::invalid(
                format!("{field}.args[{j}].index"),
                format!("{} is not an argument position 0 to 5", arg.index),
            ));
        }
    }
    if call.errno_ret.is_some()
        && !matches!(call.action, SeccompAction::Errno | SeccompAction::Trace)
    {
        return Err(ConfigError::invalid(
            format!("{field}.errnoRet"),
            "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet",
        ));
    }
    Ok(())
}

fn check_hooks(hooks: &Hooks) -> Result<(), ConfigError> {
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

fn check_process(p: &ProcessConfig, config: &Config) -> Result<(), ConfigError> {
    if p.args.is_empty() {
        return Err(ConfigError::invalid("process.args", "must not be empty"));
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
    if let Some(io) = &p.io_priority {
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

fn check_capabilities(caps: &super::types::Capabilities) -> Result<(), ConfigError> {
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

/// runc's `validateScheduler` (`libcontainer/configs/validate`).
fn check_scheduler(s: &super::types::Scheduler) -> Result<(), ConfigError> {
    const F: &str = "process.scheduler";
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

fn check_oom_score_adj(field: &str, v: Option<i32>) -> Result<(), ConfigError> {
    match v {
        Some(v) if !(-1000..=1000).contains(&v) => Err(ConfigError::invalid(
            field,
            format!("{v} is outside -1000..=1000"),
        )),
        _ => Ok(()),
    }
}

fn check_umask(field: &str, v: Option<u32>) -> Result<(), ConfigError> {
    match v {
        Some(v) if v > 0o777 => Err(ConfigError::invalid(
            field,
            format!("{v:#o} is more than 0o777"),
        )),
        _ => Ok(()),
    }
}

fn check_rlimits(rlimits: &[super::types::Rlimit]) -> Result<(), ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::{
        Capabilities, Device, Hook, IdMap, IoPriority, Mount, MountIdMapping, Namespace, Network,
        Personality, Rlimit, Scheduler, Seccomp, SeccompArg, TimeClock, TimeOffset,
    };

    /// A config every rule accepts; each test breaks exactly one rule.
    fn valid() -> Config {
        use NamespaceType::*;
        Config {
            rootfs: "/".into(),
            namespaces: [Mount, Uts, Ipc, Network, Pid]
                .map(|kind| Namespace { kind, path: None })
                .to_vec(),
            hostname: Some("box".into()),
            mounts: vec![super::super::types::Mount {
                source: "proc".into(),
                destination: "/proc".into(),
                device: "proc".into(),
                ..Default::default()
            }],
            process: Some(ProcessConfig {
                args: vec!["sh".into()],
                cwd: "/".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn map() -> Vec<IdMap> {
        vec![IdMap {
            container_id: 0,
            host_id: 1000,
            size: 1,
        }]
    }

    fn process(c: &mut Config) -> &mut ProcessConfig {
        c.process.as_mut().unwrap()
    }

    fn add_ns(c: &mut Config, kind: NamespaceType) {
        c.namespaces.push(Namespace { kind, path: None });
    }

    fn drop_ns(c: &mut Config, kind: NamespaceType) {
        c.namespaces.retain(|ns| ns.kind != kind);
    }

    #[test]
    fn the_base_config_is_valid() {
        validate(&valid()).unwrap();
    }

    /// `rule!(name, "field.path", |c| { break one rule in c })`: one failing case per rule,
    /// asserting the message starts with the field's JSON path.
    macro_rules! rule {
        ($name:ident, $field:expr, |$c:ident| $mutate:block) => {
            #[test]
            fn $name() {
                #[allow(unused_mut)]
                let mut $c = valid();
                $mutate
                let err = validate(&$c).expect_err("the config breaks a rule");
                let msg = err.to_string();
                assert!(msg.starts_with(&format!("{}: ", $field)), "{msg}");
            }
        };
    }

    // rootfs
    rule!(rootfs_must_exist, "root.path", |c| {
        c.rootfs = "/nonexistent-unitbox-rootfs".into();
    });
    rule!(rootfs_must_be_a_directory, "root.path", |c| {
        c.rootfs = "/proc/version".into();
    });
    rule!(rootfs_must_be_absolute, "root.path", |c| {
        c.rootfs = "rootfs".into();
    });

    // mounts and paths
    rule!(mount_destination_absolute, "mounts[0].destination", |c| {
        c.mounts[0].destination = "proc".into();
    });
    rule!(mount_destination_no_dotdot, "mounts[0].destination", |c| {
        c.mounts[0].destination = "/proc/../../etc".into();
    });
    rule!(idmap_only_on_bind_mounts, "mounts[0].options", |c| {
        c.mounts[0].id_mapping = Some(MountIdMapping {
            uid_mappings: map(),
            gid_mappings: map(),
            recursive: false,
        });
    });
    rule!(masked_paths_absolute, "linux.maskedPaths[1]", |c| {
        c.mask_paths = vec!["/proc/kcore".into(), "proc/keys".into()];
    });
    rule!(readonly_paths_absolute, "linux.readonlyPaths[0]", |c| {
        c.readonly_paths = vec!["proc/sys".into()];
    });

    // namespaces
    rule!(no_duplicate_namespaces, "linux.namespaces[5].type", |c| {
        add_ns(&mut c, NamespaceType::Pid);
    });
    rule!(namespace_path_absolute, "linux.namespaces[0].path", |c| {
        c.namespaces[0].path = Some("proc/1/ns/mnt".into());
    });
    rule!(hostname_needs_uts, "hostname", |c| {
        drop_ns(&mut c, NamespaceType::Uts);
    });
    rule!(domainname_needs_uts, "domainname", |c| {
        c.hostname = None;
        c.domainname = Some("example".into());
        drop_ns(&mut c, NamespaceType::Uts);
    });
    rule!(user_ns_needs_uid_mappings, "linux.uidMappings", |c| {
        add_ns(&mut c, NamespaceType::User);
        c.gid_mappings = map();
    });
    rule!(user_ns_needs_gid_mappings, "linux.gidMappings", |c| {
        add_ns(&mut c, NamespaceType::User);
        c.uid_mappings = map();
    });
    rule!(uid_mappings_need_user_ns, "linux.uidMappings", |c| {
        c.uid_mappings = map();
    });
    rule!(gid_mappings_need_user_ns, "linux.gidMappings", |c| {
        c.gid_mappings = map();
    });
    rule!(rootless_needs_user_ns, "linux.namespaces", |c| {
        c.rootless_euid = true;
    });
    rule!(cgroup_ns_needs_mount_ns, "linux.namespaces[4]", |c| {
        drop_ns(&mut c, NamespaceType::Mount);
        add_ns(&mut c, NamespaceType::Cgroup);
    });

    // sysctl
    rule!(
        net_sysctl_needs_netns,
        "linux.sysctl.\"net.ipv4.ip_forward\"",
        |c| {
            drop_ns(&mut c, NamespaceType::Network);
            c.sysctl.insert("net.ipv4.ip_forward".into(), "1".into());
        }
    );
    rule!(
        ipc_sysctl_needs_ipc_ns,
        "linux.sysctl.\"kernel.shmmax\"",
        |c| {
            drop_ns(&mut c, NamespaceType::Ipc);
            c.sysctl.insert("kernel.shmmax".into(), "1".into());
        }
    );
    rule!(
        mqueue_sysctl_needs_ipc_ns,
        "linux.sysctl.\"fs.mqueue.msg_max\"",
        |c| {
            drop_ns(&mut c, NamespaceType::Ipc);
            c.sysctl.insert("fs.mqueue.msg_max".into(), "10".into());
        }
    );
    rule!(
        uts_sysctl_needs_uts_ns,
        "linux.sysctl.\"kernel.domainname\"",
        |c| {
            c.hostname = None;
            drop_ns(&mut c, NamespaceType::Uts);
            c.sysctl.insert("kernel.domainname".into(), "x".into());
        }
    );
    rule!(
        hostname_sysctl_conflicts_with_field,
        "linux.sysctl.\"kernel.hostname\"",
        |c| {
            c.sysctl.insert("kernel.hostname".into(), "x".into());
        }
    );
    rule!(
        host_wide_sysctl_refused,
        "linux.sysctl.\"vm.swappiness\"",
        |c| {
            c.sysctl.insert("vm.swappiness".into(), "10".into());
        }
    );

    // time namespace
    rule!(time_offsets_need_time_ns, "linux.timeOffsets", |c| {
        c.time_offsets.insert(
            TimeClock::Monotonic,
            TimeOffset {
                secs: 10,
                nanosecs: 0,
            },
        );
    });
    rule!(time_offsets_not_on_joined_ns, "linux.timeOffsets", |c| {
        c.namespaces.push(Namespace {
            kind: NamespaceType::Time,
            path: Some("/proc/1/ns/time".into()),
        });
        c.time_offsets.insert(
            TimeClock::Boottime,
            TimeOffset {
                secs: 10,
                nanosecs: 0,
            },
        );
    });
    rule!(
        time_offset_nanosecs_below_a_second,
        "linux.timeOffsets.boottime.nanosecs",
        |c| {
            add_ns(&mut c, NamespaceType::Time);
            c.time_offsets.insert(
                TimeClock::Boottime,
                TimeOffset {
                    secs: 0,
                    nanosecs: 1_000_000_000,
                },
            );
        }
    );

    // cgroup placement
    rule!(slice_is_a_slice, "linux.cgroupsPath", |c| {
        c.cgroups.slice = "machine".into();
    });
    rule!(scope_name_has_no_slash, "linux.cgroupsPath", |c| {
        c.cgroups.name = "a/b".into();
    });
    rule!(scope_prefix_not_empty, "linux.cgroupsPath", |c| {
        c.cgroups.scope_prefix = String::new();
    });
    rule!(
        unified_key_is_a_file_name,
        "linux.resources.unified.\"../memory.max\"",
        |c| {
            c.cgroups
                .resources
                .unified
                .insert("../memory.max".into(), "1".into());
        }
    );

    // devices
    rule!(device_under_dev, "linux.devices[0].path", |c| {
        c.devices.push(Device {
            path: "/tmp/null".into(),
            kind: DeviceType::Char,
            major: 1,
            minor: 3,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        });
    });
    rule!(device_node_has_a_type, "linux.devices[0].type", |c| {
        c.devices.push(Device {
            path: "/dev/x".into(),
            kind: DeviceType::All,
            major: 1,
            minor: 3,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        });
    });
    rule!(
        device_rule_access,
        "linux.resources.devices[0].access",
        |c| {
            c.cgroups.resources.devices.push(crate::config::DeviceRule {
                allow: true,
                kind: DeviceType::Char,
                major: None,
                minor: None,
                access: "rwx".into(),
            });
        }
    );

    // resources
    rule!(cpu_shares_range, "linux.resources.cpu.shares", |c| {
        c.cgroups.resources.cpu_shares = Some(1);
    });
    rule!(cpu_quota_range, "linux.resources.cpu.quota", |c| {
        c.cgroups.resources.cpu_quota = Some(10);
    });
    rule!(cpu_period_range, "linux.resources.cpu.period", |c| {
        c.cgroups.resources.cpu_period = Some(10);
    });
    rule!(pids_limit_range, "linux.resources.pids.limit", |c| {
        c.cgroups.resources.pids_limit = Some(-5);
    });
    rule!(memory_limit_range, "linux.resources.memory.limit", |c| {
        c.cgroups.resources.memory = Some(-2);
    });
    rule!(swap_not_below_memory, "linux.resources.memory.swap", |c| {
        c.cgroups.resources.memory = Some(2 << 20);
        c.cgroups.resources.memory_swap = Some(1 << 20);
    });
    rule!(swap_needs_memory, "linux.resources.memory.swap", |c| {
        c.cgroups.resources.memory = Some(-1);
        c.cgroups.resources.memory_swap = Some(1 << 20);
    });
    rule!(swappiness_range, "linux.resources.memory.swappiness", |c| {
        c.cgroups.resources.memory_swappiness = Some(101);
    });
    rule!(blkio_weight_range, "linux.resources.blockIO.weight", |c| {
        c.cgroups.resources.blkio_weight = Some(5);
    });
    rule!(
        blkio_leaf_weight_range,
        "linux.resources.blockIO.leafWeight",
        |c| {
            c.cgroups.resources.blkio_leaf_weight = Some(1001);
        }
    );
    rule!(
        blkio_weight_device_range,
        "linux.resources.blockIO.weightDevice[0]",
        |c| {
            c.cgroups
                .resources
                .blkio_weight_device
                .push(crate::config::WeightDevice {
                    major: 8,
                    minor: 0,
                    weight: Some(1),
                    leaf_weight: None,
                });
        }
    );

    // seccomp
    fn seccomp(c: &mut Config) -> &mut Seccomp {
        c.seccomp.get_or_insert_with(Seccomp::default)
    }
    fn syscall(names: &[&str], action: SeccompAction) -> SeccompSyscall {
        SeccompSyscall {
            names: names.iter().map(|n| n.to_string()).collect(),
            action,
            ..Default::default()
        }
    }
    rule!(
        seccomp_notify_not_default,
        "linux.seccomp.defaultAction",
        |c| {
            seccomp(&mut c).default_action = SeccompAction::Notify;
        }
    );
    rule!(seccomp_known_arch, "linux.seccomp.architectures[0]", |c| {
        seccomp(&mut c).architectures = vec!["SCMP_ARCH_Z80".into()];
    });
    rule!(seccomp_known_flag, "linux.seccomp.flags[0]", |c| {
        seccomp(&mut c).flags = vec!["SECCOMP_FILTER_FLAG_BOGUS".into()];
    });
    rule!(
        seccomp_notify_needs_listener,
        "linux.seccomp.listenerPath",
        |c| {
            seccomp(&mut c)
                .syscalls
                .push(syscall(&["mkdir"], SeccompAction::Notify));
        }
    );
    rule!(
        seccomp_listener_absolute,
        "linux.seccomp.listenerPath",
        |c| {
            seccomp(&mut c).listener_path = Some("run/agent.sock".into());
        }
    );
    rule!(
        seccomp_names_not_empty,
        "linux.seccomp.syscalls[0].names",
        |c| {
            seccomp(&mut c)
                .syscalls
                .push(syscall(&[], SeccompAction::Errno));
        }
    );
    rule!(
        seccomp_name_not_empty,
        "linux.seccomp.syscalls[0].names[1]",
        |c| {
            seccomp(&mut c)
                .syscalls
                .push(syscall(&["read", ""], SeccompAction::Errno));
        }
    );
    rule!(
        seccomp_no_notify_on_write,
        "linux.seccomp.syscalls[0].names[0]",
        |c| {
            let s = seccomp(&mut c);
            s.listener_path = Some("/run/agent.sock".into());
            s.syscalls.push(syscall(&["write"], SeccompAction::Notify));
        }
    );
    rule!(
        seccomp_arg_index_range,
        "linux.seccomp.syscalls[0].args[0].index",
        |c| {
            let mut call = syscall(&["personality"], SeccompAction::Allow);
            call.args.push(SeccompArg {
                index: 6,
                ..Default::default()
            });
            seccomp(&mut c).syscalls.push(call);
        }
    );
    rule!(
        seccomp_errno_ret_needs_errno_action,
        "linux.seccomp.syscalls[0].errnoRet",
        |c| {
            let mut call = syscall(&["read"], SeccompAction::Allow);
            call.errno_ret = Some(1);
            seccomp(&mut c).syscalls.push(call);
        }
    );

    // hooks
    rule!(hook_path_absolute, "hooks.prestart[0].path", |c| {
        c.hooks.prestart.push(Hook {
            path: "bin/hook".into(),
            ..Default::default()
        });
    });
    rule!(hook_timeout_positive, "hooks.poststop[0].timeout", |c| {
        c.hooks.poststop.push(Hook {
            path: "/bin/hook".into(),
            timeout: Some(0),
            ..Default::default()
        });
    });

    // process
    rule!(process_args_not_empty, "process.args", |c| {
        process(&mut c).args.clear();
    });
    rule!(process_cwd_absolute, "process.cwd", |c| {
        process(&mut c).cwd = "home".into();
    });
    rule!(no_new_privileges_coherent, "process.noNewPrivileges", |c| {
        process(&mut c).no_new_privileges = true;
    });
    rule!(capabilities_known, "process.capabilities.ambient[0]", |c| {
        process(&mut c).capabilities = Some(Capabilities {
            ambient: vec!["CAP_FLY".into()],
            ..Default::default()
        });
    });
    rule!(oom_score_adj_range, "process.oomScoreAdj", |c| {
        c.oom_score_adj = Some(1001);
    });
    rule!(process_oom_score_adj_range, "process.oomScoreAdj", |c| {
        process(&mut c).oom_score_adj = Some(-1001);
    });
    rule!(umask_range, "process.user.umask", |c| {
        process(&mut c).user.umask = Some(0o1777);
    });
    rule!(rlimit_soft_not_above_hard, "process.rlimits[0]", |c| {
        process(&mut c).rlimits.push(Rlimit {
            resource: 7,
            hard: 10,
            soft: 20,
        });
    });
    rule!(rlimit_given_once, "process.rlimits[1].type", |c| {
        let r = Rlimit {
            resource: 7,
            hard: 10,
            soft: 10,
        };
        process(&mut c).rlimits.extend([r, r]);
    });
    rule!(io_priority_range, "process.ioPriority.priority", |c| {
        process(&mut c).io_priority = Some(IoPriority {
            class: "IOPRIO_CLASS_BE".into(),
            priority: 8,
        });
    });
    rule!(scheduler_nice_range, "process.scheduler.nice", |c| {
        process(&mut c).scheduler = Some(Scheduler {
            policy: "SCHED_OTHER".into(),
            nice: 20,
            ..Default::default()
        });
    });
    rule!(
        scheduler_priority_only_realtime,
        "process.scheduler.priority",
        |c| {
            process(&mut c).scheduler = Some(Scheduler {
                policy: "SCHED_OTHER".into(),
                priority: 5,
                ..Default::default()
            });
        }
    );
    rule!(scheduler_deadline_needs_params, "process.scheduler", |c| {
        process(&mut c).scheduler = Some(Scheduler {
            policy: "SCHED_DEADLINE".into(),
            runtime: 1,
            ..Default::default()
        });
    });
    rule!(scheduler_params_only_deadline, "process.scheduler", |c| {
        process(&mut c).scheduler = Some(Scheduler {
            policy: "SCHED_FIFO".into(),
            priority: 1,
            period: 10,
            ..Default::default()
        });
    });
    rule!(console_size_needs_terminal, "process.consoleSize", |c| {
        process(&mut c).console_size = Some(crate::config::ConsoleSize {
            height: 24,
            width: 80,
        });
    });

    // the rest
    rule!(personality_domain, "linux.personality.domain", |c| {
        c.personality = Some(Personality {
            domain: "BSD".into(),
            flags: vec![],
        });
    });
    rule!(networks_loopback_only, "networks[0].type", |c| {
        c.networks.push(Network {
            kind: "veth".into(),
            ..Default::default()
        });
    });

    #[test]
    fn mount_kind_is_not_mistaken_for_type() {
        // A bind mount with an id mapping is fine.
        let mut c = valid();
        c.mounts.push(Mount {
            source: "/tmp".into(),
            destination: "/mnt".into(),
            device: "bind".into(),
            id_mapping: Some(MountIdMapping {
                uid_mappings: map(),
                gid_mappings: map(),
                recursive: true,
            }),
            ..Default::default()
        });
        validate(&c).unwrap();
    }
}
