//! Seccomp: the config's filter translated to libseccomp and loaded.
//!
//! Mirrors runc's `libcontainer/seccomp/seccomp_linux.go`: syscalls libseccomp does not
//! know are skipped (profiles list syscalls of newer kernels), rules whose action equals
//! the default action are skipped (libseccomp refuses them), and conditions that repeat
//! an argument index become one rule each (libseccomp cannot AND two conditions on one
//! argument). `no_new_privs` is ours to set, so libseccomp's own `CtlNnp` is off.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use crate::config::{Seccomp, SeccompAction, SeccompArg, SeccompOp};

/// A filter that cannot be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An architecture libseccomp does not know.
    #[error("seccomp.architectures: unknown architecture `{0}`")]
    UnknownArch(String),
    /// A flag we do not support.
    #[error("seccomp.flags: unsupported flag `{0}`")]
    UnknownFlag(String),
    /// An argument index outside 0–5.
    #[error("seccomp.syscalls[{rule}].args: index {index} is out of range 0-5")]
    ArgIndex {
        /// Rule index.
        rule: usize,
        /// Argument index.
        index: u32,
    },
    /// An errno that does not fit.
    #[error("seccomp: errno {0} is out of range")]
    Errno(u32),
    /// `SCMP_ACT_NOTIFY` needs a listener we do not run.
    #[error("seccomp: `SCMP_ACT_NOTIFY` is not supported")]
    Notify,
    /// libseccomp refused a call.
    #[error("libseccomp `{call}`")]
    Library {
        /// The call.
        call: &'static str,
        /// Cause.
        #[source]
        source: libseccomp::error::SeccompError,
    },
}

fn lib(call: &'static str) -> impl Fn(libseccomp::error::SeccompError) -> SeccompError {
    move |source| SeccompError::Library { call, source }
}

/// The libseccomp action of a config action; `errno` is the rule's `errnoRet`.
pub fn action(action: SeccompAction, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let ret = |e: Option<u32>| -> Result<u16, SeccompError> {
        let e = e.unwrap_or(libc::EPERM as u32);
        u16::try_from(e).map_err(|_| SeccompError::Errno(e))
    };
    Ok(match action {
        SeccompAction::Kill | SeccompAction::KillThread => ScmpAction::KillThread,
        SeccompAction::KillProcess => ScmpAction::KillProcess,
        SeccompAction::Trap => ScmpAction::Trap,
        SeccompAction::Errno => ScmpAction::Errno(i32::from(ret(errno)?)),
        SeccompAction::Trace => ScmpAction::Trace(ret(errno)?),
        SeccompAction::Allow => ScmpAction::Allow,
        SeccompAction::Log => ScmpAction::Log,
        SeccompAction::Notify => return Err(SeccompError::Notify),
    })
}

/// The libseccomp condition of a config argument condition.
pub fn condition(arg: &SeccompArg) -> ScmpArgCompare {
    let (op, datum) = match arg.op {
        SeccompOp::NotEqual => (ScmpCompareOp::NotEqual, arg.value),
        SeccompOp::LessThan => (ScmpCompareOp::Less, arg.value),
        SeccompOp::LessThanOrEqual => (ScmpCompareOp::LessOrEqual, arg.value),
        SeccompOp::Equal => (ScmpCompareOp::Equal, arg.value),
        SeccompOp::GreaterThanOrEqual => (ScmpCompareOp::GreaterEqual, arg.value),
        SeccompOp::GreaterThan => (ScmpCompareOp::Greater, arg.value),
        // OCI: `value` is the mask, `valueTwo` the value compared with (as runc passes them).
        SeccompOp::MaskedEqual => (ScmpCompareOp::MaskedEqual(arg.value), arg.value_two),
    };
    ScmpArgCompare::new(arg.index, op, datum)
}

/// Builds the filter of `config` without loading it.
pub fn build(config: &Seccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(config.default_action, config.default_errno)?;
    let mut filter = ScmpFilterContext::new(default).map_err(lib("seccomp_init"))?;
    filter.set_ctl_nnp(false).map_err(lib("seccomp_attr_set"))?;
    for name in &config.architectures {
        let arch: ScmpArch = name
            .parse()
            .map_err(|_| SeccompError::UnknownArch(name.clone()))?;
        match filter.add_arch(arch) {
            Ok(_) => {}
            // The native architecture is already there.
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(lib("seccomp_arch_add")(e)),
        }
    }
    for flag in &config.flags {
        match flag.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => filter.set_ctl_tsync(true),
            "SECCOMP_FILTER_FLAG_LOG" => filter.set_ctl_log(true),
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => filter.set_ctl_ssb(true),
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => filter.set_ctl_waitkill(true),
            other => return Err(SeccompError::UnknownFlag(other.to_owned())),
        }
        .map_err(lib("seccomp_attr_set"))?;
    }
    for (index, rule) in config.syscalls.iter().enumerate() {
        let act = action(rule.action, rule.errno_ret)?;
        if act == default {
            continue;
        }
        if let Some(bad) = rule.args.iter().find(|a| a.index > 5) {
            return Err(SeccompError::ArgIndex {
                rule: index,
                index: bad.index,
            });
        }
        let conditions: Vec<ScmpArgCompare> = rule.args.iter().map(condition).collect();
        let mut indexes: Vec<u32> = rule.args.iter().map(|a| a.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let repeated = indexes.len() != rule.args.len();
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "seccomp rule for an unknown syscall skipped");
                continue;
            };
            if repeated {
                for c in &conditions {
                    filter
                        .add_rule_conditional(act, syscall, std::slice::from_ref(c))
                        .map_err(lib("seccomp_rule_add"))?;
                }
            } else {
                filter
                    .add_rule_conditional(act, syscall, &conditions)
                    .map_err(lib("seccomp_rule_add"))?;
            }
        }
    }
    Ok(filter)
}

/// Builds and loads the filter into the calling thread.
pub fn load(config: &Seccomp) -> Result<(), SeccompError> {
    build(config)?.load().map_err(lib("seccomp_load"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;
    use crate::config::SeccompSyscall;

    fn pfc(config: &Seccomp) -> String {
        let filter = build(config).unwrap();
        let fd =
            nix::sys::memfd::memfd_create(c"pfc", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap();
        let mut file = std::fs::File::from(fd);
        filter.export_pfc(&file).unwrap();
        file.rewind().unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn actions_map_with_their_errno() {
        let table = [
            (SeccompAction::Kill, None, ScmpAction::KillThread),
            (SeccompAction::KillProcess, None, ScmpAction::KillProcess),
            (SeccompAction::Errno, None, ScmpAction::Errno(libc::EPERM)),
            (SeccompAction::Errno, Some(38), ScmpAction::Errno(38)),
            (SeccompAction::Trace, Some(3), ScmpAction::Trace(3)),
            (SeccompAction::Allow, Some(9), ScmpAction::Allow),
            (SeccompAction::Log, None, ScmpAction::Log),
            (SeccompAction::Trap, None, ScmpAction::Trap),
        ];
        for (act, errno, want) in table {
            assert_eq!(action(act, errno).unwrap(), want, "{act:?} errno {errno:?}");
        }
        assert!(matches!(
            action(SeccompAction::Errno, Some(70000)),
            Err(SeccompError::Errno(70000))
        ));
        assert!(matches!(
            action(SeccompAction::Notify, None),
            Err(SeccompError::Notify)
        ));
    }

    #[test]
    fn a_profile_becomes_rules_with_errno_and_conditions() {
        let config = Seccomp {
            default_action: SeccompAction::Allow,
            architectures: vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_X86".into()],
            syscalls: vec![
                SeccompSyscall {
                    names: vec!["mkdir".into(), "no_such_syscall_xyz".into()],
                    action: SeccompAction::Errno,
                    errno_ret: Some(38),
                    args: vec![],
                },
                SeccompSyscall {
                    names: vec!["personality".into()],
                    action: SeccompAction::Errno,
                    errno_ret: None,
                    args: vec![SeccompArg {
                        index: 0,
                        value: 0xffff,
                        value_two: 8,
                        op: SeccompOp::MaskedEqual,
                    }],
                },
                SeccompSyscall {
                    names: vec!["getpid".into()],
                    action: SeccompAction::Allow,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = pfc(&config);
        assert!(text.contains("# filter for syscall \"mkdir\""), "{text}");
        assert!(text.contains("action ERRNO(38)"), "{text}");
        assert!(
            text.contains("# filter for syscall \"personality\""),
            "{text}"
        );
        assert!(text.contains("& 0x0000ffff == 8"), "{text}");
        assert!(text.contains("action ERRNO(1)"), "{text}");
        assert!(
            !text.contains("\"getpid\""),
            "rule equal to the default is skipped: {text}"
        );
        assert!(text.contains("x86"), "{text}");
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let arch = Seccomp {
            architectures: vec!["SCMP_ARCH_PDP11".into()],
            ..Default::default()
        };
        assert_eq!(
            build(&arch).unwrap_err().to_string(),
            "seccomp.architectures: unknown architecture `SCMP_ARCH_PDP11`"
        );
        let index = Seccomp {
            syscalls: vec![SeccompSyscall {
                names: vec!["read".into()],
                action: SeccompAction::Errno,
                args: vec![SeccompArg {
                    index: 6,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            build(&index).unwrap_err().to_string(),
            "seccomp.syscalls[0].args: index 6 is out of range 0-5"
        );
    }
}
