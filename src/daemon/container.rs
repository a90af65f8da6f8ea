//! The Container object: `io.unitbox.runtime1.Container` at `/io/unitbox/runtime1/container/<label>`.
//!
//! Bus glue only: each method authorizes, then calls the same [`Runtime`] function the
//! Manager's id-keyed twin calls. Property getters read the entry's live view (no cgroup
//! or systemd reads), so `GetManagedObjects` stays cheap. Mirrors machined's `machine-dbus.c`.

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{OwnedFd, OwnedVariant};

use super::access::require_root;
use super::checkpoint;
use super::error::BusError;
use super::runtime::{Entry, ExecRequest, ExecStdio, Runtime};

/// One container on the bus.
#[derive(Debug)]
pub struct ContainerObject {
    entry: Arc<Entry>,
    runtime: Arc<Runtime>,
}

impl ContainerObject {
    /// The object for `entry`.
    pub fn new(entry: Arc<Entry>, runtime: Arc<Runtime>) -> ContainerObject {
        ContainerObject { entry, runtime }
    }
}

/// The `a{sv}` option `name` as a string (`InvalidArgs` on another type).
pub fn string_option(
    options: &HashMap<String, OwnedVariant>,
    name: &str,
) -> Result<Option<String>, BusError> {
    match options.get(name) {
        None => Ok(None),
        Some(value) => String::try_from(value.try_clone().map_err(BusError::from)?)
            .map(Some)
            .map_err(|_| BusError::invalid_args(name, "must be a string (s)")),
    }
}

/// The `a{sv}` option `name` as a boolean.
pub fn bool_option(options: &HashMap<String, OwnedVariant>, name: &str) -> Result<bool, BusError> {
    match options.get(name) {
        None => Ok(false),
        Some(value) => bool::try_from(value.try_clone().map_err(BusError::from)?)
            .map_err(|_| BusError::invalid_args(name, "must be a boolean (b)")),
    }
}

/// Refuses options this method does not know (a typo must not be silently ignored).
pub fn known_options(
    options: &HashMap<String, OwnedVariant>,
    known: &[&str],
) -> Result<(), BusError> {
    match options.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(BusError::invalid_args(
            key,
            format!("unknown option; known: {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Opens an output file for exec stdio (appending, created 0600).
pub fn open_output(path: &str) -> Result<std::os::fd::OwnedFd, BusError> {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.starts_with('/') {
        return Err(BusError::invalid_args(
            path,
            "output paths must be absolute",
        ));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map(Into::into)
        .map_err(|e| BusError::failed(&format!("open `{path}`"), &e))
}

/// The fd-free exec: options `StdoutPath`, `StderrPath` (files), `User`.
pub async fn exec_with_paths(
    runtime: &Arc<Runtime>,
    id: &str,
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    options: HashMap<String, OwnedVariant>,
) -> Result<(u32, String), BusError> {
    known_options(&options, &["StdoutPath", "StderrPath", "User"])?;
    let stdio = ExecStdio {
        stdin: None,
        stdout: string_option(&options, "StdoutPath")?
            .map(|p| open_output(&p))
            .transpose()?,
        stderr: string_option(&options, "StderrPath")?
            .map(|p| open_output(&p))
            .transpose()?,
    };
    let request = ExecRequest {
        argv,
        env,
        cwd,
        user: string_option(&options, "User")?.unwrap_or_default(),
        tty: false,
    };
    let (pid, exec_id, _) = runtime.exec(id, request, stdio).await?;
    Ok((pid, exec_id))
}

/// `GetStats` as `a{sv}`: systemd-named counters plus `Json` (libcontainer's stats).
pub async fn stats_dict(
    runtime: &Runtime,
    id: &str,
) -> Result<HashMap<String, OwnedVariant>, BusError> {
    let stats = runtime.stats(id).await?;
    let json =
        serde_json::to_string(&stats).map_err(|e| BusError::failed("serialize stats", &e))?;
    let mut dict = HashMap::new();
    let mut put = |name: &str, value: zbus::Variant<'_>| {
        if let Ok(value) = OwnedVariant::try_from(value) {
            dict.insert(name.to_owned(), value);
        }
    };
    put("MemoryCurrent", stats.memory.usage.usage.into());
    put("CPUUsageNSec", stats.cpu.total_usage.into());
    put("TasksCurrent", stats.pids.current.into());
    put("Json", json.into());
    Ok(dict)
}

#[zbus::interface(name = "io.unitbox.runtime1.Container")]
impl ContainerObject {
    /// Starts the user process of a created container (OCI start).
    async fn start(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.start(&self.entry.id).await
    }

    /// Sends `signal` to `who`: `init` or `all` (every process of the scope).
    async fn kill(
        &self,
        who: String,
        signal: i32,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.kill(&self.entry.id, &who, signal).await
    }

    /// Freezes every process of the container.
    async fn pause(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.pause(&self.entry.id).await
    }

    /// Thaws a paused container.
    async fn resume(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.resume(&self.entry.id).await
    }

    /// Applies OCI `linux.resources` JSON to the scope (SetUnitProperties); `flags` must be 0.
    async fn update(
        &self,
        resources_json: String,
        flags: u64,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        if flags != 0 {
            return Err(BusError::invalid_args("flags", "must be 0"));
        }
        self.runtime.update(&self.entry.id, &resources_json).await
    }

    /// Destroys the container; `flags` bit 0 forces it whatever its status.
    async fn destroy(
        &self,
        flags: u64,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.destroy(&self.entry.id, flags).await
    }

    /// Checkpoints the running container into `image_dir` (absolute) with criu. Unless
    /// it is left running (`LeaveRunning b`, `PreDump b`), it then stops (`Exited`) and is
    /// removed (`ContainerRemoved`), its scope gone, so `RestoreContainer` can bring the id
    /// back. Options: `WorkPath s`, `ParentPath s` (images of a pre-dump, relative to
    /// `image_dir` or absolute), `LeaveRunning b`, `PreDump b`, `TcpEstablished b`,
    /// `ExtUnixSk b`, `ShellJob b`, `FileLocks b`, `ManageCgroupsMode s` (default
    /// `ignore`), `EmptyNs as`, `PageServer s` (`ADDRESS:PORT`), `CriuPath s`. Takes
    /// seconds: use a generous call timeout.
    async fn checkpoint(
        &self,
        image_dir: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        let options = checkpoint::checkpoint_options(&image_dir, &options)?;
        checkpoint::checkpoint(&self.runtime, &self.entry.id, options).await
    }

    /// The OCI state JSON (plus `exitCode`/`exitStatus` once stopped).
    async fn get_state(&self) -> Result<String, BusError> {
        self.runtime.state_json(&self.entry.id).await
    }

    /// Resource usage: `MemoryCurrent`, `CPUUsageNSec`, `TasksCurrent`, and `Json`.
    async fn get_stats(&self) -> Result<HashMap<String, OwnedVariant>, BusError> {
        stats_dict(&self.runtime, &self.entry.id).await
    }

    /// Every process of the scope: (cgroup, host pid, command line).
    async fn get_processes(&self) -> Result<Vec<(String, u32, String)>, BusError> {
        self.runtime.processes(&self.entry.id).await
    }

    /// Starts `argv` in the container. stdout/stderr go to the files named by the options
    /// `StdoutPath`/`StderrPath`, else to the container's journal stream; stdin is /dev/null.
    #[zbus(out_args("pid", "exec_id"))]
    async fn exec(
        &self,
        argv: Vec<String>,
        env: Vec<String>,
        cwd: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(u32, String), BusError> {
        require_root(conn, &header).await?;
        exec_with_paths(&self.runtime, &self.entry.id, argv, env, cwd, options).await
    }

    /// Starts `argv` in the container with the caller's descriptors as its stdio.
    #[zbus(out_args("pid", "exec_id"))]
    #[allow(clippy::too_many_arguments)]
    async fn exec_with_fds(
        &self,
        argv: Vec<String>,
        env: Vec<String>,
        cwd: String,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(u32, String), BusError> {
        require_root(conn, &header).await?;
        known_options(&options, &["User"])?;
        let stdio = ExecStdio {
            stdin: Some(stdin.into()),
            stdout: Some(stdout.into()),
            stderr: Some(stderr.into()),
        };
        let request = ExecRequest {
            argv,
            env,
            cwd,
            user: string_option(&options, "User")?.unwrap_or_default(),
            tty: false,
        };
        let (pid, exec_id, _) = self.runtime.exec(&self.entry.id, request, stdio).await?;
        Ok((pid, exec_id))
    }

    /// Starts `argv` (default `/bin/sh`) on a new terminal of the container and returns
    /// the terminal's master, its path inside the container and the process's pid.
    #[zbus(out_args("pty", "pty_path", "pid"))]
    async fn open_shell(
        &self,
        argv: Vec<String>,
        env: Vec<String>,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(OwnedFd, String, u32), BusError> {
        require_root(conn, &header).await?;
        open_shell(&self.runtime, &self.entry.id, argv, env, options).await
    }

    /// Emitted with every status change (the same as PropertiesChanged on `Status`).
    #[zbus(signal, name = "StatusChanged")]
    pub async fn status_changed_sig(emitter: &SignalEmitter<'_>, status: &str) -> zbus::Result<()>;

    /// init ended: `code` is CLD_EXITED (1, `status` = exit code) or CLD_KILLED (2, signal).
    #[zbus(signal)]
    pub async fn exited(emitter: &SignalEmitter<'_>, code: i32, status: i32) -> zbus::Result<()>;

    /// The kernel OOM killer killed a process of the container; `count` so far.
    #[zbus(signal, name = "OOM")]
    pub async fn oom(emitter: &SignalEmitter<'_>, count: u64) -> zbus::Result<()>;

    /// An exec'd process ended.
    #[zbus(signal)]
    pub async fn exec_exited(
        emitter: &SignalEmitter<'_>,
        exec_id: &str,
        pid: u32,
        code: i32,
        status: i32,
    ) -> zbus::Result<()>;

    /// The container id.
    #[zbus(property(emits_changed_signal = "const"))]
    fn id(&self) -> String {
        self.entry.id.clone()
    }

    /// The bundle folder.
    #[zbus(property(emits_changed_signal = "const"))]
    fn bundle(&self) -> String {
        self.entry.bundle.clone()
    }

    /// Creation time, µs since the epoch.
    #[zbus(property(emits_changed_signal = "const"))]
    fn created(&self) -> u64 {
        self.entry.created_usec
    }

    /// The scope, `unitbox-<id>.scope`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn unit(&self) -> String {
        self.entry.unit.clone()
    }

    /// `creating`, `created`, `running`, `pausing`, `paused` or `stopped`.
    #[zbus(property)]
    fn status(&self) -> String {
        self.entry.live().status
    }

    /// Host pid of init; 0 once stopped.
    #[zbus(property)]
    fn init_pid(&self) -> u32 {
        self.entry.live().init_pid
    }

    /// How init ended: CLD_EXITED (1) or CLD_KILLED (2); 0 while it runs.
    #[zbus(property)]
    fn exit_code(&self) -> i32 {
        self.entry.live().exit.map_or(0, |e| e.code)
    }

    /// init's exit code or killing signal; 0 while it runs.
    #[zbus(property)]
    fn exit_status(&self) -> i32 {
        self.entry.live().exit.map_or(0, |e| e.status)
    }
}

/// The terminal exec behind `OpenShell`.
pub async fn open_shell(
    runtime: &Arc<Runtime>,
    id: &str,
    argv: Vec<String>,
    env: Vec<String>,
    options: HashMap<String, OwnedVariant>,
) -> Result<(OwnedFd, String, u32), BusError> {
    known_options(&options, &["User"])?;
    let argv = if argv.is_empty() {
        vec!["/bin/sh".to_owned()]
    } else {
        argv
    };
    let request = ExecRequest {
        argv,
        env,
        cwd: String::new(),
        user: string_option(&options, "User")?.unwrap_or_default(),
        tty: true,
    };
    let (pid, _, console) = runtime.exec(id, request, ExecStdio::default()).await?;
    let master = console.ok_or_else(|| {
        BusError::new(
            super::error::ErrorKind::OperationFailed,
            "no terminal was allocated",
        )
    })?;
    let pty_path = pty_path(&master);
    Ok((OwnedFd::from(master), pty_path, pid))
}

/// `/dev/pts/<n>` of a pty master, from `/proc/self/fdinfo` (`tty-index`).
fn pty_path(master: &std::os::fd::OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", master.as_raw_fd()))
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("tty-index:"))
        .map(|n| format!("/dev/pts/{}", n.trim()))
        .unwrap_or_default()
}
