//! The loop of a child role (`ipc-echo`, `cluster-worker`): read messages from the channel,
//! answer each through a handler, batch the answers and flush them before every blocking read.

use std::io::Write;
use std::os::unix::net::UnixStream;

use super::{LineDecoder, compact, is_internal};
use crate::error_line;

/// Serve `stream` until the parent closes it (or goes away). `handle` gets every user message
/// in compact form and returns the reply to send, if any. Malformed lines are reported on
/// stderr under `role` and skipped; Node's internal `NODE_` messages are ignored.
pub fn serve(
    stream: &UnixStream,
    role: &str,
    mut handle: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, stream);
    let mut dec = LineDecoder::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match super::spin_read(stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dec.push(&buf[..n]);
        while let Some(line) = dec.next_line() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reply = match compact(line) {
                Ok(msg) if is_internal(&msg) => None,
                Ok(msg) => handle(&msg),
                Err(e) => {
                    error_line(&format!("{role}: malformed message skipped: {e}"));
                    None
                }
            };
            if let Some(r) = reply
                && w.write_all(&r).and_then(|()| w.write_all(b"\n")).is_err()
            {
                return Ok(()); // the parent went away: nothing left to do
            }
        }
        if w.flush().is_err() {
            return Ok(());
        }
    }
    let _ = w.flush();
    Ok(())
}
