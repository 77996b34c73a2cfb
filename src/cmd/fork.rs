//! `childproc fork`: start a child with a Node.js IPC channel on fd 3 and relay JSON messages —
//! `--send` values and stdin lines to the child, the child's messages to stdout — while the
//! engine supervises the child (timeout, signals, exit status).
//!
//! Reading and writing run on two threads so neither side can block the other with full socket
//! buffers (Node's `send()` never blocks, so a Node child may write a huge burst at any time).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{base_spec, limits, report};
use crate::cli::ForkArgs;
use crate::error_line;
use crate::exit::Exit;
use crate::ipc;
use crate::process::{self, Input, Output, supervise};

const CHUNK: usize = 256 * 1024;

/// After input ends, the channel is half-closed only once the child has read everything we
/// sent and then been quiet this long (plus [`QUIET_PER_MIB`] for the largest message).
///
/// A Node child closes its channel the moment it reads end-of-file: a reply it has not sent
/// yet fails (ERR_IPC_CHANNEL_CLOSED), and replies still queued in libuv are dropped (seen:
/// 196k of 200k echoes lost when half-closing right after the last send). So we wait until the
/// child has consumed our input (the socket's send queue is empty), we sit in read(2), and
/// nothing arrives for a while: time for a handler to answer, even after a short await.
const QUIET: Duration = Duration::from_millis(200);

/// Extra quiet time per MiB of the largest message sent: parsing a big message and building
/// its answer takes a Node child about that long before the first byte comes back.
const QUIET_PER_MIB: Duration = Duration::from_millis(100);

/// A child that never stops talking is half-closed anyway this long after it consumed our
/// input (at least), so a heartbeat cannot keep the run alive forever.
const CHATTY_CAP: Duration = Duration::from_secs(2);

/// What the reader thread is doing, for the writer's decision to half-close.
#[derive(Default)]
struct Activity {
    /// Total bytes received from the child.
    bytes: AtomicU64,
    /// The reader is blocked in read(2) (not busy printing).
    waiting: AtomicBool,
    /// The child closed the channel.
    closed: AtomicBool,
    /// Writing a message to our stdout failed: 1 = EPIPE (quiet end), 2 = another error.
    out_failed: std::sync::atomic::AtomicU8,
}

pub fn run(a: ForkArgs) -> anyhow::Result<Exit> {
    let limits = limits(&a.run);
    let (program, args) = child_command(a.command, &a.node)?;
    let mut spec = base_spec(program.clone(), args, &a.run);
    let (parent, child_end) = ipc::socketpair().context("cannot create the IPC socketpair")?;
    for (k, v) in ipc::child_env() {
        spec.env.push((k.into(), v.into()));
    }
    spec.fd3 = Some(child_end);
    spec.stdin = Input::Null;
    // The child's stdout goes to our stderr: our stdout carries nothing but its messages.
    let err = std::io::stderr().as_fd().try_clone_to_owned();
    spec.stdout = Output::File(err.context("cannot duplicate stderr")?.into());
    spec.stderr = Output::Inherit;

    let child = process::spawn(spec)?;

    let activity = Arc::new(Activity::default());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let stream = parent.try_clone().context("cannot clone the IPC socket")?;
        let activity = Arc::clone(&activity);
        std::thread::spawn(move || {
            relay_from_child(stream, &activity);
            activity.closed.store(true, Ordering::SeqCst);
            let _ = done_tx.send(());
        })
    };
    let invalid_input = Arc::new(AtomicBool::new(false));
    let writer_done = Arc::new(AtomicBool::new(false));
    {
        let stream = parent.try_clone().context("cannot clone the IPC socket")?;
        let invalid_input = Arc::clone(&invalid_input);
        let writer_done = Arc::clone(&writer_done);
        let activity = Arc::clone(&activity);
        let sends = a.send;
        // Detached on purpose: it may be blocked reading a terminal when the child is gone.
        std::thread::spawn(move || {
            relay_to_child(stream, sends, &invalid_input, &activity);
            writer_done.store(true, Ordering::SeqCst);
        });
    }

    let outcome = supervise(child, &limits, &mut process::NoOutput);

    // Everything the child sent before it exited is still in the socket: read it all. Only a
    // descendant that inherited the channel could keep it open; stop once reading stalls.
    let mut last = u64::MAX;
    loop {
        match done_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let now = activity.bytes.load(Ordering::SeqCst);
                if now == last {
                    let _ = parent.shutdown(std::net::Shutdown::Both);
                }
                last = now;
            }
        }
    }
    let _ = reader.join();

    match activity.out_failed.load(Ordering::SeqCst) {
        0 => {}
        // Our reader went away: end quietly, as a shell pipeline expects.
        1 => return Ok(Exit::Signal(libc::SIGPIPE)),
        _ => return Ok(Exit::Failure), // already said why, in one line
    }
    report(&outcome, &program, &limits, None);
    if invalid_input.load(Ordering::SeqCst) {
        return Ok(Exit::Failure);
    }
    Ok(outcome.exit(a.run.preserve_status))
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

/// Print every user message from the child on stdout, one compact JSON line each, in order.
fn relay_from_child(mut stream: UnixStream, activity: &Activity) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(CHUNK, stdout.lock());
    let mut out_ok = true;
    let mut dec = ipc::LineDecoder::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        activity.waiting.store(true, Ordering::SeqCst);
        let r = stream.read(&mut buf);
        activity.waiting.store(false, Ordering::SeqCst);
        let n = match r {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        activity.bytes.fetch_add(n as u64, Ordering::SeqCst);
        dec.push(&buf[..n]);
        while let Some(line) = dec.next_line() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match ipc::compact(line) {
                Ok(msg) if ipc::is_internal(&msg) => {}
                Ok(msg) => {
                    if out_ok
                        && let Err(e) = out.write_all(&msg).and_then(|()| out.write_all(b"\n"))
                    {
                        out_ok = false;
                        output_failed(activity, &e);
                    }
                }
                Err(e) => error_line(&format!("the child sent a malformed message, skipped: {e}")),
            }
        }
        if out_ok && let Err(e) = out.flush() {
            out_ok = false;
            output_failed(activity, &e);
        }
    }
    if dec.has_partial() {
        error_line(
            "the child closed the channel in the middle of a message; the partial message was dropped",
        );
    }
    let _ = out.flush();
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

/// Bytes we wrote that the child has not read yet (SIOCOUTQ on a unix socket).
fn unread_by_child(stream: &UnixStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int for a socket we own.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if r < 0 { 0 } else { n.max(0) as usize }
}

/// Wait until the child has read all our input and then been quiet (see [`QUIET`]); a child
/// that keeps talking is cut off after [`CHATTY_CAP`] (or twice the quiet time, if longer).
fn wait_until_quiet(activity: &Activity, stream: &UnixStream, largest: usize) {
    let mib = (largest >> 20).min(50) as u32;
    let quiet = QUIET + QUIET_PER_MIB * mib;
    let cap = CHATTY_CAP.max(quiet * 2);
    let mut last_bytes = activity.bytes.load(Ordering::SeqCst);
    let mut quiet_since = Instant::now();
    let mut consumed_at: Option<Instant> = None;
    while !activity.closed.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
        let unread = unread_by_child(stream);
        if unread == 0 && consumed_at.is_none() {
            consumed_at = Some(Instant::now());
        }
        let bytes = activity.bytes.load(Ordering::SeqCst);
        if unread > 0 || bytes != last_bytes || !activity.waiting.load(Ordering::SeqCst) {
            last_bytes = bytes;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= quiet {
            return;
        }
        if consumed_at.is_some_and(|t| t.elapsed() >= cap) {
            return;
        }
    }
}

/// Send `--send` values, then each non-blank stdin line; half-close when input ends.
fn relay_to_child(
    stream: UnixStream,
    sends: Vec<String>,
    invalid: &AtomicBool,
    activity: &Activity,
) {
    let mut w = std::io::BufWriter::with_capacity(CHUNK, &stream);
    let largest = std::cell::Cell::new(sends.iter().map(String::len).max().unwrap_or(0));
    let closed = |line_no: Option<u64>| match line_no {
        Some(n) => error_line(&format!(
            "the child closed the IPC channel; stopped sending at stdin line {n}"
        )),
        None => error_line("the child closed the IPC channel before all --send messages were sent"),
    };
    for s in &sends {
        if w.write_all(s.as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .is_err()
        {
            closed(None);
            return;
        }
    }
    if w.flush().is_err() {
        closed(None);
        return;
    }
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    let mut line_no = 0u64;
    let send_line = |w: &mut std::io::BufWriter<&UnixStream>, line: &[u8], line_no: u64| -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        match ipc::compact(line) {
            Ok(msg) => {
                largest.set(largest.get().max(msg.len()));
                w.write_all(&msg).and_then(|()| w.write_all(b"\n")).is_ok()
            }
            Err(e) => {
                error_line(&format!(
                    "stdin line {line_no}: not valid JSON ({e}); not sent"
                ));
                invalid.store(true, Ordering::SeqCst);
                true
            }
        }
    };
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut data = &buf[..n];
        if !pending.is_empty() {
            match memchr::memchr(b'\n', data) {
                None => {
                    pending.extend_from_slice(data);
                    continue;
                }
                Some(nl) => {
                    pending.extend_from_slice(&data[..nl]);
                    line_no += 1;
                    let line = std::mem::take(&mut pending);
                    if !send_line(&mut w, &line, line_no) {
                        closed(Some(line_no));
                        return;
                    }
                    data = &data[nl + 1..];
                }
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', data) {
            line_no += 1;
            if !send_line(&mut w, &data[..nl], line_no) {
                closed(Some(line_no));
                return;
            }
            data = &data[nl + 1..];
        }
        pending.extend_from_slice(data);
        if w.flush().is_err() {
            closed(Some(line_no));
            return;
        }
    }
    if !pending.is_empty() {
        line_no += 1;
        let line = std::mem::take(&mut pending);
        if !send_line(&mut w, &line, line_no) {
            closed(Some(line_no));
            return;
        }
    }
    if w.flush().is_err() {
        closed(Some(line_no));
        return;
    }
    drop(w);
    wait_until_quiet(activity, &stream, largest.get());
    // Half-close: the child sees end of input ('disconnect' in Node) but can still answer.
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
