//! The `Slice` and `ScopeProperties` create options (dbus-api.md §5.1): where the scope
//! goes and extra `StartTransientUnit` properties, each checked against a whitelist.
//!
//! Like machined's `CreateMachine(…, a(sv) scope_properties)`, the caller adds properties
//! to the scope; unlike machined, only names whose meaning cannot break the container
//! contract (`PIDs`, `Delegate`, `AddRef`, `CollectMode`, `Slice` stay ours) are accepted,
//! with the D-Bus type systemd expects, so a mistake is an `InvalidArgs` naming the key
//! instead of a failed scope job.

use zbus::{OwnedVariant as OwnedValue, Variant as ZValue};

use super::error::BusError;
use crate::systemd::properties::{Property, Value};

/// Accepted `ScopeProperties` keys and their D-Bus signatures (systemd 252 scope and
/// cgroup settings, `org.freedesktop.systemd1(5)`).
pub const SCOPE_PROPERTIES: &[(&str, &str)] = &[
    ("Description", "s"),
    ("CPUWeight", "t"),
    ("StartupCPUWeight", "t"),
    ("CPUQuotaPerSecUSec", "t"),
    ("CPUQuotaPeriodUSec", "t"),
    ("IOWeight", "t"),
    ("StartupIOWeight", "t"),
    ("MemoryMin", "t"),
    ("MemoryLow", "t"),
    ("MemoryHigh", "t"),
    ("MemoryMax", "t"),
    ("MemorySwapMax", "t"),
    ("TasksMax", "t"),
    ("KillMode", "s"),
    ("KillSignal", "i"),
    ("FinalKillSignal", "i"),
    ("SendSIGKILL", "b"),
    ("SendSIGHUP", "b"),
    ("TimeoutStopUSec", "t"),
    ("RuntimeMaxUSec", "t"),
    ("OOMPolicy", "s"),
    ("ManagedOOMMemoryPressure", "s"),
    ("ManagedOOMSwap", "s"),
    ("Wants", "as"),
    ("Requires", "as"),
    ("BindsTo", "as"),
    ("PartOf", "as"),
    ("After", "as"),
    ("Before", "as"),
];

/// The `Slice` option: a slice unit name (`machine.slice`, `a-b.slice`).
pub fn check_slice(slice: &str) -> Result<(), BusError> {
    let body = slice.strip_suffix(".slice").unwrap_or("");
    let ok = !body.is_empty()
        && slice.len() <= 255
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'))
        && (body == "-"
            || (!body.starts_with('-') && !body.ends_with('-') && !body.contains("--")));
    if ok {
        Ok(())
    } else {
        Err(BusError::invalid_args(
            "Slice",
            format!("`{slice}` is not a slice name (`<name>.slice`, `-` between nesting levels)"),
        ))
    }
}

/// The `ScopeProperties` option (`a(sv)`) as checked properties.
pub fn scope_properties(value: &OwnedValue) -> Result<Vec<Property>, BusError> {
    let pairs = <Vec<(String, OwnedValue)>>::try_from(
        value
            .try_clone()
            .map_err(|e| BusError::failed("read ScopeProperties", &e))?,
    )
    .map_err(|_| BusError::invalid_args("ScopeProperties", "must be an array of (sv)"))?;
    pairs
        .iter()
        .map(|(name, value)| property(name, value))
        .collect()
}

fn property(name: &str, value: &OwnedValue) -> Result<Property, BusError> {
    let Some((_, signature)) = SCOPE_PROPERTIES.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = SCOPE_PROPERTIES.iter().map(|(n, _)| *n).collect();
        return Err(BusError::invalid_args(
            &format!("ScopeProperties.{name}"),
            format!(
                "not an accepted scope property; accepted: {}",
                known.join(", ")
            ),
        ));
    };
    let wrong = || {
        BusError::invalid_args(
            &format!("ScopeProperties.{name}"),
            format!(
                "must be of type `{signature}`, not `{}`",
                match &**value {
                    ZValue::Variant(boxed) => boxed.value_signature().to_string(),
                    direct => direct.value_signature().to_string(),
                }
            ),
        )
    };
    // A variant inside the variant (how some clients build `a(sv)`) counts as its content.
    let inner = match &**value {
        ZValue::Variant(boxed) => &**boxed,
        direct => direct,
    };
    let converted = match (*signature, inner) {
        ("s", ZValue::Str(s)) => Value::Str(s.to_string()),
        ("t", ZValue::U64(n)) => Value::U64(*n),
        ("i", ZValue::I32(n)) => Value::I32(*n),
        ("b", ZValue::Bool(b)) => Value::Bool(*b),
        ("as", ZValue::Array(array)) => Value::Strs(
            array
                .iter()
                .map(|item| match item {
                    ZValue::Str(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .ok_or_else(wrong)?,
        ),
        _ => return Err(wrong()),
    };
    Ok(Property::new(name, converted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: ZValue<'_>) -> OwnedValue {
        v.try_to_owned().unwrap()
    }

    #[test]
    fn slices_are_checked() {
        for good in [
            "machine.slice",
            "a-b.slice",
            "-.slice",
            "unitbox_test.slice",
        ] {
            assert!(check_slice(good).is_ok(), "{good}");
        }
        for bad in [
            "machine",
            ".slice",
            "a/b.slice",
            "-a.slice",
            "a--b.slice",
            "x y.slice",
        ] {
            let error = check_slice(bad).unwrap_err();
            assert!(error.message.contains("Slice"), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn scope_properties_follow_the_whitelist_and_types() {
        let ok = owned(ZValue::from(vec![
            ("TimeoutStopUSec".to_owned(), owned(ZValue::U64(5_000_000))),
            ("KillSignal".to_owned(), owned(ZValue::I32(2))),
        ]));
        let props = scope_properties(&ok).unwrap();
        assert_eq!(
            props,
            vec![
                Property::new("TimeoutStopUSec", Value::U64(5_000_000)),
                Property::new("KillSignal", Value::I32(2)),
            ]
        );
        let unknown = owned(ZValue::from(vec![(
            "PIDs".to_owned(),
            owned(ZValue::U64(1)),
        )]));
        assert!(scope_properties(&unknown)
            .unwrap_err()
            .message
            .contains("ScopeProperties.PIDs"));
        let mistyped = owned(ZValue::from(vec![(
            "TasksMax".to_owned(),
            owned(ZValue::from("10")),
        )]));
        let error = scope_properties(&mistyped).unwrap_err();
        assert!(
            error.message.contains("ScopeProperties.TasksMax") && error.message.contains("`t`"),
            "{}",
            error.message
        );
        assert!(scope_properties(&owned(ZValue::from("x"))).is_err());
    }
}
