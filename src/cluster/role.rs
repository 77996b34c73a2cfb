//! The hidden `cluster-worker` role: a pooled childproc process that runs built-in tasks sent
//! over the IPC channel ([`TaskRequest`](super::protocol::TaskRequest)) and answers each with
//! a [`TaskReply`].

use anyhow::Context;

use super::protocol::TaskReply;
use crate::exit::Exit;
use crate::ipc;

pub(crate) fn run() -> anyhow::Result<Exit> {
    let Some(stream) = ipc::from_env()? else {
        anyhow::bail!("no IPC channel: cluster-worker runs under `childproc cluster --task`");
    };
    ipc::serve(&stream, "cluster-worker", |msg| Some(answer(msg)))
        .context("reading the IPC channel")?;
    Ok(Exit::Child(0))
}

fn answer(line: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&TaskReply::answer(line))
        .unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
}
