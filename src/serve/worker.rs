//! One worker process: how it is started (socket activation, IPC channel, notify socket,
//! piped output) and the descriptors the pool's `poll` loop watches for it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::events::Who;
use super::notify::NotifySocket;
use crate::ipc::{self, Incoming, MessageReader};
use crate::output::{LineFormat, Lines};
use crate::process::{self, Input, Output, Running, Sink, SpawnError, Spec, Status, Stream};

/// What every worker of the pool is started with (from the command line).
#[derive(Debug)]
pub struct Recipe {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: Option<std::path::PathBuf>,
    pub env_clear: bool,
    pub env: Vec<(OsString, OsString)>,
    /// `None`: workers inherit our stdout/stderr.
    pub prefix: Option<String>,
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Started, not ready yet; a replacement must be ready by the deadline.
    Starting {
        deadline: Option<Instant>,
    },
    Ready,
    /// Asked to stop; SIGKILL at `kill_at` (`None`: never).
    Stopping {
        kill_at: Option<Instant>,
        killed: bool,
    },
}

/// Something a worker said on its channel.
#[derive(Debug)]
pub enum Note {
    /// The user message `'ready'` (pm2's `process.send('ready')`).
    ReadyMessage,
    /// One of Node's internal messages (`NODE_CLUSTER`, `NODE_HANDLE_ACK`, …), compact JSON.
    Internal(Vec<u8>),
}

/// A running worker and everything of it we watch.
/// How long a write to a worker's channel may block before the worker counts as stuck.
const STALLED_CHANNEL: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Worker {
    pub who: Who,
    pub phase: Phase,
    pub started: Instant,
    child: Option<Running>,
    pub channel: UnixStream,
    reader: Option<MessageReader<DontWait>>,
    outs: [Option<OwnedFd>; 2],
    lines: Option<Lines>,
    pub notify: Option<NotifySocket>,
    /// Connections handed to it (round-robin mode).
    pub handed: u64,
    /// It said it was ready itself (not merely started): it got as far as serving.
    pub signalled_ready: bool,
    /// It spoke Node's cluster protocol (`online`): it is stopped with `disconnect`.
    pub node: bool,
    /// A handle message sent and not acknowledged yet (Node queues everything after it), with
    /// how often it was sent.
    unacked: Option<(Vec<u8>, OwnedFd, u8)>,
    outbox: std::collections::VecDeque<(Vec<u8>, Option<OwnedFd>)>,
}

/// A non-blocking `Read` over the channel, while writes on it stay blocking.
struct DontWait(UnixStream);

impl Read for DontWait {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::process::sys::recv_dontwait(self.0.as_raw_fd(), buf)
    }
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> SpawnError + '_ {
    move |source| SpawnError::Io {
        what: what.to_string(),
        source,
    }
}

/// A pipe for one output stream: our non-blocking read end, the child's write end.
fn output_pipe() -> Result<(OwnedFd, File), SpawnError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io_err("cannot create a pipe")(e.into()))?;
    nix::fcntl::fcntl(
        &r,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| io_err("cannot set up a pipe")(e.into()))?;
    Ok((r, File::from(w)))
}

impl Worker {
    /// Start worker `id` of `slot` with the listening sockets on 3.. and the channel after them.
    pub fn start(
        recipe: &Recipe,
        id: u32,
        slot: usize,
        listeners: &[super::listen::Listener],
        notify: Option<NotifySocket>,
    ) -> Result<Worker, SpawnError> {
        let mut spec = Spec::new(recipe.program.clone(), recipe.args.clone());
        spec.cwd = recipe.cwd.clone();
        spec.env_clear = recipe.env_clear;
        spec.env = recipe.env.clone();
        spec.stdin = Input::Null;
        for l in listeners {
            spec.fds
                .push(l.fd.try_clone().map_err(io_err("cannot share a socket"))?);
        }
        let (parent, child_end) =
            ipc::socketpair().map_err(io_err("cannot create the IPC socketpair"))?;
        // Our writes to a worker block (they are whole messages); a worker that has stopped
        // reading its channel with the buffer full must not stall the pool's one thread.
        parent
            .set_write_timeout(Some(STALLED_CHANNEL))
            .map_err(io_err("cannot set the channel's write timeout"))?;
        spec.fds.push(child_end);
        set_env(&mut spec, id, listeners, notify.as_ref());
        let mut outs = [None, None];
        if recipe.prefix.is_some() {
            let (r1, w1) = output_pipe()?;
            let (r2, w2) = output_pipe()?;
            spec.stdout = Output::File(w1);
            spec.stderr = Output::File(w2);
            outs = [Some(r1), Some(r2)];
        }
        let child = process::spawn(spec)?;
        let who = Who {
            id,
            slot,
            pid: child.pid,
        };
        let lines = recipe
            .prefix
            .as_deref()
            .map(|t| Lines::new(LineFormat::Prefix(expand(t, &who).into_bytes())));
        let reader = parent
            .try_clone()
            .ok()
            .map(DontWait)
            .map(MessageReader::new);
        Ok(Worker {
            who,
            phase: Phase::Starting { deadline: None },
            started: child.started,
            child: Some(child),
            channel: parent,
            reader,
            outs,
            lines,
            notify,
            handed: 0,
            signalled_ready: false,
            node: false,
            unacked: None,
            outbox: std::collections::VecDeque::new(),
        })
    }

    /// Send one message line (its `\n` included), with a descriptor attached or not. After a
    /// handle, later handles wait for its acknowledgement (the receiver takes one descriptor
    /// per message read); a plain message goes out at once, since lines are read in order.
    pub fn send(&mut self, line: Vec<u8>, fd: Option<OwnedFd>) {
        if self.unacked.is_some() && fd.is_some() {
            self.outbox.push_back((line, fd));
            return;
        }
        self.write(line, fd);
    }

    fn write(&mut self, line: Vec<u8>, fd: Option<OwnedFd>) {
        use std::io::Write;
        // A failed write means the worker is going away; its exit is handled as such.
        let written = match fd {
            Some(fd) => {
                let r = crate::ipc::send_with_fd(&self.channel, &line, fd.as_fd());
                self.unacked = Some((line, fd, 1));
                r
            }
            None => (&self.channel).write_all(&line),
        };
        if let Err(e) = written
            && matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            self.stalled();
        }
    }

    /// The worker has not read its channel for [`STALLED_CHANNEL`] with the buffer full: it
    /// is stuck. Killed, so the pool restarts it (its exit is handled as any other).
    fn stalled(&mut self) {
        crate::error_line(&format!(
            "worker {} (pid {}): its channel was not read for {}s; killing it",
            self.who.id,
            self.who.pid,
            STALLED_CHANNEL.as_secs()
        ));
        if let Some(c) = &self.child {
            c.signal_group(libc::SIGKILL);
        }
    }

    /// `NODE_HANDLE_ACK`: the handle arrived; what was queued behind it goes out.
    pub fn on_handle_ack(&mut self) {
        self.unacked = None;
        while self.unacked.is_none()
            && let Some((line, fd)) = self.outbox.pop_front()
        {
            self.write(line, fd);
        }
    }

    /// `NODE_HANDLE_NACK`: the descriptor did not arrive; resend, at most three times (Node's rule).
    pub fn on_handle_nack(&mut self) {
        match self.unacked.take() {
            Some((line, fd, n)) if n < 3 => {
                let _ = crate::ipc::send_with_fd(&self.channel, &line, fd.as_fd());
                self.unacked = Some((line, fd, n + 1));
            }
            Some(_) => {
                crate::error_line(&format!(
                    "worker {}: a handle was refused three times; dropped",
                    self.who.id
                ));
                self.on_handle_ack();
            }
            None => {}
        }
    }

    /// Readable once the worker has exited.
    pub fn exit_fd(&self) -> Option<RawFd> {
        self.child.as_ref().map(Running::exit_fd)
    }

    /// The channel while it is open (for reading).
    pub fn channel_fd(&self) -> Option<RawFd> {
        self.reader.as_ref().map(|_| self.channel.as_raw_fd())
    }

    /// The output pipes still open, with their stream.
    pub fn output_fds(&self) -> impl Iterator<Item = (RawFd, Stream)> + '_ {
        self.outs
            .iter()
            .zip([Stream::Stdout, Stream::Stderr])
            .filter_map(|(fd, s)| fd.as_ref().map(|fd| (fd.as_raw_fd(), s)))
    }

    /// Move what the worker wrote on `stream` to our output, line by line.
    pub fn pump(&mut self, stream: Stream) {
        let i = stream as usize;
        let mut buf = [0u8; 64 * 1024];
        for _ in 0..16 {
            let Some(fd) = &self.outs[i] else { return };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EBADF) => {
                    self.outs[i] = None;
                    if let Some(l) = &mut self.lines {
                        l.eof(stream);
                    }
                    return;
                }
                Ok(n) => {
                    if let Some(l) = &mut self.lines {
                        l.data(stream, &buf[..n]);
                    }
                    if n < buf.len() {
                        return;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return, // EAGAIN: all read for now
            }
        }
    }

    /// Write the complete lines gathered so far (before the loop blocks).
    pub fn flush_output(&mut self) {
        if let Some(l) = &mut self.lines {
            l.flush();
        }
    }

    /// Read what arrived on the channel; the messages the pool cares about.
    pub fn read_channel(&mut self) -> Vec<Note> {
        let mut notes = Vec::new();
        let Some(r) = &mut self.reader else {
            return notes;
        };
        let open = loop {
            match r.fill() {
                Ok(0) => break false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
            while let Some(line) = r.buffered_line() {
                match ipc::classify(line) {
                    Incoming::Message(m) if &*m == b"\"ready\"" => notes.push(Note::ReadyMessage),
                    Incoming::Internal(m) => notes.push(Note::Internal(m.into_owned())),
                    _ => {}
                }
            }
        };
        if !open {
            self.reader = None;
        }
        notes
    }

    /// Signal the worker's whole process group.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            c.signal_group(sig);
        }
    }

    /// The exit status once the worker has exited (it stays unreaped until [`Worker::reap`]).
    pub fn exited(&self) -> Option<Status> {
        self.child.as_ref().and_then(Running::exited)
    }

    /// The worker has exited: take down what is left of its group, reap it, and pass on the
    /// output it wrote before it died.
    pub fn reap(&mut self) -> Option<Status> {
        let status = self.child.take()?.finish(Duration::ZERO);
        let until = Instant::now() + Duration::from_millis(200);
        while self.outs.iter().any(Option::is_some) && Instant::now() < until {
            self.pump(Stream::Stdout);
            self.pump(Stream::Stderr);
            if self.outs.iter().any(Option::is_some) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if let Some(l) = &mut self.lines {
            l.finish();
        }
        Some(status)
    }
}

/// The worker's variables: socket activation, the channel, its cluster id, sd_notify.
fn set_env(
    spec: &mut Spec,
    id: u32,
    listeners: &[super::listen::Listener],
    n: Option<&NotifySocket>,
) {
    let mut put = |k: &str, v: String| spec.env.push((k.into(), v.into()));
    if !listeners.is_empty() {
        put("LISTEN_FDS", listeners.len().to_string());
        let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        put("LISTEN_FDNAMES", names.join(":"));
    }
    put(ipc::CHANNEL_FD_ENV, (3 + listeners.len()).to_string());
    put(ipc::SERIALIZATION_ENV, "json".into());
    put("NODE_UNIQUE_ID", id.to_string());
    if let Some(n) = n {
        put("NOTIFY_SOCKET", n.path.to_string_lossy().into_owned());
    }
    spec.listen_pid = !listeners.is_empty();
}

/// The `--prefix` template for one worker: `{id}`, `{slot}` and `{pid}` replaced.
pub fn expand(template: &str, who: &Who) -> String {
    template
        .replace("{id}", &who.id.to_string())
        .replace("{slot}", &who.slot.to_string())
        .replace("{pid}", &who.pid.to_string())
}
