//! The state store: one folder per container under a root directory, holding `state.json`.
//!
//! Owns the on-disk layout (`<root>/<id>/state.json`, `<root>/<id>/exec.fifo` is the
//! engine's), atomic writes (temp file in the same folder, then rename), the
//! per-container lock, and the check that tells a live init from a dead
//! one (pid alive, same start time, not a zombie). Never talks to systemd or starts
//! processes. Mirrors runc's `libcontainer/factory_linux.go` + `state_linux.go` layout.
//!
//! # Locking
//! A container is locked with `flock(LOCK_EX)` on its folder. Every process that changes a
//! container (CLI verb, daemon method) holds [`ContainerLock`] for the whole change; reads
//! ([`Store::load`]) take no lock because `state.json` is only ever replaced by `rename`.
//! Lock order: at most one container lock at a time per thread; never lock the root.
//! A lock taken on a folder that was removed while we waited is detected (the path no
//! longer names the locked inode) and reported as [`StoreError::NotExists`].

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::{Config, NamespaceType};

/// Where state lives when nothing else is asked for (runc uses `/run/runc`).
pub const DEFAULT_ROOT: &str = "/run/unitbox";

/// File name of the state inside a container folder.
pub const STATE_FILE: &str = "state.json";

/// Temp file a save writes before renaming it over [`STATE_FILE`].
const STATE_TEMP_FILE: &str = ".state.json.tmp";

/// A failure of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The root directory cannot be created or opened.
    #[error("create state root `{}`", path.display())]
    CreateRoot {
        /// Root path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A container folder with this id exists already.
    #[error("container `{0}` already exists")]
    IdInUse(String),
    /// No container with this id.
    #[error("container `{0}` does not exist")]
    NotExists(String),
    /// The container folder cannot be created.
    #[error("create container folder `{}`", path.display())]
    CreateDir {
        /// Folder path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The lock cannot be taken.
    #[error("lock `{}`", path.display())]
    Lock {
        /// Locked path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Another process holds the container's lock (non-blocking lock only).
    #[error("container `{0}` is locked by another process")]
    Busy(String),
    /// `state.json` cannot be read.
    #[error("read `{}`", path.display())]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// `state.json` is not valid state.
    #[error("parse `{}`", path.display())]
    Parse {
        /// File path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The state cannot be encoded.
    #[error("encode state of `{id}`")]
    Encode {
        /// Container id.
        id: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The state cannot be written.
    #[error("write `{}`", path.display())]
    Write {
        /// File path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The container folder cannot be removed.
    #[error("remove `{}`", path.display())]
    Remove {
        /// Folder path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The root cannot be listed.
    #[error("list `{}`", path.display())]
    List {
        /// Root path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// Everything a later process needs to find and drive a container (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Container id.
    pub id: String,
    /// Host pid of the container's init (0 before init exists).
    pub init_pid: i32,
    /// Start time of init (field 22 of `/proc/<pid>/stat`, clock ticks since boot): a
    /// different value under the same pid means the pid was reused.
    pub init_start_time: u64,
    /// When the container was created (RFC 3339, UTC).
    pub created: String,
    /// The configuration the container was made from.
    pub config: Config,
    /// The systemd unit that holds the container (`unitbox-<id>.scope`).
    pub unit_name: String,
    /// Cgroup directories per hierarchy, as systemd placed the scope.
    #[serde(default)]
    pub cgroup_paths: BTreeMap<String, PathBuf>,
    /// Namespace files of init (`/proc/<pid>/ns/<name>`), for exec and for joining.
    #[serde(default)]
    pub namespace_paths: BTreeMap<NamespaceType, PathBuf>,
    /// Created without root on the host.
    #[serde(default)]
    pub rootless: bool,
    /// What init's stdin, stdout and stderr pointed to (for checkpoint/restore).
    #[serde(default)]
    pub external_descriptors: Vec<String>,
    /// The bundle the container was created from (may be empty for library callers).
    #[serde(default)]
    pub bundle: PathBuf,
    /// OCI annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container was paused by us and not resumed since.
    #[serde(default)]
    pub paused: bool,
}

/// Whether the process recorded as a container's init still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitLiveness {
    /// The pid runs, with the recorded start time, and is not a zombie.
    Alive,
    /// No such pid, a zombie, or another process under a reused pid.
    Gone,
}

impl InitLiveness {
    /// Checks `/proc/<pid>/stat` against the recorded start time.
    pub fn of(pid: i32, start_time: u64) -> InitLiveness {
        if pid <= 0 {
            return InitLiveness::Gone;
        }
        match proc_stat(pid) {
            Some((state, start)) if start == start_time && !matches!(state, 'Z' | 'X' | 'x') => {
                InitLiveness::Alive
            }
            _ => InitLiveness::Gone,
        }
    }
}

/// The start time of `pid` (field 22 of `/proc/<pid>/stat`), `None` if it is gone.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some((stat.state, stat.starttime))
}

impl State {
    /// Whether init is alive (see [`InitLiveness::of`]).
    pub fn init_liveness(&self) -> InitLiveness {
        InitLiveness::of(self.init_pid, self.init_start_time)
    }
}

/// The root directory of all container folders.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one container's folder; released on drop.
#[derive(Debug)]
pub struct ContainerLock {
    id: String,
    dir: PathBuf,
    _flock: Flock<File>,
}

impl ContainerLock {
    /// The locked container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The locked container's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A container folder being created: removed on drop unless [`Reservation::commit`]ted, so a
/// failed create leaves nothing behind.
#[derive(Debug)]
pub struct Reservation {
    lock: Option<ContainerLock>,
}

impl Reservation {
    /// The lock held on the new folder.
    pub fn lock(&self) -> &ContainerLock {
        // The option is only emptied by `commit` and `drop`, which consume the reservation.
        self.lock
            .as_ref()
            .unwrap_or_else(|| unreachable!("reservation used after commit"))
    }

    /// Keeps the folder: the create succeeded. Returns the lock, still held.
    pub fn commit(mut self) -> ContainerLock {
        self.lock
            .take()
            .unwrap_or_else(|| unreachable!("reservation committed twice"))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            // Best effort: the create already failed and that error is what the caller sees.
            let _ = fs::remove_dir_all(&lock.dir);
        }
    }
}

impl Store {
    /// Opens (creating if needed, mode 0700) the state root.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|source| StoreError::CreateRoot {
                path: root.clone(),
                source,
            })?;
        Ok(Store { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of container `id` (whether or not it exists).
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claims `id` by creating its folder and locking it; `IdInUse` when taken.
    ///
    /// A folder without `state.json` whose lock is free is the leftover of a create that
    /// crashed: it is removed and the claim retried once.
    pub fn reserve(&self, id: &str) -> Result<Reservation, StoreError> {
        let dir = self.container_dir(id);
        for _ in 0..2 {
            match fs::DirBuilder::new().mode(0o711).create(&dir) {
                Ok(()) => {
                    let lock = self.lock_dir(id, LockWait::Block)?;
                    return Ok(Reservation { lock: Some(lock) });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !self.remove_abandoned(id)? {
                        return Err(StoreError::IdInUse(id.to_owned()));
                    }
                }
                Err(source) => return Err(StoreError::CreateDir { path: dir, source }),
            }
        }
        Err(StoreError::IdInUse(id.to_owned()))
    }

    /// Removes the folder of `id` if a create crashed in it (no state, lock free).
    fn remove_abandoned(&self, id: &str) -> Result<bool, StoreError> {
        let dir = self.container_dir(id);
        if dir.join(STATE_FILE).exists() {
            return Ok(false);
        }
        let lock = match self.lock_dir(id, LockWait::Fail) {
            Ok(lock) => lock,
            Err(StoreError::Busy(_) | StoreError::NotExists(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if dir.join(STATE_FILE).exists() {
            return Ok(false);
        }
        fs::remove_dir_all(&dir).map_err(|source| StoreError::Remove {
            path: dir.clone(),
            source,
        })?;
        drop(lock);
        Ok(true)
    }

    /// Locks container `id`, waiting for another holder to release it.
    pub fn lock(&self, id: &str) -> Result<ContainerLock, StoreError> {
        self.lock_dir(id, LockWait::Block)
    }

    /// Locks container `id`, or fails with [`StoreError::Busy`] if another process holds it.
    pub fn try_lock(&self, id: &str) -> Result<ContainerLock, StoreError> {
        self.lock_dir(id, LockWait::Fail)
    }

    fn lock_dir(&self, id: &str, wait: LockWait) -> Result<ContainerLock, StoreError> {
        let dir = self.container_dir(id);
        let file = match File::open(&dir) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotExists(id.to_owned()))
            }
            Err(source) => return Err(StoreError::Lock { path: dir, source }),
        };
        let arg = match wait {
            LockWait::Block => FlockArg::LockExclusive,
            LockWait::Fail => FlockArg::LockExclusiveNonblock,
        };
        let flock = match Flock::lock(file, arg) {
            Ok(flock) => flock,
            Err((_, Errno::EWOULDBLOCK)) => return Err(StoreError::Busy(id.to_owned())),
            Err((_, errno)) => {
                return Err(StoreError::Lock {
                    path: dir,
                    source: errno.into(),
                })
            }
        };
        // The holder we waited for may have removed (and someone re-created) the folder:
        // the lock only counts if the path still names the inode we locked.
        let locked = flock.metadata().map_err(|source| StoreError::Lock {
            path: dir.clone(),
            source,
        })?;
        match fs::metadata(&dir) {
            Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {}
            _ => return Err(StoreError::NotExists(id.to_owned())),
        }
        Ok(ContainerLock {
            id: id.to_owned(),
            dir,
            _flock: flock,
        })
    }

    /// Reads the state of container `id`; `NotExists` when there is no folder or no state
    /// yet (a create in progress).
    pub fn load(&self, id: &str) -> Result<State, StoreError> {
        let path = self.container_dir(id).join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotExists(id.to_owned()))
            }
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Parse { path, source })
    }

    /// Replaces the state of the locked container atomically: a crash at any point leaves
    /// either the old or the new `state.json`, never a partial one.
    pub fn save(&self, lock: &ContainerLock, state: &State) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(state).map_err(|source| StoreError::Encode {
            id: state.id.clone(),
            source,
        })?;
        let temp = write_temp(lock.dir(), &bytes)?;
        commit_temp(lock.dir(), &temp)
    }

    /// Removes the locked container's folder (state, fifo, everything in it).
    pub fn remove(&self, lock: ContainerLock) -> Result<(), StoreError> {
        fs::remove_dir_all(&lock.dir).map_err(|source| StoreError::Remove {
            path: lock.dir.clone(),
            source,
        })
    }

    /// Ids of every container with a saved state, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let list_err = |source| StoreError::List {
            path: self.root.clone(),
            source,
        };
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            if !entry.path().join(STATE_FILE).is_file() {
                continue;
            }
            if let Some(id) = entry.file_name().to_str() {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

#[derive(Debug, Clone, Copy)]
enum LockWait {
    Block,
    Fail,
}

/// Writes `bytes` to the temp file of `dir`.
///
/// No `fsync`, here or after the rename (runc does none either): the rename alone makes
/// the replacement atomic for every reader and against a crash of this process, and a
/// crash of the machine that could lose the page cache also ends every process the state
/// describes, so a durable `state.json` would only describe dead containers. The default
/// root is a tmpfs, where `fsync` is free anyway; on a disk root (`--root /var/...`) the
/// two `fsync`s cost about 0.7 ms of every create.
fn write_temp(dir: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let path = dir.join(STATE_TEMP_FILE);
    let write_err = |source| StoreError::Write {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    Ok(path)
}

/// Renames the temp file over `state.json` (see [`write_temp`] on durability).
fn commit_temp(dir: &Path, temp: &Path) -> Result<(), StoreError> {
    let path = dir.join(STATE_FILE);
    fs::rename(temp, &path).map_err(|source| StoreError::Write { path, source })
}

/// Now as an RFC 3339 UTC timestamp with nanoseconds (`2026-11-29T20:49:28.123456789Z`).
pub fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_nanos())
}

/// Formats seconds since the epoch (UTC) as RFC 3339.
fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    fn temp_store() -> Store {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("unitbox-store-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        Store::open(root).unwrap()
    }

    fn state(id: &str, pid: i32, start: u64) -> State {
        State {
            id: id.to_owned(),
            init_pid: pid,
            init_start_time: start,
            created: now_rfc3339(),
            config: Config::default(),
            unit_name: format!("unitbox-{id}.scope"),
            cgroup_paths: BTreeMap::new(),
            namespace_paths: BTreeMap::new(),
            rootless: false,
            external_descriptors: vec!["/dev/null".into(); 3],
            bundle: PathBuf::from("/bundle"),
            annotations: BTreeMap::new(),
            paused: false,
        }
    }

    fn create(store: &Store, st: &State) {
        let reservation = store.reserve(&st.id).unwrap();
        store.save(reservation.lock(), st).unwrap();
        reservation.commit();
    }

    #[test]
    fn save_then_load_round_trips() {
        let store = temp_store();
        let st = state("a", 1, 2);
        create(&store, &st);
        assert_eq!(store.load("a").unwrap(), st);
        assert_eq!(store.list().unwrap(), vec!["a".to_owned()]);
    }

    #[test]
    fn crash_between_temp_and_rename_keeps_old_state() {
        let store = temp_store();
        let old = state("c", 1, 2);
        create(&store, &old);
        let lock = store.lock("c").unwrap();
        // A writer that died after writing (part of) the temp file, before the rename.
        let temp = write_temp(lock.dir(), b"{\"id\":\"c\",\"init_p").unwrap();
        assert!(temp.exists());
        assert_eq!(store.load("c").unwrap(), old);
        assert_eq!(store.list().unwrap(), vec!["c".to_owned()]);
        // The next save replaces both the state and the stale temp file.
        let mut new = old.clone();
        new.paused = true;
        store.save(&lock, &new).unwrap();
        assert_eq!(store.load("c").unwrap(), new);
        assert!(!temp.exists());
    }

    #[test]
    fn state_file_is_never_partial() {
        let store = temp_store();
        create(&store, &state("p", 1, 2));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let store = store.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::SeqCst) {
                    store.load("p").unwrap();
                    reads += 1;
                }
                reads
            })
        };
        let lock = store.lock("p").unwrap();
        for i in 0..200 {
            let mut st = state("p", 1, i);
            st.annotations
                .insert("n".into(), "x".repeat(i as usize * 50));
            store.save(&lock, &st).unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
    }

    #[test]
    fn reserve_of_taken_id_is_id_in_use() {
        let store = temp_store();
        create(&store, &state("dup", 1, 2));
        assert!(matches!(store.reserve("dup"), Err(StoreError::IdInUse(id)) if id == "dup"));
    }

    #[test]
    fn reserve_while_another_create_runs_is_id_in_use() {
        let store = temp_store();
        let _creating = store.reserve("busy").unwrap();
        assert!(matches!(store.reserve("busy"), Err(StoreError::IdInUse(_))));
    }

    #[test]
    fn dropped_reservation_leaves_nothing() {
        let store = temp_store();
        {
            let reservation = store.reserve("failed").unwrap();
            fs::write(reservation.lock().dir().join("exec.fifo"), b"").unwrap();
        }
        assert!(!store.container_dir("failed").exists());
        assert!(matches!(
            store.load("failed"),
            Err(StoreError::NotExists(_))
        ));
    }

    #[test]
    fn folder_left_by_crashed_create_is_reclaimed() {
        let store = temp_store();
        fs::create_dir(store.container_dir("crashed")).unwrap();
        let reservation = store.reserve("crashed").unwrap();
        reservation.commit();
        assert!(store.container_dir("crashed").is_dir());
    }

    #[test]
    fn second_locker_blocks_until_first_releases() {
        let store = temp_store();
        create(&store, &state("l", 1, 2));
        let first = store.lock("l").unwrap();
        assert!(matches!(store.try_lock("l"), Err(StoreError::Busy(_))));
        let barrier = Arc::new(Barrier::new(2));
        let waiter = {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                let _second = store.lock("l").unwrap();
                started.elapsed()
            })
        };
        barrier.wait();
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        assert!(waiter.join().unwrap() >= Duration::from_millis(150));
    }

    #[test]
    fn second_process_is_refused_while_locked() {
        let store = temp_store();
        create(&store, &state("x", 1, 2));
        let _held = store.lock("x").unwrap();
        // flock(1) from another process: the lock is per open file, not per thread.
        let status = std::process::Command::new("flock")
            .args(["-n", "-E", "42"])
            .arg(store.container_dir("x"))
            .arg("true")
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(42));
    }

    #[test]
    fn lock_of_removed_container_is_not_exists() {
        let store = temp_store();
        create(&store, &state("gone", 1, 2));
        let first = store.lock("gone").unwrap();
        let waiter = {
            let store = store.clone();
            std::thread::spawn(move || store.lock("gone"))
        };
        std::thread::sleep(Duration::from_millis(100));
        store.remove(first).unwrap();
        assert!(matches!(
            waiter.join().unwrap(),
            Err(StoreError::NotExists(_))
        ));
    }

    #[test]
    fn liveness_tells_running_from_stopped() {
        let me = std::process::id() as i32;
        let start = pid_start_time(me).unwrap();
        let rows = [
            ("self with its start time", me, start, InitLiveness::Alive),
            ("self under a reused pid", me, start + 1, InitLiveness::Gone),
            ("pid 0", 0, 0, InitLiveness::Gone),
            ("no such pid", i32::MAX, start, InitLiveness::Gone),
        ];
        for (what, pid, start, want) in rows {
            assert_eq!(InitLiveness::of(pid, start), want, "{what}");
        }
    }

    #[test]
    fn dead_and_zombie_pids_are_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start = pid_start_time(pid).unwrap();
        // Not reaped yet: a zombie once it exits.
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_stat(pid).map(|(s, _)| s) != Some('Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(InitLiveness::of(pid, start), InitLiveness::Gone, "zombie");
        child.wait().unwrap();
        assert_eq!(InitLiveness::of(pid, start), InitLiveness::Gone, "reaped");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        let rows = [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
            (1_795_974_568, 0, "2026-11-29T17:49:28.000000000Z"),
        ];
        for (secs, nanos, want) in rows {
            assert_eq!(rfc3339(secs, nanos), want);
        }
    }
}
