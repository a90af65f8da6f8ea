//! `sched_setattr(2)`, `ioprio_set(2)`/`ioprio_get(2)` and `sched_setaffinity(2)`: the
//! scheduling attributes of the calling thread (OCI `process.scheduler`,
//! `process.ioPriority`, `process.execCPUAffinity`).

use nix::errno::Errno;
use nix::sched::CpuSet;
use nix::unistd::Pid;

/// `struct sched_attr` as of `SCHED_ATTR_SIZE_VER0` (no utilization clamps).
#[repr(C)]
#[derive(Debug, Default)]
struct RawSchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// The attributes `sched_setattr` sets, numeric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    /// `SCHED_OTHER` (0), `SCHED_FIFO` (1), … `SCHED_DEADLINE` (6).
    pub policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub flags: u64,
    /// Nice value (`SCHED_OTHER`, `SCHED_BATCH`).
    pub nice: i32,
    /// Static priority (`SCHED_FIFO`, `SCHED_RR`).
    pub priority: u32,
    /// `SCHED_DEADLINE` runtime, ns.
    pub runtime: u64,
    /// `SCHED_DEADLINE` deadline, ns.
    pub deadline: u64,
    /// `SCHED_DEADLINE` period, ns.
    pub period: u64,
}

/// `sched_setattr(0, attr, 0)`—Sets the scheduling policy and attributes of the caller.
///
/// # References
/// - [`sched_setattr(2)`](https://man7.org/linux/man-pages/man2/sched_setattr.2.html)
pub fn set_attr(attr: &SchedAttr) -> nix::Result<()> {
    let raw = RawSchedAttr {
        size: std::mem::size_of::<RawSchedAttr>() as u32,
        sched_policy: attr.policy,
        sched_flags: attr.flags,
        sched_nice: attr.nice,
        sched_priority: attr.priority,
        sched_runtime: attr.runtime,
        sched_deadline: attr.deadline,
        sched_period: attr.period,
    };
    // SAFETY: the kernel reads `size` bytes of a struct we own and keep alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw as *const RawSchedAttr, 0) };
    Errno::result(rc).map(drop)
}

/// `IOPRIO_WHO_PROCESS`.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;
/// Bits of the class in an I/O priority value.
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)`—Sets the caller's I/O
/// priority (`class`: 1 realtime, 2 best-effort, 3 idle; `level` 0–7).
///
/// # References
/// - [`ioprio_set(2)`](https://man7.org/linux/man-pages/man2/ioprio_set.2.html)
pub fn set_io_priority(class: u32, level: u32) -> nix::Result<()> {
    let value = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: plain integer arguments; the kernel reads no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            value as libc::c_long,
        )
    };
    Errno::result(rc).map(drop)
}

/// `ioprio_get(IOPRIO_WHO_PROCESS, pid)`—The I/O priority of `pid` as `(class, level)`.
///
/// # References
/// - [`ioprio_get(2)`](https://man7.org/linux/man-pages/man2/ioprio_set.2.html)
pub fn io_priority(pid: i32) -> nix::Result<(u32, u32)> {
    // SAFETY: plain integer arguments; the kernel reads no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_get,
            IOPRIO_WHO_PROCESS,
            pid as libc::c_long,
        )
    };
    let value = Errno::result(rc)? as u32;
    Ok((
        value >> IOPRIO_CLASS_SHIFT,
        value & ((1 << IOPRIO_CLASS_SHIFT) - 1),
    ))
}

/// `sched_setaffinity(0, …)`—Pins the caller to `cpus`.
///
/// # References
/// - [`sched_setaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)
pub fn set_affinity(cpus: &[usize]) -> nix::Result<()> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set)
}
