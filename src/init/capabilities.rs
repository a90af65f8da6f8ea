//! The five capability sets: from `CAP_*` names to the kernel, with the `caps` crate.
//!
//! Inheritable and ambient stay empty unless the config names capabilities for them
//! (CVE-2022-29162). The bounding set is dropped while init still has `CAP_SETPCAP`;
//! the other sets are set after the user switch, as runc's `finalizeNamespace` does.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

use crate::config::Capabilities;

/// A capability config that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// A name `caps` does not know.
    #[error("capabilities.{set}: unknown capability `{name}`")]
    Unknown {
        /// `bounding`, `effective`, …
        set: &'static str,
        /// The name.
        name: String,
    },
    /// A `capget`/`capset`/`prctl` failed.
    #[error("set capability set `{set}`")]
    Apply {
        /// The set.
        set: &'static str,
        /// Cause.
        #[source]
        source: caps::errors::CapsError,
    },
}

/// Parsed capability sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    /// Bounding.
    pub bounding: CapsHashSet,
    /// Effective.
    pub effective: CapsHashSet,
    /// Permitted.
    pub permitted: CapsHashSet,
    /// Inheritable.
    pub inheritable: CapsHashSet,
    /// Ambient.
    pub ambient: CapsHashSet,
}

fn parse_set(set: &'static str, names: &[String]) -> Result<CapsHashSet, CapabilityError> {
    names
        .iter()
        .map(|name| {
            // OCI names carry the prefix; accept `sys_admin` style too, as runc does.
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            Capability::from_str(&full).map_err(|_| CapabilityError::Unknown {
                set,
                name: name.clone(),
            })
        })
        .collect()
}

impl CapabilitySets {
    /// Translates the config's names.
    pub fn from_config(caps: &Capabilities) -> Result<Self, CapabilityError> {
        Ok(CapabilitySets {
            bounding: parse_set("bounding", &caps.bounding)?,
            effective: parse_set("effective", &caps.effective)?,
            permitted: parse_set("permitted", &caps.permitted)?,
            inheritable: parse_set("inheritable", &caps.inheritable)?,
            ambient: parse_set("ambient", &caps.ambient)?,
        })
    }

    /// Drops every capability outside the bounding set (needs `CAP_SETPCAP`).
    pub fn drop_bounding(&self) -> Result<(), CapabilityError> {
        let apply = |source| CapabilityError::Apply {
            set: "bounding",
            source,
        };
        for cap in caps::runtime::thread_all_supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(apply)?;
            }
        }
        Ok(())
    }

    /// Sets inheritable, permitted, effective, then ambient to exactly the parsed sets.
    ///
    /// Inheritable goes first, while the effective set may still hold `CAP_SETPCAP`;
    /// effective is emptied before permitted shrinks (the kernel wants E ⊆ P at every step).
    pub fn apply(&self) -> Result<(), CapabilityError> {
        let apply = |set| move |source| CapabilityError::Apply { set, source };
        caps::set(None, CapSet::Inheritable, &self.inheritable).map_err(apply("inheritable"))?;
        caps::clear(None, CapSet::Effective).map_err(apply("effective"))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(apply("permitted"))?;
        caps::set(None, CapSet::Effective, &self.effective).map_err(apply("effective"))?;
        caps::clear(None, CapSet::Ambient).map_err(apply("ambient"))?;
        // The kernel raises an ambient capability only if it is both permitted and
        // inheritable; runc warns and skips the others, we skip them (the profile's
        // ambient list is a wish bounded by the inheritable set it chose).
        for cap in self
            .ambient
            .iter()
            .filter(|c| self.permitted.contains(c) && self.inheritable.contains(c))
        {
            caps::raise(None, CapSet::Ambient, *cap).map_err(apply("ambient"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_translate_per_set() {
        let config = Capabilities {
            bounding: names(&["CAP_CHOWN", "CAP_KILL", "net_bind_service"]),
            effective: names(&["CAP_KILL"]),
            permitted: names(&["CAP_KILL", "cap_chown"]),
            inheritable: vec![],
            ambient: vec![],
        };
        let sets = CapabilitySets::from_config(&config).unwrap();
        assert_eq!(
            sets.bounding,
            [
                Capability::CAP_CHOWN,
                Capability::CAP_KILL,
                Capability::CAP_NET_BIND_SERVICE
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(sets.effective, [Capability::CAP_KILL].into_iter().collect());
        assert_eq!(sets.permitted.len(), 2);
        // CVE-2022-29162: nothing asked, nothing inheritable or ambient.
        assert!(sets.inheritable.is_empty());
        assert!(sets.ambient.is_empty());
    }

    #[test]
    fn an_unknown_name_names_its_set() {
        let config = Capabilities {
            ambient: names(&["CAP_FLY"]),
            ..Default::default()
        };
        let err = CapabilitySets::from_config(&config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "capabilities.ambient: unknown capability `CAP_FLY`"
        );
    }
}
