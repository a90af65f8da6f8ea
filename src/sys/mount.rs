//! (owned by the rootfs helper: filled on branch `rootfs`)
