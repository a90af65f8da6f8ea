//! One long-lived connection to systemd: timeouts on every call, backoff at connect,
//! reconnect when the bus dropped.
//!
//! [`Systemd`] is the async client (the daemon uses it on its own runtime);
//! [`SystemdConnection`] wraps it with a private one-worker Tokio runtime for the
//! synchronous engine. One connection per process: every scope start/stop costs two job
//! waits already (ARCHITECTURE.md, "where the time goes").

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Mutex;
use zbus::names::InterfaceName;
use zbus::{Connection, OwnedObjectPath, OwnedVariant};

use super::accounting::UnitAccounting;
use super::job;
use super::properties::Property;
use super::proxy::{JobRemoved, ManagerProxy};
use super::SystemdError;

/// Default time allowed for one D-Bus call (runc#3904: systemd can hang when busy).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// Default time allowed for a start or stop job (runc uses 30 s).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// `error_name` of [`SystemdError::Call`] when no D-Bus error came back.
pub(crate) const TRANSPORT: &str = "transport";

/// Connect attempts on EAGAIN (systemd < 254 has a short listen backlog).
const CONNECT_ATTEMPTS: u32 = 8;

/// Which bus to reach systemd on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    /// The system bus (`$DBUS_SYSTEM_BUS_ADDRESS` or `/run/dbus/system_bus_socket`).
    System,
    /// The user's session bus, for rootless containers (`$DBUS_SESSION_BUS_ADDRESS` or
    /// `$XDG_RUNTIME_DIR/bus`).
    User,
    /// An explicit D-Bus address.
    Address(String),
}

impl Bus {
    /// The system bus for root, the user's bus otherwise.
    pub fn for_current_user() -> Bus {
        if nix::unistd::geteuid().is_root() {
            Bus::System
        } else {
            Bus::User
        }
    }

    /// The D-Bus address this bus resolves to.
    pub fn address(&self) -> String {
        match self {
            Bus::System => std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
                .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".to_owned()),
            Bus::User => std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_else(|_| {
                let dir = std::env::var("XDG_RUNTIME_DIR")
                    .unwrap_or_else(|_| format!("/run/user/{}", nix::unistd::geteuid()));
                format!("unix:path={dir}/bus")
            }),
            Bus::Address(a) => a.clone(),
        }
    }
}

/// The async systemd client: one connection, reconnected on demand.
#[derive(Debug)]
pub struct Systemd {
    bus: Bus,
    address: String,
    conn: Mutex<Option<Connection>>,
    call_timeout: Duration,
    job_timeout: Duration,
}

impl Systemd {
    /// Connects to systemd on `bus` (retrying EAGAIN with backoff). Must run inside a
    /// Tokio runtime, which then carries the connection's I/O.
    pub async fn connect(bus: Bus) -> Result<Systemd, SystemdError> {
        let address = bus.address();
        let conn = open(&address, CALL_TIMEOUT).await?;
        Ok(Systemd {
            bus,
            address,
            conn: Mutex::new(Some(conn)),
            call_timeout: CALL_TIMEOUT,
            job_timeout: JOB_TIMEOUT,
        })
    }

    /// A client on `bus` that connects on its first call: a command that turns out to
    /// need nothing from systemd (`start` and `state` on cgroup v1) never pays for the
    /// connection.
    pub fn lazy(bus: Bus) -> Systemd {
        Systemd {
            address: bus.address(),
            bus,
            conn: Mutex::new(None),
            call_timeout: CALL_TIMEOUT,
            job_timeout: JOB_TIMEOUT,
        }
    }

    /// The same client with other timeouts.
    pub fn with_timeouts(mut self, call: Duration, job: Duration) -> Systemd {
        self.call_timeout = call;
        self.job_timeout = job;
        self
    }

    /// The bus this client talks on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The live connection, reconnecting if the previous one closed.
    pub async fn connection(&self) -> Result<Connection, SystemdError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = open(&self.address, self.call_timeout).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Forgets a connection that failed at the transport level, so the next call reconnects.
    async fn forget_if_broken(&self, err: &zbus::Error) {
        if matches!(err, zbus::Error::InputOutput(_)) {
            *self.conn.lock().await = None;
        }
    }

    async fn manager(&self) -> Result<ManagerProxy<'static>, SystemdError> {
        let conn = self.connection().await?;
        ManagerProxy::new(&conn)
            .await
            .map_err(|source| call_error("GetManager", "", source))
    }

    /// Runs one call with the call timeout, mapping its error to [`SystemdError`].
    async fn call<T, F>(&self, method: &'static str, unit: &str, fut: F) -> Result<T, SystemdError>
    where
        F: Future<Output = zbus::Result<T>>,
    {
        match within(method, unit, self.call_timeout, fut).await? {
            Ok(v) => Ok(v),
            Err(e) => {
                self.forget_if_broken(&e).await;
                Err(call_error(method, unit, e))
            }
        }
    }

    /// `StartTransientUnit(unit, "fail", props)` and waits for its job to be `done`.
    ///
    /// The `JobRemoved` match is installed before the call, since the signal can arrive
    /// before the reply. If the name is taken by a failed or lingering unit
    /// (`UnitExists`), `ResetFailedUnit` and one retry; then the error stands.
    pub async fn start_transient_unit(
        &self,
        unit: &str,
        properties: &[Property],
    ) -> Result<(), SystemdError> {
        let bus_props: Vec<_> = properties.iter().map(Property::to_bus).collect();
        match self.start_once(unit, &bus_props).await {
            Err(SystemdError::Call { error_name, .. })
                if error_name == "org.freedesktop.systemd1.UnitExists" =>
            {
                self.reset_failed_unit(unit).await?;
                let _ = self.unref_unit(unit).await;
                let bus_props: Vec<_> = properties.iter().map(Property::to_bus).collect();
                self.start_once(unit, &bus_props).await
            }
            other => other,
        }
    }

    async fn start_once(
        &self,
        unit: &str,
        props: &[(String, OwnedVariant)],
    ) -> Result<(), SystemdError> {
        let copy: Vec<(String, OwnedVariant)> = props
            .iter()
            .map(|(n, v)| v.try_clone().map(|v| (n.clone(), v)))
            .collect::<Result<_, _>>()
            .map_err(|e| call_error("StartTransientUnit", unit, e))?;
        let mgr = self.manager().await?;
        self.run_job(
            "StartTransientUnit",
            unit,
            &mgr,
            mgr.start_transient_unit(unit, "fail", copy, Vec::new()),
        )
        .await
    }

    /// `StopUnit(unit, "replace")` and waits for the job.
    pub async fn stop_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        // A unit systemd has already collected is stopped.
        ignore_names(
            self.run_job("StopUnit", unit, &mgr, mgr.stop_unit(unit, "replace"))
                .await,
            &[NO_SUCH_UNIT],
        )
    }

    /// Subscribes to `JobRemoved`, makes the call that queues a job, and waits for that job.
    async fn run_job<F>(
        &self,
        method: &'static str,
        unit: &str,
        mgr: &ManagerProxy<'_>,
        queue: F,
    ) -> Result<(), SystemdError>
    where
        F: Future<Output = zbus::Result<OwnedObjectPath>>,
    {
        let stream = self
            .call(method, unit, job_removed_stream(mgr.inner().connection()))
            .await?;
        let job = self.call(method, unit, queue).await?;
        job::wait(stream, method, unit, &job, self.job_timeout).await
    }

    /// `KillUnit(unit, "all", signal)`; a unit that is no longer loaded (it stopped
    /// between a caller's check and this call, e.g. after an OOM kill) has nothing to kill.
    pub async fn kill_unit(&self, unit: &str, signal: i32) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        ignore_names(
            self.call("KillUnit", unit, mgr.kill_unit(unit, "all", signal))
                .await,
            &[NO_SUCH_UNIT],
        )
    }

    /// `ResetFailedUnit(unit)`; a unit that is not loaded is not an error.
    pub async fn reset_failed_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        ignore_names(
            self.call("ResetFailedUnit", unit, mgr.reset_failed_unit(unit))
                .await,
            &[NO_SUCH_UNIT],
        )
    }

    /// `RefUnit(unit)`: keep the unit loaded while this connection lives.
    pub async fn ref_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        self.call("RefUnit", unit, mgr.ref_unit(unit)).await
    }

    /// `UnrefUnit(unit)`; holding no reference is not an error.
    pub async fn unref_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        ignore_names(
            self.call("UnrefUnit", unit, mgr.unref_unit(unit)).await,
            &[NO_SUCH_UNIT, "org.freedesktop.systemd1.NotReferenced"],
        )
    }

    /// `SetUnitProperties(unit, runtime=true, props)`.
    pub async fn set_unit_properties(
        &self,
        unit: &str,
        properties: &[Property],
    ) -> Result<(), SystemdError> {
        if properties.is_empty() {
            return Ok(());
        }
        let mgr = self.manager().await?;
        let props = properties.iter().map(Property::to_bus).collect();
        self.call(
            "SetUnitProperties",
            unit,
            mgr.set_unit_properties(unit, true, props),
        )
        .await
    }

    /// `FreezeUnit(unit)` (cgroup v2 only on systemd 252); returns once frozen.
    pub async fn freeze_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        self.call("FreezeUnit", unit, mgr.freeze_unit(unit)).await
    }

    /// `ThawUnit(unit)`.
    pub async fn thaw_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        self.call("ThawUnit", unit, mgr.thaw_unit(unit)).await
    }

    /// `AttachProcessesToUnit(unit, "", pids)`: moves processes into the (delegated) scope.
    pub async fn attach_processes(&self, unit: &str, pids: &[u32]) -> Result<(), SystemdError> {
        let mgr = self.manager().await?;
        self.call(
            "AttachProcessesToUnit",
            unit,
            mgr.attach_processes_to_unit(unit, "", pids.to_vec()),
        )
        .await
    }

    /// `GetUnitProcesses(unit)` → (cgroup, pid, command line).
    pub async fn unit_processes(
        &self,
        unit: &str,
    ) -> Result<Vec<(String, u32, String)>, SystemdError> {
        let mgr = self.manager().await?;
        self.call("GetUnitProcesses", unit, mgr.get_unit_processes(unit))
            .await
    }

    /// The unit's object path, or `None` when systemd has no such unit loaded.
    pub async fn unit_path(&self, unit: &str) -> Result<Option<OwnedObjectPath>, SystemdError> {
        let mgr = self.manager().await?;
        match self.call("GetUnit", unit, mgr.get_unit(unit)).await {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.dbus_error_name() == Some(NO_SUCH_UNIT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One property of a loaded unit (`interface` is `Unit` or `Scope`).
    pub async fn unit_property(
        &self,
        path: &OwnedObjectPath,
        unit: &str,
        interface: &'static str,
        property: &'static str,
    ) -> Result<OwnedVariant, SystemdError> {
        let conn = self.connection().await?;
        let props = zbus::fdo::PropertiesProxy::builder(&conn)
            .destination("org.freedesktop.systemd1")
            .path(path.clone())
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|e| call_error("Get", unit, e))?;
        let iface =
            InterfaceName::from_static_str(interface).map_err(|e| call_error("Get", unit, e))?;
        self.call("Get", unit, async {
            props.get(iface, property).await.map_err(zbus::Error::from)
        })
        .await
    }

    /// A string property of the unit, or `None` when the unit is not loaded.
    pub async fn unit_string(
        &self,
        unit: &str,
        interface: &'static str,
        property: &'static str,
    ) -> Result<Option<String>, SystemdError> {
        let Some(path) = self.unit_path(unit).await? else {
            return Ok(None);
        };
        let v = self.unit_property(&path, unit, interface, property).await?;
        String::try_from(v)
            .map(Some)
            .map_err(|_| SystemdError::PropertyType {
                unit: unit.to_owned(),
                property,
            })
    }

    /// A `t` property of the unit (`MemoryCurrent`…), `None` when unloaded or unset
    /// (systemd reports "unset" as `u64::MAX`).
    pub async fn unit_u64(
        &self,
        unit: &str,
        interface: &'static str,
        property: &'static str,
    ) -> Result<Option<u64>, SystemdError> {
        let Some(path) = self.unit_path(unit).await? else {
            return Ok(None);
        };
        let v = self.unit_property(&path, unit, interface, property).await?;
        let n = u64::try_from(v).map_err(|_| SystemdError::PropertyType {
            unit: unit.to_owned(),
            property,
        })?;
        Ok((n != u64::MAX).then_some(n))
    }
}

impl Systemd {
    /// systemd's accounting counters of a scope, in one `GetAll` of its Scope interface;
    /// `None` when the unit is not loaded.
    pub async fn scope_accounting(
        &self,
        unit: &str,
    ) -> Result<Option<UnitAccounting>, SystemdError> {
        let Some(path) = self.unit_path(unit).await? else {
            return Ok(None);
        };
        let conn = self.connection().await?;
        let props = zbus::fdo::PropertiesProxy::builder(&conn)
            .destination("org.freedesktop.systemd1")
            .path(path)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|e| call_error("GetAll", unit, e))?;
        let iface = InterfaceName::from_static_str(SCOPE_IFACE)
            .map_err(|e| call_error("GetAll", unit, e))?;
        let all = self
            .call("GetAll", unit, async {
                props.get_all(iface).await.map_err(zbus::Error::from)
            })
            .await?;
        Ok(Some(UnitAccounting::from_properties(&all)))
    }
}

/// The D-Bus interface of scope units, holding the accounting properties.
const SCOPE_IFACE: &str = "org.freedesktop.systemd1.Scope";

/// systemd's well-known bus name, object and manager interface.
const SYSTEMD_NAME: &str = "org.freedesktop.systemd1";
const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER_IFACE: &str = "org.freedesktop.systemd1.Manager";

/// `JobRemoved` of the manager, as one `AddMatch` with systemd's well-known name as the
/// sender: the bus daemon delivers only what the name's current owner emits, so no
/// `NameOwnerChanged` match and `GetNameOwner` call are needed first, which zbus's
/// `receive_job_removed` adds to every job (two round trips of ~12 per create). Jobs
/// waited at once share the one match.
pub(crate) async fn job_removed_stream(
    conn: &Connection,
) -> zbus::Result<impl futures_util::Stream<Item = JobRemoved> + Unpin> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(SYSTEMD_NAME)
        .path(SYSTEMD_PATH)
        .interface(MANAGER_IFACE)
        .member("JobRemoved")
        .build()?;
    let messages = zbus::MessageStream::for_match_rule(rule, conn, None).await?;
    Ok(messages.filter_map(|m| std::future::ready(m.ok().and_then(JobRemoved::from_message))))
}

/// Runs `fut` (one call of `method`) for at most `timeout`; a call that got no answer in
/// time is a [`SystemdError::Timeout`] naming the method and unit.
async fn within<T, F>(
    method: &'static str,
    unit: &str,
    timeout: Duration,
    fut: F,
) -> Result<zbus::Result<T>, SystemdError>
where
    F: Future<Output = zbus::Result<T>>,
{
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| SystemdError::Timeout {
            method,
            unit: unit.to_owned(),
            seconds: timeout.as_secs(),
        })
}

const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

fn ignore_names(r: Result<(), SystemdError>, names: &[&str]) -> Result<(), SystemdError> {
    match r {
        Err(e) if e.dbus_error_name().is_some_and(|n| names.contains(&n)) => Ok(()),
        other => other,
    }
}

/// Builds a [`SystemdError::Call`], keeping systemd's D-Bus error name.
pub(crate) fn call_error(method: &'static str, unit: &str, source: zbus::Error) -> SystemdError {
    let error_name = match &source {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        zbus::Error::FDO(e) => zbus::DBusError::name(e.as_ref()).to_string(),
        _ => TRANSPORT.to_owned(),
    };
    SystemdError::Call {
        method,
        unit: unit.to_owned(),
        error_name,
        source: Box::new(source),
    }
}

/// Opens a bus connection, retrying with backoff while the socket answers EAGAIN.
async fn open(address: &str, call_timeout: Duration) -> Result<Connection, SystemdError> {
    let mut delay = Duration::from_millis(10);
    let mut attempt = 1;
    loop {
        let builder = zbus::connection::Builder::address(address).method_timeout(call_timeout);
        let result = match tokio::time::timeout(call_timeout, builder.build()).await {
            Ok(r) => r,
            Err(_) => Err(zbus::Error::Failure(format!(
                "no answer within {} s",
                call_timeout.as_secs()
            ))),
        };
        match result {
            Ok(c) => return Ok(c),
            Err(zbus::Error::InputOutput(io))
                if io.raw_os_error() == Some(libc::EAGAIN) && attempt < CONNECT_ATTEMPTS =>
            {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(source) => {
                return Err(SystemdError::Connect {
                    address: address.to_owned(),
                    source: Box::new(source),
                })
            }
        }
    }
}

/// A [`Systemd`] client plus the private runtime that drives it, for synchronous callers.
///
/// The runtime is multi-threaded with one worker, so the connection's I/O keeps running
/// between calls; `block_on` must not be called from inside another Tokio runtime (the
/// daemon uses [`SystemdConnection::systemd`] asynchronously instead).
#[derive(Debug)]
pub struct SystemdConnection {
    runtime: tokio::runtime::Runtime,
    systemd: Systemd,
}

impl SystemdConnection {
    /// Connects to systemd on `bus`.
    pub fn connect(bus: Bus) -> Result<Arc<SystemdConnection>, SystemdError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("unitbox-dbus")
            .enable_all()
            .build()
            .map_err(SystemdError::Runtime)?;
        let systemd = runtime.block_on(Systemd::connect(bus))?;
        Ok(Arc::new(SystemdConnection { runtime, systemd }))
    }

    /// A connection to systemd on `bus` that is opened by its first call (see
    /// [`Systemd::lazy`]) or by [`SystemdConnection::connect_soon`].
    pub fn lazy(bus: Bus) -> Result<Arc<SystemdConnection>, SystemdError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("unitbox-dbus")
            .enable_all()
            .build()
            .map_err(SystemdError::Runtime)?;
        Ok(Arc::new(SystemdConnection {
            runtime,
            systemd: Systemd::lazy(bus),
        }))
    }

    /// Starts opening the connection in the background, so that it is ready (or nearly)
    /// when the first call comes; a failure shows at that call.
    pub fn connect_soon(self: &Arc<Self>) {
        let this = Arc::clone(self);
        drop(self.runtime.spawn(async move {
            // The first call reports the error (and retries) if this fails.
            let _ = this.systemd.connection().await;
        }));
    }

    /// The system bus for root, the user's bus for rootless callers.
    pub fn for_current_user() -> Result<Arc<SystemdConnection>, SystemdError> {
        SystemdConnection::connect(Bus::for_current_user())
    }

    /// The async client.
    pub fn systemd(&self) -> &Systemd {
        &self.systemd
    }

    /// Runs a future on the private runtime and waits for it.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    /// The private runtime's handle (for background tasks tied to this connection).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_call_that_never_answers_times_out_naming_the_method() {
        let started = std::time::Instant::now();
        let result = runtime().block_on(within(
            "GetUnit",
            "unitbox-x.scope",
            Duration::from_millis(200),
            std::future::pending::<zbus::Result<()>>(),
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        let err = result.unwrap_err();
        assert!(matches!(
            err,
            SystemdError::Timeout {
                method: "GetUnit",
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("`GetUnit`") && text.contains("unitbox-x.scope"),
            "{text}"
        );
    }

    #[test]
    fn an_answer_in_time_passes_through() {
        let result = runtime().block_on(within("GetUnit", "u", Duration::from_secs(5), async {
            Ok::<_, zbus::Error>(7)
        }));
        assert_eq!(result.unwrap().unwrap(), 7);
    }
}
