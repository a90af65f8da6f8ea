//! The test box: a private systemd booted as PID 1 of fresh namespaces, one per test
//! binary process (see the parent module doc for the lifecycle).
//!
//! The shell halves live next to this file: `box-supervise.sh` joins the box's cgroups,
//! `unshare`s and tears down; `box-boot.sh` prepares the mounts and execs systemd.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::cgroup_layout::CgroupLayout;
use super::test_area;

const BOOT_SCRIPT: &str = include_str!("box-boot.sh");
const SUPERVISE_SCRIPT: &str = include_str!("box-supervise.sh");
/// Joins the box's cgroups (listed in `$1`), then enters its namespaces and runs the rest.
const JOIN_SCRIPT: &str = r#"while IFS= read -r dir; do echo $$ >"$dir/cgroup.procs" || exit 125; done <"$1"
pid1=$2
wd=$3
shift 3
exec nsenter -t "$pid1" -m -p -u -i -C --wd="$wd" -- "$@""#;

/// Name prefix of every box cgroup: `unitbox-testbox-<launcher pid>`.
pub const BOX_PREFIX: &str = "unitbox-testbox-";

/// How long a boot may take until `systemctl is-system-running` says running/degraded.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// A booted test box.
pub struct SystemdBox {
    /// `unitbox-testbox-<pid>`, also the name of its cgroups.
    pub name: String,
    /// The box's PID 1 (systemd) as seen from the host.
    pub pid1: u32,
    /// Files of the box: scripts, `cgroups` (one box cgroup dir per line), `pid1`,
    /// `unshare.pid`, `console.log`, and `journal.log` once torn down.
    pub state_dir: PathBuf,
    /// The supervisor; it tears the box down when `keepalive` closes, i.e. when we exit.
    supervisor: Mutex<Child>,
    keepalive: Mutex<Option<ChildStdin>>,
}

/// This process's box, booted on first call; panics with diagnostics if it cannot boot.
pub fn shared_box() -> &'static SystemdBox {
    static BOX: OnceLock<Result<SystemdBox, String>> = OnceLock::new();
    match BOX.get_or_init(SystemdBox::boot) {
        Ok(test_box) => test_box,
        Err(why) => panic!("{why}"),
    }
}

impl SystemdBox {
    /// Boots a new box for this process and waits until its systemd is up.
    ///
    /// Tests normally use the shared box through `in_systemd`; the harness's own tests
    /// boot extra boxes to check isolation and teardown.
    pub fn boot() -> Result<SystemdBox, String> {
        let started = Instant::now();
        remove_stale_boxes();
        // The shared box is `unitbox-testbox-<pid>`; further boxes (harness tests) get `-<n>`.
        static BOOTS: AtomicU32 = AtomicU32::new(0);
        let name = match BOOTS.fetch_add(1, Ordering::Relaxed) {
            0 => format!("{BOX_PREFIX}{}", std::process::id()),
            n => format!("{BOX_PREFIX}{}-{n}", std::process::id()),
        };
        let layout = CgroupLayout::discover();
        let state_dir = test_area::run_dir_for_box(&name).join("box");
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| format!("create `{}`: {e}", state_dir.display()))?;

        let dirs: Vec<PathBuf> = layout
            .hierarchies
            .iter()
            .map(|h| h.own_dir.join(&name))
            .collect();
        let spawned = create_box_cgroups(&layout, &dirs)
            .and_then(|()| spawn_supervisor(&state_dir, &layout, &dirs));
        let mut supervisor = match spawned {
            Ok(supervisor) => supervisor,
            Err(why) => {
                // Nobody supervises these yet: remove them now.
                let deadline = Instant::now() + Duration::from_secs(10);
                for dir in &dirs {
                    remove_cgroup_tree(dir, deadline);
                }
                return Err(format!("test box `{name}`: {why}"));
            }
        };
        let keepalive = supervisor.stdin.take();
        let mut test_box = SystemdBox {
            name,
            pid1: 0,
            state_dir,
            supervisor: Mutex::new(supervisor),
            keepalive: Mutex::new(keepalive),
        };
        match test_box.wait_until_running(started) {
            Ok(()) => Ok(test_box),
            Err(why) => {
                let report = format!("{why}\n{}", test_box.diagnostics());
                test_box.shut_down();
                Err(report)
            }
        }
    }

    /// A command that runs `program args…` inside the box (in its cgroups and namespaces),
    /// with the same working directory as ours.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, program: &str, args: &[S]) -> Command {
        let wd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(JOIN_SCRIPT)
            .arg("unitbox-test-join")
            .arg(self.state_dir.join("cgroups"))
            .arg(self.pid1.to_string())
            .arg(wd)
            .arg(program)
            .args(args)
            .env(super::IN_BOX_ENV, &self.name)
            .env("DBUS_SYSTEM_BUS_ADDRESS", super::bus_address());
        cmd
    }

    /// Output of `program args…` run inside the box, stdout and stderr together.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        match self.command(program, args).stdin(Stdio::null()).output() {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("run `{program}` in the box: {e}"),
        }
    }

    /// Tears the box down now (the supervisor does it), instead of at our exit.
    pub fn shut_down(&self) {
        self.keepalive.lock().unwrap().take();
        let _ = self.supervisor.lock().unwrap().wait();
    }

    fn wait_until_running(&mut self, started: Instant) -> Result<(), String> {
        let deadline = started + BOOT_TIMEOUT;
        let pid_file = self.state_dir.join("pid1");
        loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                self.pid1 = text
                    .trim()
                    .parse()
                    .map_err(|e| format!("parse `{}`: {e}", pid_file.display()))?;
                break;
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "test box `{}`: PID 1 did not start within {BOOT_TIMEOUT:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        loop {
            let state = self.run("systemctl", &["is-system-running"]);
            match state.trim() {
                "running" => return Ok(()),
                "degraded" => {
                    eprintln!(
                        "test box `{}` booted degraded:\n{}",
                        self.name,
                        self.run("systemctl", &["--failed", "--no-pager"])
                    );
                    return Ok(());
                }
                _ => {}
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "test box `{}`: systemd not running after {BOOT_TIMEOUT:?} (last state: {})",
                    self.name,
                    state.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_alive(&self) -> Result<(), String> {
        match self.supervisor.lock().unwrap().try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                return Err(format!(
                    "test box `{}`: supervisor exited ({status})",
                    self.name
                ))
            }
            Err(e) => {
                return Err(format!(
                    "test box `{}`: wait for the supervisor: {e}",
                    self.name
                ))
            }
        }
        // The supervisor's child (unshare) ends, or stays a zombie until the supervisor
        // reaps it at teardown, if the box dies: a boot script error, a systemd crash.
        if let Ok(pid) = std::fs::read_to_string(self.state_dir.join("unshare.pid")) {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            let dead = stat.map_or(true, |s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            });
            if dead {
                return Err(format!("test box `{}`: exited while booting", self.name));
            }
        }
        if self.pid1 != 0 && !Path::new(&format!("/proc/{}", self.pid1)).exists() {
            return Err(format!(
                "test box `{}`: systemd (pid {}) died",
                self.name, self.pid1
            ));
        }
        Ok(())
    }

    /// What to show when the box failed: console, failed units, journal tail.
    fn diagnostics(&self) -> String {
        let mut console = String::new();
        if let Ok(mut f) = std::fs::File::open(self.state_dir.join("console.log")) {
            let _ = f.read_to_string(&mut console);
        }
        let tail: Vec<&str> = console.lines().rev().take(40).collect();
        let mut report = format!(
            "--- console ({}) ---\n{}\n",
            self.state_dir.join("console.log").display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        if self.pid1 != 0 && Path::new(&format!("/proc/{}", self.pid1)).exists() {
            report += &format!(
                "--- systemctl --failed ---\n{}\n--- journal ---\n{}",
                self.run("systemctl", &["--failed", "--no-pager"]),
                self.run("journalctl", &["-b", "-n", "60", "--no-pager"])
            );
        }
        report
    }
}

/// Creates the box's directory in every hierarchy. A leftover of the same name can only
/// come from a dead earlier process that had our pid, so it is removed first.
fn create_box_cgroups(layout: &CgroupLayout, dirs: &[PathBuf]) -> Result<(), String> {
    for (h, dir) in layout.hierarchies.iter().zip(dirs) {
        if dir.exists() {
            remove_cgroup_tree(dir, Instant::now() + Duration::from_secs(10));
        }
        create_cgroup(&h.own_dir, dir)?;
    }
    Ok(())
}

/// Creates `dir` below `parent`; cpuset groups need cpus and mems before anyone joins.
fn create_cgroup(parent: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir(dir).map_err(|e| format!("create cgroup `{}`: {e}", dir.display()))?;
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let from = parent.join(file);
        if let Ok(value) = std::fs::read_to_string(&from) {
            std::fs::write(dir.join(file), value.trim())
                .map_err(|e| format!("write `{}`: {e}", dir.join(file).display()))?;
        }
    }
    Ok(())
}

/// Starts box-supervise.sh in its own session (so a Ctrl-C of the test run cannot skip
/// its cleanup), with our end of its stdin as the "test binary still alive" signal.
fn spawn_supervisor(
    state_dir: &Path,
    layout: &CgroupLayout,
    dirs: &[PathBuf],
) -> Result<Child, String> {
    let write = |file: &str, text: &str| {
        std::fs::write(state_dir.join(file), text)
            .map_err(|e| format!("write `{}`: {e}", state_dir.join(file).display()))
    };
    write("box-boot.sh", BOOT_SCRIPT)?;
    write("box-supervise.sh", SUPERVISE_SCRIPT)?;
    let listed: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    write("cgroups", &(listed.join("\n") + "\n"))?;
    let console_path = state_dir.join("console.log");
    let console = std::fs::File::create(&console_path)
        .map_err(|e| format!("create `{}`: {e}", console_path.display()))?;
    let console_err = console
        .try_clone()
        .map_err(|e| format!("dup `{}`: {e}", console_path.display()))?;
    Command::new("setsid")
        .arg("sh")
        .arg(state_dir.join("box-supervise.sh"))
        .arg(state_dir)
        .arg(layout.boot_layout())
        .args(layout.hierarchies.iter().map(|h| h.boot_spec()))
        .stdin(Stdio::piped())
        .stdout(console)
        .stderr(console_err)
        .spawn()
        .map_err(|e| format!("spawn the box supervisor: {e}"))
}

/// Kills and removes boxes whose launcher process is dead (a killed earlier run), and
/// their run directories.
pub fn remove_stale_boxes() {
    let layout = CgroupLayout::discover();
    let mut stale = Vec::new();
    for h in &layout.hierarchies {
        for parent in h.box_parents() {
            let Ok(entries) = std::fs::read_dir(&parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .and_then(|n| test_area::owner_pid(n, BOX_PREFIX))
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    stale.push(entry.path());
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for dir in stale {
        remove_cgroup_tree(&dir, deadline);
    }
    test_area::remove_dead_runs();
}

/// SIGKILLs everything in the cgroup tree at `dir` and removes it bottom-up.
pub fn remove_cgroup_tree(dir: &Path, deadline: Instant) {
    loop {
        let mut dirs = Vec::new();
        collect_dirs(dir, &mut dirs);
        for d in &dirs {
            if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        // Children come after their parent in `dirs`, so remove in reverse.
        let all_gone = dirs
            .iter()
            .rev()
            .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists());
        if all_gone || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}
