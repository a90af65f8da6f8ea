//! A container: its status machine, state and verbs (one verb per file).

pub mod status;

pub use status::{Status, Verb};
