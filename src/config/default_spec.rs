//! The bundle `unitbox spec` writes: what `runc spec` (and `runc spec --rootless`) write.
//!
//! Built from `oci_spec`'s defaults with runc's differences applied through setters, so
//! nothing here can fail. Mirrors runc's `libcontainer/specconv/example.go`
//! (`Example`, `ToRootless`).

use oci_spec::runtime::{
    Capability, Linux, LinuxCapabilities, LinuxDeviceCgroup, LinuxNamespace, LinuxNamespaceType,
    LinuxResources, Mount, Process, Spec,
};

/// runc's default capabilities: enough to run a shell, nothing that reaches the host.
const DEFAULT_CAPABILITIES: [Capability; 3] = [
    Capability::AuditWrite,
    Capability::Kill,
    Capability::NetBindService,
];

/// The default OCI spec, as `runc spec` writes it; `rootless` gives runc's rootless
/// variant, mapping root in the container to this process's effective uid and gid.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some("unitbox".to_owned()));
    spec.set_annotations(None);
    spec.set_process(Some(default_process()));
    spec.set_mounts(Some(default_mounts()));
    if let Some(linux) = spec.linux_mut() {
        linux.set_namespaces(Some(namespaces(&[
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ])));
        let mut deny_all = LinuxDeviceCgroup::default();
        deny_all.set_allow(false);
        deny_all.set_access(Some("rwm".to_owned()));
        let mut resources = LinuxResources::default();
        resources.set_devices(Some(vec![deny_all]));
        linux.set_resources(Some(resources));
    }
    if rootless {
        make_rootless(&mut spec);
    }
    spec
}

fn default_process() -> Process {
    let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.clone()));
    capabilities.set_effective(Some(caps.clone()));
    capabilities.set_permitted(Some(caps.clone()));
    capabilities.set_ambient(Some(caps));
    // Empty inheritable set: CVE-2022-29162.
    capabilities.set_inheritable(None);
    let mut process = Process::default();
    process.set_terminal(Some(true));
    process.set_capabilities(Some(capabilities));
    process
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(destination.into());
    m.set_typ(Some(kind.to_owned()));
    m.set_source(Some(source.into()));
    if !options.is_empty() {
        m.set_options(Some(options.iter().map(|o| (*o).to_owned()).collect()));
    }
    m
}

fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

fn namespaces(kinds: &[LinuxNamespaceType]) -> Vec<LinuxNamespace> {
    kinds
        .iter()
        .map(|&kind| {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(kind);
            ns
        })
        .collect()
}

/// runc's `ToRootless`: a user namespace mapping root to us, no network namespace (we
/// could not configure one), `/sys` bound from the host (sysfs cannot be mounted without
/// owning the network namespace), no `gid=5` on devpts (gid 5 is not mapped), and no
/// resources (an unprivileged user cannot set them).
fn make_rootless(spec: &mut Spec) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    if let Some(mounts) = spec.mounts_mut() {
        for m in mounts.iter_mut() {
            if m.destination().as_os_str() == "/sys" {
                m.set_typ(Some("none".to_owned()));
                m.set_source(Some("/sys".into()));
                m.set_options(Some(
                    ["rbind", "nosuid", "noexec", "nodev", "ro"]
                        .map(str::to_owned)
                        .to_vec(),
                ));
            } else if let Some(options) = m.options_mut() {
                options.retain(|o| !o.starts_with("gid="));
            }
        }
    }
    if let Some(linux) = spec.linux_mut() {
        let mut kinds: Vec<LinuxNamespaceType> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|ns| ns.typ())
            .filter(|&t| t != LinuxNamespaceType::Network)
            .collect();
        kinds.push(LinuxNamespaceType::User);
        linux.set_namespaces(Some(namespaces(&kinds)));
        // oci_spec's own rootless section carries exactly runc's two mappings.
        let mapped = Linux::rootless(uid, gid);
        linux.set_uid_mappings(mapped.uid_mappings().clone());
        linux.set_gid_mappings(mapped.gid_mappings().clone());
        linux.set_resources(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::NamespaceType;
    use crate::config::{from_spec, validate};

    /// A bundle directory with an empty `rootfs/`, removed on drop.
    struct Bundle(std::path::PathBuf);

    impl Bundle {
        fn new(tag: &str) -> Bundle {
            let dir = std::env::temp_dir()
                .join(format!("unitbox-default-spec-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("rootfs")).unwrap();
            Bundle(dir)
        }
    }

    impl Drop for Bundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn default_spec_converts_and_validates() {
        let bundle = Bundle::new("root");
        let config = from_spec(&default_spec(false), &bundle.0).unwrap();
        validate(&config).unwrap();
        assert_eq!(config.rootfs, bundle.0.join("rootfs"));
        assert!(config.readonly_rootfs);
        assert_eq!(config.hostname.as_deref(), Some("unitbox"));
        assert_eq!(config.mounts.len(), 7);
        assert_eq!(config.networks.len(), 1, "loopback in the new netns");
        let process = config.process.unwrap();
        assert!(process.terminal);
        assert_eq!(process.args, ["sh"]);
        let caps = process.capabilities.unwrap();
        assert_eq!(
            caps.bounding,
            ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert!(caps.inheritable.is_empty());
        let rules = &config.cgroups.resources.devices;
        assert!(!rules[0].allow, "deny-all comes first, defaults after");
    }

    #[test]
    fn rootless_spec_converts_and_validates() {
        let bundle = Bundle::new("rootless");
        let spec = default_spec(true);
        let config = from_spec(&spec, &bundle.0).unwrap();
        validate(&config).unwrap();
        let kinds: Vec<NamespaceType> = config.namespaces.iter().map(|n| n.kind).collect();
        assert!(kinds.contains(&NamespaceType::User));
        assert!(!kinds.contains(&NamespaceType::Network));
        assert_eq!(
            config.uid_mappings[0].host_id,
            nix::unistd::geteuid().as_raw()
        );
        let sys = config
            .mounts
            .iter()
            .find(|m| m.destination.as_os_str() == "/sys")
            .unwrap();
        assert_eq!(sys.device, "bind");
        assert_eq!(sys.source, "/sys");
        let pts = config
            .mounts
            .iter()
            .find(|m| m.destination.as_os_str() == "/dev/pts")
            .unwrap();
        assert!(!pts.data.contains("gid="), "{}", pts.data);
    }

    #[test]
    fn default_spec_matches_runc_json_shape() {
        let json = serde_json::to_value(default_spec(false)).unwrap();
        assert_eq!(json["root"]["path"], "rootfs");
        assert_eq!(json["root"]["readonly"], true);
        assert!(json.get("annotations").is_none());
        assert!(json["process"]["capabilities"].get("inheritable").is_none());
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 5);
    }
}
