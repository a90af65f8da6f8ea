//! unitboxd's containers attacked from inside, as `engine_cve` attacks the library's: the
//! daemon's init is a fork of a monitor (itself a fork of the fork server) rather than an
//! exec, so what an exec would have cleaned up must be cleaned up by hand, and the sealed
//! binary must still be the only one a container process can reach.

mod daemon_support;
mod support;

use std::time::Duration;

use daemon_support::*;

fn sha_of(path: &str) -> String {
    run_ok("sha256sum", &[path])
}

/// Runs `script` in container `id` through `ExecContainer`; returns its stdout once it
/// printed `end`.
fn exec_script(id: &str, script: &str) -> String {
    let out = support::scratch_dir(&format!("daemon-sec-{id}-{}", rand_suffix())).join("out");
    manager_ok(
        "ExecContainer",
        &[
            "sasassa{sv}",
            id,
            "3",
            "sh",
            "-c",
            script,
            "0",
            "/",
            "1",
            "StdoutPath",
            "s",
            out.to_str().unwrap(),
        ],
    );
    let mut text = String::new();
    wait_for("exec output", Duration::from_secs(10), || {
        text = std::fs::read_to_string(&out).unwrap_or_default();
        text.ends_with("end\n")
    });
    text
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// CVE-2019-5736: a container process with every capability we hold writes to the runtime binary
/// through `/proc/1/exe` of the container's init (still our code, waiting for `start`).
/// It reaches the daemon's sealed memfd, so the writes fail and the binary is unchanged.
/// See: https://github.com/opencontainers/runc/commit/0a8e4117e7f715d5fbeef398405813ce8e88558b
#[test]
fn cve_2019_5736_forked_init_exposes_only_the_sealed_binary() {
    support::in_systemd(|| {
        install_service();
        let binary = env!("CARGO_BIN_EXE_unitbox");
        let before = sha_of(binary);
        // No `process.capabilities`: like runc, the container's processes keep every
        // capability the runtime holds.
        let mut attacker_spec = spec("exit 0");
        attacker_spec["process"]["noNewPrivileges"] = false.into();
        let bundle = bundle_with("daemon-sec-5736", &attacker_spec);
        manager_ok("CreateContainer", &["ssa{sv}", "sec5736", &bundle, "0"]);
        let out = exec_script(
            "sec5736",
            "readlink /proc/1/exe; echo pwned >> /proc/1/exe && echo WROTE; \
             echo pwned > /proc/1/exe && echo TRUNCATED; echo end",
        );
        assert!(out.starts_with("/memfd:unitbox-init"), "{out}");
        assert!(
            !out.contains("WROTE") && !out.contains("TRUNCATED"),
            "{out}"
        );
        assert_eq!(sha_of(binary), before, "host binary changed");
        manager_ok("DestroyContainer", &["st", "sec5736", "1"]);
    });
}

/// CVE-2016-9962 and CVE-2024-21626: until it execs, the forked init is not dumpable (a
/// process without `CAP_SYS_PTRACE` cannot reach its fds or environment), and the
/// container's program gets stdio and nothing else of the monitor's or fork server's
/// descriptors; its environment is the config's alone.
/// See: https://github.com/opencontainers/runc/commit/50a19c6ff828c58e5dab13830bd3dacde268afe5
/// and https://github.com/opencontainers/runc/security/advisories/GHSA-xr7r-f8xq-vfvv
#[test]
fn forked_init_is_not_dumpable_and_leaks_no_descriptor() {
    support::in_systemd(|| {
        install_service();
        let out = support::scratch_dir("daemon-sec-fds").join("out");
        // No capability at all: `CAP_SYS_PTRACE` would open a non-dumpable process too.
        let mut probed = spec("ls /proc/self/fd; env; echo end; exec sleep 100");
        probed["process"]["capabilities"] =
            serde_json::json!({"bounding": [], "effective": [], "permitted": []});
        let bundle = bundle_with("daemon-sec-fds", &probed);
        manager_ok(
            "CreateContainer",
            &[
                "ssa{sv}",
                "secfds",
                &bundle,
                "1",
                "StdoutPath",
                "s",
                out.to_str().unwrap(),
            ],
        );
        let probe = "readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd-open || echo fd-denied; \
                     cat /proc/1/environ >/dev/null 2>&1 && echo env-open || echo env-denied; \
                     echo end";
        assert_eq!(exec_script("secfds", probe), "fd-denied\nenv-denied\nend\n");

        manager_ok("StartContainer", &["s", "secfds"]);
        let mut seen = String::new();
        wait_for("the container's listing", Duration::from_secs(10), || {
            seen = std::fs::read_to_string(&out).unwrap_or_default();
            seen.ends_with("end\n")
        });
        // 0–2, and 3: the directory `ls` reads.
        let fds: Vec<&str> = seen.lines().filter(|l| l.parse::<u32>().is_ok()).collect();
        assert_eq!(fds, ["0", "1", "2", "3"], "{seen}");
        let mut env: Vec<&str> = seen
            .lines()
            .filter(|l| l.contains('=') && !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
            .collect();
        env.sort();
        assert_eq!(
            env,
            [
                "HOME=/root",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ],
            "{seen}"
        );
        wait_for("pid 1 is sleep", Duration::from_secs(5), || {
            exec_script("secfds", "cat /proc/1/comm; echo end") == "sleep\nend\n"
        });
        assert_eq!(exec_script("secfds", probe), "fd-open\nenv-open\nend\n");
        manager_ok("DestroyContainer", &["st", "secfds", "1"]);
    });
}
