//! OCI hooks: run a configured program with the container's state on stdin.
//!
//! Owns [`OciState`] (the OCI runtime-spec state JSON, which `unitbox state` prints too)
//! and the running of one hook list: argv with its own `argv[0]`, environment, a timeout
//! after which the hook is killed, and an error naming the hook, its kind and how it
//! ended. Never decides *when* hooks run: the container verbs (createRuntime, prestart,
//! poststart, poststop) and init (createContainer, startContainer) call [`run_hooks`] at
//! their points. Mirrors runc's `libcontainer/configs/config.go` `Hook.Run`.
//!
//! [`run_hooks`] forks no Rust code and starts no thread, so init (single-threaded,
//! inside the container) may call it as well as the threaded daemon.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Hook;
use crate::container::Status;

/// The OCI runtime-spec version our state JSON follows.
pub const OCI_VERSION: &str = "1.2.1";

/// The container state every hook receives on stdin (OCI runtime-spec "State").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// Version of the runtime spec the state follows.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: Status,
    /// Host pid of the container's init, while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// The bundle's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Where in the lifecycle a hook runs (OCI `hooks.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// Legacy `prestart`: runtime namespace, after the namespaces exist, before pivot_root.
    Prestart,
    /// `createRuntime`: runtime namespace, same point as prestart.
    CreateRuntime,
    /// `createContainer`: container namespaces, before pivot_root.
    CreateContainer,
    /// `startContainer`: container namespaces, just before the user process execs.
    StartContainer,
    /// `poststart`: runtime namespace, after the user process started.
    Poststart,
    /// `poststop`: runtime namespace, after the container is deleted.
    Poststop,
}

impl HookKind {
    /// The OCI name of the hook list.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in a config.
    pub fn of(self, hooks: &crate::config::Hooks) -> &[Hook] {
        match self {
            HookKind::Prestart => &hooks.prestart,
            HookKind::CreateRuntime => &hooks.create_runtime,
            HookKind::CreateContainer => &hooks.create_container,
            HookKind::StartContainer => &hooks.start_container,
            HookKind::Poststart => &hooks.poststart,
            HookKind::Poststop => &hooks.poststop,
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The state could not be encoded.
    #[error("encode state for {kind} hooks")]
    EncodeState {
        /// Hook kind.
        kind: HookKind,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The hook program could not be started.
    #[error("start {kind} hook `{}`", path.display())]
    Spawn {
        /// Hook kind.
        kind: HookKind,
        /// Hook program.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The state could not be written to the hook's stdin.
    #[error("write state to {kind} hook `{}`", path.display())]
    WriteState {
        /// Hook kind.
        kind: HookKind,
        /// Hook program.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Waiting for the hook failed.
    #[error("wait for {kind} hook `{}`", path.display())]
    Wait {
        /// Hook kind.
        kind: HookKind,
        /// Hook program.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The hook exited unsuccessfully or was killed by a signal.
    #[error("{kind} hook `{}` failed: {status}", path.display())]
    Failed {
        /// Hook kind.
        kind: HookKind,
        /// Hook program.
        path: PathBuf,
        /// How it ended.
        status: ExitStatus,
    },
    /// The hook ran past its timeout and was killed.
    #[error("{kind} hook `{}` timed out after {timeout_secs}s", path.display())]
    TimedOut {
        /// Hook kind.
        kind: HookKind,
        /// Hook program.
        path: PathBuf,
        /// The configured timeout.
        timeout_secs: u32,
    },
}

/// Runs `hooks` one after another, each with `state` as JSON on stdin; stops at the first
/// failure.
///
/// Each hook gets `args[0]` as its `argv[0]` (the path when `args` is empty) and exactly
/// its `env` (the caller's environment when `env` is empty, as runc does). A hook with a
/// timeout is killed (`SIGKILL`) and reaped once it expires. The working directory is
/// the bundle when it exists (runc runs from the bundle), else the caller's.
pub fn run_hooks(kind: HookKind, hooks: &[Hook], state: &OciState) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json =
        serde_json::to_vec(state).map_err(|source| HookError::EncodeState { kind, source })?;
    for hook in hooks {
        run_hook(kind, hook, &json, &state.bundle)?;
    }
    Ok(())
}

fn run_hook(kind: HookKind, hook: &Hook, state: &[u8], bundle: &Path) -> Result<(), HookError> {
    let path = || hook.path.clone();
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    if !hook.env.is_empty() {
        command.env_clear();
        for entry in &hook.env {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            command.env(key, value);
        }
    }
    if !bundle.as_os_str().is_empty() && bundle.is_dir() {
        command.current_dir(bundle);
    }
    command.stdin(Stdio::piped());
    let mut child = command.spawn().map_err(|source| HookError::Spawn {
        kind,
        path: path(),
        source,
    })?;
    if let Err(source) = write_state(&mut child, state) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HookError::WriteState {
            kind,
            path: path(),
            source,
        });
    }
    let timeout = hook
        .timeout
        .map(|secs| (secs, Duration::from_secs(secs.into())));
    let status = match wait_until(&mut child, timeout.map(|(_, d)| d)) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // Killing a process that just exited is harmless; the reap below is what matters.
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut {
                kind,
                path: path(),
                timeout_secs: timeout.map_or(0, |(secs, _)| secs),
            });
        }
        Err(source) => {
            return Err(HookError::Wait {
                kind,
                path: path(),
                source,
            })
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed {
            kind,
            path: path(),
            status,
        })
    }
}

/// Writes the state and closes stdin; a hook that exits without reading is not an error.
fn write_state(child: &mut Child, state: &[u8]) -> io::Result<()> {
    let Some(mut stdin) = child.stdin.take() else {
        return Ok(());
    };
    match stdin.write_all(state) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Waits for `child`, at most `timeout`; `Ok(None)` when it expired.
///
/// Polls with a growing sleep instead of a helper thread, so init can call it too.
fn wait_until(child: &mut Child, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
    let Some(timeout) = timeout else {
        return child.wait().map(Some);
    };
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    fn scratch() -> PathBuf {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("unitbox-hooks-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn state(bundle: &Path) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_owned(),
            id: "hooked".to_owned(),
            status: Status::Created,
            pid: Some(1234),
            bundle: bundle.to_owned(),
            annotations: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
        }
    }

    fn sh(script: &str) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            timeout: None,
        }
    }

    #[test]
    fn hooks_get_state_args_env_and_run_in_order() {
        let dir = scratch();
        let out = dir.join("out");
        let mut second = sh(&format!(
            "echo \"second $0 $1 $FOO $(pwd)\" >> {}",
            out.display()
        ));
        second.args.push("arg0-seen".into());
        second.args.push("one".into());
        second.env = vec!["FOO=bar".into(), "PATH=/usr/bin:/bin".into()];
        let hooks = [
            sh(&format!("cat >> {0}; echo >> {0}", out.display())),
            second,
        ];
        run_hooks(HookKind::Poststart, &hooks, &state(&dir)).unwrap();
        let text = fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        let seen: OciState = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(seen, state(&dir));
        assert_eq!(
            lines.next().unwrap(),
            format!("second arg0-seen one bar {}", dir.display())
        );
    }

    #[test]
    fn state_json_has_oci_field_names() {
        let json = serde_json::to_value(state(Path::new("/b"))).unwrap();
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(json["status"], "created");
        assert_eq!(json["pid"], 1234);
        assert_eq!(json["bundle"], "/b");
        assert_eq!(json["annotations"]["a"], "b");
        let mut stopped = state(Path::new("/b"));
        stopped.pid = None;
        stopped.annotations.clear();
        let json = serde_json::to_value(stopped).unwrap();
        assert!(json.get("pid").is_none() && json.get("annotations").is_none());
    }

    #[test]
    fn failing_hook_stops_the_list_and_names_itself() {
        let dir = scratch();
        let marker = dir.join("ran");
        let hooks = [sh("exit 3"), sh(&format!("touch {}", marker.display()))];
        let err = run_hooks(HookKind::CreateRuntime, &hooks, &state(&dir)).unwrap_err();
        match &err {
            HookError::Failed { kind, path, status } => {
                assert_eq!(*kind, HookKind::CreateRuntime);
                assert_eq!(path, Path::new("/bin/sh"));
                assert_eq!(status.code(), Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string().contains("createRuntime hook `/bin/sh`"),
            "{err}"
        );
        assert!(!marker.exists());
    }

    #[test]
    fn hook_past_its_timeout_is_killed() {
        let dir = scratch();
        let mut slow = sh("sleep 30");
        slow.timeout = Some(1);
        let started = Instant::now();
        let err = run_hooks(HookKind::Poststop, &[slow], &state(&dir)).unwrap_err();
        assert!(
            matches!(
                err,
                HookError::TimedOut {
                    timeout_secs: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let hook = Hook {
            path: "/nonexistent/hook".into(),
            ..Hook::default()
        };
        let err = run_hooks(HookKind::Prestart, &[hook], &state(Path::new(""))).unwrap_err();
        assert!(matches!(err, HookError::Spawn { .. }), "{err:?}");
        assert!(err.to_string().contains("`/nonexistent/hook`"));
    }

    #[test]
    fn hook_that_ignores_stdin_succeeds() {
        run_hooks(HookKind::Poststart, &[sh("exit 0")], &state(Path::new(""))).unwrap();
    }
}
