//! Shared by the engine's integration tests: create/start/exec/finish a busybox container
//! in the test box's systemd through the engine API (`start_init`/`start_exec`), with a
//! real `ScopeManager` scope.
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::thread::JoinHandle;

use unitbox::cgroups::CgroupManager;
use unitbox::config::Config;
use unitbox::process::{self, ExecRequest, ExitStatus, InitRequest, Process, Spawned};
use unitbox::systemd::{for_container, ScopeManager};

use crate::support;

/// The `unitbox` binary init runs from (a sealed copy of it): cargo's, unless
/// `UNITBOX_TEST_INIT_BINARY` names another (worktrees that share one target directory
/// overwrite each other's `target/debug/unitbox`).
pub fn init_binary() -> PathBuf {
    std::env::var_os("UNITBOX_TEST_INIT_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_unitbox")))
}

/// A created container: its config, scope, state folder and init.
pub struct Created {
    pub config: Config,
    pub scope: ScopeManager,
    pub state: PathBuf,
    pub process: Process,
    pub spawned: Spawned,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

/// What a finished container printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub out: String,
    pub err: String,
    pub status: ExitStatus,
}

pub fn reader(fd: OwnedFd) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).unwrap();
        text
    })
}

/// The config of `unitbox spec` for a fresh bundle, with `args` as its process.
pub fn config_for(id: &str) -> Config {
    let bundle = support::bundle(id);
    let spec = unitbox::config::default_spec::default_spec(false);
    let mut config = unitbox::config::from_spec(&spec, &bundle).unwrap();
    config.cgroups.name = id.to_owned();
    config
}

pub fn sh(script: &str) -> Process {
    Process::new(vec!["sh".into(), "-c".into(), script.into()])
}

/// `create`: the container's init blocked on the exec fifo.
pub fn create(id: &str, config: Config, mut process: Process) -> Result<Created, unitbox::Error> {
    let state = support::scratch_dir(&format!("{id}-state"));
    let scope = ScopeManager::connect_system(
        &config.cgroups,
        for_container(&config.cgroups.scope_prefix, id),
    )
    .unwrap();
    let pipes = if process.terminal {
        None
    } else {
        Some(process.pipes().unwrap())
    };
    let mut hooks = |_, _| Ok(());
    let spawned = process::start_init(InitRequest {
        id,
        config: &config,
        process: &mut process,
        state_dir: &state,
        cgroup: &scope,
        hooks: &mut hooks,
        init_binary: Some(&init_binary()),
    });
    let spawned = match spawned {
        Ok(s) => s,
        Err(e) => {
            // A failed start leaves no process; the scope may or may not exist yet.
            if let Err(d) = scope.destroy() {
                eprintln!("destroy after failed create: {d:?}");
            }
            return Err(e);
        }
    };
    let (out, err) = match pipes {
        Some(p) => {
            drop(p.stdin);
            (Some(reader(p.stdout)), Some(reader(p.stderr)))
        }
        None => (None, None),
    };
    Ok(Created {
        config,
        scope,
        state,
        process,
        spawned,
        out,
        err,
    })
}

impl Created {
    /// `start`: release the fifo.
    pub fn start(&self) {
        process::release_exec_fifo(&self.state, self.spawned.pid).unwrap();
    }

    /// Waits for the process, collects its output, removes the scope.
    pub fn finish(mut self) -> Finished {
        let status = self.process.wait().unwrap();
        let out = self
            .out
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let err = self
            .err
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        self.scope.destroy().unwrap();
        Finished { out, err, status }
    }

    /// `exec`s `process` into the running container and waits for it.
    pub fn exec(&self, mut process: Process) -> Finished {
        let pipes = process.pipes().unwrap();
        drop(pipes.stdin);
        let (out, err) = (reader(pipes.stdout), reader(pipes.stderr));
        process::start_exec(ExecRequest {
            id: "exec",
            config: &self.config,
            process: &mut process,
            init_pid: self.spawned.pid,
            cgroup: &self.scope,
            init_binary: Some(&init_binary()),
        })
        .unwrap();
        let status = process.wait().unwrap();
        Finished {
            out: out.join().unwrap(),
            err: err.join().unwrap(),
            status,
        }
    }
}

/// create + start + wait.
pub fn run(id: &str, config: Config, process: Process) -> Finished {
    let created =
        create(id, config, process).unwrap_or_else(|e| panic!("create `{id}`: {}", chain(&e)));
    created.start();
    let done = created.finish();
    assert!(done.status.success(), "{id}: {done:?}");
    done
}

/// The value of a `Key:\tvalue` line of `/proc/self/status`.
pub fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no `{key}` in {status}"))
        .trim()
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// An error and its causes, one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cur = c.source();
    }
    text
}
