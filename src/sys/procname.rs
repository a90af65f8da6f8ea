//! The name a process shows: `comm` (`PR_SET_NAME`) and its command line.
//!
//! A fork shows its parent's names until it execs; a forked monitor or init renames itself
//! so that `ps` and `systemctl status` say what it is. The command line is rewritten in
//! place, in the original argument area, which the kernel reads whole: the new arguments,
//! NUL-separated, then NULs to the end (readers drop the empty trailing ones; systemd does
//! since v250). No `PR_SET_MM` (that needs `CAP_SYS_RESOURCE`, which containers of
//! containers often lack).

use std::ffi::CString;
use std::os::unix::fs::FileExt;

use nix::errno::Errno;

/// Sets `comm` (at most 15 bytes are kept) and the arguments `/proc/<pid>/cmdline` shows
/// to `argv` (cut to the size of the original ones). The original argument strings are
/// gone afterwards: call it only once they have been read.
///
/// # References
/// - [`prctl(2)`](https://man7.org/linux/man-pages/man2/prctl.2.html) `PR_SET_NAME`
/// - [`proc_pid_cmdline(5)`](https://man7.org/linux/man-pages/man5/proc_pid_cmdline.5.html)
pub fn rename(comm: &str, argv: &[&str]) -> nix::Result<()> {
    let comm = CString::new(comm).map_err(|_| Errno::EINVAL)?;
    nix::sys::prctl::set_name(&comm)?;
    let (start, end) = argument_area().ok_or(Errno::EINVAL)?;
    let len = usize::try_from(end.saturating_sub(start)).map_err(|_| Errno::EINVAL)?;
    let mut area = vec![0u8; len];
    let mut at = 0;
    for arg in argv {
        // Room for the argument and its NUL, the area's last byte staying NUL.
        let room = len.saturating_sub(at + 1);
        let shown = arg.len().min(room);
        area[at..at + shown].copy_from_slice(&arg.as_bytes()[..shown]);
        at += shown + 1;
        if at >= len {
            break;
        }
    }
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    mem.write_all_at(&area, start)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// `arg_start` and `arg_end` of this process (`/proc/self/stat` fields 48 and 49).
fn argument_area() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces: field 3 is the first here.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((field(48)?, field(49)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_area_is_where_the_command_line_is() {
        let (start, end) = argument_area().unwrap();
        let cmdline = std::fs::read("/proc/self/cmdline").unwrap();
        assert!(start < end);
        assert_eq!((end - start) as usize, cmdline.len());
    }
}
