//! The parent↔init channel: typed, length-prefixed serde_json over `SOCK_SEQPACKET`,
//! with file descriptors passed as `SCM_RIGHTS`.
//!
//! # Channel design
//! One socketpair per init. The parent holds `Channel<ToInit, FromInit>` and init the
//! mirror `Channel<FromInit, ToInit>`, so sending the wrong direction's message does not
//! compile. A message is packets of at most [`CHUNK`] bytes: the first holds the JSON
//! length (a little-endian `u64`), every fd of the message and the start of the JSON,
//! the others the rest. `SOCK_SEQPACKET` keeps packet boundaries, so a small message is
//! one atomic packet, and chunking keeps a large config (a big seccomp profile) under the
//! socket buffer size. Two processes share init's end for a moment (the intermediate and
//! the container process after the fork); they take turns (`ToInit::Proceed`). A zero-byte read is the peer closing
//! (nobody sends empty packets), which is how the parent learns that `execve` closed
//! init's close-on-exec end.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::sys::scm;

/// Bytes per packet (the first one holds the header, then JSON).
pub const CHUNK: usize = 32 * 1024;

/// The length prefix: a little-endian `u64`.
const HEADER: usize = 8;

/// The largest message accepted (a config with a huge seccomp profile stays far below).
pub const MAX_MESSAGE: u64 = 64 * 1024 * 1024;

/// A failure of the channel itself (not of what the peer reports).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// `socketpair` failed.
    #[error("create `socketpair`")]
    Create(#[source] nix::Error),
    /// `sendmsg` failed.
    #[error("send `{kind}` message")]
    Send {
        /// The message kind being sent.
        kind: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// `recvmsg` failed.
    #[error("receive message")]
    Receive(#[source] nix::Error),
    /// The peer closed its end.
    #[error("peer closed the channel")]
    Closed,
    /// A message could not be encoded.
    #[error("encode `{kind}` message")]
    Encode {
        /// The message kind.
        kind: &'static str,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A message could not be decoded.
    #[error("decode message")]
    Decode(#[source] serde_json::Error),
    /// A packet broke the framing (bad header, truncation, oversize, fds in a chunk).
    #[error("malformed packet: {0}")]
    Framing(&'static str),
}

/// A message that can travel the channel.
pub trait Message: Serialize + DeserializeOwned {
    /// A short name of the message kind, for errors.
    fn kind(&self) -> &'static str;
}

/// One end of the parent↔init socketpair: sends `S`, receives `R`.
#[derive(Debug)]
pub struct Channel<S, R> {
    sock: OwnedFd,
    _types: PhantomData<fn(S) -> R>,
}

/// Two connected ends: the first sends `S` and receives `R`, the second the mirror.
pub type Pair<S, R> = (Channel<S, R>, Channel<R, S>);

/// Makes a connected pair: `(parent end, init end)`, both close-on-exec.
pub fn pair<S: Message, R: Message>() -> Result<Pair<S, R>, ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Create)?;
    Ok((Channel::from_fd(a), Channel::from_fd(b)))
}

impl<S: Message, R: Message> Channel<S, R> {
    /// Wraps a connected `SOCK_SEQPACKET` socket (init adopts its inherited end this way).
    pub fn from_fd(sock: OwnedFd) -> Self {
        Channel {
            sock,
            _types: PhantomData,
        }
    }

    /// Gives the socket back (to hand it to a child process).
    pub fn into_fd(self) -> OwnedFd {
        self.sock
    }

    /// Sends `msg` with `fds` attached.
    pub fn send(&self, msg: &S, fds: &[BorrowedFd<'_>]) -> Result<(), ChannelError> {
        let kind = msg.kind();
        let json =
            serde_json::to_vec(msg).map_err(|source| ChannelError::Encode { kind, source })?;
        if fds.len() > scm::MAX_FDS {
            return Err(ChannelError::Framing("too many descriptors"));
        }
        let send = |data: &[u8], fds: &[BorrowedFd<'_>]| {
            scm::send_with_fds(self.sock.as_fd(), data, fds)
                .map_err(|source| ChannelError::Send { kind, source })
        };
        // The first packet carries the length, the fds and as much JSON as fits, so a
        // small message is one atomic packet.
        let first_len = json.len().min(CHUNK - HEADER);
        let mut first = Vec::with_capacity(HEADER + first_len);
        first.extend_from_slice(&(json.len() as u64).to_le_bytes());
        first.extend_from_slice(&json[..first_len]);
        send(&first, fds)?;
        for chunk in json[first_len..].chunks(CHUNK) {
            send(chunk, &[])?;
        }
        Ok(())
    }

    /// Receives the next message and the fds that came with it.
    pub fn recv(&self) -> Result<(R, Vec<OwnedFd>), ChannelError> {
        let mut first = vec![0u8; CHUNK];
        let got =
            scm::recv_with_fds(self.sock.as_fd(), &mut first).map_err(ChannelError::Receive)?;
        if got.len == 0 && got.fds.is_empty() {
            return Err(ChannelError::Closed);
        }
        if got.len < HEADER || got.truncated {
            return Err(ChannelError::Framing("bad header"));
        }
        let mut header = [0u8; HEADER];
        header.copy_from_slice(&first[..HEADER]);
        let len = u64::from_le_bytes(header);
        if len > MAX_MESSAGE {
            return Err(ChannelError::Framing("message too large"));
        }
        let len = len as usize;
        if got.len - HEADER > len {
            return Err(ChannelError::Framing("packet longer than its message"));
        }
        let mut json = Vec::with_capacity(len);
        json.extend_from_slice(&first[HEADER..got.len]);
        let mut buf = vec![0u8; CHUNK];
        while json.len() < len {
            let want = (len - json.len()).min(CHUNK);
            let part = scm::recv_with_fds(self.sock.as_fd(), &mut buf[..want])
                .map_err(ChannelError::Receive)?;
            if part.len == 0 {
                return Err(ChannelError::Closed);
            }
            if part.truncated || !part.fds.is_empty() {
                return Err(ChannelError::Framing("bad chunk"));
            }
            json.extend_from_slice(&buf[..part.len]);
        }
        let msg = serde_json::from_slice(&json).map_err(ChannelError::Decode)?;
        Ok((msg, got.fds))
    }
}

impl<S, R> AsFd for Channel<S, R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Ping {
        Small(u32),
        Big(String),
    }
    impl Message for Ping {
        fn kind(&self) -> &'static str {
            "ping"
        }
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pong(u32);
    impl Message for Pong {
        fn kind(&self) -> &'static str {
            "pong"
        }
    }

    #[test]
    fn messages_of_every_size_round_trip() {
        let (parent, child) = pair::<Ping, Pong>().unwrap();
        let sizes = [0, 1, CHUNK - 20, CHUNK, 3 * CHUNK + 7, 200_000];
        // A message larger than the socket buffer only drains while the peer reads, so
        // the sender must be another thread (as it is another process in real use).
        let sender = std::thread::spawn(move || {
            for size in sizes {
                parent.send(&Ping::Big("x".repeat(size)), &[]).unwrap();
            }
            parent
        });
        for size in sizes {
            let (got, fds) = child.recv().unwrap();
            assert_eq!(got, Ping::Big("x".repeat(size)), "size {size}");
            assert!(fds.is_empty());
        }
        let parent = sender.join().unwrap();
        child.send(&Pong(7), &[]).unwrap();
        assert_eq!(parent.recv().unwrap().0, Pong(7));
    }

    #[test]
    fn descriptors_travel_with_their_message() {
        let (parent, child) = pair::<Ping, Pong>().unwrap();
        let mut file = std::fs::File::from(
            nix::sys::memfd::memfd_create(c"chan", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap(),
        );
        file.write_all(b"through the socket").unwrap();
        parent
            .send(&Ping::Small(1), &[file.as_fd(), file.as_fd()])
            .unwrap();
        let (msg, fds) = child.recv().unwrap();
        assert_eq!(msg, Ping::Small(1));
        assert_eq!(fds.len(), 2);
        let mut got = std::fs::File::from(fds.into_iter().next().unwrap());
        got.rewind().unwrap();
        let mut text = String::new();
        got.read_to_string(&mut text).unwrap();
        assert_eq!(text, "through the socket");
    }

    #[test]
    fn a_closed_peer_is_reported_as_closed() {
        let (parent, child) = pair::<Ping, Pong>().unwrap();
        drop(child);
        assert!(matches!(parent.recv(), Err(ChannelError::Closed)));
    }

    #[test]
    fn a_garbage_header_is_a_framing_error() {
        let (parent, child) = pair::<Ping, Pong>().unwrap();
        scm::send_with_fds(parent.as_fd(), b"abc", &[]).unwrap();
        assert!(matches!(child.recv(), Err(ChannelError::Framing(_))));
    }
}
