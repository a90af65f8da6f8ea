//! Validation of a [`Config`](super::Config) and of container ids, with errors that name
//! the field and the rule it broke.

/// A configuration that breaks a rule; `field` is the JSON path of the offending value.
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
}

/// A container id that runc would not accept.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// Empty id.
    #[error("invalid container id ``: must be 1 to 1024 characters")]
    Empty,
}
