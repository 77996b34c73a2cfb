//! `childproc fork`: start a child with a Node.js IPC channel on fd 3 and relay JSON messages —
//! `--send` values and stdin lines to the child, the child's messages to stdout — while the
//! engine supervises the child (timeout, signals, exit status).
//!
//! Reading and writing run on two threads so neither side can block the other with full socket
//! buffers (Node's `send()` never blocks, so a Node child may write a huge burst at any time).
//! The engine also waits for the channel itself: the reader thread holds the write end of a
//! pipe the engine watches and drops it when the channel closes, so a descendant that keeps
//! the channel open is under `--timeout` and signals like one that keeps a stdout pipe open.

mod frames;
mod handle;
mod outbox;
mod quiet;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use anyhow::Context;

use super::{base_spec, limits, report};
use crate::cli::ForkArgs;
use crate::error_line;
use crate::exit::Exit;
use crate::ipc::{self, FdReader, MessageReader};
use crate::process::{self, Input, Output, supervise};
use outbox::{LineBuf, Outbox};

const CHUNK: usize = 256 * 1024;

/// Descriptors a child may leave queued (sent without a handle message) before we close them.
const MAX_QUEUED_FDS: usize = 256;

pub use crate::values::Disconnect;

/// What the reader thread is doing, for the writer's decision to half-close.
#[derive(Default)]
struct Activity {
    /// Total bytes received from the child.
    bytes: AtomicU64,
    /// User messages received from the child.
    messages: AtomicU64,
    /// The reader is blocked in recvmsg(2) (not busy printing).
    waiting: AtomicBool,
    /// The child closed the channel.
    closed: AtomicBool,
    /// Part of a message has arrived and the rest has not (yet).
    partial: AtomicBool,
    /// Writing a message to our stdout failed: 1 = EPIPE (quiet end), 2 = another error.
    out_failed: AtomicU8,
    /// Answers to handles we sent: `NODE_HANDLE_ACK`s and `NODE_HANDLE_NACK`s received.
    acks: AtomicU64,
    nacks: AtomicU64,
}

pub fn run(a: ForkArgs) -> anyhow::Result<Exit> {
    let limits = limits(&a.run);
    let (program, args) = child_command(a.command, &a.node)?;
    let mut spec = base_spec(program.clone(), args, &a.run);
    let (parent, child_end) = ipc::socketpair().context("cannot create the IPC socketpair")?;
    let ser = a.serialization;
    // --send values are checked (and framed) before anything starts; so is the socket.
    let sends = encode_sends(&a.send, ser)?;
    // Kept for the whole run: a unix socket's path is removed when its listener goes.
    let server = server_handle(a.listen.as_ref(), a.send_server.as_deref(), ser)?.map(Arc::new);
    let _server_kept = server.clone();
    for (k, v) in ipc::child_env_for(ser) {
        spec.env.push((k.into(), v.into()));
    }
    spec.fd3 = Some(child_end);
    spec.stdin = Input::Null;
    // The child's stdout goes to our stderr: our stdout carries nothing but its messages.
    let err = std::io::stderr().as_fd().try_clone_to_owned();
    spec.stdout = Output::File(err.context("cannot duplicate stderr")?.into());
    spec.stderr = Output::Inherit;
    // Close-on-exec: the child never holds the write end, so only our reader decides EOF.
    let (held, channel_open) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    // Everything that can fail is done before the child exists.
    let clone = || parent.try_clone().context("cannot clone the IPC socket");
    let (for_reader, for_outbox, for_watch) = (clone()?, clone()?, clone()?);

    let mut child = process::spawn(spec)?;
    child.hold_until_eof(held);
    let pid = child.pid;

    let activity = Arc::new(Activity::default());
    let outbox = Arc::new(Outbox::new(for_outbox));
    let reader = spawn_reader(for_reader, &activity, &outbox, channel_open, ser);
    let invalid_input = Arc::new(AtomicBool::new(false));
    {
        let invalid_input = Arc::clone(&invalid_input);
        let activity = Arc::clone(&activity);
        let mode = a.disconnect;
        // Detached on purpose: it may be blocked reading a terminal when the child is gone.
        std::thread::spawn(move || {
            if let Some(s) = &server
                && !handle::send(&outbox, &activity, &s.0, s.1.fd.as_fd())
            {
                return; // the child closed the channel: nothing more to send
            }
            relay_to_child(&outbox, sends, ser, &invalid_input, &activity, mode, pid);
        });
    }
    {
        let activity = Arc::clone(&activity);
        std::thread::spawn(move || quiet::end_stalled_channel(&activity, &for_watch, pid));
    }

    let outcome = supervise(child, &limits, &mut process::NoOutput);
    if !reader.is_finished() {
        // The group was killed, yet something outside it still holds the channel.
        let _ = parent.shutdown(std::net::Shutdown::Both);
    }
    let _ = reader.join();
    if activity.out_failed.load(Ordering::SeqCst) == 0 {
        report(&outcome, &program, &limits, None);
    }
    Ok(exit_code(
        &outcome,
        &activity,
        &invalid_input,
        a.run.preserve_status,
    ))
}

/// The exit code of a finished run (the diagnostics are already printed).
fn exit_code(
    outcome: &process::Outcome,
    activity: &Activity,
    invalid_input: &AtomicBool,
    preserve_status: bool,
) -> Exit {
    match activity.out_failed.load(Ordering::SeqCst) {
        0 => {}
        // Our reader went away: end quietly, as a shell pipeline expects.
        1 => return Exit::Signal(libc::SIGPIPE),
        _ => return Exit::Failure, // already said why, in one line
    }
    if invalid_input.load(Ordering::SeqCst) {
        return Exit::Failure;
    }
    outcome.exit(preserve_status)
}

/// Start the reader thread; it drops `channel_open` (ending the engine's wait) when done.
fn spawn_reader(
    stream: UnixStream,
    activity: &Arc<Activity>,
    outbox: &Arc<Outbox>,
    channel_open: OwnedFd,
    ser: ipc::Serialization,
) -> std::thread::JoinHandle<()> {
    let activity = Arc::clone(activity);
    let outbox = Arc::clone(outbox);
    std::thread::spawn(move || {
        match ser {
            ipc::Serialization::Json => relay_from_child(&stream, &activity, &outbox),
            ipc::Serialization::Advanced => frames::relay_from_child(&stream, &activity, &outbox),
        }
        activity.closed.store(true, Ordering::SeqCst);
        drop(channel_open);
    })
}

/// What to execute: the built-in echo child, a Node script under `node`, or PROGRAM as given.
fn child_command(
    mut command: Vec<OsString>,
    node: &OsString,
) -> anyhow::Result<(OsString, Vec<OsString>)> {
    if command.is_empty() {
        let me = std::env::current_exe().context("cannot locate the childproc binary")?;
        return Ok((me.into_os_string(), vec!["ipc-echo".into()]));
    }
    let program = command.remove(0);
    let lossy = program.to_string_lossy();
    if [".js", ".mjs", ".cjs"]
        .iter()
        .any(|ext| lossy.ends_with(ext))
    {
        let mut args = vec![program];
        args.extend(command);
        return Ok((node.clone(), args));
    }
    Ok((program, command))
}

/// Where the reader writes the child's messages: our stdout, until it fails once.
struct Printer<'a> {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    ok: bool,
    activity: &'a Activity,
}

impl Printer<'_> {
    /// Count an ACK or NACK of a handle we sent (the writer waits for them).
    fn answer(&self, internal: &[u8]) {
        if internal == ipc::HANDLE_ACK {
            self.activity.acks.fetch_add(1, Ordering::SeqCst);
        } else if internal == ipc::HANDLE_NACK {
            self.activity.nacks.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn print(&mut self, msg: &[u8]) {
        if self.ok
            && let Err(e) = self
                .out
                .write_all(msg)
                .and_then(|()| self.out.write_all(b"\n"))
        {
            self.ok = false;
            output_failed(self.activity, &e);
        }
    }

    fn flush(&mut self) {
        if self.ok
            && let Err(e) = self.out.flush()
        {
            self.ok = false;
            output_failed(self.activity, &e);
        }
    }
}

/// What one line from the child turned out to be, once printed.
enum Line {
    Done,
    /// A `NODE_HANDLE` envelope: answer it, with this kind of handle (its `msg` printed).
    Handle(Option<String>),
}

/// Print every user message from the child on stdout, one compact JSON line each, in order;
/// answer handle messages as Node does.
fn relay_from_child(stream: &UnixStream, activity: &Activity, outbox: &Outbox) {
    let mut p = Printer {
        out: std::io::BufWriter::with_capacity(CHUNK, std::io::stdout().lock()),
        ok: true,
        activity,
    };
    let mut r = MessageReader::with_chunk(CHUNK, FdReader::new(stream));
    let mut line_no = 0u64;
    loop {
        let mut messages = 0u64;
        loop {
            let fd_ready = !r.get_ref().fds.is_empty();
            let event = match r.buffered_line() {
                None => break,
                Some(line) => {
                    line_no += 1;
                    deliver(line, line_no, fd_ready, &mut p, &mut messages)
                }
            };
            if let Line::Handle(kind) = event {
                answer_handle(
                    &mut r.get_mut().fds,
                    kind,
                    line_no,
                    outbox,
                    ipc::Serialization::Json,
                );
            }
        }
        activity.messages.fetch_add(messages, Ordering::SeqCst);
        activity.partial.store(r.has_partial(), Ordering::SeqCst);
        p.flush();
        check_fds(&mut r.get_mut().fds);
        activity.waiting.store(true, Ordering::SeqCst);
        let n = r.fill();
        activity.waiting.store(false, Ordering::SeqCst);
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => activity.bytes.fetch_add(n as u64, Ordering::SeqCst),
        };
    }
    let quiet_end = activity.out_failed.load(Ordering::SeqCst) != 0;
    if r.has_partial() && !quiet_end {
        error_line(
            "the child closed the channel in the middle of a message; the partial message was dropped",
        );
    }
    let left = r.get_mut().fds.close_all();
    if left > 0 {
        error_line(&format!(
            "the child sent {left} descriptor(s) without a handle message; closed them"
        ));
    }
    p.flush();
}

/// Print one line from the child if it is a user message; report it if it is not JSON. The
/// message of a handle envelope is delivered only with its descriptor (`fd_ready`), as Node
/// does: without one the sender is told NACK and sends it again.
fn deliver(line: &[u8], line_no: u64, fd_ready: bool, p: &mut Printer, messages: &mut u64) -> Line {
    if ipc::is_blank(line) {
        return Line::Done;
    }
    match ipc::compact_lossy(line) {
        Ok(msg) if ipc::is_internal(&msg) => match ipc::handle_message(&msg) {
            None => {
                p.answer(&msg);
                Line::Done
            }
            Some(h) => {
                if let Some(m) = h.msg.filter(|m| fd_ready && !ipc::is_internal(m)) {
                    p.print(m);
                    *messages += 1;
                }
                Line::Handle(h.kind)
            }
        },
        Ok(msg) => {
            p.print(&msg);
            *messages += 1;
            Line::Done
        }
        Err(e) => {
            error_line(&format!(
                "the child sent a malformed message on line {line_no}, skipped: {e}"
            ));
            Line::Done
        }
    }
}

/// Acknowledge a handle message as Node does: ACK when its descriptor came (we then close it:
/// handles are not passed on), NACK when none did (the sender tries again).
fn answer_handle(
    fds: &mut ipc::FdQueue,
    kind: Option<String>,
    line_no: u64,
    outbox: &Outbox,
    ser: ipc::Serialization,
) {
    let kind = kind.unwrap_or_else(|| "unknown".into());
    let kind = kind.escape_debug();
    match fds.pop() {
        Some(fd) => {
            // Closed before the ACK, so a sender that has its answer knows it is gone.
            drop(fd);
            outbox.control(&command(ser, "NODE_HANDLE_ACK"));
            let what = format!("the child's message on line {line_no} came with a {kind} handle");
            error_line(&format!(
                "{what}; acknowledged and closed (handles are not passed on)"
            ));
        }
        None => {
            outbox.control(&command(ser, "NODE_HANDLE_NACK"));
            let what = format!("the child's line {line_no} announced a {kind} handle");
            error_line(&format!("{what} but no descriptor came; answered NACK"));
        }
    }
}

/// `{cmd: CMD}` as one whole message in the channel's serialization.
fn command(ser: ipc::Serialization, cmd: &str) -> Vec<u8> {
    match ser {
        ipc::Serialization::Json => format!("{{\"cmd\":\"{cmd}\"}}\n").into_bytes(),
        ipc::Serialization::Advanced => ipc::v8::command_frame(cmd),
    }
}

/// `--listen` bound now, with the envelope its `--send-server` message travels in.
fn server_handle(
    listen: Option<&crate::listen::ListenAddr>,
    msg: Option<&str>,
    ser: ipc::Serialization,
) -> anyhow::Result<Option<(Vec<u8>, crate::listen::Listener)>> {
    let Some(addr) = listen else { return Ok(None) };
    let msg = msg.unwrap_or("\"server\"");
    let envelope = handle::envelope(msg, "net.Server", ser)
        .map_err(|e| crate::cmd::UsageError(format!("--send-server {msg}: cannot be sent: {e}")))?;
    let listener = crate::listen::bind(addr)?;
    error_line(&format!("fork: listening on {}", listener.local));
    Ok(Some((envelope, listener)))
}

/// `--send` values as whole messages (`json`: the compact line and its newline; `advanced`:
/// the frame of the value its JSON form describes). A value that cannot be sent is a usage
/// error, found before the child starts.
fn encode_sends(sends: &[String], ser: ipc::Serialization) -> anyhow::Result<Vec<Vec<u8>>> {
    sends
        .iter()
        .map(|m| match ser {
            ipc::Serialization::Json => Ok(format!("{m}\n").into_bytes()),
            ipc::Serialization::Advanced => ipc::v8::json_to_frame(m.as_bytes()).map_err(|e| {
                crate::cmd::UsageError(format!("--send {m}: cannot be sent as advanced: {e}"))
                    .into()
            }),
        })
        .collect()
}

/// Descriptors lost to a full control buffer, or piling up without handle messages.
fn check_fds(fds: &mut ipc::FdQueue) {
    if fds.take_truncated() {
        error_line(&format!(
            "the child sent more than {} descriptors at once; the rest were closed",
            ipc::MAX_FDS_PER_READ
        ));
    }
    if fds.len() > MAX_QUEUED_FDS {
        let n = fds.close_all();
        error_line(&format!(
            "the child sent {n} descriptors without handle messages; closed them"
        ));
    }
}

/// Our stdout failed: the child's messages have nowhere to go, so the run stops (the child's
/// group is cancelled). A closed pipe ends quietly; anything else is said once.
fn output_failed(activity: &Activity, e: &std::io::Error) {
    let broken = crate::output::is_broken_pipe(e);
    if activity
        .out_failed
        .compare_exchange(
            0,
            if broken { 1 } else { 2 },
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
    {
        if !broken {
            error_line(&format!("writing the child's messages to stdout: {e}"));
        }
        process::signals::cancel_all();
    }
}

/// The writer thread's state: messages go through `w`; `largest` sizes the quiet period.
struct Sender<'a> {
    w: LineBuf<'a>,
    ser: ipc::Serialization,
    largest: usize,
    line_no: u64,
    invalid: &'a AtomicBool,
}

impl Sender<'_> {
    /// Send one stdin line (CRLF tolerated); a line that is not JSON is reported, not sent.
    /// `Err`: the channel is closed.
    fn stdin_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.line_no += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if ipc::is_blank(line) {
            return Ok(());
        }
        let encoded = match self.ser {
            ipc::Serialization::Json => {
                ipc::compact(line).map_err(|e| format!("not valid JSON ({e})"))
            }
            ipc::Serialization::Advanced => ipc::v8::json_to_frame(line)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| format!("not a message for an advanced channel ({e})")),
        };
        match encoded {
            Ok(msg) => {
                self.largest = self.largest.max(msg.len());
                match self.ser {
                    ipc::Serialization::Json => self.w.send(&msg),
                    ipc::Serialization::Advanced => self.w.send_frame(&msg),
                }
            }
            Err(why) => {
                let n = self.line_no;
                error_line(&format!("stdin line {n}: {why}; not sent"));
                self.invalid.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    /// Every line of stdin, flushed after each read so interactive input goes out at once.
    fn stdin(&mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; CHUNK];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut data = &buf[..n];
            if !pending.is_empty() {
                let Some(nl) = memchr::memchr(b'\n', data) else {
                    pending.extend_from_slice(data);
                    continue;
                };
                pending.extend_from_slice(&data[..nl]);
                let line = std::mem::take(&mut pending);
                self.stdin_line(&line)?;
                data = &data[nl + 1..];
            }
            while let Some(nl) = memchr::memchr(b'\n', data) {
                self.stdin_line(&data[..nl])?;
                data = &data[nl + 1..];
            }
            pending.extend_from_slice(data);
            self.w.flush()?;
        }
        if !pending.is_empty() {
            self.stdin_line(&pending)?;
        }
        self.w.flush()
    }
}

/// Send `--send` values, then each non-blank stdin line; then half-close as `mode` says.
fn relay_to_child(
    outbox: &Outbox,
    sends: Vec<Vec<u8>>,
    ser: ipc::Serialization,
    invalid: &AtomicBool,
    activity: &Activity,
    mode: Disconnect,
    pid: i32,
) {
    // When our stdout went away the run is being stopped: the closed channel is no news.
    let closed = |line_no: Option<u64>| {
        if activity.out_failed.load(Ordering::SeqCst) != 0 {
            return;
        }
        match line_no {
            Some(n) => error_line(&format!(
                "the child closed the IPC channel; stopped sending at stdin line {n}"
            )),
            None => {
                error_line("the child closed the IPC channel before all --send messages were sent")
            }
        }
    };
    let mut s = Sender {
        w: LineBuf::new(outbox, CHUNK),
        ser,
        largest: sends.iter().map(Vec::len).max().unwrap_or(0),
        line_no: 0,
        invalid,
    };
    if sends.iter().try_for_each(|m| s.w.send_frame(m)).is_err() || s.w.flush().is_err() {
        closed(None);
        return;
    }
    if s.stdin().is_err() {
        closed(Some(s.line_no.max(1)));
        return;
    }
    if quiet::half_close_now(mode, activity, &outbox.stream, pid, s.largest) {
        // The child sees end of input ('disconnect' in Node) but can still answer.
        outbox.shutdown_write();
    }
}
