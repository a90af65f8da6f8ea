//! Container configuration: the types, OCI `config.json` conversion and validation.
//!
//! A bundle becomes a container config in three steps, each its own module:
//! [`oci::load_bundle`] reads and converts `config.json` (refusing what cannot be honoured),
//! [`validate::validate`] checks the result against runc's rules, and [`id::validate_id`]
//! checks the container id. [`default_spec::default_spec`] is what `unitbox spec` writes.

pub mod default_devices;
pub mod default_spec;
pub mod id;
pub mod oci;
pub mod resources;
pub mod types;
pub mod validate;

pub use id::{validate_id, IdError};
pub use oci::{from_spec, load_bundle};
pub use resources::*;
pub use types::*;
pub use validate::{validate, ConfigError};
