//! criu's RPC messages (`criu swrk`), encoded and decoded by hand.
//!
//! `criu swrk <fd>` reads one protobuf `criu_req` per `SOCK_SEQPACKET` packet and answers
//! `criu_resp` packets (`/usr/include/criu/rpc.proto`). We only ever send the handful of
//! `criu_opts` fields listed in [`Request`] and read the few `criu_resp` fields in
//! [`Response`]; proto2 wire format for that is a dozen lines, so no protobuf crate.
//! Field numbers are criu's and must never change.

/// `criu_req_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqType {
    /// `DUMP`.
    Dump = 1,
    /// `RESTORE`.
    Restore = 2,
    /// `PRE_DUMP`.
    PreDump = 4,
    /// `NOTIFY`: our answer to a notification.
    Notify = 6,
}

impl ReqType {
    /// The criu command name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ReqType::Dump => "dump",
            ReqType::Restore => "restore",
            ReqType::PreDump => "pre-dump",
            ReqType::Notify => "notify",
        }
    }
}

/// An `ext_mount_map` (`--ext-mount-map key:val`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtMount {
    /// On dump: the mountpoint in the container; on restore: the key in the images.
    pub key: String,
    /// On dump: the key to record; on restore: the host path to bind.
    pub val: String,
}

/// An `inherit_fd` (`--inherit-fd fd[N]:key`): criu's own fd `fd` replaces the file
/// recorded as `key` (`pipe:[123]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritFd {
    /// The recorded file.
    pub key: String,
    /// criu's descriptor.
    pub fd: i32,
}

/// The `criu_opts` we send. `None`/empty fields are left out of the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    /// 1: the images folder, as an fd of the requesting process.
    pub images_dir_fd: i32,
    /// 2: the task to dump.
    pub pid: Option<i32>,
    /// 3
    pub leave_running: bool,
    /// 4
    pub ext_unix_sk: bool,
    /// 5
    pub tcp_established: bool,
    /// 6
    pub evasive_devices: bool,
    /// 7
    pub shell_job: bool,
    /// 8
    pub file_locks: bool,
    /// 9
    pub log_level: i32,
    /// 10: relative to the work folder.
    pub log_file: String,
    /// 11: page server address and port.
    pub page_server: Option<(String, i32)>,
    /// 12: send notifications (we answer them).
    pub notify_scripts: bool,
    /// 13
    pub root: Option<String>,
    /// 14: relative to the images folder.
    pub parent_img: Option<String>,
    /// 15
    pub track_mem: bool,
    /// 17: the work folder, as an fd of the requesting process.
    pub work_dir_fd: Option<i32>,
    /// 23
    pub ext_mnt: Vec<ExtMount>,
    /// 26: restore the root task as criu's sibling (our child).
    pub rst_sibling: bool,
    /// 27
    pub inherit_fd: Vec<InheritFd>,
    /// 34: `criu_cg_mode`.
    pub manage_cgroups_mode: u64,
    /// 37: `--external` entries.
    pub external: Vec<String>,
    /// 38: `CLONE_NEW*` mask.
    pub empty_ns: u32,
    /// 50: send the master of an orphaned pty.
    pub orphan_pts_master: bool,
}

/// One `criu_req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 1
    pub kind: ReqType,
    /// 2
    pub opts: Option<Opts>,
    /// 3: the answer to a notification.
    pub notify_success: bool,
}

/// The parts of a `criu_resp` we read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// 1: the request type it answers (`NOTIFY` for a notification).
    pub kind: u64,
    /// 2
    pub success: bool,
    /// 4.1: the restored root task.
    pub restored_pid: Option<i32>,
    /// 5.1: the notification's script name (`post-restore`, `orphan-pts-master`…).
    pub notify_script: Option<String>,
    /// 5.2
    pub notify_pid: Option<i32>,
    /// 7
    pub cr_errno: Option<i32>,
    /// 9
    pub cr_errmsg: Option<String>,
}

/// A `criu_resp` that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed criu RPC response at byte {offset}")]
pub struct DecodeError {
    /// Where it broke.
    pub offset: usize,
}

// ---- encoding ---------------------------------------------------------------------------

const VARINT: u64 = 0;
const LEN: u64 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

/// int32 is sign-extended to 64 bits on the wire (proto2 `int32`, not `sint32`).
fn put_i32(out: &mut Vec<u8>, field: u64, v: i32) {
    put_key(out, field, VARINT);
    put_varint(out, i64::from(v) as u64);
}

fn put_u64(out: &mut Vec<u8>, field: u64, v: u64) {
    put_key(out, field, VARINT);
    put_varint(out, v);
}

fn put_bool(out: &mut Vec<u8>, field: u64, v: bool) {
    if v {
        put_u64(out, field, 1);
    }
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Opts {
    fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        put_i32(&mut o, 1, self.images_dir_fd);
        if let Some(pid) = self.pid {
            put_i32(&mut o, 2, pid);
        }
        put_bool(&mut o, 3, self.leave_running);
        put_bool(&mut o, 4, self.ext_unix_sk);
        put_bool(&mut o, 5, self.tcp_established);
        put_bool(&mut o, 6, self.evasive_devices);
        put_bool(&mut o, 7, self.shell_job);
        put_bool(&mut o, 8, self.file_locks);
        put_i32(&mut o, 9, self.log_level);
        put_bytes(&mut o, 10, self.log_file.as_bytes());
        if let Some((address, port)) = &self.page_server {
            let mut ps = Vec::new();
            put_bytes(&mut ps, 1, address.as_bytes());
            put_i32(&mut ps, 2, *port);
            put_bytes(&mut o, 11, &ps);
        }
        put_bool(&mut o, 12, self.notify_scripts);
        if let Some(root) = &self.root {
            put_bytes(&mut o, 13, root.as_bytes());
        }
        if let Some(parent) = &self.parent_img {
            put_bytes(&mut o, 14, parent.as_bytes());
        }
        put_bool(&mut o, 15, self.track_mem);
        if let Some(fd) = self.work_dir_fd {
            put_i32(&mut o, 17, fd);
        }
        for m in &self.ext_mnt {
            let mut e = Vec::new();
            put_bytes(&mut e, 1, m.key.as_bytes());
            put_bytes(&mut e, 2, m.val.as_bytes());
            put_bytes(&mut o, 23, &e);
        }
        put_bool(&mut o, 26, self.rst_sibling);
        for i in &self.inherit_fd {
            let mut e = Vec::new();
            put_bytes(&mut e, 1, i.key.as_bytes());
            put_i32(&mut e, 2, i.fd);
            put_bytes(&mut o, 27, &e);
        }
        // Always sent: its absence would mean criu's default (`soft`), not "unset".
        put_u64(&mut o, 34, self.manage_cgroups_mode);
        for ext in &self.external {
            put_bytes(&mut o, 37, ext.as_bytes());
        }
        if self.empty_ns != 0 {
            put_u64(&mut o, 38, u64::from(self.empty_ns));
        }
        put_bool(&mut o, 50, self.orphan_pts_master);
        o
    }
}

impl Request {
    /// The request's wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, 1, self.kind as u64);
        if let Some(opts) = &self.opts {
            put_bytes(&mut out, 2, &opts.encode());
        }
        if self.kind == ReqType::Notify {
            put_u64(&mut out, 3, u64::from(self.notify_success));
        }
        out
    }
}

// ---- decoding ---------------------------------------------------------------------------

/// One field of a message: its number and value.
enum Field<'a> {
    Varint(u64, u64),
    Bytes(u64, &'a [u8]),
}

/// Walks the fields of one message; fixed32/fixed64 fields are skipped.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Fields { buf, pos: 0, base }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(self.error())?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error())
    }

    fn error(&self) -> DecodeError {
        DecodeError {
            offset: self.base + self.pos,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(self.error())?;
        let bytes = self.buf.get(self.pos..end).ok_or(self.error())?;
        self.pos = end;
        Ok(bytes)
    }

    fn next_field(&mut self) -> Result<Option<(usize, Field<'a>)>, DecodeError> {
        loop {
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let key = self.varint()?;
            let (field, wire) = (key >> 3, key & 7);
            match wire {
                0 => return Ok(Some((0, Field::Varint(field, self.varint()?)))),
                2 => {
                    let len = usize::try_from(self.varint()?).map_err(|_| self.error())?;
                    let at = self.base + self.pos;
                    return Ok(Some((at, Field::Bytes(field, self.take(len)?))));
                }
                1 => drop(self.take(8)?),
                5 => drop(self.take(4)?),
                _ => return Err(self.error()),
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Response {
    /// Parses one `criu_resp` packet.
    pub fn decode(buf: &[u8]) -> Result<Response, DecodeError> {
        let mut resp = Response::default();
        let mut fields = Fields::new(buf, 0);
        while let Some((at, field)) = fields.next_field()? {
            match field {
                Field::Varint(1, v) => resp.kind = v,
                Field::Varint(2, v) => resp.success = v != 0,
                Field::Varint(7, v) => resp.cr_errno = Some(v as i32),
                Field::Bytes(9, b) => resp.cr_errmsg = Some(text(b)),
                Field::Bytes(4, b) => {
                    let mut inner = Fields::new(b, at);
                    while let Some((_, f)) = inner.next_field()? {
                        if let Field::Varint(1, v) = f {
                            resp.restored_pid = Some(v as i32);
                        }
                    }
                }
                Field::Bytes(5, b) => {
                    let mut inner = Fields::new(b, at);
                    while let Some((_, f)) = inner.next_field()? {
                        match f {
                            Field::Bytes(1, s) => resp.notify_script = Some(text(s)),
                            Field::Varint(2, v) => resp.notify_pid = Some(v as i32),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(resp)
    }

    /// Whether this is a notification (criu waits for our answer).
    pub fn is_notify(&self) -> bool {
        self.kind == ReqType::Notify as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_examples() {
        // From the protobuf encoding guide: 150 → 96 01; -1 as int32 → ten bytes.
        let rows: &[(u64, &[u8])] = &[
            (0, &[0]),
            (1, &[1]),
            (150, &[0x96, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, want) in rows {
            let mut out = Vec::new();
            put_varint(&mut out, *v);
            assert_eq!(&out, want, "{v}");
            assert_eq!(Fields::new(&out, 0).varint().unwrap(), *v);
        }
    }

    #[test]
    fn restore_request_encodes_fields_in_criu_numbers() {
        let req = Request {
            kind: ReqType::Restore,
            opts: Some(Opts {
                images_dir_fd: 7,
                log_level: 4,
                log_file: "r.log".into(),
                rst_sibling: true,
                inherit_fd: vec![InheritFd {
                    key: "pipe:[5]".into(),
                    fd: 1,
                }],
                ..Opts::default()
            }),
            notify_success: false,
        };
        let bytes = req.encode();
        // type = RESTORE
        assert_eq!(&bytes[..2], &[0x08, 0x02]);
        // opts: field 2, length-delimited
        assert_eq!(bytes[2], 0x12);
        let opts = &bytes[4..];
        assert_eq!(bytes[3] as usize, opts.len());
        let mut fields = Fields::new(opts, 0);
        let mut seen = Vec::new();
        while let Some((_, f)) = fields.next_field().unwrap() {
            match f {
                Field::Varint(n, v) => seen.push((n, format!("{v}"))),
                Field::Bytes(n, b) => seen.push((n, text(b))),
            }
        }
        let numbers: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 9, 10, 26, 27, 34]);
        assert_eq!(seen[0].1, "7");
        assert_eq!(seen[2].1, "r.log");
        assert_eq!(
            seen[5].1, "0",
            "manage_cgroups_mode IGNORE is sent explicitly"
        );
        assert!(seen[4].1.contains("pipe:[5]"));
    }

    #[test]
    fn negative_int32_is_ten_bytes() {
        let mut out = Vec::new();
        put_i32(&mut out, 2, -1);
        assert_eq!(out.len(), 11);
    }

    #[test]
    fn responses_decode_restore_pid_notify_and_errors() {
        // type=RESTORE, success=1, restore{pid=4242}
        let mut ok = vec![0x08, 0x02, 0x10, 0x01, 0x22];
        let mut inner = Vec::new();
        put_i32(&mut inner, 1, 4242);
        ok.push(inner.len() as u8);
        ok.extend(inner);
        let r = Response::decode(&ok).unwrap();
        assert!(r.success && !r.is_notify());
        assert_eq!(r.restored_pid, Some(4242));

        // type=NOTIFY, success=1, notify{script="post-restore", pid=9}
        let mut n = Vec::new();
        put_u64(&mut n, 1, 6);
        put_u64(&mut n, 2, 1);
        let mut inner = Vec::new();
        put_bytes(&mut inner, 1, b"post-restore");
        put_i32(&mut inner, 2, 9);
        put_bytes(&mut n, 5, &inner);
        let r = Response::decode(&n).unwrap();
        assert!(r.is_notify());
        assert_eq!(r.notify_script.as_deref(), Some("post-restore"));
        assert_eq!(r.notify_pid, Some(9));

        // type=DUMP, success=0, cr_errno=2, cr_errmsg="No such file"
        let mut e = Vec::new();
        put_u64(&mut e, 1, 1);
        put_u64(&mut e, 2, 0);
        put_i32(&mut e, 7, 2);
        put_bytes(&mut e, 9, b"No such file");
        let r = Response::decode(&e).unwrap();
        assert!(!r.success);
        assert_eq!(r.cr_errno, Some(2));
        assert_eq!(r.cr_errmsg.as_deref(), Some("No such file"));
    }

    #[test]
    fn truncated_responses_are_errors() {
        for bad in [&[0x08][..], &[0x22, 0x05, 0x08], &[0x0b]] {
            assert!(Response::decode(bad).is_err(), "{bad:?}");
        }
    }
}
