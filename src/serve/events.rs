//! Lifecycle events: one stderr line each for the operator, and with `--events FILE` one JSON
//! line each for tools (the README's serve section).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error_line;

/// Who an event is about: a worker's run-unique id (its `NODE_UNIQUE_ID`), its slot (1..N,
/// stable across restarts and reloads) and its pid.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Who {
    pub id: u32,
    pub slot: usize,
    pub pid: i32,
}

/// One event, serialized as `{"event":"<kebab-case name>", …camelCase fields}`.
#[derive(Debug, Serialize)]
#[serde(
    tag = "event",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// A socket is listening: one of ours (`--listen`, no worker) or a Node worker's.
    Listening {
        #[serde(flatten)]
        who: Option<Who>,
        address: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        fd: Option<i32>,
    },
    Started {
        #[serde(flatten)]
        who: Who,
    },
    Ready {
        #[serde(flatten)]
        who: Who,
        /// What made it ready: `started`, `notify`, `message` or `listening`.
        via: &'static str,
    },
    Exited {
        #[serde(flatten)]
        who: Who,
        code: Option<i32>,
        signal: Option<String>,
        duration_ms: f64,
        /// We had asked it to stop (reload, shutdown): not a crash.
        expected: bool,
    },
    Restarting {
        slot: usize,
        delay_ms: u64,
        restarts: u32,
    },
    GivenUp {
        slot: usize,
        reason: String,
    },
    ReloadStarted {
        workers: usize,
    },
    ReloadDone {
        replaced: usize,
        kept: usize,
    },
    /// The pool is stopped; the last event of a run.
    Stopped {
        signal: Option<String>,
        killed: usize,
        code: u8,
    },
}

impl Event {
    /// The operator's line (without childproc's own prefix).
    fn line(&self) -> String {
        let w = |who: &Who| format!("worker {} (slot {}, pid {})", who.id, who.slot, who.pid);
        match self {
            Event::Listening {
                who: None,
                address,
                fd,
            } => format!("listening on {address} (fd {})", fd.unwrap_or(-1)),
            Event::Listening {
                who: Some(who),
                address,
                ..
            } => format!("{} listening on {address}", w(who)),
            Event::Started { who } => format!("{} started", w(who)),
            Event::Ready { who, via } => format!("{} ready ({via})", w(who)),
            Event::Exited {
                who,
                code,
                signal,
                expected,
                ..
            } => {
                let how = match (code, signal) {
                    (_, Some(s)) => format!("was killed by {s}"),
                    (Some(c), None) => format!("exited with code {c}"),
                    (None, None) => "exited".to_string(),
                };
                let tail = if *expected { "" } else { " unexpectedly" };
                format!("{} {how}{tail}", w(who))
            }
            Event::Restarting {
                slot,
                delay_ms,
                restarts,
            } => format!("slot {slot}: restarting in {delay_ms}ms (restart {restarts})"),
            Event::GivenUp { slot, reason } => format!("slot {slot}: given up: {reason}"),
            Event::ReloadStarted { workers } => format!("reload started ({workers} workers)"),
            Event::ReloadDone { replaced, kept } => {
                format!("reload done: {replaced} replaced, {kept} kept")
            }
            Event::Stopped { signal: None, .. } => "stopped: every slot was given up".to_string(),
            Event::Stopped {
                signal: Some(s),
                killed: 0,
                ..
            } => format!("stopped on {s}: every worker stopped within the grace period"),
            Event::Stopped {
                signal: Some(s),
                killed,
                ..
            } => format!("stopped on {s}: {killed} worker(s) had to be killed with SIGKILL"),
        }
    }
}

/// Where events go.
pub struct Events {
    file: Option<File>,
}

impl Events {
    /// Open (create or truncate) the `--events` file; failing that is childproc's own error.
    pub fn open(path: Option<&Path>) -> std::io::Result<Events> {
        let file = path.map(File::create).transpose()?;
        Ok(Events { file })
    }

    /// Say it on stderr, and append it to the events file (one write per line, so a reader
    /// following the file never sees half a line).
    pub fn emit(&mut self, ev: Event) {
        error_line(&ev.line());
        if let Some(f) = &mut self.file {
            let mut buf = serde_json::to_vec(&ev).unwrap_or_default();
            buf.push(b'\n');
            if f.write_all(&buf).is_err() {
                error_line("cannot write to the --events file; no more events are written there");
                self.file = None;
            }
        }
    }
}

/// Milliseconds as a JSON number with microsecond precision (spawn's `durationMs`).
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let who = Who {
            id: 3,
            slot: 1,
            pid: 42,
        };
        let ev = Event::Exited {
            who,
            code: None,
            signal: Some("SIGKILL".into()),
            duration_ms: 1.5,
            expected: false,
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"event":"exited","id":3,"slot":1,"pid":42,"code":null,"signal":"SIGKILL","durationMs":1.5,"expected":false}"#
        );
        let ev = Event::ReloadDone {
            replaced: 2,
            kept: 0,
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"event":"reload-done","replaced":2,"kept":0}"#
        );
        let ev = Event::Listening {
            who: None,
            address: "127.0.0.1:80".into(),
            fd: Some(3),
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"event":"listening","address":"127.0.0.1:80","fd":3}"#
        );
    }
}
