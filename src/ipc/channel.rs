//! The transport: the socketpair a parent creates, the channel a child inherits through
//! `NODE_CHANNEL_FD`, and buffered message reading and writing over it.
// Adopting the descriptor a parent named in NODE_CHANNEL_FD, and removing the variables at
// start-up (an environment edit is unsafe in edition 2024), need it; the rest is in sys.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::frame::{Incoming, LineDecoder, classify, encode_into, is_blank};
use crate::process::sys;
pub use crate::values::Serialization;

/// The variable that names the channel's descriptor in a child.
pub const CHANNEL_FD_ENV: &str = "NODE_CHANNEL_FD";
/// The variable that names the serialization (`json` when missing).
pub const SERIALIZATION_ENV: &str = "NODE_CHANNEL_SERIALIZATION_MODE";
/// The descriptor a forked child finds its channel on (`stdio[3]` in Node's `fork`).
pub const CHILD_FD: RawFd = 3;

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
        "{SERIALIZATION_ENV}=advanced (V8 serialization) is not supported by this role; fork it with serialization 'json'"
    )]
    Advanced,
    #[error("{SERIALIZATION_ENV}={0:?} is unknown (json or advanced)")]
    UnknownMode(String),
    #[error("{CHANNEL_FD_ENV}={0}: {1}")]
    Io(RawFd, io::Error),
}

/// An `AF_UNIX` `SOCK_STREAM` pair: (parent end, end for the child).
///
/// Both ends are close-on-exec (std creates them with `SOCK_CLOEXEC`), so neither leaks into
/// any child by accident; the process engine `dup2`s the child end onto fd 3, which clears the
/// flag on that copy only.
pub fn socketpair() -> io::Result<(UnixStream, OwnedFd)> {
    let (parent, child) = UnixStream::pair()?;
    Ok((parent, child.into()))
}

/// The environment a child gets with its channel on fd 3, as Node sets it.
pub fn child_env() -> [(&'static str, &'static str); 2] {
    child_env_for(Serialization::Json)
}

/// The same, for a channel in the given serialization.
pub fn child_env_for(ser: Serialization) -> [(&'static str, &'static str); 2] {
    [(CHANNEL_FD_ENV, "3"), (SERIALIZATION_ENV, ser.name())]
}

/// In a child role: take the channel named by `NODE_CHANNEL_FD` (any descriptor number).
///
/// As a Node child does, both variables are removed from the environment — whatever they hold —
/// and the descriptor is made close-on-exec, so grandchildren never inherit the channel. A bad
/// number, a closed descriptor or a non-socket is refused (Node would fail silently or hang);
/// `advanced` serialization is refused with a clear message, and the socket closed so the
/// parent sees the channel go away. `Ok(None)`: no channel was given.
///
/// Call at start-up, before any thread exists (it edits the environment).
pub fn from_env() -> Result<Option<UnixStream>, ChannelError> {
    match from_env_any()? {
        Some((_, Serialization::Advanced)) => Err(ChannelError::Advanced),
        other => Ok(other.map(|(s, _)| s)),
    }
}

/// [`from_env`] for a role that speaks both serializations: the channel and its mode.
pub fn from_env_any() -> Result<Option<(UnixStream, Serialization)>, ChannelError> {
    let fd = std::env::var_os(CHANNEL_FD_ENV);
    let mode = std::env::var_os(SERIALIZATION_ENV);
    // SAFETY: edition 2024 makes environment edits unsafe because another thread could read
    // the environment at the same time. This runs at start-up, before childproc starts any
    // thread (the documented contract of this function).
    unsafe {
        std::env::remove_var(CHANNEL_FD_ENV);
        std::env::remove_var(SERIALIZATION_ENV);
    }
    take_channel(fd.as_deref(), mode.as_deref())
}

/// [`from_env`] without the environment: validate and adopt the descriptor these values name.
/// Separate so tests can exercise it without touching the (shared) process environment.
fn take_channel(
    fd: Option<&OsStr>,
    mode: Option<&OsStr>,
) -> Result<Option<(UnixStream, Serialization)>, ChannelError> {
    let Some(fd) = fd else { return Ok(None) };
    let fd = parse_fd(&fd.to_string_lossy())?;
    check_socket(fd)?;
    // From here on the descriptor is the channel and ours: owning it closes it on every path.
    // SAFETY: `fd` is open (checked) and nothing else in this process uses the channel.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec_blocking(fd).map_err(|e| ChannelError::Io(fd, e))?;
    let ser = check_mode(mode.map(|m| m.to_string_lossy()).as_deref())?;
    Ok(Some((UnixStream::from(owned), ser)))
}

fn parse_fd(s: &str) -> Result<RawFd, ChannelError> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChannelError::BadNumber(s.to_string()));
    }
    t.parse::<RawFd>()
        .map_err(|_| ChannelError::BadNumber(s.to_string()))
}

/// The descriptor is open and a socket. Nothing is changed on one that is not: it is not our
/// channel (it may be someone's stdout), so it is left exactly as it is.
fn check_socket(fd: RawFd) -> Result<(), ChannelError> {
    match sys::fd_kind(fd) {
        None => Err(ChannelError::NotOpen(fd)),
        Some(false) => Err(ChannelError::NotSocket(fd)),
        Some(true) => Ok(()),
    }
}

/// Close-on-exec, so grandchildren never inherit the channel; and blocking, because our readers
/// and writers block (a parent could in principle hand over a non-blocking end).
fn set_cloexec_blocking(fd: RawFd) -> io::Result<()> {
    sys::set_cloexec_blocking(fd)
}

fn check_mode(mode: Option<&str>) -> Result<Serialization, ChannelError> {
    Serialization::from_name(mode)
        .ok_or_else(|| ChannelError::UnknownMode(mode.unwrap_or_default().to_string()))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// How long a reader keeps trying without sleeping before it blocks in read(2).
///
/// A request/response peer usually answers within microseconds; catching the answer while
/// still running saves a scheduler wake-up per round trip (measured here: 78k -> 102k
/// round trips/s, bench/ipc.sh). An idle channel costs this much CPU once, then sleeps.
pub const SPIN: Duration = Duration::from_micros(30);

/// `read(2)` that first polls without blocking for up to [`SPIN`], then blocks.
pub fn spin_read(stream: &UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let start = Instant::now();
    loop {
        let e = match sys::recv_dontwait(fd, buf) {
            Ok(n) => return Ok(n),
            Err(e) => e,
        };
        match e.kind() {
            io::ErrorKind::WouldBlock if start.elapsed() < SPIN => std::hint::spin_loop(),
            io::ErrorKind::WouldBlock => break,
            io::ErrorKind::Interrupted => {}
            _ => return Err(e),
        }
    }
    Read::read(&mut &*stream, buf)
}

/// A [`Read`] over a channel that uses [`spin_read`]: for request/response loops.
#[derive(Debug, Clone, Copy)]
pub struct SpinReader<'a>(pub &'a UnixStream);

impl Read for SpinReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        spin_read(self.0, buf)
    }
}

/// Reads messages: large `read(2)`s straight into the line decoder's buffer (no intermediate
/// copy), lines handed out as borrowed slices (no copy per line either).
///
/// At end of stream an unfinished last line is dropped, as Node drops it; [`has_partial`]
/// tells whether that happened.
///
/// [`has_partial`]: MessageReader::has_partial
#[derive(Debug)]
pub struct MessageReader<R> {
    inner: R,
    dec: LineDecoder,
    chunk: usize,
    eof: bool,
}

impl<R: Read> MessageReader<R> {
    /// Bytes asked for per read: more than a Unix socket's default buffer holds, so one read
    /// usually takes everything queued.
    pub const DEFAULT_CHUNK: usize = 256 * 1024;

    pub fn new(inner: R) -> MessageReader<R> {
        MessageReader::with_chunk(Self::DEFAULT_CHUNK, inner)
    }

    /// Offer at least `chunk` bytes of space to each read (more when a long line left room).
    pub fn with_chunk(chunk: usize, inner: R) -> MessageReader<R> {
        MessageReader {
            inner,
            dec: LineDecoder::new(),
            chunk: chunk.max(1),
            eof: false,
        }
    }

    /// The next line (without `\n`/`\r\n`, possibly blank), reading as needed; `None` at end
    /// of stream. Interrupted reads are retried.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            if let Some(r) = self.dec.next_line_range() {
                return Ok(Some(&self.dec.storage()[r]));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next message, classified; blank lines are skipped. `None` at end of stream.
    pub fn next_incoming(&mut self) -> io::Result<Option<Incoming<'_>>> {
        loop {
            if let Some(r) = self.dec.next_line_range() {
                if is_blank(&self.dec.storage()[r.clone()]) {
                    continue;
                }
                return Ok(Some(classify(&self.dec.storage()[r])));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// A line already received, without reading: lets a caller flush its replies before it
    /// blocks in [`fill`](MessageReader::fill).
    pub fn buffered_line(&mut self) -> Option<&[u8]> {
        self.dec.next_line()
    }

    /// One read into the buffer (interrupted reads retried). `Ok(0)` at end of stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        loop {
            let spare = self.dec.spare(self.chunk);
            match self.inner.read(spare) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.dec.commit(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// End of stream was reached.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Bytes of an unfinished message are buffered (at end of stream: the peer stopped
    /// mid-message and the bytes are lost).
    pub fn has_partial(&self) -> bool {
        self.dec.has_partial()
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Writes messages with an internal buffer, so a burst of small messages goes out in few large
/// writes; a message bigger than the buffer is written straight from the caller's memory.
///
/// It never writes an empty or multi-line message (Node's reader dies on one). After a write
/// error the channel is in an unknown state — part of a line may have gone — so stop using it.
/// Dropping the writer flushes it (errors ignored), unless the thread is panicking.
#[derive(Debug)]
pub struct MessageWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    cap: usize,
}

impl<W: Write> MessageWriter<W> {
    pub const DEFAULT_CAPACITY: usize = 256 * 1024;

    pub fn new(inner: W) -> MessageWriter<W> {
        MessageWriter::with_capacity(Self::DEFAULT_CAPACITY, inner)
    }

    pub fn with_capacity(cap: usize, inner: W) -> MessageWriter<W> {
        MessageWriter {
            inner,
            buf: Vec::with_capacity(cap),
            cap: cap.max(1),
        }
    }

    /// Queue one message given in wire form without its `\n`: a line from [`compact`] (or the
    /// body of an [`encode`] line). Only cheap checks are made here — not empty or blank, no
    /// `\n` inside — and they fail with `InvalidInput`, nothing written.
    ///
    /// [`compact`]: super::compact
    /// [`encode`]: super::encode
    pub fn send_raw(&mut self, line: &[u8]) -> io::Result<()> {
        if is_blank(line) || memchr::memchr(b'\n', line).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                if is_blank(line) {
                    "refusing to send an empty message"
                } else {
                    "refusing to send a message containing a raw newline"
                },
            ));
        }
        if self.buf.len() + line.len() + 1 > self.cap {
            self.flush_buf()?;
            if line.len() >= self.cap {
                self.inner.write_all(line)?;
                self.buf.push(b'\n');
                return Ok(());
            }
        }
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        Ok(())
    }

    /// Queue a value as one message.
    pub fn send_value(&mut self, value: &serde_json::Value) -> io::Result<()> {
        encode_into(value, &mut self.buf);
        if self.buf.len() >= self.cap {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Write everything queued and flush the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.flush()
    }

    /// Bytes queued and not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Flush, then give the writer back (for example to half-close the socket).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        let mut me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again; `buf` is dropped here and `inner` moved
        // out exactly once.
        unsafe {
            std::ptr::drop_in_place(&mut me.buf);
            Ok(std::ptr::read(&me.inner))
        }
    }

    /// Write the queue, keeping what a failed write did not take (never sending twice).
    fn flush_buf(&mut self) -> io::Result<()> {
        let mut done = 0;
        let mut ret = Ok(());
        while done < self.buf.len() {
            match self.inner.write(&self.buf[done..]) {
                Ok(0) => {
                    ret = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    ret = Err(e);
                    break;
                }
            }
        }
        self.buf.drain(..done);
        ret
    }
}

impl<W: Write> Drop for MessageWriter<W> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.flush_buf();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::FrameError;
    use std::borrow::Cow;
    use std::os::fd::AsRawFd;

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A writer that records every write call.
    #[derive(Default)]
    struct Calls(Vec<Vec<u8>>);

    impl Write for Calls {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn cloexec(fd: RawFd) -> bool {
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    #[test]
    fn socketpair_ends_are_close_on_exec_and_connected() {
        let (mut parent, child) = socketpair().unwrap();
        assert!(cloexec(parent.as_raw_fd()) && cloexec(child.as_raw_fd()));
        let mut child = UnixStream::from(child);
        parent.write_all(b"[1]\n").unwrap();
        let mut buf = [0; 4];
        child.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"[1]\n");
        assert_eq!(
            child_env(),
            [
                ("NODE_CHANNEL_FD", "3"),
                ("NODE_CHANNEL_SERIALIZATION_MODE", "json")
            ]
        );
    }

    #[test]
    fn env_values_are_validated() {
        assert_eq!(parse_fd("3").unwrap(), 3);
        assert_eq!(parse_fd("17").unwrap(), 17);
        for bad in ["-1", "x", "", "3x", "+3", "99999999999"] {
            assert!(
                matches!(parse_fd(bad), Err(ChannelError::BadNumber(_))),
                "{bad}"
            );
        }
        assert!(check_mode(None).is_ok());
        assert!(check_mode(Some("json")).is_ok());
        assert_eq!(
            check_mode(Some("advanced")).unwrap(),
            Serialization::Advanced
        );
        assert!(matches!(
            check_mode(Some("v8")),
            Err(ChannelError::UnknownMode(_))
        ));
        assert!(ChannelError::Advanced.to_string().contains("not supported"));
    }

    #[test]
    fn take_channel_adopts_only_an_open_socket() {
        let os = |s: &str| std::ffi::OsString::from(s);
        assert!(take_channel(None, Some(&os("advanced"))).unwrap().is_none());
        assert!(matches!(
            take_channel(Some(&os("three")), None),
            Err(ChannelError::BadNumber(_))
        ));

        // A pipe is not a socket, and is left alone (still open, flags untouched).
        let (r, _w) = nix::unistd::pipe().unwrap();
        let pfd = r.as_raw_fd();
        let flags = unsafe { libc::fcntl(pfd, libc::F_GETFD) };
        assert!(matches!(
            take_channel(Some(&os(&pfd.to_string())), None),
            Err(ChannelError::NotSocket(fd)) if fd == pfd
        ));
        assert_eq!(unsafe { libc::fcntl(pfd, libc::F_GETFD) }, flags);

        // A number that cannot be open (a closed one could be reused by a parallel test).
        assert!(matches!(
            take_channel(Some(&os("999999")), None),
            Err(ChannelError::NotOpen(999_999))
        ));

        // A socket without close-on-exec (as dup2 leaves fd 3), non-blocking, any number.
        let (mut peer, ours) = UnixStream::pair().unwrap();
        let fd = ours.as_raw_fd();
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, 0);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
        let fd = std::os::fd::IntoRawFd::into_raw_fd(ours);
        let text = format!(" {fd}\n");
        let (mut got, ser) = take_channel(Some(&os(&text)), Some(&os("json")))
            .unwrap()
            .unwrap();
        assert_eq!(ser, Serialization::Json);
        assert_eq!(got.as_raw_fd(), fd);
        assert!(cloexec(fd));
        assert_eq!(
            unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK,
            0
        );
        peer.write_all(b"1\n").unwrap();
        let mut b = [0; 2];
        got.read_exact(&mut b).unwrap();

        // `advanced` is adopted with its mode; an unknown mode is refused, and the socket is
        // closed (the peer sees end of stream).
        let (_peer, ours) = UnixStream::pair().unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(ours);
        let (_, ser) = take_channel(Some(&os(&fd.to_string())), Some(&os("advanced")))
            .unwrap()
            .unwrap();
        assert_eq!(ser, Serialization::Advanced);
        let (mut peer, ours) = UnixStream::pair().unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(ours);
        let err = take_channel(Some(&os(&fd.to_string())), Some(&os("v9"))).unwrap_err();
        assert!(matches!(err, ChannelError::UnknownMode(_)));
        assert_eq!(peer.read(&mut b).unwrap(), 0);
    }

    /// Run `from_env_child_role` in a fresh copy of the test binary with the channel on
    /// descriptor `fd` (not 3: any number must work) and `mode`; return the parent's end.
    fn run_child_role(mode: &str) -> (std::process::ExitStatus, UnixStream) {
        use std::os::unix::process::CommandExt;
        let (parent, child_end) = socketpair().unwrap();
        let fd = child_end.as_raw_fd();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "ipc::channel::tests::from_env_child_role",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHANNEL_FD_ENV, fd.to_string())
        .env(SERIALIZATION_ENV, mode)
        .env("CHILDPROC_TEST_ROLE", mode)
        .stdout(std::process::Stdio::null());
        // SAFETY: only fcntl (async-signal-safe) between fork and exec; it clears
        // close-on-exec on the child's copy of the descriptor, as dup2 would for fd 3.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(child_end);
        (child.wait().unwrap(), parent)
    }

    #[test]
    fn from_env_in_a_child_process() {
        let (status, parent) = run_child_role("json");
        assert!(status.success());
        let mut r = MessageReader::new(&parent);
        assert_eq!(r.next_line().unwrap(), Some(&br#"{"ok":true}"#[..]));
        assert_eq!(r.next_line().unwrap(), None);

        let (status, mut parent) = run_child_role("advanced");
        assert!(status.success());
        assert_eq!(parent.read(&mut [0; 8]).unwrap(), 0);
    }

    /// The child half of `from_env_in_a_child_process` (a process of its own, so editing the
    /// environment is safe there). Does nothing when run without the variables.
    #[test]
    #[ignore = "run by from_env_in_a_child_process in a child process"]
    fn from_env_child_role() {
        let Ok(role) = std::env::var("CHILDPROC_TEST_ROLE") else {
            return;
        };
        let result = from_env();
        assert!(std::env::var_os(CHANNEL_FD_ENV).is_none());
        assert!(std::env::var_os(SERIALIZATION_ENV).is_none());
        if role == "advanced" {
            assert!(matches!(result, Err(ChannelError::Advanced)));
            return;
        }
        let stream = result.unwrap().unwrap();
        assert!(cloexec(stream.as_raw_fd()));
        let mut w = MessageWriter::new(&stream);
        w.send_value(&serde_json::json!({"ok": true})).unwrap();
        w.flush().unwrap();
        assert_eq!(from_env().unwrap().map(|_| ()), None);
    }

    #[test]
    fn reader_yields_lines_across_any_read_size() {
        let data =
            "{\"a\":\"é😀\"}\r\n\n  \n[1]\n{\"cmd\":\"NODE_HANDLE\"}\n{bad\n\"tail".as_bytes();
        for step in [1, 2, 3, 7, 64, 1 << 20] {
            let mut r = MessageReader::with_chunk(3, Trickle { data, step });
            let mut lines = Vec::new();
            while let Some(l) = r.next_line().unwrap() {
                lines.push(l.to_vec());
            }
            assert_eq!(lines.len(), 6, "step {step}");
            assert!(r.is_eof() && r.has_partial());

            let mut r = MessageReader::new(Trickle { data, step });
            let mut got = Vec::new();
            while let Some(m) = r.next_incoming().unwrap() {
                got.push(m.into_owned());
            }
            assert_eq!(
                got,
                vec![
                    Incoming::Message(Cow::Owned("{\"a\":\"é😀\"}".as_bytes().to_vec())),
                    Incoming::Message(Cow::Owned(b"[1]".to_vec())),
                    Incoming::Internal(Cow::Owned(b"{\"cmd\":\"NODE_HANDLE\"}".to_vec())),
                    Incoming::Malformed(FrameError::Unexpected(b'b', 1)),
                ]
            );
        }
    }

    #[test]
    fn reader_100k_messages_and_a_100_mb_line() {
        let mut data = Vec::new();
        for i in 0..100_000 {
            data.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        data.push(b'"');
        data.resize(data.len() + 100_000_000, b'x');
        data.extend_from_slice(b"\"\n");
        let mut r = MessageReader::new(Trickle {
            data: &data,
            step: 200_000,
        });
        let mut n = 0;
        let mut last = 0;
        while let Some(l) = r.next_line().unwrap() {
            n += 1;
            last = l.len();
        }
        assert_eq!((n, last), (100_001, 100_000_002));
        assert!(!r.has_partial());
    }

    #[test]
    fn writer_batches_small_messages_and_never_sends_empty_lines() {
        let mut w = MessageWriter::with_capacity(64 * 1024, Calls::default());
        for i in 0..10_000 {
            w.send_raw(format!("{{\"i\":{i}}}").as_bytes()).unwrap();
        }
        w.send_value(&serde_json::json!({"v": "\u{2028}\n"}))
            .unwrap();
        for bad in [&b""[..], b"  ", b"1\n2"] {
            let e = w.send_raw(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        w.flush().unwrap();
        let calls = &w.get_ref().0;
        assert!(calls.len() <= 3, "{} writes", calls.len());
        let all: Vec<u8> = calls.concat();
        let text = String::from_utf8(all).unwrap();
        assert_eq!(text.lines().count(), 10_001);
        assert!(text.ends_with("{\"v\":\"\u{2028}\\n\"}\n"));

        // A message larger than the buffer goes out directly, in order.
        let mut w = MessageWriter::with_capacity(16, Calls::default());
        w.send_raw(b"[1]").unwrap();
        let big = format!("\"{}\"", "z".repeat(100));
        w.send_raw(big.as_bytes()).unwrap();
        w.send_raw(b"2").unwrap();
        let inner = w.into_inner().unwrap();
        assert_eq!(inner.0.concat(), format!("[1]\n{big}\n2\n").into_bytes());
    }

    #[test]
    fn socketpair_100k_messages_both_ways_at_once() {
        let (a, b) = socketpair().unwrap();
        let b = UnixStream::from(b);
        let n = 100_000;
        let pad = "y".repeat(180);
        let side = |s: UnixStream| {
            let pad = pad.clone();
            std::thread::spawn(move || {
                let out = s.try_clone().unwrap();
                // Writer thread: both sides write their whole burst while the other side is
                // also writing, so each must keep reading meanwhile (here: a second thread).
                let writer = std::thread::spawn(move || {
                    let mut w = MessageWriter::new(&out);
                    for i in 0..n {
                        w.send_value(&serde_json::json!([i, pad])).unwrap();
                    }
                    w.flush().unwrap();
                    out.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut r = MessageReader::new(&s);
                let mut count = 0;
                while let Some(m) = r.next_incoming().unwrap() {
                    let Incoming::Message(m) = m else {
                        panic!("{m:?}")
                    };
                    assert!(m.starts_with(format!("[{count},").as_bytes()));
                    count += 1;
                }
                writer.join().unwrap();
                count
            })
        };
        let ta = side(a);
        let tb = side(b);
        assert_eq!(ta.join().unwrap(), n);
        assert_eq!(tb.join().unwrap(), n);
    }

    #[test]
    fn spin_reader_reads_and_sees_eof() {
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(b"[1]\n[2]\n").unwrap();
        drop(a);
        let mut r = MessageReader::new(SpinReader(&b));
        assert_eq!(r.next_line().unwrap(), Some(&b"[1]"[..]));
        assert_eq!(r.next_line().unwrap(), Some(&b"[2]"[..]));
        assert_eq!(r.next_line().unwrap(), None);
    }
}
