//! `unitboxd`: the container lifecycle as the system D-Bus service `io.unitbox.runtime1`.
//!
//! Layout (machined's, in zbus): [`manager`] is the Manager object with id-keyed methods,
//! [`container`] one object per container, [`runtime`] the verbs both call (the library
//! run on the blocking pool), [`error`] the one ErrorCode → error-name table, [`access`]
//! the uid check, [`checkpoint`] checkpoint/restore with criu, [`path`] the object paths, [`monitor`] the per-container parent process
//! that outlives daemon restarts, [`forkserver`] the single-threaded process that forks
//! monitors, [`pool`] monitors started ahead of need, [`wire`] what
//! daemon and monitor say to each other, [`remote_scope`] the monitor's cgroup manager
//! (the daemon makes the scope), [`scopes`] the daemon's cgroup managers on its one warm
//! systemd connection, [`scope_options`] the `Slice`/`ScopeProperties` create options,
//! [`journal`] container output to journald, [`oom`] OOM kills as signals,
//! [`watch`] process exits without a thread each, [`recover`]
//! the startup that re-adopts containers.
//!
//! Startup order: connect, serve the objects (Manager + ObjectManager), recover saved
//! containers, and only then take the bus name, so no call lands on a half-built tree and
//! systemd (Type=dbus) considers us started once everything is back. State lives in
//! `/run/unitbox` (the unit's `RuntimeDirectory=unitbox`, preserved across restarts):
//! containers do not survive a reboot, so neither does their state.

pub mod access;
pub mod checkpoint;
pub mod container;
pub mod error;
pub mod forkserver;
pub mod journal;
pub mod manager;
pub mod monitor;
pub mod oom;
pub mod path;
pub mod pool;
pub mod recover;
pub mod remote_scope;
pub mod runtime;
pub mod scope_options;
pub mod scopes;
pub mod watch;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::systemd::connection::{Bus, Systemd};
use runtime::Runtime;

pub use runtime::DaemonOptions;

/// The well-known bus name.
pub const BUS_NAME: &str = "io.unitbox.runtime1";

/// The default state root.
pub const DEFAULT_ROOT: &str = "/run/unitbox";

/// A failure to start the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The system bus or the name.
    #[error("serve `{BUS_NAME}` on the system bus")]
    Bus(#[source] zbus::Error),
    /// systemd could not be reached.
    #[error("connect to systemd")]
    Systemd(#[source] crate::systemd::SystemdError),
    /// The library refused (state root).
    #[error("open the state root")]
    Library(#[source] crate::Error),
    /// The async runtime.
    #[error("start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// Waiting for a termination signal.
    #[error("listen for termination signals")]
    Signals(#[source] std::io::Error),
}

/// The `unitbox` binary next to our own executable (`/usr/local/bin/unitbox` beside
/// `/usr/local/bin/unitboxd`).
pub fn sibling_runtime_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("unitbox")))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/unitbox"))
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(options: DaemonOptions) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(256)
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(serve(options))
}

async fn serve(options: DaemonOptions) -> Result<(), DaemonError> {
    let systemd = Systemd::connect(Bus::System)
        .await
        .map_err(DaemonError::Systemd)?;
    hold_job_matches(&systemd).await;
    let exits = watch::ExitWatcher::start().map_err(DaemonError::Runtime)?;
    let runtime = Arc::new(Runtime::new(options, systemd, exits).map_err(DaemonError::Library)?);
    let conn = zbus::connection::Builder::system()
        .method_timeout(Duration::from_secs(60))
        .serve_at(path::MANAGER_PATH, manager::Manager::new(runtime.clone()))
        .serve_at(path::MANAGER_PATH, zbus::fdo::ObjectManager)
        .build()
        .await
        .map_err(DaemonError::Bus)?;
    runtime.set_connection(conn.clone());
    scopes::hold_slice_controllers(
        runtime.systemd(),
        &crate::config::Cgroup::default().slice,
        runtime.cgroup_mode(),
    )
    .await;
    let recovered = recover::recover(&runtime).await;
    conn.request_name(BUS_NAME)
        .await
        .map_err(DaemonError::Bus)?;
    runtime.announce_exits(&recovered.unreported).await;
    runtime.start_monitors();
    tracing::info!(adopted = recovered.adopted, "serving {BUS_NAME}");

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // Containers and their monitors live on in their scopes; a restarted daemon re-adopts them.
    tracing::info!("stopping; containers keep running");
    Ok(())
}

/// Holds systemd's `JobRemoved` match for the daemon's life. zbus counts match rules per
/// connection, so every job wait (each scope start and stop) then reuses it instead of
/// adding it on the bus before the call and removing it after. Best effort: without it,
/// job waits add their own.
async fn hold_job_matches(systemd: &Systemd) {
    use futures_util::StreamExt;
    let Ok(conn) = systemd.connection().await else {
        return;
    };
    let Ok(mut removed) = crate::systemd::connection::job_removed_stream(&conn).await else {
        return;
    };
    tokio::spawn(async move { while removed.next().await.is_some() {} });
}

#[cfg(test)]
mod tests {
    /// Options that containers would inherit or that would hide their mounts and cgroups
    /// (dbus-api.md §4.5 "Must NOT be set").
    const FORBIDDEN: &[&str] = &[
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "PrivateDevices",
        "PrivateMounts",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "TemporaryFileSystem",
        "ProtectKernelTunables",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "MountAPIVFS",
        "ProtectProc",
        "MountFlags",
        "SystemCallFilter",
        "SystemCallArchitectures",
        "MemoryDenyWriteExecute",
        "RestrictNamespaces",
        "RestrictAddressFamilies",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "ProtectClock",
        "ProtectHostname",
        "ProtectKernelModules",
        "NoNewPrivileges",
        "CapabilityBoundingSet",
        "User",
        "DynamicUser",
        "PrivateUsers",
        "PrivateNetwork",
        "IPAddressDeny",
        "Delegate",
    ];

    #[test]
    fn unit_sets_no_option_containers_would_inherit() {
        let unit = include_str!("../../units/unitboxd.service");
        for line in unit.lines().filter(|l| !l.starts_with('#')) {
            let key = line.split('=').next().unwrap_or("").trim();
            assert!(!FORBIDDEN.contains(&key), "unitboxd.service sets {key}");
        }
        for needed in [
            "Type=dbus",
            "BusName=io.unitbox.runtime1",
            "RuntimeDirectoryPreserve=yes",
        ] {
            assert!(
                unit.lines().any(|l| l == needed),
                "unitboxd.service lacks {needed}"
            );
        }
    }

    #[test]
    fn activation_file_names_the_unit() {
        let service = include_str!("../../dbus-interfaces/io.unitbox.runtime1.service");
        assert!(service.contains("Name=io.unitbox.runtime1\n"));
        assert!(service.contains("SystemdService=unitboxd.service\n"));
    }
}
