//! The container configuration: libcontainer's `configs.Config`, in Rust.
//!
//! Every type here is plain data (serde round-trips it); nothing here talks to the
//! system. OCI `config.json` becomes a [`Config`] in `config::oci`, and `config::validate`
//! checks one before a container is made from it. Mirrors runc's `libcontainer/configs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::resources::Cgroup;

/// Everything needed to build one container (libcontainer `configs.Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Path to the container's root filesystem (absolute once validated).
    pub rootfs: PathBuf,
    /// Use `MS_MOVE` + `chroot` instead of `pivot_root` (runc `--no-pivot`).
    pub no_pivot_root: bool,
    /// Signal sent to init when its parent dies (0 = none).
    pub parent_death_signal: i32,
    /// Remount the root filesystem read-only after set-up.
    pub readonly_rootfs: bool,
    /// Propagation of the root mount (`MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, optionally `MS_REC`).
    pub root_propagation: Option<Propagation>,
    /// Mounts made inside the container, in order.
    pub mounts: Vec<Mount>,
    /// Device nodes created (or bind-mounted in a user namespace) in `/dev`.
    pub devices: Vec<Device>,
    /// SELinux mount label (accepted and recorded; there is no SELinux here).
    pub mount_label: String,
    /// Hostname set in the UTS namespace.
    pub hostname: Option<String>,
    /// NIS domain name set in the UTS namespace.
    pub domainname: Option<String>,
    /// Namespaces to create, or to join when a path is given.
    pub namespaces: Vec<Namespace>,
    /// Capability sets of the init process.
    pub capabilities: Option<Capabilities>,
    /// Network interfaces configured inside a new network namespace (loopback).
    pub networks: Vec<Network>,
    /// The cgroup (systemd scope) the container lives in.
    pub cgroups: Cgroup,
    /// AppArmor profile (recorded; AppArmor is not supported here).
    pub apparmor_profile: String,
    /// SELinux process label (recorded; SELinux is not supported here).
    pub process_label: String,
    /// Resource limits of the init process.
    pub rlimits: Vec<Rlimit>,
    /// `/proc/self/oom_score_adj` of init.
    pub oom_score_adj: Option<i32>,
    /// uid mappings of a user namespace.
    pub uid_mappings: Vec<IdMap>,
    /// gid mappings of a user namespace.
    pub gid_mappings: Vec<IdMap>,
    /// Paths made inaccessible (files get `/dev/null`, directories a read-only tmpfs).
    pub mask_paths: Vec<PathBuf>,
    /// Paths remounted read-only.
    pub readonly_paths: Vec<PathBuf>,
    /// Kernel parameters written under `/proc/sys`.
    pub sysctl: BTreeMap<String, String>,
    /// Seccomp filter applied before exec.
    pub seccomp: Option<Seccomp>,
    /// Set `PR_SET_NO_NEW_PRIVS` before exec.
    pub no_new_privileges: bool,
    /// OCI hooks.
    pub hooks: Hooks,
    /// OCI version of the spec this config came from.
    pub version: String,
    /// Free-form `key=value` labels (runc stores `bundle=<path>` here).
    pub labels: Vec<String>,
    /// Do not create a new session keyring.
    pub no_new_keyring: bool,
    /// Running without root on the host (rootless container).
    pub rootless_euid: bool,
    /// Cgroups are managed without root (the user's systemd instance).
    pub rootless_cgroups: bool,
    /// Offsets of the time namespace clocks.
    pub time_offsets: BTreeMap<TimeClock, TimeOffset>,
    /// Execution domain (`personality(2)`).
    pub personality: Option<Personality>,
    /// umask of the container processes (`None`: runc's default 0022).
    pub umask: Option<u32>,
    /// The container's first process.
    pub process: Option<ProcessConfig>,
}

/// The process a container (or an exec) runs: the OCI `process` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessConfig {
    /// argv; `args[0]` is looked up in the container's `PATH`.
    pub args: Vec<String>,
    /// Environment as `KEY=value`.
    pub env: Vec<String>,
    /// Working directory inside the container (absolute).
    pub cwd: PathBuf,
    /// The user to run as.
    pub user: User,
    /// Allocate a pseudo-terminal for stdio.
    pub terminal: bool,
    /// Initial terminal size, if a terminal is allocated.
    pub console_size: Option<ConsoleSize>,
    /// Capabilities of this process (defaults to the container's).
    pub capabilities: Option<Capabilities>,
    /// rlimits of this process (defaults to the container's).
    pub rlimits: Vec<Rlimit>,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// AppArmor profile (recorded only).
    pub apparmor_profile: String,
    /// SELinux label (recorded only).
    pub selinux_label: String,
    /// `oom_score_adj` of this process.
    pub oom_score_adj: Option<i32>,
    /// Scheduler policy (`sched_setattr`).
    pub scheduler: Option<Scheduler>,
    /// I/O priority (`ioprio_set`).
    pub io_priority: Option<IoPriority>,
    /// CPU affinity given to exec'd processes (initial and final).
    pub exec_cpu_affinity: Option<CpuAffinity>,
}

/// User and groups of a process, numeric once resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    /// uid inside the container.
    pub uid: u32,
    /// gid inside the container.
    pub gid: u32,
    /// umask (overrides `Config::umask` for this process).
    pub umask: Option<u32>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// A user name or `uid[:gid]` still to be resolved in the container's `/etc/passwd`.
    pub username: Option<String>,
}

/// Terminal size in characters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u16,
    /// Columns.
    pub width: u16,
}

/// Scheduling attributes (OCI `process.scheduler`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scheduler {
    /// `SCHED_OTHER`, `SCHED_FIFO`, … as the OCI names them.
    pub policy: String,
    /// Nice value.
    pub nice: i32,
    /// Static priority.
    pub priority: i32,
    /// `SCHED_FLAG_*` names.
    pub flags: Vec<String>,
    /// Deadline runtime (ns).
    pub runtime: u64,
    /// Deadline (ns).
    pub deadline: u64,
    /// Deadline period (ns).
    pub period: u64,
}

/// I/O priority (OCI `process.ioPriority`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoPriority {
    /// `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE` or `IOPRIO_CLASS_IDLE`.
    pub class: String,
    /// Priority within the class (0–7).
    pub priority: i32,
}

/// CPU affinity of exec'd processes (OCI `process.execCPUAffinity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuAffinity {
    /// Affinity while the runtime sets the process up (cpu list, e.g. `0-1`).
    pub initial: Option<String>,
    /// Affinity the process finally runs with.
    pub final_: Option<String>,
}

/// Mount propagation of a mount or of the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `MS_PRIVATE`
    Private,
    /// `MS_PRIVATE | MS_REC`
    Rprivate,
    /// `MS_SLAVE`
    Slave,
    /// `MS_SLAVE | MS_REC`
    Rslave,
    /// `MS_SHARED`
    Shared,
    /// `MS_SHARED | MS_REC`
    Rshared,
    /// `MS_UNBINDABLE`
    Unbindable,
    /// `MS_UNBINDABLE | MS_REC`
    Runbindable,
}

/// One mount (libcontainer `configs.Mount`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mount {
    /// Source path or device (`proc`, `tmpfs`, a host path for binds).
    pub source: String,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Filesystem type (`bind` for bind mounts).
    pub device: String,
    /// `MS_*` flags to set (see `nix::mount::MsFlags`), as raw bits.
    pub flags: u64,
    /// `MS_*` flags explicitly cleared by the options (e.g. `rw`, `suid`).
    pub cleared_flags: u64,
    /// Propagation changes applied after the mount.
    pub propagation: Vec<Propagation>,
    /// Filesystem-specific data (`mode=755,size=65536k`).
    pub data: String,
    /// `mount_setattr` recursive attributes (`rro`, `rnosuid`, …).
    pub rec_attr: Option<MountAttr>,
    /// Idmapped mount mappings (OCI `uidMappings`/`gidMappings` of a mount).
    pub id_mapping: Option<MountIdMapping>,
}

/// Recursive mount attributes set with `mount_setattr(AT_RECURSIVE)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` bits to set.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` bits to clear.
    pub attr_clr: u64,
    /// Propagation (`MS_*`) to apply.
    pub propagation: u64,
}

/// uid/gid mappings of an idmapped mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountIdMapping {
    /// uid mappings.
    pub uid_mappings: Vec<IdMap>,
    /// gid mappings.
    pub gid_mappings: Vec<IdMap>,
    /// Apply recursively (`ridmap`).
    pub recursive: bool,
}

/// Kind of device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceType {
    /// Character device (`c`, or `u` for unbuffered).
    #[serde(rename = "c")]
    Char,
    /// Block device (`b`).
    #[serde(rename = "b")]
    Block,
    /// FIFO (`p`).
    #[serde(rename = "p")]
    Fifo,
    /// Any type (`a`, device cgroup rules only).
    #[serde(rename = "a")]
    All,
}

/// A device node in the container's `/dev` (OCI `linux.devices[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// Node type.
    #[serde(rename = "type")]
    pub kind: DeviceType,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits of the node (e.g. 0o666).
    pub file_mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// Namespace kinds (libcontainer `configs.NamespaceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    /// `CLONE_NEWNS`
    Mount,
    /// `CLONE_NEWUTS`
    Uts,
    /// `CLONE_NEWIPC`
    Ipc,
    /// `CLONE_NEWPID`
    Pid,
    /// `CLONE_NEWNET`
    Network,
    /// `CLONE_NEWUSER`
    User,
    /// `CLONE_NEWCGROUP`
    Cgroup,
    /// `CLONE_NEWTIME`
    Time,
}

impl NamespaceType {
    /// Every namespace type, in the order runc joins them (user first).
    pub const ALL: [NamespaceType; 8] = [
        NamespaceType::User,
        NamespaceType::Ipc,
        NamespaceType::Uts,
        NamespaceType::Network,
        NamespaceType::Pid,
        NamespaceType::Mount,
        NamespaceType::Cgroup,
        NamespaceType::Time,
    ];

    /// The name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceType::Mount => "mnt",
            NamespaceType::Uts => "uts",
            NamespaceType::Ipc => "ipc",
            NamespaceType::Pid => "pid",
            NamespaceType::Network => "net",
            NamespaceType::User => "user",
            NamespaceType::Cgroup => "cgroup",
            NamespaceType::Time => "time",
        }
    }

    /// The OCI spelling (`linux.namespaces[].type`).
    pub fn oci_name(self) -> &'static str {
        match self {
            NamespaceType::Mount => "mount",
            NamespaceType::Uts => "uts",
            NamespaceType::Ipc => "ipc",
            NamespaceType::Pid => "pid",
            NamespaceType::Network => "network",
            NamespaceType::User => "user",
            NamespaceType::Cgroup => "cgroup",
            NamespaceType::Time => "time",
        }
    }
}

/// A namespace to create (no path) or join (path to an nsfs file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    /// Which namespace.
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    /// Join this namespace instead of creating one.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// The five capability sets, as `CAP_*` names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    /// Bounding set.
    pub bounding: Vec<String>,
    /// Effective set.
    pub effective: Vec<String>,
    /// Inheritable set (empty unless asked: CVE-2022-29162).
    pub inheritable: Vec<String>,
    /// Permitted set.
    pub permitted: Vec<String>,
    /// Ambient set.
    pub ambient: Vec<String>,
}

/// A network interface set up in a new network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Interface type; only `loopback` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// CIDR address, if any.
    pub address: String,
    /// Default gateway, if any.
    pub gateway: String,
    /// MTU (0: leave).
    pub mtu: u32,
}

/// A resource limit (`setrlimit(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    /// `RLIMIT_*` resource number.
    #[serde(rename = "type")]
    pub resource: i32,
    /// Hard limit.
    pub hard: u64,
    /// Soft limit.
    pub soft: u64,
}

/// One range of a uid or gid mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdMap {
    /// First id inside the namespace.
    pub container_id: u32,
    /// First id outside.
    pub host_id: u32,
    /// Length of the range.
    pub size: u32,
}

/// Seccomp filter (libcontainer `configs.Seccomp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seccomp {
    /// Action for syscalls no rule matches.
    pub default_action: SeccompAction,
    /// errno returned by a default `Errno` action.
    pub default_errno: Option<u32>,
    /// Architectures the filter covers (`SCMP_ARCH_*`).
    pub architectures: Vec<String>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    pub flags: Vec<String>,
    /// Unix socket path for `SCMP_ACT_NOTIFY` listeners.
    pub listener_path: Option<PathBuf>,
    /// Opaque metadata sent to the listener.
    pub listener_metadata: String,
    /// Rules.
    pub syscalls: Vec<SeccompSyscall>,
}

/// What a seccomp rule does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompAction {
    /// `SCMP_ACT_KILL` (kill the thread).
    Kill,
    /// `SCMP_ACT_KILL_PROCESS`.
    KillProcess,
    /// `SCMP_ACT_KILL_THREAD`.
    KillThread,
    /// `SCMP_ACT_TRAP`.
    Trap,
    /// `SCMP_ACT_ERRNO`.
    Errno,
    /// `SCMP_ACT_TRACE`.
    Trace,
    /// `SCMP_ACT_ALLOW`.
    #[default]
    Allow,
    /// `SCMP_ACT_LOG`.
    Log,
    /// `SCMP_ACT_NOTIFY`.
    Notify,
}

/// One seccomp rule: names, an action, and argument conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeccompSyscall {
    /// Syscall names.
    pub names: Vec<String>,
    /// Action when matched.
    pub action: SeccompAction,
    /// errno for `Errno` (default EPERM) or trace value for `Trace`.
    pub errno_ret: Option<u32>,
    /// Conditions, all of which must hold.
    pub args: Vec<SeccompArg>,
}

/// Comparison of a seccomp argument condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompOp {
    /// `SCMP_CMP_NE`
    NotEqual,
    /// `SCMP_CMP_LT`
    LessThan,
    /// `SCMP_CMP_LE`
    LessThanOrEqual,
    /// `SCMP_CMP_EQ`
    #[default]
    Equal,
    /// `SCMP_CMP_GE`
    GreaterThanOrEqual,
    /// `SCMP_CMP_GT`
    GreaterThan,
    /// `SCMP_CMP_MASKED_EQ`
    MaskedEqual,
}

/// A condition on one syscall argument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeccompArg {
    /// Argument index (0–5).
    pub index: u32,
    /// Value compared with.
    pub value: u64,
    /// Second value (the mask of `MaskedEqual`).
    pub value_two: u64,
    /// Comparison.
    pub op: SeccompOp,
}

/// OCI hooks, by the point in the lifecycle where they run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hooks {
    /// Legacy `prestart` (runtime namespace, after the container's namespaces exist).
    pub prestart: Vec<Hook>,
    /// `createRuntime`: runtime namespace, after create, before pivot_root.
    pub create_runtime: Vec<Hook>,
    /// `createContainer`: container namespace, before pivot_root.
    pub create_container: Vec<Hook>,
    /// `startContainer`: container namespace, before the user process execs.
    pub start_container: Vec<Hook>,
    /// `poststart`: runtime namespace, after the user process started.
    pub poststart: Vec<Hook>,
    /// `poststop`: runtime namespace, after the container is deleted.
    pub poststop: Vec<Hook>,
}

/// One hook command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hook {
    /// Absolute path of the program.
    pub path: PathBuf,
    /// argv (including argv\[0\]).
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// Seconds before the hook is killed.
    pub timeout: Option<u32>,
}

/// Clocks a time namespace can offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeClock {
    /// `CLOCK_MONOTONIC`
    Monotonic,
    /// `CLOCK_BOOTTIME`
    Boottime,
}

/// An offset of one clock in a time namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeOffset {
    /// Seconds.
    pub secs: i64,
    /// Nanoseconds.
    pub nanosecs: u32,
}

/// Execution domain (`personality(2)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Personality {
    /// `LINUX` or `LINUX32`.
    pub domain: String,
    /// Extra personality flags (none are defined by OCI yet).
    pub flags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(config: &Config) -> Config {
        serde_json::from_str(&serde_json::to_string(config).unwrap()).unwrap()
    }

    #[test]
    fn default_config_round_trips() {
        let c = Config::default();
        assert_eq!(round_trip(&c), c);
    }

    #[test]
    fn keyed_and_renamed_fields_round_trip() {
        let mut c = Config::default();
        c.time_offsets.insert(
            TimeClock::Boottime,
            TimeOffset {
                secs: -5,
                nanosecs: 7,
            },
        );
        c.namespaces.push(Namespace {
            kind: NamespaceType::Network,
            path: Some("/run/netns/x".into()),
        });
        c.devices.push(Device {
            path: "/dev/fuse".into(),
            kind: DeviceType::Char,
            major: 10,
            minor: 229,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        });
        c.process = Some(ProcessConfig {
            exec_cpu_affinity: Some(CpuAffinity {
                initial: Some("0".into()),
                final_: Some("1".into()),
            }),
            ..ProcessConfig::default()
        });
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["time_offsets"]["boottime"]["secs"], -5);
        assert_eq!(json["namespaces"][0]["type"], "network");
        assert_eq!(json["devices"][0]["type"], "c");
        assert_eq!(round_trip(&c), c);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<Config>(r#"{"rootfs": "/", "rootfz": "/"}"#).unwrap_err();
        assert!(err.to_string().contains("rootfz"), "{err}");
    }
}
