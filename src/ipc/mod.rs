//! The Node.js-compatible IPC channel (see `../shared/NODE-IPC.md`).
//!
//! Framing decisions:
//! - A message is one line of JSON text ending in `\n`; a trailing `\r` is tolerated.
//! - Lines are validated and compacted byte-wise, without building a `serde_json::Value`, so
//!   string contents — escapes included — pass through exactly as the peer wrote them. In
//!   particular unpaired UTF-16 surrogate escapes such as `"\ud800"`, which Node's
//!   `JSON.stringify` produces and serde_json refuses to decode into a `String`, survive a
//!   round trip.
//! - We never write an empty or invalid line: Node's reader dies on one, losing messages.
//! - An object whose top-level `cmd` is a string longer than 5 characters starting with `NODE_`
//!   is Node's own traffic and never shown as a user message.

mod json;
mod serve;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

pub use json::{FrameError, compact, is_internal};
pub use serve::serve;

/// The variable that names the channel's descriptor in a child.
pub const CHANNEL_FD_ENV: &str = "NODE_CHANNEL_FD";
/// The variable that names the serialization (`json` when missing).
pub const SERIALIZATION_ENV: &str = "NODE_CHANNEL_SERIALIZATION_MODE";

/// Why a channel handed to us cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{CHANNEL_FD_ENV}={0:?} is not a descriptor number")]
    BadNumber(String),
    #[error("{CHANNEL_FD_ENV}={0}: descriptor is not open")]
    NotOpen(RawFd),
    #[error("{CHANNEL_FD_ENV}={0}: descriptor is not a socket")]
    NotSocket(RawFd),
    #[error(
        "{SERIALIZATION_ENV}=advanced (V8 serialization) is not supported; fork with serialization 'json'"
    )]
    Advanced,
    #[error("{SERIALIZATION_ENV}={0:?} is unknown (only json is supported)")]
    UnknownMode(String),
}

/// An `AF_UNIX` stream pair, both ends close-on-exec: (parent end, end for the child's fd 3).
pub fn socketpair() -> std::io::Result<(UnixStream, OwnedFd)> {
    let (parent, child) = UnixStream::pair()?;
    Ok((parent, child.into()))
}

/// The environment a child gets with its channel on fd 3.
pub fn child_env() -> [(&'static str, &'static str); 2] {
    [(CHANNEL_FD_ENV, "3"), (SERIALIZATION_ENV, "json")]
}

/// In a child role: take the channel named by `NODE_CHANNEL_FD` (any descriptor number).
///
/// Both variables are removed and the descriptor is made close-on-exec first thing, as a Node
/// child does, so grandchildren never inherit the channel. `Ok(None)`: no channel was given.
pub fn from_env() -> Result<Option<UnixStream>, ChannelError> {
    let fd = std::env::var_os(CHANNEL_FD_ENV);
    let mode = std::env::var_os(SERIALIZATION_ENV);
    // SAFETY: called at start-up, before childproc starts any thread.
    unsafe {
        std::env::remove_var(CHANNEL_FD_ENV);
        std::env::remove_var(SERIALIZATION_ENV);
    }
    let Some(fd) = fd else { return Ok(None) };
    let fd = parse_fd(&fd.to_string_lossy())?;
    // Close-on-exec before anything else can spawn.
    // SAFETY: fcntl on a descriptor number; failure means it is not open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(ChannelError::NotOpen(fd));
    }
    check_mode(
        mode.as_deref()
            .map(|m| m.to_string_lossy().into_owned())
            .as_deref(),
    )?;
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(ChannelError::NotOpen(fd));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(ChannelError::NotSocket(fd));
    }
    // SAFETY: the descriptor is open, a socket, and from now on owned by this stream only.
    Ok(Some(unsafe { UnixStream::from_raw_fd(fd) }))
}

fn parse_fd(s: &str) -> Result<RawFd, ChannelError> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChannelError::BadNumber(s.to_string()));
    }
    t.parse::<RawFd>()
        .map_err(|_| ChannelError::BadNumber(s.to_string()))
}

fn check_mode(mode: Option<&str>) -> Result<(), ChannelError> {
    match mode {
        None | Some("") | Some("json") => Ok(()),
        Some("advanced") => Err(ChannelError::Advanced),
        Some(other) => Err(ChannelError::UnknownMode(other.to_string())),
    }
}

/// How long a reader keeps trying without sleeping before it blocks in read(2).
///
/// A request/response peer usually answers within microseconds; catching the answer while
/// still running saves a scheduler wake-up per round trip (measured here: 78k -> 102k
/// round trips/s, bench/ipc.sh). An idle channel costs this much CPU once, then sleeps.
pub const SPIN: std::time::Duration = std::time::Duration::from_micros(30);

/// `read(2)` that first polls without blocking for up to [`SPIN`], then blocks.
pub fn spin_read(stream: &UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let start = std::time::Instant::now();
    loop {
        // SAFETY: recv into our own buffer; MSG_DONTWAIT keeps the socket itself blocking.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::WouldBlock if start.elapsed() < SPIN => std::hint::spin_loop(),
            std::io::ErrorKind::WouldBlock => break,
            std::io::ErrorKind::Interrupted => {}
            _ => return Err(e),
        }
    }
    std::io::Read::read(&mut &*stream, buf)
}

/// Splits a byte stream into lines without a fixed limit. Each byte is scanned once, however
/// the input is split (mid-UTF-8 and between `\r` and `\n` included).
#[derive(Debug, Default)]
pub struct LineDecoder {
    buf: Vec<u8>,
    /// Start of the first line not yet returned.
    start: usize,
    /// Bytes before this offset are known to contain no `\n`.
    scanned: usize,
}

impl LineDecoder {
    pub fn new() -> LineDecoder {
        LineDecoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            // Reclaim consumed space; amortised O(1) per byte.
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without `\n` (and without a trailing `\r`).
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let from = self.scanned.max(self.start);
        match memchr::memchr(b'\n', &self.buf[from..]) {
            Some(i) => {
                let end = from + i;
                let line_start = self.start;
                self.start = end + 1;
                self.scanned = self.start;
                let mut line = &self.buf[line_start..end];
                if let Some(l) = line.strip_suffix(b"\r") {
                    line = l;
                }
                Some(line)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// Bytes of an unfinished line are buffered (the peer stopped mid-message).
    pub fn has_partial(&self) -> bool {
        self.buf[self.start..]
            .iter()
            .any(|b| !b.is_ascii_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn all_lines(d: &mut LineDecoder) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(l) = d.next_line() {
            v.push(l.to_vec());
        }
        v
    }

    #[test]
    fn decoder_handles_every_split_point() {
        let msg = "{\"a\":\"é😀\"}\r\n[1]\n\"x\"\n".as_bytes();
        for cut in 0..=msg.len() {
            let mut d = LineDecoder::new();
            d.push(&msg[..cut]);
            let mut got = all_lines(&mut d);
            d.push(&msg[cut..]);
            got.extend(all_lines(&mut d));
            assert_eq!(
                got,
                vec![
                    "{\"a\":\"é😀\"}".as_bytes().to_vec(),
                    b"[1]".to_vec(),
                    b"\"x\"".to_vec()
                ],
                "cut at {cut}"
            );
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn decoder_takes_a_100_mb_line_in_small_chunks_linearly() {
        let mut d = LineDecoder::new();
        let chunk = vec![b'a'; 64 * 1024];
        let mut total = 0;
        while total < 100_000_000 {
            d.push(&chunk);
            total += chunk.len();
            assert!(d.next_line().is_none());
        }
        d.push(b"\n");
        assert_eq!(d.next_line().map(<[u8]>::len), Some(total));
    }

    #[test]
    fn decoder_many_small_messages() {
        let mut d = LineDecoder::new();
        let mut n = 0;
        for i in 0..100_000 {
            d.push(format!("{i}\n").as_bytes());
            while d.next_line().is_some() {
                n += 1;
            }
        }
        assert_eq!(n, 100_000);
    }

    #[test]
    fn env_values_are_validated() {
        assert_eq!(parse_fd("3").unwrap(), 3);
        assert_eq!(parse_fd("17").unwrap(), 17);
        assert!(parse_fd("-1").is_err());
        assert!(parse_fd("x").is_err());
        assert!(parse_fd("").is_err());
        assert!(check_mode(None).is_ok());
        assert!(check_mode(Some("json")).is_ok());
        assert!(matches!(
            check_mode(Some("advanced")),
            Err(ChannelError::Advanced)
        ));
        assert!(check_mode(Some("v8")).is_err());
    }

    #[test]
    fn socketpair_carries_100k_messages_both_ways_at_once() {
        let (a, b) = socketpair().unwrap();
        let b = UnixStream::from(b);
        let n = 100_000;
        let writer = |s: UnixStream| {
            std::thread::spawn(move || {
                let mut w = std::io::BufWriter::new(&s);
                for i in 0..n {
                    writeln!(w, "[{i},\"{}\"]", "y".repeat(180)).unwrap();
                }
                w.flush().unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let reader = |mut s: UnixStream| {
            std::thread::spawn(move || {
                let mut d = LineDecoder::new();
                let mut buf = vec![0; 65536];
                let mut count = 0;
                loop {
                    let k = s.read(&mut buf).unwrap();
                    if k == 0 {
                        break;
                    }
                    d.push(&buf[..k]);
                    while let Some(l) = d.next_line() {
                        assert!(compact(l).is_ok());
                        count += 1;
                    }
                }
                count
            })
        };
        let w1 = writer(a.try_clone().unwrap());
        let w2 = writer(b.try_clone().unwrap());
        let r1 = reader(a);
        let r2 = reader(b);
        w1.join().unwrap();
        w2.join().unwrap();
        assert_eq!(r1.join().unwrap(), n);
        assert_eq!(r2.join().unwrap(), n);
    }
}
