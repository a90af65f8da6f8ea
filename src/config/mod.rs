//! Container configuration: the types, OCI `config.json` conversion and validation.

pub mod oci;
pub mod resources;
pub mod types;
pub mod validate;

pub use resources::*;
pub use types::*;
