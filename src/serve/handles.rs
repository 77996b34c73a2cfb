//! Sending a descriptor with a message on a Node channel: the message line and exactly one
//! descriptor as `SCM_RIGHTS` on the same `sendmsg` (NODE-IPC.md §Handles). Self-contained so
//! it can move into `crate::ipc` later.

use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};

/// Write `line` (a complete message, its `\n` included) with `fd` attached to its first byte.
/// A stream socket may take only part of the line; the rest follows with plain writes (the
/// descriptor travels with the first part, as the receiver expects).
pub fn send_with_fd(sock: &UnixStream, line: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = loop {
        match sendmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &[IoSlice::new(line)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    (&*sock).write_all(&line[sent..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    #[test]
    fn the_descriptor_arrives_with_the_line() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_with_fd(&a, b"{\"cmd\":\"NODE_HANDLE\"}\n", r.as_fd()).unwrap();
        drop(r);
        let mut buf = [0u8; 64];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<UnixAddr>(
            b.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut got = None;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                got = fds.first().copied();
            }
        }
        let n = msg.bytes;
        assert_eq!(&buf[..n], b"{\"cmd\":\"NODE_HANDLE\"}\n");
        // SAFETY: the descriptor was just received and is ours.
        let mut received = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(got.unwrap()) });
        nix::unistd::write(&w, b"x").unwrap();
        let mut one = [0u8; 1];
        received.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
    }
}
