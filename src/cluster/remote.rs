//! The hidden `cluster-remote` role: childproc on the far side of `ssh` or `srun`.
//!
//! It speaks to the primary over its own stdin/stdout, one JSON message per line as on the
//! IPC channel, with the types of [`super::protocol`]. First it says hello ([`Note::Hello`]),
//! then either
//! - relays between the primary and a local IPC worker (`--task`: a `cluster-worker`,
//!   `--worker CMD`: the user's program with a real Node channel on fd 3), and reports the
//!   worker's death with [`Note::Exit`]; or
//! - serves `--exec` jobs: a [`JobRequest`] in, [`Note::Started`] when the job has started
//!   (with `--announce-starts`), its output as [`Note::Output`]s as it arrives (with
//!   `--stream-output`; otherwise it comes in the reply), then one [`JobReply`] per job, the
//!   job run by the local engine with the given limits.
//!
//! Cleanup is tied to stdin: when it reaches EOF (the primary finished, was killed, or the ssh
//! connection died — ssh without a terminal sends no SIGHUP) every process group it started is
//! killed and it exits. SIGTERM/SIGINT/SIGHUP (a cancelled Slurm step) do the same.

use std::ffi::OsString;
use std::io::{Read, StdoutLock, Write};
use std::sync::mpsc;

use serde::Serialize;

use super::attempt::{finish_here, start_here};
use super::protocol::{JobReply, JobRequest, Note};
use super::worker::{IpcWorker, Reply, Worker};
use crate::cli::RemoteArgs;
use crate::exit::Exit;
use crate::ipc;
use crate::output::Capture;
use crate::process::{self, Sink, SinkResult, Spec, Status, Stream, children_cpu, signals};
use crate::usage::UsageError;

pub(crate) fn run(a: RemoteArgs) -> anyhow::Result<Exit> {
    // Handlers first, so a cancel that arrives during start-up is not lost.
    signals::Waker::for_thread()?;
    if a.exec {
        return serve_exec(&a);
    }
    let spec = if a.task.is_some() {
        // The built-in tasks are this binary's own: a local `cluster-worker`.
        Spec::new(
            std::env::current_exe()?.into_os_string(),
            vec!["cluster-worker".into()],
        )
    } else if let Some(w) = &a.worker {
        let argv = shell_words::split(w).map_err(|e| UsageError(format!("--worker: {e}")))?;
        let Some((prog, rest)) = argv.split_first() else {
            return Err(UsageError("--worker needs a command".into()).into());
        };
        Spec::new(
            OsString::from(prog),
            rest.iter().map(OsString::from).collect(),
        )
    } else {
        return Err(UsageError("one of --task, --worker or --exec is required".into()).into());
    };
    let ser = if a.task.is_some() {
        crate::ipc::Serialization::Json
    } else {
        a.serialization
    };
    relay(spec, ser, &a.kill.limits(None))
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Write one message line to the primary.
fn say(out: &mut impl Write, msg: &impl Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Reads stdin until EOF; then cancels everything this process runs.
fn watch_stdin(mut each: impl FnMut(&[u8]) -> bool + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if !each(&buf[..n]) {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            signals::cancel_all();
        });
}

fn relay(
    spec: Spec,
    ser: crate::ipc::Serialization,
    stop: &process::Limits,
) -> anyhow::Result<Exit> {
    let mut w = IpcWorker::start(spec, ser)?;
    w.set_stop(stop);
    let mut to_worker = w.writer()?;
    let mut out = std::io::stdout().lock();
    let hello = Note::Hello {
        host: hostname(),
        pid: w.pid(),
    };
    if say(&mut out, &hello).is_err() {
        return Ok(Exit::Child(0)); // nobody is listening
    }
    // Raw bytes from the primary to the worker: both sides frame lines the same way.
    watch_stdin(move |chunk| to_worker.write_all(chunk).is_ok());
    let cpu_before = children_cpu();
    let status = loop {
        match w.wait(None) {
            Reply::Message(m) => {
                if forward(&mut out, &mut w, m).is_err() {
                    drop(w);
                    return Ok(Exit::Child(0));
                }
            }
            Reply::Died(status) => break status,
            // stdin ended or a signal came: the worker's group is already killed. Say so
            // (with the CPU time, now that it is reaped) in case the primary still listens.
            Reply::Interrupted | Reply::TimedOut | Reply::Lost(_) => {
                break w.stopped().or(Some(Status::Signaled(libc::SIGKILL)));
            }
        }
    };
    let cpu = children_cpu().saturating_sub(cpu_before);
    let _ = say(&mut out, &Note::exit(status, cpu));
    Ok(Exit::Child(0))
}

/// Pass the worker's message `m` on, with everything else already decoded, in one write.
fn forward(out: &mut impl Write, w: &mut IpcWorker, m: Vec<u8>) -> std::io::Result<()> {
    let mut batch = m;
    batch.push(b'\n');
    while let Some(more) = w.try_message() {
        batch.extend_from_slice(&more);
        batch.push(b'\n');
    }
    out.write_all(&batch)?;
    out.flush()
}

fn serve_exec(a: &RemoteArgs) -> anyhow::Result<Exit> {
    let limits = a.kill.limits(a.job_timeout);
    let mut out = std::io::stdout().lock();
    let hello = Note::Hello {
        host: hostname(),
        pid: std::process::id() as i32,
    };
    if say(&mut out, &hello).is_err() {
        return Ok(Exit::Child(0));
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    // The decoder remembers how far it has looked for a newline: a request line of any length
    // costs time linear in its length (rescanning the whole buffer on every read did not).
    let mut pending = ipc::LineDecoder::new();
    watch_stdin(move |chunk| {
        pending.push(chunk);
        while let Some(line) = pending.next_line() {
            if tx.send(line.to_vec()).is_err() {
                return false;
            }
        }
        true
    });
    while let Ok(line) = rx.recv() {
        if signals::cancelled() || signals::Seen::now().first().is_some() {
            break;
        }
        if ipc::is_blank(&line) {
            continue;
        }
        let reply = match JobRequest::parse(&line) {
            Ok(argv) => run_job(argv, &limits, &mut out, a),
            Err(e) => JobReply::not_started(e, Exit::Failure),
        };
        if say(&mut out, &reply).is_err() {
            break;
        }
    }
    signals::cancel_all();
    Ok(match signals::Seen::now().first() {
        Some(sig) => Exit::Signal(sig),
        None => Exit::Child(0),
    })
}

fn run_job(
    argv: Vec<OsString>,
    limits: &process::Limits,
    out: &mut StdoutLock<'static>,
    a: &RemoteArgs,
) -> JobReply {
    let cpu_before = children_cpu();
    let child = match start_here(&argv, [process::Output::Pipe, process::Output::Pipe]) {
        Ok(c) => c,
        Err(e) => return JobReply::not_started(e.to_string(), e.exit()),
    };
    // The pid now, so a job killed before it answers is still reported with it.
    if a.announce_starts {
        let _ = say(out, &Note::Started { pid: child.pid });
    }
    let attempt = if a.stream_output {
        let mut s = Streamer {
            out,
            pending: [Vec::new(), Vec::new()],
        };
        let attempt = finish_here(child, limits, &mut s);
        let _ = s.flush();
        attempt
    } else {
        let mut cap = Capture::new(u64::MAX);
        let mut attempt = finish_here(child, limits, &mut cap);
        [attempt.stdout, attempt.stderr] = cap.bufs;
        attempt
    };
    JobReply::ran(attempt, children_cpu().saturating_sub(cpu_before))
}

/// `--stream-output`: a job's output goes to the primary as it arrives, as output notes —
/// what the engine read before it next waits, one note per stream (or sooner, every
/// [`NOTE_AT`] bytes), so the primary can print lines before the job ends.
struct Streamer<'a> {
    out: &'a mut StdoutLock<'static>,
    pending: [Vec<u8>; 2],
}

/// A stream's output is sent once this much has gathered, even before the engine waits.
const NOTE_AT: usize = 64 * 1024;

impl Streamer<'_> {
    fn send(&mut self, stream: Stream) -> SinkResult {
        let data = std::mem::take(&mut self.pending[stream as usize]);
        if data.is_empty() {
            return SinkResult::Continue;
        }
        match say(self.out, &Note::output(stream, data)) {
            Ok(()) => SinkResult::Continue,
            // The primary is gone: stop the job as a closed pipe would.
            Err(_) => SinkResult::Closed,
        }
    }
}

impl Sink for Streamer<'_> {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        self.pending[stream as usize].extend_from_slice(bytes);
        if self.pending[stream as usize].len() >= NOTE_AT {
            return self.send(stream);
        }
        SinkResult::Continue
    }

    fn flush(&mut self) -> SinkResult {
        match (self.send(Stream::Stdout), self.send(Stream::Stderr)) {
            (SinkResult::Continue, SinkResult::Continue) => SinkResult::Continue,
            _ => SinkResult::Closed,
        }
    }
}
