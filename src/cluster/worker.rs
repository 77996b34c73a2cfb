//! A persistent worker process spoken to over the Node IPC channel (`--task`, `--worker`):
//! one request in flight, the next user message from the worker is its answer.
//!
//! The same connection serves a worker on another machine: then the process we start is the
//! launcher (`ssh …`, `srun …`) running `childproc cluster-remote`, and the channel is the
//! launcher's stdin/stdout (one socket for both). The remote role adds two lines of its own,
//! shaped like Node's internal messages so every other reader skips them: a hello when it is
//! up, and the worker's exit status when the worker dies. Without that last line, an end of
//! the connection means the connection was lost, not that the worker failed.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::protocol::Note;
use crate::error_line;
use crate::exit::Exit;
use crate::ipc;
use crate::process::{self, Input, Output, Running, SpawnError, Spec, Status, signals};

/// A persistent worker as a slot sees it: one request out, the next message back. The real
/// one is an [`IpcWorker`]; unit tests script a fake.
pub(crate) trait Worker {
    /// Write one message (compact JSON, no newline); false when the channel is gone.
    fn send(&mut self, msg: &[u8]) -> bool;
    /// Wait for the next user message (or the worker's death, the timeout, a stop).
    fn wait(&mut self, timeout: Option<Duration>) -> Reply;
    /// [`wait`](Worker::wait), with a remote `--exec` job's output that comes as it arrives
    /// (its output notes) passed to `out` on the way.
    fn wait_output(&mut self, timeout: Option<Duration>, out: &mut dyn process::Sink) -> Reply {
        let _ = out;
        self.wait(timeout)
    }
    /// The worker's pid (0 for a remote one that has not said hello).
    fn pid(&self) -> i32;
    /// The signal that ended the worker when we stopped it (0: it exited by itself).
    fn stopped_by(&self) -> i32;
    /// Remote: the host name the far side reported.
    fn remote_host(&self) -> Option<&str>;
    /// Remote `--exec`: the pid of the job last started over there.
    fn job_pid(&self) -> Option<i32>;
    /// Remote: CPU time reported by the far side so far.
    fn remote_cpu(&self) -> Duration;
    /// Stop this worker as `--kill-signal` and `--kill-after` say.
    fn set_stop(&mut self, limits: &process::Limits);
    /// Orderly end: close the channel, give the worker `grace` to exit.
    fn shutdown(self: Box<Self>, grace: Duration);
}

/// What came back for one request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The worker's answer, compact JSON.
    Message(Vec<u8>),
    /// The worker exited (or closed the channel) before answering.
    Died(Option<Status>),
    /// `--job-timeout` expired; the worker has been killed.
    TimedOut,
    /// The run is being stopped (signal or `--halt now`); the worker has been killed.
    Interrupted,
    /// Remote only: the launcher ended without the remote side reporting a worker death (a
    /// failed or lost connection, a missing remote binary). Not the job's fault.
    Lost(Lost),
}

/// Why a connection to another machine failed.
#[derive(Debug, Clone)]
pub(crate) struct Lost {
    pub why: String,
    /// Trying again cannot help (the launcher or the remote binary is missing).
    pub hopeless: bool,
}

impl Lost {
    pub(crate) fn retry(why: impl Into<String>) -> Lost {
        Lost {
            why: why.into(),
            hopeless: false,
        }
    }

    pub(crate) fn hopeless(why: impl Into<String>) -> Lost {
        Lost {
            why: why.into(),
            hopeless: true,
        }
    }
}

/// How long a launcher may take to stop its remote side (srun waits KillWait for a step).
pub(crate) const REMOTE_STOP_GRACE: Duration = Duration::from_secs(10);

/// What the remote role has told us so far.
#[derive(Debug, Default)]
struct RemoteState {
    /// The launcher's name for messages (`ssh`, `srun`).
    launcher: &'static str,
    hello: bool,
    host: Option<String>,
    exit: Option<Status>,
    /// The pid of the `--exec` job running over there.
    job_pid: Option<i32>,
    /// A job was sent and its answer has not come yet.
    in_flight: bool,
    /// CPU time the remote side used (reported with the worker's exit).
    cpu: Duration,
    /// `--exec` output that came in output notes, not yet passed on.
    output: Vec<(process::Stream, Vec<u8>)>,
}

pub(crate) struct IpcWorker {
    child: Option<Running>,
    stream: UnixStream,
    dec: ipc::LineDecoder,
    /// An `advanced` channel's frames (`None`: json lines in `dec`).
    frames: Option<ipc::v8::FrameDecoder>,
    buf: Vec<u8>,
    pid: i32,
    remote: Option<RemoteState>,
    /// How the worker is stopped (timeout, interruption, `--halt now`): this signal, then
    /// SIGKILL after the grace period (`None`: never). Until told otherwise, SIGKILL at once.
    stop_signal: i32,
    kill_after: Option<Duration>,
    /// How the worker ended when we stopped it.
    stopped: Option<Status>,
}

fn io_err(what: &str, source: std::io::Error) -> SpawnError {
    SpawnError::Io {
        what: what.into(),
        source,
    }
}

impl IpcWorker {
    /// Start `spec` with a channel on fd 3; its stdout goes to our stderr, stdin is /dev/null.
    pub(crate) fn start(mut spec: Spec, ser: ipc::Serialization) -> Result<IpcWorker, SpawnError> {
        let (parent, child_end) =
            ipc::socketpair().map_err(|e| io_err("cannot create the IPC socketpair", e))?;
        for (k, v) in ipc::child_env_for(ser) {
            spec.env.push((k.into(), v.into()));
        }
        spec.fd3 = Some(child_end);
        spec.stdin = Input::Null;
        let err = std::os::fd::AsFd::as_fd(&std::io::stderr())
            .try_clone_to_owned()
            .map_err(|e| io_err("cannot duplicate stderr", e))?;
        spec.stdout = Output::File(err.into());
        spec.stderr = Output::Inherit;
        let mut w = IpcWorker::spawn(spec, parent, None)?;
        if ser == ipc::Serialization::Advanced {
            w.frames = Some(ipc::v8::FrameDecoder::new());
        }
        Ok(w)
    }

    /// Start a launcher (`ssh …`, `srun …`) whose stdin and stdout are the channel to a
    /// `childproc cluster-remote` on the far side; its stderr is ours.
    pub(crate) fn start_remote(
        mut spec: Spec,
        launcher: &'static str,
    ) -> Result<IpcWorker, SpawnError> {
        let (parent, child_end) =
            ipc::socketpair().map_err(|e| io_err("cannot create the launcher's socketpair", e))?;
        let second = child_end
            .try_clone()
            .map_err(|e| io_err("cannot duplicate the launcher's socket", e))?;
        spec.stdin = Input::File(child_end.into());
        spec.stdout = Output::File(second.into());
        spec.stderr = Output::Inherit;
        let remote = RemoteState {
            launcher,
            ..RemoteState::default()
        };
        IpcWorker::spawn(spec, parent, Some(remote))
    }

    /// Spawn `spec`, whose channel's other end is `stream`. A remote worker's pid is not
    /// known until its hello (the launcher's own pid would be misleading).
    fn spawn(
        spec: Spec,
        stream: UnixStream,
        remote: Option<RemoteState>,
    ) -> Result<IpcWorker, SpawnError> {
        let child = process::spawn(spec)?;
        Ok(IpcWorker {
            pid: if remote.is_some() { 0 } else { child.pid },
            child: Some(child),
            stream,
            dec: ipc::LineDecoder::new(),
            frames: None,
            buf: vec![0u8; 64 * 1024],
            remote,
            stop_signal: libc::SIGKILL,
            kill_after: Some(Duration::ZERO),
            stopped: None,
        })
    }

    /// How the worker ended when we stopped it.
    pub(crate) fn stopped(&self) -> Option<Status> {
        self.stopped
    }

    /// The worker's pid (see [`Worker::pid`]).
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// A second handle on the channel, for a thread that only writes.
    pub(crate) fn writer(&self) -> std::io::Result<UnixStream> {
        self.stream.try_clone()
    }

    /// Write one message (compact JSON, no newline); false when the channel is gone.
    pub(crate) fn send(&mut self, msg: &[u8]) -> bool {
        // A new `--exec` job: the pid of the last one no longer names the running job.
        if let Some(r) = &mut self.remote {
            r.job_pid = None;
            r.in_flight = true;
        }
        if self.frames.is_some() {
            return self.stream.write_all(&advanced_frame(msg)).is_ok();
        }
        let mut line = Vec::with_capacity(msg.len() + 1);
        line.extend_from_slice(msg);
        line.push(b'\n');
        self.stream.write_all(&line).is_ok()
    }

    /// Take in bytes read from the channel.
    fn push(&mut self, k: usize) {
        match &mut self.frames {
            Some(f) => f.push(&self.buf[..k]),
            None => self.dec.push(&self.buf[..k]),
        }
    }

    /// Wait for the next user message from the worker (or its death, the timeout, a stop).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Reply {
        self.wait_passing(timeout, None)
    }

    /// [`wait`](Self::wait), passing output notes' bytes to `out` as they come (dropped
    /// without one).
    fn wait_passing(
        &mut self,
        timeout: Option<Duration>,
        mut out: Option<&mut dyn process::Sink>,
    ) -> Reply {
        // A remote worker's clock starts at its hello: connecting (a login, a step allocation)
        // is not the job's time.
        let mut deadline = None;
        loop {
            let m = self.next_message();
            // What came before the answer goes first.
            self.pass_output(&mut out);
            if let Some(m) = m {
                return Reply::Message(m);
            }
            if deadline.is_none() && self.remote.as_ref().is_none_or(|r| r.hello) {
                deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            }
            let wait_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.kill();
                        return Reply::TimedOut;
                    }
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            if let Some(reply) = self.wait_once(wait_ms) {
                self.pass_output(&mut out);
                return reply;
            }
        }
    }

    /// Output notes taken in so far, to `out`.
    fn pass_output(&mut self, out: &mut Option<&mut dyn process::Sink>) {
        let Some(r) = &mut self.remote else { return };
        if r.output.is_empty() {
            return;
        }
        for (stream, bytes) in std::mem::take(&mut r.output) {
            if let Some(o) = out.as_deref_mut() {
                // A closed stdout stops the run by itself (the reporter sees it).
                let _ = o.data(stream, &bytes);
            }
        }
    }

    /// One wait of at most `wait_ms` (-1: no limit) for the channel, the worker's exit or a
    /// signal; `None` when there is no answer yet.
    fn wait_once(&mut self, wait_ms: i32) -> Option<Reply> {
        let exit_fd = self.child.as_ref().map_or(-1, Running::exit_fd);
        let wake_fd = signals::Waker::for_thread().map_or(-1, |w| w.fd());
        let [readable, exited, woken] =
            poll3([self.stream.as_raw_fd(), exit_fd, wake_fd], wait_ms)?;
        if woken {
            if let Ok(w) = signals::Waker::for_thread() {
                w.drain();
            }
            if signals::cancelled() || signals::Seen::now().first().is_some() {
                return Some(self.interrupted());
            }
        }
        if readable {
            match self.stream.read(&mut self.buf) {
                Ok(0) | Err(_) => {
                    let status = self.exit_status(Duration::from_millis(500));
                    return Some(self.ended(status));
                }
                Ok(k) => self.push(k),
            }
        } else if exited {
            return Some(self.after_exit());
        }
        None
    }

    /// The worker exited. What it sent before is still in the socket: take what is there now
    /// (a straggler of its group may hold the socket open, so do not wait for end of file),
    /// and look once more for the answer.
    fn after_exit(&mut self) -> Reply {
        self.read_arrived();
        if let Some(m) = self.next_message() {
            return Reply::Message(m);
        }
        let status = self.exit_status(Duration::ZERO);
        self.ended(status)
    }

    /// The run is being stopped: stop the worker. A remote side's notes that have already
    /// arrived (before or while its launcher stops) are taken in first, so an `--exec` job
    /// killed right after it started is still reported with its pid. A user message among
    /// them can no longer answer anything.
    fn interrupted(&mut self) -> Reply {
        if self.remote.is_some() {
            self.read_arrived();
            self.await_start_note();
        }
        self.kill();
        if self.remote.is_some() {
            self.read_arrived();
            while self.next_message().is_some() {}
        }
        Reply::Interrupted
    }

    /// Over ssh a job's start note may still be on its way when a stop comes: wait a moment
    /// for it (bounded), so the killed job is reported with its remote pid. srun sends none.
    fn await_start_note(&mut self) {
        const WAIT: Duration = Duration::from_millis(300);
        let start = std::time::Instant::now();
        let waiting = |w: &IpcWorker| {
            w.remote
                .as_ref()
                .is_some_and(|r| r.launcher == "ssh" && r.in_flight && r.job_pid.is_none())
        };
        while waiting(self) && start.elapsed() < WAIT {
            let left = WAIT.saturating_sub(start.elapsed()).as_millis() as i32;
            if poll3([self.stream.as_raw_fd(), -1, -1], left.max(1)).is_none() {
                continue;
            }
            self.read_arrived();
            while self.next_message().is_some() {}
        }
    }

    /// Take in what the socket holds now, without waiting.
    fn read_arrived(&mut self) {
        let _ = self.stream.set_nonblocking(true);
        while let Ok(k) = self.stream.read(&mut self.buf) {
            if k == 0 {
                break;
            }
            self.push(k);
        }
        let _ = self.stream.set_nonblocking(false);
    }

    /// The channel ended and the process we started exited with `status`: a local worker
    /// died; for a remote one, either the far side reported the worker's death or the
    /// connection itself failed.
    fn ended(&mut self, status: Option<Status>) -> Reply {
        // A last look: the exit line may have arrived together with the end of the stream.
        while let Some(m) = self.next_message() {
            // A user message after the worker died cannot answer anything; drop it.
            drop(m);
        }
        let Some(r) = &self.remote else {
            return Reply::Died(status);
        };
        if let Some(st) = r.exit {
            return Reply::Died(Some(st));
        }
        Reply::Lost(r.lost(status))
    }

    /// The next complete user message already received, without waiting.
    pub(crate) fn try_message(&mut self) -> Option<Vec<u8>> {
        self.next_message()
    }

    /// The next complete user message already received, if any.
    fn next_message(&mut self) -> Option<Vec<u8>> {
        if self.frames.is_some() {
            return self.next_frame();
        }
        while let Some(l) = self.dec.next_line() {
            if ipc::is_blank(l) {
                continue;
            }
            match ipc::compact(l) {
                Ok(m) if ipc::is_internal(&m) => {
                    if let Some(r) = &mut self.remote {
                        r.note(&m, &mut self.pid);
                    }
                }
                Ok(m) => {
                    if let Some(r) = &mut self.remote {
                        r.in_flight = false;
                    }
                    return Some(m.into_owned());
                }
                Err(e) => error_line(&format!(
                    "worker {}: malformed message skipped: {e}",
                    self.pid
                )),
            }
        }
        None
    }

    /// [`next_message`](Self::next_message) on an `advanced` channel: the next user message
    /// in the JSON form. A frame that does not decode is reported and skipped; a length Node
    /// could not have written loses the framing, which ends the channel for this worker.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        let pid = self.pid;
        let frames = self.frames.as_mut()?;
        while let Some(frame) = frames.next_frame() {
            let Ok(payload) = frame else {
                error_line(&format!(
                    "worker {pid}: a message of 2 GiB or more; the channel's framing is lost"
                ));
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
                *frames = ipc::v8::FrameDecoder::new();
                return None;
            };
            match ipc::v8::decode(payload) {
                Ok(v) if ipc::v8::internal_cmd(&v).is_some() => {}
                Ok(v) => return Some(ipc::v8::to_json(&v)),
                Err(e) => error_line(&format!("worker {pid}: malformed message skipped: {e}")),
            }
        }
        None
    }

    /// Give the worker `grace` to exit, then kill its group; reap it.
    fn exit_status(&mut self, grace: Duration) -> Option<Status> {
        self.child.take().map(|c| c.finish(grace))
    }

    /// Stop the worker's whole process group — the stop signal, then SIGKILL after the grace
    /// period — and reap it. A launcher gets SIGTERM and time instead: srun cancels its step
    /// on SIGTERM (a SIGKILLed srun leaves the step running), and a terminated ssh closes the
    /// channel, so the remote role sees EOF and stops its worker the same way.
    pub(crate) fn kill(&mut self) -> Option<Status> {
        let status = if self.remote.is_some() {
            if let Some(c) = &self.child {
                c.signal_group(libc::SIGTERM);
            }
            let grace = REMOTE_STOP_GRACE.saturating_add(self.kill_after.unwrap_or_default());
            self.exit_status(grace)
        } else {
            let (sig, after) = (self.stop_signal, self.kill_after);
            self.child.take().map(|c| c.stop(sig, after))
        };
        if status.is_some() {
            self.stopped = status;
        }
        status
    }

    /// Orderly end: half-close the channel (the worker sees 'disconnect'), then wait a little.
    pub(crate) fn shutdown(mut self, grace: Duration) -> Option<Status> {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        if self.remote.is_some() {
            // Read the far side's last words (its CPU time) until it hangs up.
            while let Reply::Message(_) = self.wait(Some(grace)) {}
        }
        self.exit_status(grace)
    }
}

/// Wait at most `wait_ms` (-1: no limit) until one of `fds` is readable (a negative fd is
/// ignored); which ones are, or `None` when interrupted.
fn poll3(fds: [RawFd; 3], wait_ms: i32) -> Option<[bool; 3]> {
    use crate::process::sys;
    let mut p = fds.map(|fd| sys::pollfd(fd, libc::POLLIN));
    sys::poll(&mut p, wait_ms)
        .ok()
        .map(|_| p.map(|e| e.revents != 0))
}

impl RemoteState {
    /// Take in one of the remote role's own lines.
    fn note(&mut self, m: &[u8], pid: &mut i32) {
        match serde_json::from_slice::<Note>(m) {
            Ok(Note::Hello { host, pid: p }) => {
                self.hello = true;
                self.host = Some(host);
                *pid = p;
            }
            Ok(Note::Started { pid: p }) => self.job_pid = Some(p),
            Ok(Note::Output { stream, data }) => self.output.push((stream.into(), data)),
            Ok(Note::Exit {
                code,
                signal,
                cpu_us,
            }) => {
                self.exit = Some(Note::status(code, signal));
                self.cpu += Duration::from_micros(cpu_us);
            }
            Err(_) => {}
        }
    }

    /// Why the connection ended when the process we started (the launcher) ended with
    /// `status` and the far side reported no worker death.
    fn lost(&self, status: Option<Status>) -> Lost {
        let l = self.launcher;
        let code = |c: u8| Some(Status::Exited(i32::from(c)));
        match status {
            st if st == code(Exit::SSH_FAILED) && l == "ssh" => Lost::retry(format!(
                "ssh could not connect, or the connection was lost (exit {})",
                Exit::SSH_FAILED
            )),
            st if st == code(Exit::NOT_FOUND) && !self.hello => {
                Lost::hopeless("the remote childproc was not found (see --remote-childproc)")
            }
            st if st == code(Exit::FAILURE) && !self.hello && l == "ssh" => Lost::hopeless(
                "the remote childproc refused cluster-remote: another version? (see --remote-childproc)",
            ),
            st if st == code(Exit::NOT_EXECUTABLE) && !self.hello => {
                Lost::hopeless("the remote childproc is not executable (see --remote-childproc)")
            }
            Some(Status::Exited(c)) => Lost::retry(format!("{l} exited with code {c}")),
            Some(Status::Signaled(n)) => Lost::retry(format!(
                "{l} was killed by {}",
                crate::values::Signal::name_of(n).unwrap_or("a signal")
            )),
            None => Lost::retry(format!("{l} closed the connection")),
        }
    }
}

impl Worker for IpcWorker {
    fn send(&mut self, msg: &[u8]) -> bool {
        IpcWorker::send(self, msg)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Reply {
        IpcWorker::wait(self, timeout)
    }

    fn wait_output(&mut self, timeout: Option<Duration>, out: &mut dyn process::Sink) -> Reply {
        self.wait_passing(timeout, Some(out))
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn stopped_by(&self) -> i32 {
        match self.stopped {
            Some(Status::Signaled(n)) => n,
            _ => 0,
        }
    }

    fn remote_host(&self) -> Option<&str> {
        self.remote.as_ref().and_then(|r| r.host.as_deref())
    }

    fn job_pid(&self) -> Option<i32> {
        self.remote.as_ref().and_then(|r| r.job_pid)
    }

    fn remote_cpu(&self) -> Duration {
        self.remote.as_ref().map_or(Duration::ZERO, |r| r.cpu)
    }

    fn set_stop(&mut self, limits: &process::Limits) {
        self.stop_signal = limits.kill_signal.number();
        self.kill_after = limits.kill_after;
    }

    fn shutdown(self: Box<Self>, grace: Duration) {
        let _ = IpcWorker::shutdown(*self, grace);
    }
}

impl Drop for IpcWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A job for an `advanced` worker: the input's JSON (tagged form honoured) as a frame; an
/// input whose tags do not describe a value goes as the string it is.
fn advanced_frame(msg: &[u8]) -> Vec<u8> {
    ipc::v8::json_to_frame(msg).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(msg);
        ipc::v8::json_to_frame(
            serde_json::Value::String(text.into_owned())
                .to_string()
                .as_bytes(),
        )
        .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(launcher: &'static str, hello: bool) -> RemoteState {
        RemoteState {
            launcher,
            hello,
            ..RemoteState::default()
        }
    }

    #[test]
    fn why_a_connection_ended() {
        let exited = |c| Some(Status::Exited(c));
        let lost = remote("ssh", false).lost(exited(255));
        assert!(!lost.hopeless && lost.why.contains("exit 255"), "{lost:?}");
        let lost = remote("ssh", false).lost(exited(125));
        assert!(
            lost.hopeless && lost.why.contains("another version"),
            "{lost:?}"
        );
        // srun's own 125 is not a refused role; after a hello, 127 is no missing binary.
        let lost = remote("srun", false).lost(exited(125));
        assert!(
            !lost.hopeless && lost.why == "srun exited with code 125",
            "{lost:?}"
        );
        let lost = remote("ssh", true).lost(exited(127));
        assert!(!lost.hopeless, "{lost:?}");
        assert!(remote("srun", false).lost(exited(127)).hopeless);
        assert!(remote("srun", false).lost(exited(126)).hopeless);
        let lost = remote("ssh", true).lost(None);
        assert_eq!(lost.why, "ssh closed the connection");
    }

    #[test]
    fn the_remote_sides_notes_are_taken_in() {
        let mut r = remote("ssh", false);
        let mut pid = 0;
        r.note(
            br#"{"cmd":"NODE_CHILDPROC_HELLO","host":"n1","pid":42}"#,
            &mut pid,
        );
        assert!(r.hello && pid == 42 && r.host.as_deref() == Some("n1"));
        r.note(br#"{"cmd":"NODE_CHILDPROC_STARTED","pid":7}"#, &mut pid);
        assert_eq!(r.job_pid, Some(7));
        r.note(
            br#"{"cmd":"NODE_CHILDPROC_EXIT","code":null,"signal":9,"cpuUs":5}"#,
            &mut pid,
        );
        assert_eq!(r.exit, Some(Status::Signaled(9)));
        assert_eq!(r.cpu, Duration::from_micros(5));
        r.note(br#"{"cmd":"NODE_SOMETHING_ELSE"}"#, &mut pid);
        assert_eq!(pid, 42);
    }
}
