//! Checkpoint/restore options: libcontainer's `CriuOpts`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::CheckpointError;

/// The `criu` binary used when nothing else is asked for (libcontainer's `CriuPath`
/// default: looked up in `PATH`).
pub const DEFAULT_CRIU: &str = "criu";

/// What criu does with the container's cgroups (`--manage-cgroups-mode`).
///
/// unitbox's default is [`ManageCgroupsMode::Ignore`]: systemd owns the cgroup, a restore
/// lands in a new scope made by the runtime, and criu must not re-create the old path
/// behind systemd's back (`shared/design/vm-lane.md`, result 5b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManageCgroupsMode {
    /// Leave cgroups alone (`ignore`).
    #[default]
    Ignore,
    /// Restore only properties (`props`).
    Props,
    /// Restore properties of directories criu created (`soft`).
    Soft,
    /// Restore every cgroup and property (`full`).
    Full,
    /// As full, requiring the cgroups not to exist (`strict`).
    Strict,
}

impl ManageCgroupsMode {
    /// criu's `criu_cg_mode` number.
    pub fn rpc_value(self) -> u64 {
        match self {
            ManageCgroupsMode::Ignore => 0,
            ManageCgroupsMode::Props => 2,
            ManageCgroupsMode::Soft => 3,
            ManageCgroupsMode::Full => 4,
            ManageCgroupsMode::Strict => 5,
        }
    }

    /// The word runc's `--manage-cgroups-mode` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            ManageCgroupsMode::Ignore => "ignore",
            ManageCgroupsMode::Props => "props",
            ManageCgroupsMode::Soft => "soft",
            ManageCgroupsMode::Full => "full",
            ManageCgroupsMode::Strict => "strict",
        }
    }
}

impl FromStr for ManageCgroupsMode {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ignore" => ManageCgroupsMode::Ignore,
            "props" => ManageCgroupsMode::Props,
            "soft" => ManageCgroupsMode::Soft,
            "full" => ManageCgroupsMode::Full,
            "strict" => ManageCgroupsMode::Strict,
            _ => {
                return Err(CheckpointError::InvalidOption {
                    option: "manage-cgroups-mode",
                    value: s.to_owned(),
                    rule: "must be one of ignore, props, soft, full, strict",
                })
            }
        })
    }
}

/// A criu page server (`--page-server ADDRESS:PORT`): dump pages go there over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageServer {
    /// Host name or IP address.
    pub address: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for PageServer {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CheckpointError::InvalidOption {
            option: "page-server",
            value: s.to_owned(),
            rule: "must be ADDRESS:PORT",
        };
        let (address, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if address.is_empty() {
            return Err(bad());
        }
        Ok(PageServer {
            address: address.to_owned(),
            port,
        })
    }
}

/// Namespaces to create empty on restore (`--empty-ns network`): a `CLONE_NEW*` mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EmptyNamespaces(pub u32);

impl EmptyNamespaces {
    /// Parses one runc name (`network`, `net`, `ipc`, `uts`, `mount`, `pid`, `user`,
    /// `cgroup`) into its `CLONE_NEW*` bit.
    pub fn bit(name: &str) -> Result<u32, CheckpointError> {
        let flag = match name {
            "network" | "net" => libc::CLONE_NEWNET,
            "ipc" => libc::CLONE_NEWIPC,
            "uts" => libc::CLONE_NEWUTS,
            "mount" | "mnt" => libc::CLONE_NEWNS,
            "pid" => libc::CLONE_NEWPID,
            "user" => libc::CLONE_NEWUSER,
            "cgroup" => libc::CLONE_NEWCGROUP,
            _ => {
                return Err(CheckpointError::InvalidOption {
                    option: "empty-ns",
                    value: name.to_owned(),
                    rule: "must name a namespace: network, ipc, uts, mount, pid, user, cgroup",
                })
            }
        };
        Ok(flag as u32)
    }

    /// The mask of every name in `names`.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<EmptyNamespaces, CheckpointError> {
        let mut mask = 0;
        for name in names {
            mask |= Self::bit(name.as_ref())?;
        }
        Ok(EmptyNamespaces(mask))
    }
}

/// How to checkpoint or restore (libcontainer `CriuOpts`). Serializable: the daemon
/// hands it to the monitor that runs the restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriuOpts {
    /// Where the images go (dump) or come from (restore); made on dump if missing.
    pub images_dir: PathBuf,
    /// Where criu writes its logs and work files (`None`: the images folder).
    pub work_dir: Option<PathBuf>,
    /// Images of an earlier pre-dump this one builds on, relative to `images_dir` or
    /// absolute (runc `--parent-path`).
    pub parent_image: Option<PathBuf>,
    /// Keep the container running after the dump.
    pub leave_running: bool,
    /// Checkpoint/restore established TCP connections.
    pub tcp_established: bool,
    /// Allow external unix connections.
    pub external_unix_connections: bool,
    /// Allow a shell job (a session leader outside the container).
    pub shell_job: bool,
    /// Checkpoint/restore file locks.
    pub file_locks: bool,
    /// Only dump memory, as a base for a later dump (`--pre-dump`); implies leave running.
    pub pre_dump: bool,
    /// Send pages to this page server instead of the images folder.
    pub page_server: Option<PageServer>,
    /// What criu does with cgroups.
    pub manage_cgroups_mode: ManageCgroupsMode,
    /// Namespaces restored empty.
    pub empty_namespaces: EmptyNamespaces,
    /// The criu binary (libcontainer `CriuPath`).
    pub criu_path: PathBuf,
}

impl CriuOpts {
    /// Options with defaults for the images folder `images_dir`.
    pub fn new(images_dir: impl Into<PathBuf>) -> CriuOpts {
        CriuOpts {
            images_dir: images_dir.into(),
            work_dir: None,
            parent_image: None,
            leave_running: false,
            tcp_established: false,
            external_unix_connections: false,
            shell_job: false,
            file_locks: false,
            pre_dump: false,
            page_server: None,
            manage_cgroups_mode: ManageCgroupsMode::Ignore,
            empty_namespaces: EmptyNamespaces::default(),
            criu_path: PathBuf::from(DEFAULT_CRIU),
        }
    }

    /// The work folder: the one asked for, else the images folder.
    pub fn work_dir(&self) -> &Path {
        self.work_dir.as_deref().unwrap_or(&self.images_dir)
    }

    /// Whether the dump leaves the container running (asked for, or a pre-dump).
    pub fn keeps_running(&self) -> bool {
        self.leave_running || self.pre_dump
    }

    /// The options with relative folders made absolute against the working directory
    /// (the daemon and criu run elsewhere).
    pub fn absolute(mut self) -> CriuOpts {
        self.images_dir = absolute_path(&self.images_dir);
        self.work_dir = self.work_dir.as_deref().map(absolute_path);
        self
    }
}

/// `path` against the working directory (unchanged if that cannot be read).
fn absolute_path(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_cgroups_modes_round_trip_and_map_to_criu_numbers() {
        let rows = [
            ("ignore", 0),
            ("props", 2),
            ("soft", 3),
            ("full", 4),
            ("strict", 5),
        ];
        for (word, number) in rows {
            let mode: ManageCgroupsMode = word.parse().unwrap();
            assert_eq!(mode.as_str(), word);
            assert_eq!(mode.rpc_value(), number, "{word}");
        }
        let err = "none".parse::<ManageCgroupsMode>().unwrap_err();
        assert!(err.to_string().contains("manage-cgroups-mode"), "{err}");
    }

    #[test]
    fn page_server_is_address_colon_port() {
        let ps: PageServer = "10.0.0.1:1234".parse().unwrap();
        assert_eq!((ps.address.as_str(), ps.port), ("10.0.0.1", 1234));
        for bad in ["10.0.0.1", ":12", "host:port", "host:70000"] {
            assert!(bad.parse::<PageServer>().is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_ns_names_become_clone_flags() {
        let mask = EmptyNamespaces::parse(&["network", "ipc"]).unwrap();
        assert_eq!(mask.0, (libc::CLONE_NEWNET | libc::CLONE_NEWIPC) as u32);
        let err = EmptyNamespaces::parse(&["bogus"]).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn work_dir_defaults_to_images_and_pre_dump_keeps_running() {
        let mut opts = CriuOpts::new("/img");
        assert_eq!(opts.work_dir(), Path::new("/img"));
        assert!(!opts.keeps_running());
        opts.pre_dump = true;
        assert!(opts.keeps_running());
        assert_eq!(opts.manage_cgroups_mode, ManageCgroupsMode::Ignore);
    }
}
