//! `personality(2)`: the execution domain of the container process.

use nix::errno::Errno;

/// `PER_LINUX`: the native domain.
pub const LINUX: libc::c_ulong = 0x0000;
/// `PER_LINUX32`: 32-bit `uname` and address space.
pub const LINUX32: libc::c_ulong = 0x0008;

/// `personality(persona)`—Sets the execution domain of the calling process.
///
/// # References
/// - [`personality(2)`](https://man7.org/linux/man-pages/man2/personality.2.html)
pub fn set_personality(persona: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: personality takes an integer and changes only the calling process.
    Errno::result(unsafe { libc::personality(persona) }).map(drop)
}
