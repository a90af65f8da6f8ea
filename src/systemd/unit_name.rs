//! Scope unit names: `<prefix>-<id>.scope`, and runc's `cgroupsPath` form `slice:prefix:name`.
//!
//! A container id that stands verbatim in a unit name (`[A-Za-z0-9_.-]`, short enough for
//! systemd's 255-character limit) is used as is, so `systemctl status unitbox-<id>.scope`
//! works as people expect. Other ids get a deterministic name: systemd's `\xNN` escaping
//! of the odd bytes (a `+`), or, when even that is too long, a readable head plus a
//! 128-bit FNV-1a hash. The name is recorded in the container state, so later processes
//! never recompute it ([`UnitName::parse`] reads it back).

use std::fmt;

use serde::{Deserialize, Serialize};

/// systemd's limit on a unit name (`UNIT_NAME_MAX` is 256 including the NUL).
pub const UNIT_NAME_MAX: usize = 255;

/// The suffix of every unit we create.
const SCOPE_SUFFIX: &str = ".scope";

/// Marks a hashed name. `#` is not a valid container id character, so neither a verbatim
/// nor an escaped name of a valid id can contain this escape: hashed names never collide
/// with the other two forms.
const HASH_MARK: &str = "\\x23";

/// Hex digits of the hash in a hashed name (128 bits).
const HASH_HEX_LEN: usize = 32;

/// Errors of unit names and `cgroupsPath` parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitNameError {
    /// A recorded unit name is not a valid scope name.
    #[error("unit name `{name}` is invalid: {rule}")]
    Invalid {
        /// The name given.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The unit name prefix may only hold `[A-Za-z0-9_.-]`.
    #[error("unit name prefix `{0}` is invalid: it must be 1-64 characters of `[A-Za-z0-9_.-]`")]
    InvalidPrefix(String),
    /// `cgroupsPath` is not `slice:prefix:name`.
    #[error("cgroupsPath `{0}` is invalid: the systemd cgroup manager expects `slice:prefix:name` (for example `machine.slice:unitbox:mycontainer`)")]
    CgroupsPathForm(String),
    /// The slice part of `cgroupsPath` is not a slice name.
    #[error("cgroupsPath slice `{0}` is invalid: it must end in `.slice` and may not contain `/`")]
    Slice(String),
}

/// The name of a container's transient scope unit (`unitbox-<id>.scope`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

impl UnitName {
    /// Reads back a recorded unit name, checking that it is a scope name systemd accepts.
    pub fn parse(name: &str) -> Result<UnitName, UnitNameError> {
        let invalid = |rule| UnitNameError::Invalid {
            name: name.to_owned(),
            rule,
        };
        if name.len() > UNIT_NAME_MAX {
            return Err(invalid("longer than 255 characters"));
        }
        let Some(body) = name.strip_suffix(SCOPE_SUFFIX) else {
            return Err(invalid("it must end in `.scope`"));
        };
        if body.is_empty() {
            return Err(invalid("the part before `.scope` is empty"));
        }
        if !body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":_.-\\".contains(c))
        {
            return Err(invalid("only `[A-Za-z0-9:_.-\\]` may appear"));
        }
        Ok(UnitName(name.to_owned()))
    }

    /// The name as systemd knows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unit's object path under `/org/freedesktop/systemd1/unit/` (bus-label escaped),
    /// for matching signals; calls should use `GetUnit` instead.
    pub fn object_path(&self) -> String {
        format!(
            "/org/freedesktop/systemd1/unit/{}",
            bus_label_escape(&self.0)
        )
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UnitName {
    type Error = UnitNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UnitName::parse(&s)
    }
}

impl From<UnitName> for String {
    fn from(u: UnitName) -> String {
        u.0
    }
}

/// Checks a unit name prefix (`unitbox`, or the middle part of `cgroupsPath`).
pub fn check_prefix(prefix: &str) -> Result<(), UnitNameError> {
    if prefix.is_empty() || prefix.len() > 64 || !prefix.chars().all(is_verbatim_char) {
        return Err(UnitNameError::InvalidPrefix(prefix.to_owned()));
    }
    Ok(())
}

/// The scope name for container `id`: verbatim, escaped, or hashed (see the module docs).
///
/// Deterministic: the same prefix and id always give the same name. `prefix` must pass
/// [`check_prefix`]; the config validation does that before any container is made.
pub fn for_container(prefix: &str, id: &str) -> UnitName {
    let fixed = prefix.len() + 1 + SCOPE_SUFFIX.len();
    if !id.is_empty() && id.chars().all(is_verbatim_char) && fixed + id.len() <= UNIT_NAME_MAX {
        return UnitName(format!("{prefix}-{id}{SCOPE_SUFFIX}"));
    }
    let escaped = escape(id);
    if !escaped.is_empty() && fixed + escaped.len() <= UNIT_NAME_MAX {
        return UnitName(format!("{prefix}-{escaped}{SCOPE_SUFFIX}"));
    }
    let hash = format!("{:032x}", fnv1a_128(id.as_bytes()));
    let room = UNIT_NAME_MAX - fixed - HASH_MARK.len() - HASH_HEX_LEN;
    let head = escaped_head(id, room);
    UnitName(format!("{prefix}-{head}{HASH_MARK}{hash}{SCOPE_SUFFIX}"))
}

/// Where a container's scope goes, from runc's `cgroupsPath` (`slice:prefix:name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupsPath {
    /// Parent slice (`machine.slice` when the first part is empty).
    pub slice: String,
    /// Unit name prefix (`unitbox` when empty).
    pub prefix: String,
    /// Unit name body (the container id when empty).
    pub name: String,
}

/// Parses runc's systemd `cgroupsPath`; an empty path means `machine.slice:unitbox:<id>`.
///
/// The plain-path form (`/a/b`), meant for the cgroupfs driver, is rejected: unitbox has
/// only the systemd manager.
pub fn parse_cgroups_path(path: &str, id: &str) -> Result<CgroupsPath, UnitNameError> {
    if path.is_empty() {
        return Ok(CgroupsPath {
            slice: "machine.slice".to_owned(),
            prefix: "unitbox".to_owned(),
            name: id.to_owned(),
        });
    }
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(UnitNameError::CgroupsPathForm(path.to_owned()));
    };
    let slice = if slice.is_empty() {
        "machine.slice"
    } else {
        slice
    };
    if !slice.ends_with(".slice") || slice.contains('/') || slice.len() > UNIT_NAME_MAX {
        return Err(UnitNameError::Slice(slice.to_owned()));
    }
    let prefix = if prefix.is_empty() { "unitbox" } else { prefix };
    check_prefix(prefix)?;
    let name = if name.is_empty() { id } else { name };
    Ok(CgroupsPath {
        slice: slice.to_owned(),
        prefix: prefix.to_owned(),
        name: name.to_owned(),
    })
}

/// The cgroup path of a slice: `a-b.slice` lives at `/a.slice/a-b.slice`, `-.slice` is `/`.
pub fn slice_cgroup_path(slice: &str) -> String {
    if slice == "-.slice" {
        return String::new();
    }
    let body = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut path = String::new();
    let mut acc = String::new();
    for (i, part) in body.split('-').enumerate() {
        if i > 0 {
            acc.push('-');
        }
        acc.push_str(part);
        path.push('/');
        path.push_str(&acc);
        path.push_str(".slice");
    }
    path
}

fn is_verbatim_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// systemd's `\xNN` escaping of every byte outside `[A-Za-z0-9_.-]` (unlike
/// `unit_name_escape`, `-` is kept so names stay readable, as nspawn does).
fn escape(id: &str) -> String {
    id.bytes().map(escape_byte).collect()
}

fn escape_byte(b: u8) -> String {
    if b.is_ascii() && is_verbatim_char(char::from(b)) {
        char::from(b).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

/// The longest escaped prefix of `id` that fits in `room` bytes, never cutting an escape.
fn escaped_head(id: &str, room: usize) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        let piece = escape_byte(b);
        if out.len() + piece.len() > room {
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// 128-bit FNV-1a: stable across versions and platforms, no crate needed, and wide enough
/// that two ids of one host never share a name by accident.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

/// sd-bus's `bus_label_escape`: keeps `[A-Za-z]` and non-leading digits, `_xx` otherwise.
pub fn bus_label_escape(s: &str) -> String {
    if s.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(s.len() * 3);
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_for_ids() {
        let long_ok = "a".repeat(UNIT_NAME_MAX - "unitbox-.scope".len());
        let table: &[(&str, &str)] = &[
            ("abc", "unitbox-abc.scope"),
            ("my-ctr.1_x", "unitbox-my-ctr.1_x.scope"),
            ("a+b", "unitbox-a\\x2bb.scope"),
            ("+", "unitbox-\\x2b.scope"),
        ];
        for &(id, want) in table {
            assert_eq!(for_container("unitbox", id).as_str(), want, "id={id}");
        }
        let name = for_container("unitbox", &long_ok);
        assert_eq!(name.as_str(), format!("unitbox-{long_ok}.scope"));
        assert_eq!(name.as_str().len(), UNIT_NAME_MAX);
    }

    #[test]
    fn long_ids_are_hashed_deterministically_and_fit() {
        let table = [
            "a".repeat(300),
            "b".repeat(1024),
            format!("{}+", "c".repeat(240)),
            "+".repeat(100),
        ];
        for id in &table {
            let name = for_container("unitbox", id);
            assert!(name.as_str().len() <= UNIT_NAME_MAX, "{name} too long");
            assert!(name.as_str().contains(HASH_MARK), "{name} not hashed");
            assert_eq!(name, for_container("unitbox", id), "not deterministic");
            assert!(
                UnitName::parse(name.as_str()).is_ok(),
                "{name} not parseable"
            );
        }
        // Ids that differ only past the kept head still get distinct names.
        let a = for_container("unitbox", &format!("{}x", "a".repeat(400)));
        let b = for_container("unitbox", &format!("{}y", "a".repeat(400)));
        assert_ne!(a, b);
        // One character over the limit switches to the hashed form.
        let over = "a".repeat(UNIT_NAME_MAX - "unitbox-.scope".len() + 1);
        assert!(for_container("unitbox", &over).as_str().contains(HASH_MARK));
    }

    #[test]
    fn fnv_reference_values() {
        // Reference values of 128-bit FNV-1a (IETF draft-eastlake-fnv test vectors).
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }

    #[test]
    fn parse_rejects_bad_names() {
        for bad in [
            "",
            "x.service",
            ".scope",
            "a b.scope",
            &format!("{}.scope", "a".repeat(250)),
        ] {
            assert!(UnitName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(UnitName::parse("unitbox-a\\x2bb.scope").is_ok());
    }

    #[test]
    fn cgroups_path_forms() {
        let p = parse_cgroups_path("", "ctr").unwrap();
        assert_eq!(
            (p.slice.as_str(), p.prefix.as_str(), p.name.as_str()),
            ("machine.slice", "unitbox", "ctr")
        );
        let p = parse_cgroups_path("user.slice:runc:x", "ctr").unwrap();
        assert_eq!(
            (p.slice.as_str(), p.prefix.as_str(), p.name.as_str()),
            ("user.slice", "runc", "x")
        );
        let p = parse_cgroups_path("::", "ctr").unwrap();
        assert_eq!(p.name, "ctr");
        let err = parse_cgroups_path("/a/b", "ctr").unwrap_err().to_string();
        assert!(err.contains("slice:prefix:name"), "{err}");
        assert!(parse_cgroups_path("a/b.slice:p:n", "ctr").is_err());
        assert!(parse_cgroups_path("a.slice:p+q:n", "ctr").is_err());
    }

    #[test]
    fn slice_paths() {
        let table = [
            ("-.slice", ""),
            ("machine.slice", "/machine.slice"),
            ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
        ];
        for (slice, want) in table {
            assert_eq!(slice_cgroup_path(slice), want, "slice={slice}");
        }
    }

    #[test]
    fn bus_labels() {
        assert_eq!(bus_label_escape("my-ctr.1"), "my_2dctr_2e1");
        assert_eq!(bus_label_escape("9abc"), "_39abc");
        assert_eq!(
            for_container("unitbox", "my-ctr").object_path(),
            "/org/freedesktop/systemd1/unit/unitbox_2dmy_2dctr_2escope"
        );
    }
}
