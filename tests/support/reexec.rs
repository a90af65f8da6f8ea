//! Re-executing the current test inside a test box and reporting its result.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::systemd_box::SystemdBox;

/// Default limit for one re-executed test; `UNITBOX_TEST_TIMEOUT_SECS` overrides it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the test of the current thread again inside `test_box`; panics unless it passed.
pub fn run_current_test_in(test_box: &SystemdBox) {
    let thread = std::thread::current();
    let test_name = match thread.name() {
        Some(name) if name != "main" => name.to_string(),
        _ => panic!(
            "in_systemd must be called from a test's own thread (libtest names it after the test)"
        ),
    };
    let exe = std::env::current_exe().expect("find the test executable");
    let timeout = std::env::var("UNITBOX_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);

    let exe_arg = exe.display().to_string();
    let mut child = test_box
        .command(
            &exe_arg,
            &["--exact", &test_name, "--nocapture", "--test-threads=1"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test inside the box");

    // Both streams go line by line to our own output (captured by libtest unless
    // --nocapture) and into the report of a failure.
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                println!("[box] {line}");
                let _ = tx.send(line);
            }
        })
    })
    .collect();
    drop(lines_tx);

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the test inside the box") {
            break Some(status);
        }
        if Instant::now() > deadline {
            kill_tree(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Grandchildren that escaped the kill may still hold the pipes: collect what came,
    // but never wait for them longer than a moment.
    let grace = Instant::now() + Duration::from_secs(2);
    let mut output = Vec::new();
    while let Some(left) = grace.checked_duration_since(Instant::now()) {
        match lines_rx.recv_timeout(left) {
            Ok(line) => output.push(line),
            Err(_) => break,
        }
    }
    if pumps.iter().all(|p| p.is_finished()) {
        for pump in pumps {
            let _ = pump.join();
        }
    }
    let output = output.join("\n");
    let where_ = format!(
        "`{test_name}` inside test box `{}` (its journal goes to `{}` when this test binary exits)",
        test_box.name,
        test_box.state_dir.join("journal.log").display()
    );
    match status {
        None => panic!("{where_} timed out after {timeout:?}; its output:\n{output}"),
        Some(status) if !status.success() => {
            panic!("{where_} failed ({status}); its output:\n{output}")
        }
        // A filter that matched nothing also exits 0: insist on exactly our test.
        Some(_)
            if !output
                .lines()
                .any(|l| l.starts_with("test result: ok. 1 passed")) =>
        {
            panic!("{where_} did not run exactly one test; its output:\n{output}")
        }
        Some(_) => {}
    }
}

/// SIGKILLs `root` and every descendant (found through `/proc/*/stat` parent pids),
/// descendants first collected so none is orphaned out of reach.
fn kill_tree(root: u32) {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The command name may hold spaces; the parent pid is the 2nd field after it.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    for pid in tree {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
