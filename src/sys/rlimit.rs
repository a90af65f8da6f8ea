//! `prlimit(2)`: resource limits by their raw `RLIMIT_*` number.

use nix::errno::Errno;

/// `RLIM_NLIMITS`: resource numbers are `0..RLIMIT_COUNT`.
pub const RLIMIT_COUNT: i32 = 16;

/// `prlimit(0, resource, {soft, hard}, NULL)`—Sets a resource limit of the caller.
///
/// `u64::MAX` is `RLIM_INFINITY`.
///
/// # References
/// - [`getrlimit(2)`](https://man7.org/linux/man-pages/man2/getrlimit.2.html)
pub fn set_rlimit(resource: i32, soft: u64, hard: u64) -> nix::Result<()> {
    if !(0..RLIMIT_COUNT).contains(&resource) {
        return Err(Errno::EINVAL);
    }
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: prlimit64 reads the struct we own and writes nothing (null old limit).
    let rc = unsafe {
        libc::prlimit64(
            0,
            resource as libc::__rlimit_resource_t,
            &limit,
            std::ptr::null_mut(),
        )
    };
    Errno::result(rc).map(drop)
}
