//! Optional registration with systemd-machined, so `machinectl list` and
//! `machinectl status <name>` show the container.
//!
//! `RegisterMachine` adopts the unit the leader already lives in (our scope), unlike
//! `CreateMachine`, which would make its own `machine-<name>.scope`. machined forgets the
//! machine by itself when that scope stops.

use super::connection::{call_error, Systemd};
use super::proxy::MachinedProxy;
use super::SystemdError;

/// What machined is told about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Machine name (the container id; machined allows hostname-like names).
    pub name: String,
    /// The container's root directory on the host (may be empty).
    pub root_directory: String,
}

/// `RegisterMachine(name, [], "unitbox", "container", leader, root)`.
pub async fn register(
    systemd: &Systemd,
    reg: &Registration,
    leader: i32,
) -> Result<(), SystemdError> {
    let conn = systemd.connection().await?;
    let unit = reg.name.as_str();
    let proxy = MachinedProxy::new(&conn)
        .await
        .map_err(|e| call_error("RegisterMachine", unit, e))?;
    // PID 0 would make machined adopt the caller (us) instead of the container.
    let leader = super::scope::positive_pid(leader)?;
    tokio::time::timeout(
        super::connection::CALL_TIMEOUT,
        proxy.register_machine(
            unit,
            Vec::new(),
            "unitbox",
            "container",
            leader,
            &reg.root_directory,
        ),
    )
    .await
    .map_err(|_| SystemdError::Timeout {
        method: "RegisterMachine",
        unit: unit.to_owned(),
        seconds: super::connection::CALL_TIMEOUT.as_secs(),
    })?
    .map_err(|e| call_error("RegisterMachine", unit, e))?;
    Ok(())
}
