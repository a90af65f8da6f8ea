//! Regression tests for the runc CVEs that belong to the process path (init, exec,
//! console): each attempts the attack from inside a real container and asserts it fails.
//! See `shared/design/security.md`.

mod engine_common;
mod support;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

use unitbox::config::Capabilities;
use unitbox::init::message::InitStep;
use unitbox::process::Process;

use engine_common::{chain, config_for, create, names, run, sh};

/// Every capability in every set but ambient: an attacker as strong as root in the
/// container can be (`CAP_SYS_PTRACE` beats the non-dumpable check).
fn all_caps() -> Capabilities {
    // Every capability this test process holds (the test box may bound the set).
    let held = caps::read(None, caps::CapSet::Permitted).unwrap();
    let all: Vec<String> = held.iter().map(|c| c.to_string()).collect();
    Capabilities {
        bounding: all.clone(),
        effective: all.clone(),
        permitted: all.clone(),
        inheritable: vec![],
        ambient: vec![],
    }
}

fn sha_of(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// CVE-2019-5736: a process in the container opens the runtime's binary through
/// `/proc/<pid>/exe` of a runtime process inside the container (here the container's
/// init, still running our code while it waits for `start`) and writes to it. The binary
/// is a sealed memfd copy, so the write fails and the host binary is unchanged.
/// See: https://github.com/opencontainers/runc/commit/0a8e4117e7f715d5fbeef398405813ce8e88558b
#[test]
fn cve_2019_5736_runtime_binary_cannot_be_overwritten_from_inside() {
    support::in_systemd(|| {
        let binary = engine_common::init_binary();
        let before = sha_of(&binary);
        let created = create("cve-5736", config_for("cve-5736"), sh("exit 0"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        let mut attacker = sh(
            "readlink /proc/1/exe; echo pwned >> /proc/1/exe && echo WROTE; \
             echo pwned > /proc/1/exe && echo TRUNCATED; echo end",
        );
        attacker.capabilities = Some(all_caps());
        attacker.no_new_privileges = Some(false);
        let done = created.exec(attacker);
        assert!(done.status.success(), "{done:?}");
        assert!(done.out.starts_with("/memfd:unitbox-init"), "{done:?}");
        assert!(
            !done.out.contains("WROTE") && !done.out.contains("TRUNCATED"),
            "{done:?}"
        );
        assert!(done.out.ends_with("end\n"), "{done:?}");
        assert_eq!(sha_of(&binary), before, "host binary changed");
        created.process.signal(libc::SIGKILL).unwrap();
        created.finish();
    });
}

/// CVE-2016-9962: until it `execve`s, init is not dumpable, so a container process
/// without `CAP_SYS_PTRACE` cannot reach its fds or memory through `/proc`; after exec
/// the user process is an ordinary (dumpable) process again.
/// See: https://github.com/opencontainers/runc/commit/50a19c6ff828c58e5dab13830bd3dacde268afe5
#[test]
fn cve_2016_9962_init_is_not_dumpable_until_exec() {
    support::in_systemd(|| {
        let created = create("cve-9962", config_for("cve-9962"), sh("exec sleep 60"))
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        let probe = "readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd-open || echo fd-denied; \
                     cat /proc/1/environ >/dev/null 2>&1 && echo env-open || echo env-denied";
        let before = created.exec(sh(probe));
        assert_eq!(before.out, "fd-denied\nenv-denied\n", "{before:?}");
        created.start();
        // PID 1 is `sleep` now; give the exec a moment to happen.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let after = created.exec(sh(probe));
        assert_eq!(after.out, "fd-open\nenv-open\n", "{after:?}");
        created.process.signal(libc::SIGKILL).unwrap();
        created.finish();
    });
}

/// CVE-2024-21626: no runtime fd reaches the container process (only 0–2 and the
/// preserved ones), and a cwd that resolves through a leaked fd to a host directory is
/// refused.
/// See: https://github.com/opencontainers/runc/security/advisories/GHSA-xr7r-f8xq-vfvv
#[test]
fn cve_2024_21626_no_leaked_fds_and_cwd_inside_the_container() {
    support::in_systemd(|| {
        let mut process = Process::new(names(&["ls", "/proc/self/fd"]));
        let preserved: OwnedFd =
            nix::sys::memfd::memfd_create(c"preserved", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .unwrap();
        process.extra_files = vec![preserved];
        let done = run("cve-21626-fds", config_for("cve-21626-fds"), process);
        // 3 is the preserved file, 4 the directory `ls` reads.
        assert_eq!(
            done.out.split_whitespace().collect::<Vec<_>>(),
            ["0", "1", "2", "3", "4"],
            "{done:?}"
        );

        let host_dir = std::fs::File::open(support::scratch_dir("cve-21626-hostdir")).unwrap();
        let mut outside = Vec::new();
        for n in 3..=8 {
            let id = format!("cve-21626-cwd{n}");
            let mut process = sh("pwd");
            process.cwd = format!("/proc/self/fd/{n}").into();
            process.extra_files = vec![host_dir.as_fd().try_clone_to_owned().unwrap()];
            match create(&id, config_for(&id), process) {
                Ok(created) => {
                    created.start();
                    panic!("cwd /proc/self/fd/{n} was accepted: {:?}", created.finish());
                }
                Err(unitbox::Error::Process(e)) => {
                    assert_eq!(e.init_step(), Some(InitStep::Cwd), "fd {n}: {}", chain(&e));
                    outside.push(chain(&e));
                }
                Err(e) => panic!("fd {n}: {}", chain(&e)),
            }
        }
        assert!(
            outside
                .iter()
                .any(|e| e.contains("is outside the container")),
            "no attempt reached the host directory: {outside:#?}"
        );
    });
}

/// CVE-2025-52565: the terminal is a pty of the container's own devpts, its peer taken
/// with `TIOCGPTPEER` (no `/dev/pts/N` path lookup) and bound on `/dev/console`; the
/// master arrives over `--console-socket` in runc's protocol.
/// See: https://github.com/opencontainers/runc/security/advisories/GHSA-qw9x-cqr3-wc7r
#[test]
fn cve_2025_52565_console_is_a_pty_of_the_container_devpts() {
    support::in_systemd(|| {
        let path = support::socket_path("cve-52565");
        let listener = UnixListener::bind(&path).unwrap();
        let receiver = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let (name, master) = unitbox::console::receive_master(conn.as_fd()).unwrap();
            let mut file = std::fs::File::from(master);
            let mut out = Vec::new();
            // EIO once the peer side is closed by the exiting process.
            let _ = file.read_to_end(&mut out);
            (name, String::from_utf8_lossy(&out).replace('\r', ""))
        });
        let mut process =
            sh("tty; grep ' /dev/console ' /proc/self/mountinfo | cut -d' ' -f9; stty size");
        process.terminal = true;
        process.console_size = Some(unitbox::config::ConsoleSize {
            height: 33,
            width: 101,
        });
        process.console_socket = Some(path);
        let created = create("cve-52565", config_for("cve-52565"), process)
            .unwrap_or_else(|e| panic!("create: {}", chain(&e)));
        created.start();
        let done = created.finish();
        assert!(done.status.success(), "{done:?}");
        let (name, out) = receiver.join().unwrap();
        assert_eq!(name, "/dev/ptmx");
        let lines: Vec<&str> = out.lines().collect();
        // A fresh devpts instance numbers from 0: the container's, not the host's.
        assert_eq!(lines.first(), Some(&"/dev/pts/0"), "{out}");
        assert_eq!(lines.get(1), Some(&"devpts"), "{out}");
        assert_eq!(lines.get(2), Some(&"33 101"), "{out}");
    });
}
