//! The hidden `cluster-worker` role: a pooled childproc process that runs built-in tasks sent
//! over the IPC channel ([`TaskRequest`](super::protocol::TaskRequest)) and answers each with
//! a [`TaskReply`].

use anyhow::Context;

use super::protocol::TaskReply;
use crate::exit::Exit;
use crate::ipc;

pub(crate) fn run() -> anyhow::Result<Exit> {
    let Some((stream, ser)) = ipc::from_env_any()? else {
        anyhow::bail!("no IPC channel: cluster-worker runs under `childproc cluster --task`");
    };
    match ser {
        ipc::Serialization::Json => ipc::serve(&stream, "cluster-worker", |msg| Some(answer(msg))),
        // A Node or execa parent's advanced channel: the same requests and answers, as V8
        // values.
        ipc::Serialization::Advanced => ipc::serve_frames(&stream, "cluster-worker", |_, v| {
            let reply = answer(&ipc::v8::to_json(v));
            ipc::v8::json_to_frame(&reply).ok().map(|f| f[4..].to_vec())
        }),
    }
    .context("reading the IPC channel")?;
    Ok(Exit::Child(0))
}

fn answer(line: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&TaskReply::answer(line))
        .unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
}
