//! The hidden `cluster-worker` role: a pooled childproc process that runs built-in tasks sent
//! over the IPC channel and answers `{"result": N}` or `{"error": "..."}` for each.

use anyhow::Context;

use super::tasks::Task;
use crate::exit::Exit;
use crate::ipc;

pub fn run() -> anyhow::Result<Exit> {
    let Some(stream) = ipc::from_env()? else {
        anyhow::bail!("no IPC channel: cluster-worker runs under `childproc cluster --task`");
    };
    ipc::serve(&stream, "cluster-worker", |msg| Some(answer(msg)))
        .context("reading the IPC channel")?;
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
