//! Descriptors that travel on the channel (`SCM_RIGHTS`), as Node sends them with
//! `send(msg, handle)`: read with `recvmsg`, queued until their `NODE_HANDLE` message has been
//! parsed, and answered with `NODE_HANDLE_ACK` (or `NACK` when no descriptor came).
//!
//! Node attaches exactly one descriptor to the `sendmsg` that writes the envelope, and the
//! kernel never merges the bytes of two descriptor-carrying writes into one read; a queue in
//! arrival order therefore pairs descriptors with their messages, as libuv's does. Every
//! descriptor is received close-on-exec and owned, so none can leak into a child or outlive
//! its use.
// recvmsg and the SCM_RIGHTS walk over the kernel's control buffer: no safe API takes
// descriptors without allocating per read (libuv's reader does the same).
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use super::frame::{decodes_to, string_value, top_member};

/// Descriptors taken per read, as libuv takes them.
pub const MAX_FDS_PER_READ: usize = 64;

/// The answer a receiver gives to a handle message that came with its descriptor.
pub const HANDLE_ACK: &[u8] = br#"{"cmd":"NODE_HANDLE_ACK"}"#;
/// The answer to a handle message that came without one (the sender retries).
pub const HANDLE_NACK: &[u8] = br#"{"cmd":"NODE_HANDLE_NACK"}"#;

/// Room for the control message of one read: a header and [`MAX_FDS_PER_READ`] descriptors,
/// aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; std::mem::size_of::<libc::cmsghdr>() + MAX_FDS_PER_READ * 4]);

/// Descriptors received and not yet claimed by a handle message, oldest first.
#[derive(Debug, Default)]
pub struct FdQueue {
    fds: VecDeque<OwnedFd>,
    /// Some read carried more descriptors than there was room for: the kernel closed the rest.
    truncated: bool,
}

impl FdQueue {
    /// The oldest unclaimed descriptor.
    pub fn pop(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Whether descriptors were lost to a full control buffer since the last call.
    pub fn take_truncated(&mut self) -> bool {
        std::mem::take(&mut self.truncated)
    }

    /// Close every unclaimed descriptor; how many there were.
    pub fn close_all(&mut self) -> usize {
        let n = self.fds.len();
        self.fds.clear();
        n
    }
}

/// `read(2)` on the channel that also takes the descriptors sent with the bytes: one
/// `recvmsg` per call, like a plain read (no extra syscall, no allocation); descriptors go to
/// `fds`, close-on-exec.
pub fn recv_with_fds(stream: &UnixStream, buf: &mut [u8], fds: &mut FdQueue) -> io::Result<usize> {
    recv_flags(stream, buf, fds, 0)
}

/// [`recv_with_fds`] that first polls without blocking for up to [`SPIN`](super::SPIN), then
/// blocks: for request/response loops, where the answer usually comes within microseconds.
pub fn spin_recv_with_fds(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut FdQueue,
) -> io::Result<usize> {
    let start = std::time::Instant::now();
    loop {
        match recv_flags(stream, buf, fds, libc::MSG_DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < super::SPIN => {
                std::hint::spin_loop()
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
    recv_flags(stream, buf, fds, 0)
}

fn recv_flags(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut FdQueue,
    flags: libc::c_int,
) -> io::Result<usize> {
    let mut ctl = ControlBuf([0; std::mem::size_of::<ControlBuf>()]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.0.as_mut_ptr().cast();
    msg.msg_controllen = ctl.0.len() as _;
    // SAFETY: recvmsg into buffers we own, described by `msg`.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC | flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if msg.msg_controllen > 0 {
        take_rights(&msg, fds);
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        fds.truncated = true;
    }
    Ok(n as usize)
}

/// Move the `SCM_RIGHTS` descriptors of a received control message into `fds`.
fn take_rights(msg: &libc::msghdr, fds: &mut FdQueue) {
    let size = std::mem::size_of::<RawFd>();
    // SAFETY: the CMSG_* walk stays inside the control buffer the kernel filled for `msg`;
    // every descriptor found is new to this process and owned from here on.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..len / size {
                    let fd = std::ptr::read_unaligned(data.add(i * size).cast::<RawFd>());
                    fds.fds.push_back(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

/// Write one whole message (`message`: a line with its `\n`, or a frame) with `fd` attached
/// as `SCM_RIGHTS`, as Node sends a handle: exactly one descriptor, on the `sendmsg` that
/// writes the start of the envelope. A stream socket may take only part of the message; the
/// rest follows with plain writes (the descriptor travels with the first part, and the
/// receiver keeps it until the whole message has arrived).
pub fn send_with_fd(
    stream: &UnixStream,
    message: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = loop {
        match sendmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &[io::IoSlice::new(message)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    io::Write::write_all(&mut &*stream, &message[sent..])
}

/// A [`Read`] over the channel that keeps the descriptors it receives: give it to a
/// [`MessageReader`](super::MessageReader) and claim them with `get_mut().fds`.
#[derive(Debug)]
pub struct FdReader<'a> {
    pub stream: &'a UnixStream,
    pub fds: FdQueue,
    /// Spin before blocking ([`spin_recv_with_fds`]).
    spin: bool,
}

impl<'a> FdReader<'a> {
    pub fn new(stream: &'a UnixStream) -> FdReader<'a> {
        FdReader {
            stream,
            fds: FdQueue::default(),
            spin: false,
        }
    }

    /// For a child role's request/response loop.
    pub fn spinning(stream: &'a UnixStream) -> FdReader<'a> {
        FdReader {
            spin: true,
            ..FdReader::new(stream)
        }
    }
}

impl Read for FdReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.spin {
            spin_recv_with_fds(self.stream, buf, &mut self.fds)
        } else {
            recv_with_fds(self.stream, buf, &mut self.fds)
        }
    }
}

/// A `NODE_HANDLE` envelope: `{"cmd":"NODE_HANDLE","type":T,"msg":M}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleMessage<'a> {
    /// The handle's kind (`net.Server`, `net.Socket`, …), decoded; `None` when missing.
    pub kind: Option<String>,
    /// The user's message, compact JSON as it was in the envelope: what Node delivers.
    pub msg: Option<&'a [u8]>,
}

/// The handle envelope in `line` (a compact line [`is_internal`](super::is_internal) accepted),
/// or `None` for any other message.
pub fn handle_message(line: &[u8]) -> Option<HandleMessage<'_>> {
    let cmd = top_member(line, b"cmd")?;
    let body = cmd.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !decodes_to(body, b"NODE_HANDLE") {
        return None;
    }
    Some(HandleMessage {
        kind: top_member(line, b"type").and_then(string_value),
        msg: top_member(line, b"msg"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;

    #[test]
    fn a_descriptor_sent_with_a_message_arrives_with_it() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let line = br#"{"cmd":"NODE_HANDLE","type":"net.Native","msg":1}"#.to_vec();
        let mut msg = line.clone();
        msg.push(b'\n');
        send_with_fd(&a, &msg, std::os::fd::AsFd::as_fd(&r)).unwrap();
        drop(r);
        let mut fds = FdQueue::default();
        let mut buf = [0u8; 256];
        let n = recv_with_fds(&b, &mut buf, &mut fds).unwrap();
        assert_eq!(&buf[..n], &msg[..]);
        let got = fds.pop().expect("the descriptor came along");
        nix::unistd::write(&w, b"z").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(nix::unistd::read(&got, &mut one).unwrap(), 1);
        assert_eq!(&one, b"z");
    }

    fn send_fds(s: &UnixStream, bytes: &[u8], fds: &[RawFd]) {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            s.as_raw_fd(),
            &[IoSlice::new(bytes)],
            cmsgs,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
    }

    fn cloexec(fd: RawFd) -> bool {
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    #[test]
    fn descriptors_are_queued_close_on_exec_in_arrival_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let (x, _x) = UnixStream::pair().unwrap();
        let (y, _y) = UnixStream::pair().unwrap();
        send_fds(&a, b"one\n", &[x.as_raw_fd()]);
        send_fds(&a, b"two\n", &[y.as_raw_fd(), x.as_raw_fd()]);
        send_fds(&a, b"three\n", &[]);
        let mut r = FdReader::new(&b);
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while got.len() < 14 {
            let n = r.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"one\ntwo\nthree\n");
        assert_eq!(r.fds.len(), 3);
        let first = r.fds.pop().unwrap();
        assert!(cloexec(first.as_raw_fd()));
        assert_ne!(first.as_raw_fd(), x.as_raw_fd());
        assert_eq!(r.fds.close_all(), 2);
        assert!(r.fds.is_empty() && !r.fds.take_truncated());
    }

    #[test]
    fn too_many_descriptors_in_one_read_are_reported() {
        let (a, b) = UnixStream::pair().unwrap();
        let (x, _x) = UnixStream::pair().unwrap();
        let many = vec![x.as_raw_fd(); MAX_FDS_PER_READ + 10];
        send_fds(&a, b"m\n", &many);
        let mut r = FdReader::new(&b);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert!(r.fds.take_truncated());
        assert!(r.fds.len() <= MAX_FDS_PER_READ);
    }

    #[test]
    fn handle_envelopes_are_recognised() {
        let h = handle_message(br#"{"cmd":"NODE_HANDLE","type":"net.Server","msg":{"a":[1]}}"#)
            .unwrap();
        assert_eq!(h.kind.as_deref(), Some("net.Server"));
        assert_eq!(h.msg, Some(&br#"{"a":[1]}"#[..]));
        let h = handle_message(br#"{"msg":"s","cmd":"NODE_\u0048ANDLE"}"#).unwrap();
        assert_eq!((h.kind, h.msg), (None, Some(&br#""s""#[..])));
        for other in [
            &br#"{"cmd":"NODE_HANDLE_ACK"}"#[..],
            br#"{"cmd":"NODE_CLUSTER","msg":1}"#,
            br#"["NODE_HANDLE"]"#,
            br#"{"cmd":1}"#,
        ] {
            assert_eq!(handle_message(other), None);
        }
    }
}
