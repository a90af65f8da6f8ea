//! Object paths: the Manager's, and one per container built with systemd's `bus_label_escape`.
//!
//! Mirrors `src/basic/bus-label.c` and machined's `machine_bus_path()`.

use zbus::OwnedObjectPath;

/// The Manager object (and ObjectManager root).
pub const MANAGER_PATH: &str = "/io/unitbox/runtime1";

/// The parent of every container object.
pub const CONTAINER_PREFIX: &str = "/io/unitbox/runtime1/container/";

/// `bus_label_escape`: letters stay, digits stay except first, every other byte is `_xx`.
pub fn bus_label_escape(label: &str) -> String {
    if label.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(label.len() * 3);
    for (i, byte) in label.bytes().enumerate() {
        if byte.is_ascii_alphabetic() || (i > 0 && byte.is_ascii_digit()) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("_{byte:02x}"));
        }
    }
    out
}

/// `bus_label_unescape`; `None` for a label that is not an escaping's output.
pub fn bus_label_unescape(label: &str) -> Option<String> {
    if label == "_" {
        return Some(String::new());
    }
    let bytes = label.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = label.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The object path of container `id`.
pub fn container_path(id: &str) -> OwnedObjectPath {
    let path = format!("{CONTAINER_PREFIX}{}", bus_label_escape(id));
    // An escaped label is always a valid path element.
    OwnedObjectPath::try_from(path)
        .unwrap_or_else(|_| zbus::ObjectPath::from_static_str_unchecked(MANAGER_PATH).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd() {
        let table = [
            ("my-ctr.1", "my_2dctr_2e1"),
            ("9abc", "_39abc"),
            ("", "_"),
            ("a_b", "a_5fb"),
            ("abc", "abc"),
        ];
        for (label, escaped) in table {
            assert_eq!(bus_label_escape(label), escaped, "{label}");
            assert_eq!(bus_label_unescape(escaped).as_deref(), Some(label));
        }
    }

    #[test]
    fn unescape_refuses_broken_labels() {
        assert_eq!(bus_label_unescape("a_2"), None);
        assert_eq!(bus_label_unescape("a_zz"), None);
    }

    #[test]
    fn container_paths_are_valid() {
        assert_eq!(
            container_path("web-1").as_str(),
            "/io/unitbox/runtime1/container/web_2d1"
        );
    }
}
