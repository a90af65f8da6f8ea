//! `unitbox checkpoint`: save a running container with criu (runc's flags).

use std::path::PathBuf;
use std::process::ExitCode;

use super::Globals;
use crate::checkpoint::{CriuOpts, EmptyNamespaces, ManageCgroupsMode, PageServer};
use crate::Error;

/// Checkpoint a running container.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The container id.
    pub id: String,
    /// The criu flags `checkpoint` and `restore` share.
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path for previous criu image files in a pre-dump (relative to the image path, or
    /// absolute).
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing.
    #[arg(long)]
    pub leave_running: bool,
    /// Dump only the memory, as the base of a later checkpoint (`--parent-path`).
    #[arg(long)]
    pub pre_dump: bool,
    /// `ADDRESS:PORT` of a criu page server.
    #[arg(long, value_parser = parse_page_server)]
    pub page_server: Option<PageServer>,
}

/// The criu flags of both `checkpoint` and `restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct CriuFlags {
    /// Path for saving criu image files.
    #[arg(long, default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Path for saving work files and logs (default: the image path).
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety.
    #[arg(long)]
    pub file_locks: bool,
    /// What criu does with cgroups: ignore (the default: systemd owns them), props, soft,
    /// full or strict.
    #[arg(long, default_value = "ignore", value_parser = parse_mode)]
    pub manage_cgroups_mode: ManageCgroupsMode,
    /// Create a namespace, but do not restore its properties (`network`, …; repeatable).
    #[arg(long)]
    pub empty_ns: Vec<String>,
}

impl CriuFlags {
    /// The library's options for these flags and the global `--criu`.
    pub fn to_opts(&self, globals: &Globals) -> Result<CriuOpts, Error> {
        let mut opts = CriuOpts::new(self.image_path.clone());
        opts.work_dir = self.work_path.clone();
        opts.tcp_established = self.tcp_established;
        opts.external_unix_connections = self.ext_unix_sk;
        opts.shell_job = self.shell_job;
        opts.file_locks = self.file_locks;
        opts.manage_cgroups_mode = self.manage_cgroups_mode;
        opts.empty_namespaces = EmptyNamespaces::parse(&self.empty_ns)?;
        opts.criu_path = globals.criu.clone();
        Ok(opts.absolute())
    }
}

fn parse_mode(text: &str) -> Result<ManageCgroupsMode, String> {
    text.parse().map_err(|e: crate::checkpoint::CheckpointError| e.to_string())
}

fn parse_page_server(text: &str) -> Result<PageServer, String> {
    text.parse().map_err(|e: crate::checkpoint::CheckpointError| e.to_string())
}

/// Checkpoints the container; unless it is left running (or pre-dumped), deletes it
/// afterwards as runc does, so that `restore` can bring the id back.
pub fn run(args: CheckpointArgs, globals: &Globals) -> Result<ExitCode, Error> {
    let mut opts = args.criu.to_opts(globals)?;
    opts.parent_image = args.parent_path;
    opts.leave_running = args.leave_running;
    opts.pre_dump = args.pre_dump;
    opts.page_server = args.page_server;
    let mut container = super::load(globals, &args.id)?;
    container.checkpoint(&opts)?;
    if !opts.keeps_running() {
        container.destroy()?;
    }
    Ok(ExitCode::SUCCESS)
}
