//! The loop of a child role (`ipc-echo`, `cluster-worker`): read messages from the channel,
//! answer each through a handler, batch the answers and flush them before every blocking read.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use super::{
    FdQueue, FdReader, HANDLE_ACK, HANDLE_NACK, Incoming, MessageReader, MessageWriter, classify,
    handle_message, is_internal, v8,
};
use crate::error_line;

/// Serve `stream` until the parent closes it (or goes away). `handle` gets every user message
/// in compact form and returns the reply to send (compact JSON, no newline), if any. Malformed
/// lines are reported on stderr under `role` and skipped; Node's internal `NODE_` messages are
/// ignored. A reply that is not a sendable line (empty, or with a raw newline) is reported and
/// dropped rather than written: an empty line would kill a Node parent.
pub fn serve(
    stream: &UnixStream,
    role: &str,
    mut handle: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> io::Result<()> {
    let mut r = MessageReader::new(FdReader::spinning(stream));
    let mut w = MessageWriter::new(stream);
    loop {
        while let Some(line) = r.buffered_line() {
            let envelope = match classify(line) {
                Incoming::Message(msg) => {
                    if reply_with(&mut w, role, handle(&msg)).is_err() {
                        return Ok(()); // the parent went away: nothing left to do
                    }
                    continue;
                }
                Incoming::Blank => continue,
                // A handle from a Node parent: its message, owned (handles are rare).
                Incoming::Internal(msg) => match handle_message(&msg) {
                    Some(h) => h.msg.map(<[u8]>::to_vec),
                    None => continue,
                },
                Incoming::Malformed(e) => {
                    error_line(&format!("{role}: malformed message skipped: {e}"));
                    continue;
                }
            };
            // Answered as Node answers; its message handled like any other once its
            // descriptor came (the descriptor is then closed: handles are not passed on).
            let reply = match r.get_mut().fds.pop() {
                Some(fd) => {
                    drop(fd);
                    let _ = w.send_raw(HANDLE_ACK);
                    envelope
                        .filter(|m| !is_internal(m))
                        .and_then(|m| handle(&m))
                }
                None => {
                    let _ = w.send_raw(HANDLE_NACK);
                    None
                }
            };
            if reply_with(&mut w, role, reply).is_err() {
                return Ok(());
            }
        }
        if w.flush().is_err() {
            return Ok(());
        }
        if r.fill()? == 0 {
            return Ok(());
        }
    }
}

/// Send a handler's reply, if any. `Err` ends the loop quietly: the parent went away.
fn reply_with(
    w: &mut MessageWriter<&UnixStream>,
    role: &str,
    reply: Option<Vec<u8>>,
) -> io::Result<()> {
    let Some(reply) = reply else { return Ok(()) };
    match w.send_raw(&reply) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            error_line(&format!("{role}: reply not sent: {e}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// [`serve`] for an `advanced` channel: `handle` gets each user message as its frame payload
/// and its decoded value, and returns the payload of the reply, if any. Node's internal
/// messages are not passed on; a handle a Node parent sends (`send(msg, handle)`) is
/// acknowledged as Node does (its descriptor closed) and its message handled like any other.
/// A frame that does not decode is reported and skipped; a length Node could never have
/// written (2^31 or more) loses the framing, so the role ends with an error.
pub fn serve_frames(
    stream: &UnixStream,
    role: &str,
    mut handle: impl FnMut(&[u8], &v8::Value) -> Option<Vec<u8>>,
) -> io::Result<()> {
    let mut reader = FdReader::spinning(stream);
    let mut frames = v8::FrameDecoder::new();
    let mut out: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        while let Some(frame) = frames.next_frame() {
            let payload = frame.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let reply = match v8::decode(payload) {
                Ok(v) => match v8::internal_cmd(&v).as_deref() {
                    Some("NODE_HANDLE") => handle_envelope(&v, &mut reader.fds, &mut out)
                        .and_then(|msg| handle(&v8::value_to_frame(msg).ok()?[4..], msg)),
                    Some(_) => None,
                    None => handle(payload, &v),
                },
                Err(e) => {
                    error_line(&format!("{role}: malformed message skipped: {e}"));
                    None
                }
            };
            if let Some(reply) = reply {
                out.extend_from_slice(&(reply.len() as u32).to_be_bytes());
                out.extend_from_slice(&reply);
            }
        }
        if !out.is_empty() {
            if (&*stream).write_all(&out).is_err() {
                return Ok(()); // the parent went away: nothing left to do
            }
            out.clear();
        }
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        frames.push(&buf[..n]);
    }
}

/// Answer a `NODE_HANDLE` envelope: ACK (closing the descriptor) when one came, NACK when
/// not (the sender retries). The envelope's user message, when its descriptor came.
fn handle_envelope<'v>(
    v: &'v v8::Value,
    fds: &mut FdQueue,
    out: &mut Vec<u8>,
) -> Option<&'v v8::Value> {
    match fds.pop() {
        Some(fd) => {
            drop(fd);
            out.extend_from_slice(&v8::command_frame("NODE_HANDLE_ACK"));
            v8::property(v, "msg")
        }
        None => {
            out.extend_from_slice(&v8::command_frame("NODE_HANDLE_NACK"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::socketpair;

    #[test]
    fn echoes_a_100k_burst_while_the_parent_keeps_sending() {
        let (parent, child) = socketpair().unwrap();
        let child = UnixStream::from(child);
        let server = std::thread::spawn(move || {
            serve(&child, "test", |m| (m != b"\"skip\"").then(|| m.to_vec()))
        });
        let n = 100_000;
        let out = parent.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let mut w = MessageWriter::new(&out);
            for i in 0..n {
                w.send_raw(format!("{{ \"i\" : {i} }}").as_bytes()).unwrap();
                if i % 1000 == 0 {
                    w.send_raw(b"\"skip\"").unwrap();
                    w.send_raw(br#"{"cmd":"NODE_HANDLE_ACK"}"#).unwrap();
                }
            }
            w.flush().unwrap();
            out.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut r = MessageReader::new(&parent);
        let mut got = 0;
        while let Some(l) = r.next_line().unwrap() {
            assert_eq!(l, format!("{{\"i\":{got}}}").as_bytes());
            got += 1;
        }
        assert_eq!(got, n);
        sender.join().unwrap();
        server.join().unwrap().unwrap();
    }
}
