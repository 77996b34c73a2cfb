//! `childproc serve`: a supervised pool of server workers sharing listening sockets — Node's
//! `cluster` server mode and pm2's `-i N`, for Node programs and any other language.
//!
//! - `listen`: `--listen` values, parsed and bound before any worker starts.
//! - `worker`: one worker process (socket activation, channel, notify socket, output).
//! - `notify`: the per-worker `$NOTIFY_SOCKET` (sd_notify `READY=1`).
//! - `restart`: backoff and the crash-loop limit.
//! - `pool`: the state machine (slots, readiness, rolling reload, shutdown).
//! - `driver`: the `poll` loop that feeds the pool its events.
//! - `events`: lifecycle events, as stderr lines and `--events` JSON lines.
//! - `cluster`, `primary`, `rr`, `handles`: Node's cluster protocol as the primary (typed
//!   messages; answering workers; round-robin hand-off; sending descriptors).
//! - `status`: the `SIGUSR2` status table.
//!
//! Everything runs on the main thread: the engine's `PR_SET_PDEATHSIG` follows the thread that
//! spawned a child, and one thread never races itself over the pool's state.

mod cluster;
mod driver;
mod events;
pub use crate::listen;
mod notify;
mod pool;
mod primary;
pub(crate) mod restart;
mod rr;
mod status;
mod worker;

use std::ffi::OsString;

use anyhow::Context;

use crate::cli::{Sched, ServeArgs};
use crate::exit::Exit;
use crate::process::signals::{Seen, Waker};

pub fn run(a: ServeArgs) -> anyhow::Result<Exit> {
    // Signals are counted from here on: a SIGTERM while binding still stops the run.
    let waker = Waker::for_thread().ok();
    let seen = Seen::default();
    let (program, args) = command(a.command, &a.node)?;
    let events = events::Events::open(a.events.as_deref()).with_context(|| {
        format!(
            "--events {}",
            a.events.as_deref().unwrap_or_else(|| "".as_ref()).display()
        )
    })?;
    let notify = notify::NotifyDir::new().context("cannot create the notify sockets' directory")?;
    let listeners = listen::bind_all(&a.listen)?;
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let cfg = pool::Config {
        recipe: worker::Recipe {
            program,
            args,
            cwd: a.cwd,
            env_clear: a.env_clear,
            env: a.env,
            prefix: (!a.no_prefix).then_some(a.prefix),
        },
        workers,
        sched: a.sched.unwrap_or_else(sched_from_env),
        ready: a.ready,
        ready_timeout: a.ready_timeout,
        stop_signal: a.stop_signal.number(),
        kill_after: Some(a.kill_after).filter(|d| !d.is_zero()),
        max_restarts: a.max_restarts,
        restart_window: a.restart_window,
    };
    let mut pool = pool::Pool::new(cfg, listeners, events, notify);
    pool.announce_listeners();
    pool.start_all()?;
    Ok(driver::run(&mut pool, waker, seen))
}

/// Node's own default: `NODE_CLUSTER_SCHED_POLICY` (`rr` or `none`), else round-robin.
fn sched_from_env() -> Sched {
    match std::env::var("NODE_CLUSTER_SCHED_POLICY").as_deref() {
        Ok("none") => Sched::Shared,
        _ => Sched::Rr,
    }
}

/// A Node script runs under `node` (`--node`), anything else as given.
fn command(command: Vec<OsString>, node: &OsString) -> anyhow::Result<(OsString, Vec<OsString>)> {
    let (program, command) = crate::usage::split_command(command)?;
    let lossy = program.to_string_lossy();
    if [".js", ".mjs", ".cjs"].iter().any(|e| lossy.ends_with(e)) {
        let mut args = vec![program];
        args.extend(command);
        return Ok((node.clone(), args));
    }
    Ok((program, command))
}
