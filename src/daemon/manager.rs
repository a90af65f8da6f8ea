//! The Manager object: `io.unitbox.runtime1.Manager` at `/io/unitbox/runtime1`.
//!
//! Creates containers and offers every Container method keyed by id, so busctl users never
//! type an escaped path (machined's `KillMachine`, `TerminateMachine`, … twins). Bus glue
//! only: authorize, parse, call [`Runtime`]. Mirrors machined's `machined-dbus.c`.

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::OwnedObjectPath;
use zbus::OwnedVariant;

use super::access::require_root;
use super::checkpoint;
use super::container::{
    bool_option, exec_with_paths, known_options, open_output, stats_dict, string_option,
};
use super::error::BusError;
use super::path::container_path;
use super::runtime::{CreateOptions, Runtime};
use super::scope_options;

/// The Manager.
#[derive(Debug)]
pub struct Manager {
    runtime: Arc<Runtime>,
}

impl Manager {
    /// The Manager over `runtime`.
    pub fn new(runtime: Arc<Runtime>) -> Manager {
        Manager { runtime }
    }
}

/// Create options: `Config` (inline config.json), `StdoutPath`, `StderrPath` (files for
/// init's output; without them it goes to the journal), `Register` (tell machined),
/// `Slice` (the scope's slice), `ScopeProperties` (extra whitelisted scope properties).
fn create_options(options: &HashMap<String, OwnedVariant>) -> Result<CreateOptions, BusError> {
    known_options(
        options,
        &[
            "Config",
            "StdoutPath",
            "StderrPath",
            "Register",
            "Slice",
            "ScopeProperties",
        ],
    )?;
    let slice = string_option(options, "Slice")?;
    if let Some(slice) = &slice {
        scope_options::check_slice(slice)?;
    }
    let scope_properties = match options.get("ScopeProperties") {
        Some(value) => scope_options::scope_properties(value)?,
        None => Vec::new(),
    };
    Ok(CreateOptions {
        slice,
        scope_properties,
        register: bool_option(options, "Register")?,
        config: string_option(options, "Config")?,
        stdout: string_option(options, "StdoutPath")?
            .map(|p| open_output(&p))
            .transpose()?,
        stderr: string_option(options, "StderrPath")?
            .map(|p| open_output(&p))
            .transpose()?,
        restore: None,
    })
}

#[zbus::interface(name = "io.unitbox.runtime1.Manager")]
impl Manager {
    /// Creates container `id` from the bundle folder `bundle` (absolute). Replies once its
    /// scope `unitbox-<id>.scope` is running and init waits for `Start`. Options: `Config s`
    /// (inline config.json), `StdoutPath s`, `StderrPath s` (default: the journal),
    /// `Register b` (register init with systemd-machined, so `machinectl list` shows it),
    /// `Slice s` (default `machine.slice` or the config's `cgroupsPath`),
    /// `ScopeProperties a(sv)` (extra scope properties from a whitelist).
    async fn create_container(
        &self,
        id: String,
        bundle: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<OwnedObjectPath, BusError> {
        require_root(conn, &header).await?;
        let options = create_options(&options)?;
        self.runtime.create(&id, &bundle, options).await
    }

    /// Creates and starts container `id` (options as `CreateContainer`).
    async fn run_container(
        &self,
        id: String,
        bundle: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<OwnedObjectPath, BusError> {
        require_root(conn, &header).await?;
        let options = create_options(&options)?;
        self.runtime.run(&id, &bundle, options).await
    }

    /// The object path of container `id`.
    async fn get_container(&self, id: String) -> Result<OwnedObjectPath, BusError> {
        self.runtime.entry(&id)?;
        Ok(container_path(&id))
    }

    /// The object path of the container whose scope holds `pid`.
    #[zbus(name = "GetContainerByPID")]
    async fn get_container_by_pid(&self, pid: u32) -> Result<OwnedObjectPath, BusError> {
        let entry = self.runtime.entry_by_pid(pid)?;
        Ok(container_path(&entry.id))
    }

    /// Every container: (id, status, unit, object path).
    async fn list_containers(&self) -> Vec<(String, String, String, OwnedObjectPath)> {
        self.runtime
            .entries()
            .into_iter()
            .map(|e| {
                (
                    e.id.clone(),
                    e.live().status,
                    e.unit.clone(),
                    container_path(&e.id),
                )
            })
            .collect()
    }

    /// `Start` of container `id`.
    async fn start_container(
        &self,
        id: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.start(&id).await
    }

    /// `Kill` of container `id`.
    async fn kill_container(
        &self,
        id: String,
        who: String,
        signal: i32,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.kill(&id, &who, signal).await
    }

    /// `Pause` of container `id`.
    async fn pause_container(
        &self,
        id: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.pause(&id).await
    }

    /// `Resume` of container `id`.
    async fn resume_container(
        &self,
        id: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.resume(&id).await
    }

    /// `Update` of container `id`.
    async fn update_container(
        &self,
        id: String,
        resources_json: String,
        flags: u64,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        if flags != 0 {
            return Err(BusError::invalid_args("flags", "must be 0"));
        }
        self.runtime.update(&id, &resources_json).await
    }

    /// `Destroy` of container `id`.
    async fn destroy_container(
        &self,
        id: String,
        flags: u64,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        self.runtime.destroy(&id, flags).await
    }

    /// `GetState` of container `id`.
    async fn get_container_state(&self, id: String) -> Result<String, BusError> {
        self.runtime.state_json(&id).await
    }

    /// `GetStats` of container `id`.
    async fn get_container_stats(
        &self,
        id: String,
    ) -> Result<HashMap<String, OwnedVariant>, BusError> {
        stats_dict(&self.runtime, &id).await
    }

    /// `GetProcesses` of container `id`.
    async fn get_container_processes(
        &self,
        id: String,
    ) -> Result<Vec<(String, u32, String)>, BusError> {
        self.runtime.processes(&id).await
    }

    /// `Exec` in container `id`.
    #[zbus(out_args("pid", "exec_id"))]
    #[allow(clippy::too_many_arguments)]
    async fn exec_container(
        &self,
        id: String,
        argv: Vec<String>,
        env: Vec<String>,
        cwd: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(u32, String), BusError> {
        require_root(conn, &header).await?;
        exec_with_paths(&self.runtime, &id, argv, env, cwd, options).await
    }

    /// Restores container `id` from the checkpoint in `image_dir` (absolute), with the
    /// config of `bundle`: the restored tree runs in a new scope `unitbox-<id>.scope` with
    /// the config's resources. Replies once it runs. Options: `WorkPath s`,
    /// `TcpEstablished b`, `ExtUnixSk b`, `ShellJob b`, `FileLocks b`,
    /// `ManageCgroupsMode s` (default `ignore`), `EmptyNs as`, `CriuPath s`,
    /// `StdoutPath s`, `StderrPath s` (default: the journal).
    async fn restore_container(
        &self,
        id: String,
        bundle: String,
        image_dir: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<OwnedObjectPath, BusError> {
        require_root(conn, &header).await?;
        let options = checkpoint::restore_options(&image_dir, &options)?;
        checkpoint::restore(&self.runtime, &id, &bundle, options).await
    }

    /// `Checkpoint` of container `id`.
    async fn checkpoint_container(
        &self,
        id: String,
        image_dir: String,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), BusError> {
        require_root(conn, &header).await?;
        let options = checkpoint::checkpoint_options(&image_dir, &options)?;
        checkpoint::checkpoint(&self.runtime, &id, options).await
    }

    /// A container appeared.
    #[zbus(signal)]
    pub async fn container_new(
        emitter: &SignalEmitter<'_>,
        id: &str,
        path: zbus::ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// A container was destroyed.
    #[zbus(signal)]
    pub async fn container_removed(
        emitter: &SignalEmitter<'_>,
        id: &str,
        path: zbus::ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// The state root.
    #[zbus(property(emits_changed_signal = "const"))]
    fn state_root(&self) -> String {
        self.runtime.options().root.display().to_string()
    }
}
