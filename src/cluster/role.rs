//! The hidden `cluster-worker` role: a pooled childproc process that runs built-in tasks sent
//! over the IPC channel and answers `{"result": N}` or `{"error": "..."}` for each.

use std::io::{Read, Write};

use anyhow::Context;

use super::tasks::Task;
use crate::exit::Exit;
use crate::ipc;

pub fn run() -> anyhow::Result<Exit> {
    let Some(stream) = ipc::from_env()? else {
        anyhow::bail!("no IPC channel: cluster-worker runs under `childproc cluster --task`");
    };
    let mut reader = stream.try_clone().context("cannot clone the IPC socket")?;
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, &stream);
    let mut dec = ipc::LineDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        dec.push(&buf[..n]);
        while let Some(line) = dec.next_line() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reply = answer(line);
            if w.write_all(&reply)
                .and_then(|()| w.write_all(b"\n"))
                .is_err()
            {
                return Ok(Exit::Child(0));
            }
        }
        if w.flush().is_err() {
            return Ok(Exit::Child(0));
        }
    }
    Ok(Exit::Child(0))
}

fn answer(line: &[u8]) -> Vec<u8> {
    let reply = match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(v) => {
            let task = v
                .get("task")
                .and_then(|t| t.as_str())
                .and_then(Task::from_name);
            let input = v.get("input").and_then(|i| i.as_str());
            match (task, input) {
                (Some(t), Some(i)) => match t.run(i) {
                    Ok(n) => serde_json::json!({ "result": n }),
                    Err(e) => serde_json::json!({ "error": e }),
                },
                _ => serde_json::json!({ "error": "malformed task message" }),
            }
        }
        Err(e) => serde_json::json!({ "error": format!("malformed task message: {e}") }),
    };
    serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
}
