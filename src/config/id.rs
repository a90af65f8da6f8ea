//! Container ids: the rules runc applies before it makes a container.
//!
//! An id names a directory under the state root and the body of a unit name, so it must
//! not be able to walk out of that root. The rules are runc's (`libcontainer/factory_linux.go`
//! `validateID`): letters, digits and `_ . + -`, 1 to 1024 characters, not `.` or `..`.
//! Whether an id can stand verbatim in a unit name is `systemd`'s business, not this module's.

/// Longest id runc accepts.
pub const MAX_ID_LEN: usize = 1024;

/// A container id that runc would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty id.
    #[error("invalid container id ``: must not be empty")]
    Empty,
    /// Longer than [`MAX_ID_LEN`].
    #[error("invalid container id: {len} characters, at most 1024 allowed")]
    TooLong {
        /// Length of the id in bytes.
        len: usize,
    },
    /// `.` or `..`, which would name the state root or its parent.
    #[error("invalid container id `{0}`: must not be `.` or `..`")]
    Dot(String),
    /// A character outside letters, digits and `_ . + -` (this includes `/`).
    #[error("invalid container id `{id}`: character `{ch}` not allowed (only letters, digits and `_ . + -`)")]
    InvalidChar {
        /// The id.
        id: String,
        /// The first character that is not allowed.
        ch: char,
    },
}

/// Check `id` against runc's container id rules.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: id.len() });
    }
    if id == "." || id == ".." {
        return Err(IdError::Dot(id.to_owned()));
    }
    if let Some(ch) = id.chars().find(|&c| !is_id_char(c)) {
        return Err(IdError::InvalidChar {
            id: id.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// ASCII letters and digits and `_ . + -`: runc's `^[\w+-\.]+$` (Go's `\w` is ASCII-only).
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_runc_accepts_and_rejects() {
        let long_ok = "a".repeat(1024);
        let too_long = "a".repeat(1025);
        let table: &[(&str, Result<(), IdError>)] = &[
            ("abc", Ok(())),
            ("my_container-1.2+x", Ok(())),
            ("...", Ok(())),
            (".hidden", Ok(())),
            ("A", Ok(())),
            (&long_ok, Ok(())),
            ("", Err(IdError::Empty)),
            (&too_long, Err(IdError::TooLong { len: 1025 })),
            (".", Err(IdError::Dot(".".into()))),
            ("..", Err(IdError::Dot("..".into()))),
            (
                "a/b",
                Err(IdError::InvalidChar {
                    id: "a/b".into(),
                    ch: '/',
                }),
            ),
            (
                "../x",
                Err(IdError::InvalidChar {
                    id: "../x".into(),
                    ch: '/',
                }),
            ),
            (
                "a b",
                Err(IdError::InvalidChar {
                    id: "a b".into(),
                    ch: ' ',
                }),
            ),
            (
                "é",
                Err(IdError::InvalidChar {
                    id: "é".into(),
                    ch: 'é',
                }),
            ),
            (
                "a:b",
                Err(IdError::InvalidChar {
                    id: "a:b".into(),
                    ch: ':',
                }),
            ),
        ];
        for (id, want) in table {
            assert_eq!(&validate_id(id), want, "id={id:?}");
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert!(validate_id("a/b").unwrap_err().to_string().contains("`/`"));
        assert!(validate_id("..").unwrap_err().to_string().contains("`..`"));
        assert!(validate_id(&"x".repeat(2000))
            .unwrap_err()
            .to_string()
            .contains("2000"));
    }
}
