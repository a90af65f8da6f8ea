//! Shared pieces of the CLI tests: run the `unitbox` binary against a state root, and
//! busybox bundles whose config.json is `unitbox spec`'s, adjusted per test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support;

/// The binary under test.
pub const UNITBOX: &str = env!("CARGO_BIN_EXE_unitbox");

/// `unitbox --root <root> …` with the test's own stdio discarded unless captured.
pub struct Cli {
    /// The state root (a scratch dir).
    pub root: PathBuf,
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// Exit code (None when killed).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "failed: {self:?}");
        &self.stdout
    }

    /// Asserts failure with exactly one stderr line containing every `needle`.
    pub fn fails_with(&self, needles: &[&str]) {
        assert_ne!(self.code, Some(0), "succeeded: {self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "not one line: {self:?}");
        for needle in needles {
            assert!(self.stderr.contains(needle), "no `{needle}` in {self:?}");
        }
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Cli {
    /// A CLI over a fresh state root named after the test.
    pub fn new(name: &str) -> Cli {
        Cli {
            root: support::scratch_dir(name),
        }
    }

    /// The command, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(UNITBOX);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs it with output captured (stdin is /dev/null). Output goes through files, not
    /// pipes: a detached container keeps the caller's stdio, so a pipe would never end.
    pub fn run(&self, args: &[&str]) -> Ran {
        let out_path = self.root.join(".stdout");
        let err_path = self.root.join(".stderr");
        let status = self
            .command(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .expect("spawn unitbox");
        Ran {
            code: status.code(),
            stdout: std::fs::read_to_string(&out_path).unwrap(),
            stderr: std::fs::read_to_string(&err_path).unwrap(),
        }
    }

    /// The container's `state` JSON.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(self.run(&["state", id]).ok()).unwrap()
    }

    /// The container's status word.
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_owned()
    }

    /// Waits (up to 10 s) for the container to exist with status `want`.
    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..200 {
            let out = self.run(&["state", id]);
            if out.code == Some(0)
                && serde_json::from_str::<Value>(&out.stdout).unwrap()["status"] == want
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{id} never became {want}: {}", self.status(id));
    }
}

/// A busybox bundle with `unitbox spec`'s config.json, no terminal, running `args`;
/// `edit` adjusts the JSON further.
pub fn bundle(name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
    let bundle = support::bundle(name);
    let spec = Command::new(UNITBOX)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(spec.status.success(), "{spec:?}");
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    bundle
}

/// The path as a `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Scopes of containers whose id starts with `prefix` that systemd still knows (tests
/// run side by side in one box, so each checks its own ids).
pub fn leftover_scopes(prefix: &str) -> String {
    let pattern = format!("unitbox-{prefix}*.scope");
    let out = support::systemctl(&["list-units", "--all", "--no-legend", "--plain", &pattern]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
