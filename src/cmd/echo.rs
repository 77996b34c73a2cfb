//! The hidden echo child: what `childproc fork` runs when no PROGRAM is given, and what a Node
//! parent gets when it forks the childproc binary. Every user message is sent back unchanged
//! (in compact form); Node's internal `NODE_` traffic is ignored; end of channel means exit 0.

use std::io::{Read, Write};

use anyhow::Context;

use crate::error_line;
use crate::exit::Exit;
use crate::ipc;

pub fn run() -> anyhow::Result<Exit> {
    let Some(stream) = ipc::from_env()? else {
        anyhow::bail!(
            "no IPC channel: this role runs under `childproc fork` or Node's child_process.fork() \
             (NODE_CHANNEL_FD is not set)"
        );
    };
    let mut reader = stream.try_clone().context("cannot clone the IPC socket")?;
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, &stream);
    let mut dec = ipc::LineDecoder::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("reading the IPC channel")),
        };
        dec.push(&buf[..n]);
        while let Some(line) = dec.next_line() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match ipc::compact(line) {
                Ok(msg) if ipc::is_internal(&msg) => {}
                Ok(msg) => {
                    if w.write_all(&msg).and_then(|()| w.write_all(b"\n")).is_err() {
                        return Ok(Exit::Child(0)); // the parent went away: nothing left to do
                    }
                }
                Err(e) => error_line(&format!("ipc-echo: malformed message skipped: {e}")),
            }
        }
        if w.flush().is_err() {
            return Ok(Exit::Child(0));
        }
    }
    let _ = w.flush();
    Ok(Exit::Child(0))
}
