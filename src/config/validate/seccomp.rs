//! The seccomp filter: actions, architectures, flags and argument conditions that
//! libseccomp and the kernel accept.

use super::super::types::{Seccomp, SeccompAction, SeccompSyscall};
use super::ConfigError;

/// Syscall argument positions are 0 to 5.
const SECCOMP_MAX_ARG_INDEX: u32 = 5;

/// Architecture names libseccomp knows (runc's `archs` map).
const SECCOMP_ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

pub(super) fn check_seccomp(s: &Seccomp) -> Result<(), ConfigError> {
    const F: &str = "linux.seccomp";
    if s.default_action == SeccompAction::Notify {
        return Err(ConfigError::invalid(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    for (i, arch) in s.architectures.iter().enumerate() {
        if !SECCOMP_ARCHES.contains(&arch.as_str()) {
            return Err(ConfigError::invalid(
                format!("{F}.architectures[{i}]"),
                format!("unknown architecture `{arch}`"),
            ));
        }
    }
    for (i, flag) in s.flags.iter().enumerate() {
        if !SECCOMP_FLAGS.contains(&flag.as_str()) {
            return Err(ConfigError::invalid(
                format!("{F}.flags[{i}]"),
                format!("unknown flag `{flag}`"),
            ));
        }
    }
    let notifies = s.syscalls.iter().any(|c| c.action == SeccompAction::Notify);
    if notifies && s.listener_path.is_none() {
        return Err(ConfigError::invalid(
            format!("{F}.listenerPath"),
            "required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    if let Some(path) = &s.listener_path {
        if !path.is_absolute() {
            return Err(ConfigError::invalid(
                format!("{F}.listenerPath"),
                format!("`{}` must be an absolute path", path.display()),
            ));
        }
    }
    for (i, call) in s.syscalls.iter().enumerate() {
        check_seccomp_syscall(call, &format!("{F}.syscalls[{i}]"))?;
    }
    Ok(())
}

fn check_seccomp_syscall(call: &SeccompSyscall, field: &str) -> Result<(), ConfigError> {
    if call.names.is_empty() {
        return Err(ConfigError::invalid(
            format!("{field}.names"),
            "must name at least one syscall",
        ));
    }
    for (j, name) in call.names.iter().enumerate() {
        if name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{field}.names[{j}]"),
                "must not be empty",
            ));
        }
        // init writes its ready message after loading the filter: a notify on write
        // would deadlock it (runc refuses this too).
        if call.action == SeccompAction::Notify && name == "write" {
            return Err(ConfigError::invalid(
                format!("{field}.names[{j}]"),
                "SCMP_ACT_NOTIFY cannot be used for `write`",
            ));
        }
    }
    for (j, arg) in call.args.iter().enumerate() {
        if arg.index > SECCOMP_MAX_ARG_INDEX {
            return Err(ConfigError::invalid(
                format!("{field}.args[{j}].index"),
                format!("{} is not an argument position 0 to 5", arg.index),
            ));
        }
    }
    if call.errno_ret.is_some()
        && !matches!(call.action, SeccompAction::Errno | SeccompAction::Trace)
    {
        return Err(ConfigError::invalid(
            format!("{field}.errnoRet"),
            "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet",
        ));
    }
    Ok(())
}
