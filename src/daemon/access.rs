//! Who may call: the uid check behind every mutating method.
//!
//! The bus policy already lets only root call mutators; this is the second wall (a stray
//! policy file must not open the daemon). The caller is the message's sender, asked of the
//! bus daemon (`GetConnectionUnixUser`), never our own uid.

use zbus::message::Header;
use zbus::names::BusName;

use super::error::{BusError, ErrorKind};

/// Fails with `AccessDenied` unless the sender of `header` is root.
pub async fn require_root(conn: &zbus::Connection, header: &Header<'_>) -> Result<(), BusError> {
    let sender = header
        .sender()
        .ok_or_else(|| BusError::new(ErrorKind::AccessDenied, "the call names no sender"))?;
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    let uid = dbus
        .get_connection_unix_user(BusName::from(sender.to_owned()))
        .await
        .map_err(|e| BusError::failed("ask the bus who calls", &e))?;
    if uid != 0 {
        return Err(BusError::new(
            ErrorKind::AccessDenied,
            format!("only root may call this method; the caller is uid {uid}"),
        ));
    }
    Ok(())
}
