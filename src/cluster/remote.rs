//! The hidden `cluster-remote` role: childproc on the far side of `ssh` or `srun`.
//!
//! It speaks to the primary over its own stdin/stdout, one JSON message per line as on the
//! IPC channel, with the types of [`super::protocol`]. First it says hello ([`Note::Hello`]),
//! then either
//! - relays between the primary and a local IPC worker (`--task`: a `cluster-worker`,
//!   `--worker CMD`: the user's program with a real Node channel on fd 3), and reports the
//!   worker's death with [`Note::Exit`]; or
//! - serves `--exec` jobs: a [`JobRequest`] in, [`Note::Started`] when the job has started
//!   (with `--announce-starts`), its output as [`Note::Output`]s as it arrives once the job
//!   is a moment old (with `--stream-output`, see [`Outbox`]; otherwise it all comes in the
//!   reply), then one [`JobReply`] per job, the job run by the local engine with the given
//!   limits.
//!
//! Cleanup is tied to stdin: when it reaches EOF (the primary finished, was killed, or the ssh
//! connection died — ssh without a terminal sends no SIGHUP) every process group it started is
//! killed and it exits. SIGTERM/SIGINT/SIGHUP (a cancelled Slurm step) do the same.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

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
    let outbox = Arc::new(Outbox::default());
    let hello = Note::Hello {
        host: hostname(),
        pid: std::process::id() as i32,
    };
    if outbox.say(&hello).is_err() {
        return Ok(Exit::Child(0));
    }
    if a.stream_output {
        outbox.start_ticker();
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
            Ok(job) => {
                // A job's own limit (`--job-timeout N%`) replaces the connection's.
                let limits = process::Limits {
                    timeout: job.timeout.or(limits.timeout),
                    ..limits
                };
                run_job(job.argv, &limits, &outbox, a)
            }
            Err(e) => JobReply::not_started(e, Exit::Failure),
        };
        if outbox.say(&reply).is_err() {
            break;
        }
    }
    outbox.done.store(true, Ordering::SeqCst);
    signals::cancel_all();
    Ok(match signals::Seen::now().first() {
        Some(sig) => Exit::Signal(sig),
        None => Exit::Child(0),
    })
}

fn run_job(
    argv: Vec<OsString>,
    limits: &process::Limits,
    outbox: &Outbox,
    a: &RemoteArgs,
) -> JobReply {
    let cpu_before = children_cpu();
    let child = match start_here(&argv, [process::Output::Pipe, process::Output::Pipe]) {
        Ok(c) => c,
        Err(e) => return JobReply::not_started(e.to_string(), e.exit()),
    };
    // The pid now, so a job killed before it answers is still reported with it.
    if a.announce_starts {
        let _ = outbox.say(&Note::Started { pid: child.pid });
    }
    let attempt = if a.stream_output {
        outbox.start_job();
        let mut attempt = finish_here(child, limits, &mut Streamer(outbox));
        [attempt.stdout, attempt.stderr] = outbox.end_job();
        attempt
    } else {
        let mut cap = Capture::new(u64::MAX);
        let mut attempt = finish_here(child, limits, &mut cap);
        [attempt.stdout, attempt.stderr] = cap.bufs;
        attempt
    };
    JobReply::ran(attempt, children_cpu().saturating_sub(cpu_before))
}

/// The exec server's lines to the primary, written by the main thread and, with
/// `--stream-output`, by a ticker that sends a running job's output.
///
/// A job's output goes as output notes once the job is [`HOLD`] old (what it wrote before
/// that waits at most that long); a job that ends sooner has all its output in its reply.
/// One line per short job matters under srun: its I/O forwarding delays a job's second line
/// by ~10 ms (measured: 40 one-line jobs on 2 slots took 0.6 s with a note and a reply per
/// job, 0.12 s with the reply alone).
#[derive(Default)]
struct Outbox {
    job: Mutex<Pending>,
    /// The server is ending: the ticker stops.
    done: AtomicBool,
}

/// The running job's output not sent yet.
#[derive(Default)]
struct Pending {
    started: Option<Instant>,
    bufs: [Vec<u8>; 2],
    /// Writing to the primary failed.
    broken: bool,
}

/// How long a job's output may wait to be sent with its reply.
const HOLD: Duration = Duration::from_millis(20);

/// A stream's output is sent once this much has gathered, whatever the job's age.
const NOTE_AT: usize = 64 * 1024;

impl Outbox {
    fn say(&self, msg: &impl Serialize) -> std::io::Result<()> {
        say(&mut std::io::stdout().lock(), msg)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.job.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_ticker(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                while !me.done.load(Ordering::SeqCst) {
                    std::thread::sleep(HOLD / 2);
                    me.send_if_due();
                }
            });
    }

    fn start_job(&self) {
        *self.lock() = Pending {
            started: Some(Instant::now()),
            ..Pending::default()
        };
    }

    /// Output of the running job; false when the primary is gone.
    fn push(&self, stream: Stream, bytes: &[u8]) -> bool {
        let mut p = self.lock();
        p.bufs[stream as usize].extend_from_slice(bytes);
        if p.bufs[stream as usize].len() >= NOTE_AT {
            self.send(&mut p, stream);
        }
        !p.broken
    }

    /// Send what the running job wrote, once it is [`HOLD`] old.
    fn send_if_due(&self) -> bool {
        let mut p = self.lock();
        if p.started.is_some_and(|t| t.elapsed() >= HOLD) {
            self.send(&mut p, Stream::Stdout);
            self.send(&mut p, Stream::Stderr);
        }
        !p.broken
    }

    /// One output note (sent under the job's lock, so it always comes before the reply).
    fn send(&self, p: &mut Pending, stream: Stream) {
        let data = std::mem::take(&mut p.bufs[stream as usize]);
        if !data.is_empty() && !p.broken && self.say(&Note::output(stream, data)).is_err() {
            p.broken = true;
        }
    }

    /// The job ended: what was not sent goes in its reply.
    fn end_job(&self) -> [Vec<u8>; 2] {
        let mut p = self.lock();
        p.started = None;
        std::mem::take(&mut p.bufs)
    }
}

/// The engine's sink for a job whose output is streamed.
struct Streamer<'a>(&'a Outbox);

impl Sink for Streamer<'_> {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        if self.0.push(stream, bytes) {
            SinkResult::Continue
        } else {
            // The primary is gone: stop the job as a closed pipe would.
            SinkResult::Closed
        }
    }

    fn flush(&mut self) -> SinkResult {
        if self.0.send_if_due() {
            SinkResult::Continue
        } else {
            SinkResult::Closed
        }
    }
}
