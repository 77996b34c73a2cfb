//! The hidden echo child: what `childproc fork` runs when no PROGRAM is given, and what a Node
//! parent gets when it forks the childproc binary. Every user message is sent back unchanged
//! (in compact form); Node's internal `NODE_` traffic is ignored; end of channel means exit 0.

use anyhow::Context;

use crate::exit::Exit;
use crate::ipc;

pub fn run() -> anyhow::Result<Exit> {
    let Some((stream, ser)) = ipc::from_env_any()? else {
        anyhow::bail!(
            "no IPC channel: this role runs under `childproc fork` or Node's child_process.fork() \
             (NODE_CHANNEL_FD is not set)"
        );
    };
    match ser {
        ipc::Serialization::Json => ipc::serve(&stream, "ipc-echo", |msg| Some(msg.to_vec())),
        // The frame itself goes back: the value is exactly what the parent sent.
        ipc::Serialization::Advanced => {
            ipc::serve_frames(&stream, "ipc-echo", |payload, _| Some(payload.to_vec()))
        }
    }
    .context("reading the IPC channel")?;
    Ok(Exit::Child(0))
}
