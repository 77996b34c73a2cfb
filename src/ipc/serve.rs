//! The loop of a child role (`ipc-echo`, `cluster-worker`): read messages from the channel,
//! answer each through a handler, batch the answers and flush them before every blocking read.

use std::io;
use std::os::unix::net::UnixStream;

use super::{Incoming, MessageReader, MessageWriter, SpinReader, classify};
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
    let mut r = MessageReader::new(SpinReader(stream));
    let mut w = MessageWriter::new(stream);
    loop {
        while let Some(line) = r.buffered_line() {
            let reply = match classify(line) {
                Incoming::Message(msg) => handle(&msg),
                Incoming::Blank | Incoming::Internal(_) => None,
                Incoming::Malformed(e) => {
                    error_line(&format!("{role}: malformed message skipped: {e}"));
                    None
                }
            };
            if let Some(reply) = reply {
                match w.send_raw(&reply) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        error_line(&format!("{role}: reply not sent: {e}"));
                    }
                    Err(_) => return Ok(()), // the parent went away: nothing left to do
                }
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
