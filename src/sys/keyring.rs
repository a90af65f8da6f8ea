//! `keyctl(2)`: the session keyring a container's processes start in.
//!
//! Keyrings are not namespaced by the mount or PID namespaces, so a container that keeps
//! the runtime's session keyring could read the keys of whoever started it. runc (and we)
//! give each container its own session keyring, named `_ses.<id>`, unless
//! `--no-new-keyring` asks to keep the inherited one.

use std::ffi::CStr;

use nix::errno::Errno;

/// `KEYCTL_JOIN_SESSION_KEYRING` (uapi `linux/keyctl.h`).
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
/// `KEYCTL_SETPERM`.
const KEYCTL_SETPERM: libc::c_long = 5;
/// `KEYCTL_DESCRIBE`.
const KEYCTL_DESCRIBE: libc::c_long = 6;

/// `KEY_USR_SEARCH`: the owner (as a user, not as possessor) may find the keyring by name.
pub const KEY_USR_SEARCH: u32 = 0x0008_0000;

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`—makes the keyring called `name` the
/// calling process's session keyring, creating it if no keyring of that name can be
/// found; returns its serial number.
///
/// # References
/// - [`keyctl_join_session_keyring(3)`](https://man7.org/linux/man-pages/man3/keyctl_join_session_keyring.3.html)
pub fn join_session_keyring(name: &CStr) -> nix::Result<i32> {
    // SAFETY: `name` is NUL-terminated and outlives the call; the other arguments are unused.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            name.as_ptr(),
            0,
            0,
            0,
        )
    };
    Errno::result(ret).map(|serial| serial as i32)
}

/// `keyctl(KEYCTL_DESCRIBE, key)`—the key's permission mask (the fourth field of
/// `type;uid;gid;perm;description`).
///
/// # References
/// - [`keyctl_describe(3)`](https://man7.org/linux/man-pages/man3/keyctl_describe.3.html)
pub fn permissions(key: i32) -> nix::Result<u32> {
    let mut buf = [0u8; 512];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            key,
            buf.as_mut_ptr(),
            buf.len(),
            0,
        )
    };
    let len = Errno::result(ret)? as usize;
    let text = &buf[..len.min(buf.len())];
    parse_permissions(text).ok_or(Errno::EINVAL)
}

/// `keyctl(KEYCTL_SETPERM, key, perm)`—replaces the key's permission mask.
///
/// # References
/// - [`keyctl_setperm(3)`](https://man7.org/linux/man-pages/man3/keyctl_setperm.3.html)
pub fn set_permissions(key: i32, perm: u32) -> nix::Result<()> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, key, perm, 0, 0) };
    Errno::result(ret).map(drop)
}

/// The hexadecimal `perm` field of a `KEYCTL_DESCRIBE` answer.
fn parse_permissions(text: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?.trim_end_matches('\0');
    u32::from_str_radix(text.split(';').nth(3)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_field_is_the_fourth() {
        assert_eq!(
            parse_permissions(b"keyring;0;0;3f1b0000;_ses.c1\0"),
            Some(0x3f1b_0000)
        );
        assert_eq!(parse_permissions(b"keyring;0;0"), None);
        assert_eq!(parse_permissions(b"keyring;0;0;zz;x"), None);
    }
}
