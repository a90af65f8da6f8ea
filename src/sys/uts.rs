//! `setdomainname(2)`: the NIS domain name of the UTS namespace (nix covers the hostname).

use nix::errno::Errno;

/// `setdomainname(name)`—Sets the NIS domain name of the caller's UTS namespace.
///
/// # References
/// - [`setdomainname(2)`](https://man7.org/linux/man-pages/man2/setdomainname.2.html)
pub fn set_domainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, alive for the call.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop)
}
