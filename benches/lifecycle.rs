//! The lifecycle benchmark: `create → start → exit → delete` of a busybox `/bin/true`
//! container, N times one after another, for unitbox, runc and crun, all with the
//! systemd cgroup driver, inside the tests' private systemd. Run it with `scripts/bench`.
//!
//! The runtimes take turns, one lifecycle each, so that the load of a shared machine
//! drifting during the run weighs on all of them alike. Prints per runtime the median of
//! each step and of the whole lifecycle, the sum of its N lifecycles, and the peak RSS of
//! each runtime command (`wait4`'s `ru_maxrss`); then the unitbox/crun ratio. `BENCH_N`
//! sets N (default 100); `BENCH_PROFILE=1` also prints `strace -c -f` of each unitbox
//! step; `BENCH_BASELINE=<path>` adds another unitbox binary (an older build, say) as
//! runtime `baseline`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UNITBOX: &str = env!("CARGO_BIN_EXE_unitbox");

/// One runtime under test.
struct Runtime {
    name: &'static str,
    binary: String,
    root: PathBuf,
}

/// One step's wall time and the command's peak RSS in KiB.
#[derive(Clone, Copy, Default)]
struct Step {
    time: Duration,
    rss_kib: i64,
}

/// The steps of one lifecycle.
#[derive(Clone, Copy, Default)]
struct Lifecycle {
    create: Step,
    start: Step,
    exit: Duration,
    delete: Step,
    total: Duration,
}

impl Runtime {
    fn new(name: &'static str, binary: &str) -> Runtime {
        Runtime {
            name,
            binary: binary.to_owned(),
            root: support::scratch_dir(&format!("bench-root-{name}")),
        }
    }

    /// `<rt> --root R --systemd-cgroup <args>`: waited with `wait4` for its rusage.
    fn step(&self, args: &[&str]) -> Step {
        let started = Instant::now();
        // Reaped by `wait4` below, which gives the rusage `Child::wait` does not.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .arg("--systemd-cgroup")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary));
        let (status, rss_kib) = wait4(child.id() as i32);
        let time = started.elapsed();
        assert_eq!(status, 0, "{} {args:?} failed", self.name);
        Step { time, rss_kib }
    }

    fn lifecycle(&self, bundle: &Path, id: &str) -> Lifecycle {
        let pid_file = self.root.join(format!("{id}.pid"));
        let started = Instant::now();
        let bundle = bundle.to_str().unwrap();
        let create = self.step(&[
            "create",
            "--bundle",
            bundle,
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ]);
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let start = self.step(&["start", id]);
        let waiting = Instant::now();
        while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let exit = waiting.elapsed();
        let delete = self.step(&["delete", id]);
        Lifecycle {
            create,
            start,
            exit,
            delete,
            total: started.elapsed(),
        }
    }
}

/// `wait4(pid)`: the exit status and the child's peak RSS (KiB).
fn wait4(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills; status is a valid out pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unwaited child; the pointers are valid for the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    (code, usage.ru_maxrss)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The bundle every runtime runs: `unitbox spec`'s config, `/bin/true`, no terminal.
fn true_bundle() -> PathBuf {
    let bundle = support::bundle("bench-true");
    let status = Command::new(UNITBOX)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(status.success());
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    bundle
}

fn profile(bundle: &Path) {
    let root = support::scratch_dir("bench-profile");
    let bundle = bundle.to_str().unwrap();
    // `-f` on `create` would wait for the created init; `run` covers the whole lifecycle.
    let steps: [(&[&str], &[&str]); 3] = [
        (&["-f"], &["run", "--bundle", bundle, "p1"]),
        (&[], &["create", "--bundle", bundle, "p2"]),
        (&["-f"], &["delete", "--force", "p2"]),
    ];
    for (flags, args) in steps {
        println!(
            "\n=== strace -c {} unitbox {} ===",
            flags.join(" "),
            args[0]
        );
        let report = root.join("strace.txt");
        let status = Command::new("strace")
            .arg("-c")
            .args(flags)
            .arg("-o")
            .arg(&report)
            .args([UNITBOX, "--root", root.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "strace unitbox {args:?}");
        let text = std::fs::read_to_string(&report).unwrap();
        for line in text.lines().take(22) {
            println!("{line}");
        }
    }
}

fn bench() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let bundle = true_bundle();
    let mut runtimes = vec![
        Runtime::new("unitbox", UNITBOX),
        Runtime::new("crun", "crun"),
        Runtime::new("runc", "runc"),
    ];
    if let Ok(baseline) = std::env::var("BENCH_BASELINE") {
        runtimes.push(Runtime::new("baseline", &baseline));
    }
    println!("lifecycle of a busybox /bin/true container (create, start, exit, delete), systemd cgroup driver, {n} in a row");
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>13} {:>12} {:>12}",
        "runtime",
        "create",
        "start",
        "exit",
        "delete",
        "lifecycle",
        "total",
        "per second",
        "RSS create",
        "RSS delete"
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>13} {:>12} {:>12}",
        "", "ms", "ms", "ms", "ms", "ms", "s", "containers", "KiB", "KiB"
    );
    let mut medians = Vec::new();
    for rt in &runtimes {
        // One warm-up lifecycle each: page cache, systemd's first slice creation.
        rt.lifecycle(&bundle, "warmup");
    }
    let mut all: Vec<Vec<Lifecycle>> = runtimes.iter().map(|_| Vec::new()).collect();
    for i in 0..n {
        for (rt, runs) in runtimes.iter().zip(&mut all) {
            runs.push(rt.lifecycle(&bundle, &format!("b{i}")));
        }
    }
    for (rt, runs) in runtimes.iter().zip(all) {
        let wall: Duration = runs.iter().map(|l| l.total).sum();
        let pick = |f: fn(&Lifecycle) -> Duration| median(runs.iter().map(f).collect());
        let total = pick(|l| l.total);
        medians.push((rt.name, total));
        let peak = |f: fn(&Lifecycle) -> i64| runs.iter().map(f).max().unwrap_or(0);
        println!(
            "{:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11.2} {:>13.1} {:>12} {:>12}",
            rt.name,
            ms(pick(|l| l.create.time)),
            ms(pick(|l| l.start.time)),
            ms(pick(|l| l.exit)),
            ms(pick(|l| l.delete.time)),
            ms(total),
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            peak(|l| l.create.rss_kib.max(l.start.rss_kib)),
            peak(|l| l.delete.rss_kib),
        );
    }
    let of = |name: &str| {
        medians
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.as_secs_f64())
            .unwrap()
    };
    println!(
        "unitbox/crun median lifecycle ratio: {:.2}",
        of("unitbox") / of("crun")
    );
    println!(
        "unitbox/runc median lifecycle ratio: {:.2}",
        of("unitbox") / of("runc")
    );
    let leftover = support::systemctl(&["list-units", "--no-legend", "--plain", "*.scope"]);
    let scopes = String::from_utf8_lossy(&leftover.stdout);
    assert!(!scopes.contains("-b"), "scopes left behind:\n{scopes}");
    if std::env::var_os("BENCH_PROFILE").is_some() {
        profile(&bundle);
    }
}

fn main() {
    // `cargo test --all-targets` also runs bench targets, without `--bench`: the
    // benchmark is not a test (it takes minutes and asserts no timing), so it runs only
    // from `cargo bench` (scripts/bench) or when re-executed inside the private systemd.
    if !std::env::args().any(|a| a == "--bench") && !support::in_test_box() {
        println!("lifecycle benchmark: run it with scripts/bench");
        return;
    }
    if support::pid1_is_systemd() {
        bench();
        // The box's runner insists on libtest's summary line from the re-executed body.
        println!("test result: ok. 1 passed");
        return;
    }
    // Outside a systemd: boot the tests' private one and re-execute this in it; the
    // runner names the body after the calling thread.
    std::thread::Builder::new()
        .name("lifecycle".to_owned())
        .spawn(|| support::in_systemd(bench))
        .unwrap()
        .join()
        .map_err(|_| "benchmark failed")
        .unwrap();
}
