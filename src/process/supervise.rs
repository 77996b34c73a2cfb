//! The supervisor: one `poll(2)` loop that moves the child's output to a [`Sink`], feeds its
//! stdin, forwards childproc's signals, and enforces the timeout, the output limit and the
//! SIGKILL escalation, until the child has exited and its pipes are drained.
//!
//! The loop is a [`Supervisor`] with one method per event; why it stopped the child is one
//! [`StopCauses`] value, from which the [`Outcome`] is derived.
#![deny(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::signals::{self, Seen, Waker};
use super::{Limits, Outcome, Running, Status, StopCause, StopCauses, sys};

/// One of the child's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What a sink says after taking bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkResult {
    Continue,
    /// The stream went over its limit: stop the child.
    Overflow,
    /// Our own output is gone (EPIPE): stop the child, quietly.
    Closed,
}

/// Receives the child's piped output. Implementations decide what "too much" means.
pub trait Sink {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult;
    /// The stream reached end of file.
    fn eof(&mut self, _stream: Stream) -> SinkResult {
        SinkResult::Continue
    }
    /// Called before the loop blocks, so buffered output appears live.
    fn flush(&mut self) -> SinkResult {
        SinkResult::Continue
    }
}

/// A sink for children whose output is not piped.
pub struct NoOutput;

impl Sink for NoOutput {
    fn data(&mut self, _: Stream, _: &[u8]) -> SinkResult {
        SinkResult::Continue
    }
}

const READ_CHUNK: usize = 64 * 1024;

/// How often (ms) a child that owns the terminal is checked for having been stopped.
const STOP_CHECK_MS: i32 = 50;

/// Reads per readable event: a bounded share, so one chatty stream cannot starve the others.
const ROUNDS_LIVE: usize = 16;
/// Reads per stream when everyone who could still write has been killed.
const ROUNDS_DRAIN: usize = 64;

const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

/// Watch `child` until it has exited and its piped output is drained; return what happened.
pub fn supervise(child: Running, limits: &Limits, sink: &mut dyn Sink) -> Outcome {
    Supervisor::new(child, limits, sink).run()
}

/// What a polled descriptor is, so its event goes to the right method.
#[derive(Clone, Copy)]
enum Role {
    Pid,
    Signal,
    Out(usize),
    In,
    Hold,
}

/// The descriptors of one poll, on the stack (at most one per [`Role`] and stream).
struct PollSet {
    fds: [libc::pollfd; 6],
    roles: [Role; 6],
    len: usize,
}

impl PollSet {
    fn new() -> PollSet {
        PollSet {
            fds: [sys::pollfd(-1, 0); 6],
            roles: [Role::Pid; 6],
            len: 0,
        }
    }

    fn add(&mut self, fd: RawFd, events: i16, role: Role) {
        self.fds[self.len] = sys::pollfd(fd, events);
        self.roles[self.len] = role;
        self.len += 1;
    }

    /// Poll; false when interrupted by a signal (poll again).
    fn wait(&mut self, timeout_ms: i32) -> bool {
        // Other errors cannot happen on valid arguments; they count as a timeout tick.
        !matches!(sys::poll(&mut self.fds[..self.len], timeout_ms),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted)
    }

    /// The roles whose descriptor has an event, in the order they were added.
    fn ready(&self) -> impl Iterator<Item = Role> + '_ {
        self.fds[..self.len]
            .iter()
            .zip(&self.roles)
            .filter(|(p, _)| p.revents != 0)
            .map(|(_, r)| *r)
    }
}

/// Bytes for the child's stdin, written as it can take them.
struct Feed {
    fd: OwnedFd,
    bytes: Vec<u8>,
    pos: usize,
}

/// The state of one supervised child; each event of the poll loop is one method.
struct Supervisor<'a> {
    child: Running,
    limits: &'a Limits,
    sink: &'a mut dyn Sink,
    waker: Option<&'static Waker>,
    seen: Seen,
    deadline: Option<Instant>,
    outs: [Option<OwnedFd>; 2],
    feed: Option<Feed>,
    hold: Option<OwnedFd>,
    /// Set once the child has exited (it stays an unreaped zombie until the end).
    status: Option<Status>,
    /// Why we stopped the child; not empty once a stop signal was sent.
    stops: StopCauses,
    /// When the grace period after the first stop ends (SIGKILL then).
    escalate_at: Option<Instant>,
    escalated: bool,
    buf: Vec<u8>,
}

impl<'a> Supervisor<'a> {
    fn new(mut child: Running, limits: &'a Limits, sink: &'a mut dyn Sink) -> Supervisor<'a> {
        let feed = child.stdin.take().and_then(|(fd, bytes)| {
            // An empty feed is closed at once, which gives the child EOF.
            (!bytes.is_empty()).then_some(Feed { fd, bytes, pos: 0 })
        });
        Supervisor {
            waker: Waker::for_thread().ok(),
            seen: Seen::default(),
            deadline: limits.timeout.and_then(|t| child.started.checked_add(t)),
            outs: [child.stdout.take(), child.stderr.take()],
            feed,
            hold: child.hold.take(),
            child,
            limits,
            sink,
            status: None,
            stops: StopCauses::default(),
            escalate_at: None,
            escalated: false,
            buf: vec![0u8; READ_CHUNK],
        }
    }

    fn run(mut self) -> Outcome {
        loop {
            self.on_flush();
            if self.status.is_some() && self.finished_after_exit() {
                break;
            }
            let mut timeout_ms = self.poll_timeout();
            if self.child.took_tty && self.status.is_none() {
                // A pidfd reports exits, not stops: look for a Ctrl-Z this often.
                timeout_ms = if timeout_ms < 0 {
                    STOP_CHECK_MS
                } else {
                    timeout_ms.min(STOP_CHECK_MS)
                };
                follow_stop(&self.child);
            }
            let mut set = self.poll_set();
            if !set.wait(timeout_ms) {
                continue;
            }
            for role in set.ready() {
                self.on_ready(role);
            }
            self.on_clock(Instant::now());
        }
        self.finish()
    }

    /// Signal the group for `cause` (the first of its kind only); the first stop also starts
    /// the grace period before SIGKILL.
    fn stop(&mut self, cause: StopCause, sig: i32) {
        let first = self.stops.is_empty();
        if !self.stops.record(cause) {
            return;
        }
        self.child.signal_group(sig);
        if first {
            self.escalate_at = self
                .limits
                .kill_after
                .and_then(|d| Instant::now().checked_add(d));
        }
    }

    fn escalate(&mut self) {
        self.child.signal_group(libc::SIGKILL);
        self.escalated = true;
    }

    /// The child has exited: done when nothing is left open, or when everyone who could still
    /// write has been killed (then what is buffered is taken first).
    fn finished_after_exit(&mut self) -> bool {
        if self.outs.iter().all(Option::is_none) && self.hold.is_none() {
            return true;
        }
        if self.stops.is_empty() || (!self.escalated && self.escalate_at.is_some()) {
            return false;
        }
        for (i, stream) in STREAMS.into_iter().enumerate() {
            if let Some(fd) = self.outs[i].take() {
                self.pump(fd.as_raw_fd(), stream, ROUNDS_DRAIN);
            }
        }
        true
    }

    /// Milliseconds until the next deadline (timeout or escalation); -1 for none.
    fn poll_timeout(&self) -> i32 {
        let timeout = self.deadline.filter(|_| !self.stops.timed_out());
        let escalation = self.escalate_at.filter(|_| !self.escalated);
        let wake = match (timeout, escalation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wake.map_or(-1, |w| {
            let left = w.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        })
    }

    fn poll_set(&self) -> PollSet {
        let mut set = PollSet::new();
        if self.status.is_none() {
            set.add(self.child.pidfd.as_raw_fd(), libc::POLLIN, Role::Pid);
        }
        if let Some(w) = self.waker {
            set.add(w.fd(), libc::POLLIN, Role::Signal);
        }
        for (i, slot) in self.outs.iter().enumerate() {
            if let Some(fd) = slot {
                set.add(fd.as_raw_fd(), libc::POLLIN, Role::Out(i));
            }
        }
        if let Some(f) = &self.feed {
            set.add(f.fd.as_raw_fd(), libc::POLLOUT, Role::In);
        }
        if let Some(fd) = &self.hold {
            set.add(fd.as_raw_fd(), libc::POLLIN, Role::Hold);
        }
        set
    }

    fn on_ready(&mut self, role: Role) {
        match role {
            Role::Pid => self.status = sys::exit_status(self.child.pid, false),
            Role::Signal => self.on_signal(),
            Role::Out(i) => self.on_output(i),
            Role::In => self.on_stdin_writable(),
            Role::Hold => self.on_hold(),
        }
    }

    /// Our own output went away: stop the child as the closed pipe would have.
    fn on_output_closed(&mut self) {
        self.stop(StopCause::OutputClosed, libc::SIGPIPE);
    }

    fn on_flush(&mut self) {
        if self.sink.flush() == SinkResult::Closed {
            self.on_output_closed();
        }
    }

    /// A forwarded signal or a cancel woke us.
    fn on_signal(&mut self) {
        if let Some(w) = self.waker {
            w.drain();
        }
        if signals::cancelled() && self.stops.is_empty() {
            self.stop(StopCause::Cancelled, self.limits.kill_signal.number());
        }
        let now = Seen::now();
        for sig in self.seen.new_since(&now) {
            self.on_forwarded(sig);
        }
        self.seen = now;
    }

    /// The first forwarded signal goes to the group; a second one means "now": SIGKILL.
    fn on_forwarded(&mut self, sig: i32) {
        if self.stops.signal().is_some() {
            self.escalate();
            return;
        }
        let after_exit = self.status.is_some();
        self.stop(
            StopCause::Signal {
                number: sig,
                after_exit,
            },
            sig,
        );
    }

    fn on_output(&mut self, i: usize) {
        let Some(fd) = self.outs[i].as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        if !self.pump(fd, STREAMS[i], ROUNDS_LIVE) {
            self.outs[i] = None;
            if self.sink.eof(STREAMS[i]) == SinkResult::Closed {
                self.on_output_closed();
            }
        }
    }

    fn on_stdin_writable(&mut self) {
        let Some(f) = &mut self.feed else { return };
        let chunk = &f.bytes[f.pos..f.bytes.len().min(f.pos + (1 << 20))];
        match sys::write(f.fd.as_raw_fd(), chunk) {
            Ok(n) => {
                f.pos += n;
                if f.pos >= f.bytes.len() {
                    self.feed = None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // EPIPE: the child stopped reading; that is its right.
            Err(_) => self.feed = None,
        }
    }

    /// Drain a held descriptor (its data is not ours to use) until end of file.
    fn on_hold(&mut self) {
        let Some(fd) = self.hold.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let open = match sys::read(fd, &mut self.buf) {
            Ok(n) => n > 0,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ),
        };
        if !open {
            self.hold = None;
        }
    }

    /// The timeout and the end of the grace period.
    fn on_clock(&mut self, now: Instant) {
        if !self.stops.timed_out() && self.deadline.is_some_and(|d| now >= d) {
            self.stop(StopCause::Timeout, self.limits.kill_signal.number());
        }
        if !self.escalated && self.escalate_at.is_some_and(|e| now >= e) {
            self.escalate();
        }
    }

    /// Read what is available (at most `rounds` chunks); false once the stream is at EOF.
    fn pump(&mut self, fd: RawFd, stream: Stream, rounds: usize) -> bool {
        for _ in 0..rounds {
            let n = match sys::read(fd, &mut self.buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) => match e.kind() {
                    std::io::ErrorKind::Interrupted => continue,
                    std::io::ErrorKind::WouldBlock => return true,
                    _ => return false,
                },
            };
            match self.sink.data(stream, &self.buf[..n]) {
                SinkResult::Continue => {}
                SinkResult::Overflow => self.stop(
                    StopCause::MaxBuffer(stream),
                    self.limits.kill_signal.number(),
                ),
                SinkResult::Closed => self.on_output_closed(),
            }
            if n < self.buf.len() {
                return true;
            }
        }
        true
    }

    /// The loop is over: last flush, the group's stragglers, the reap, the terminal back.
    fn finish(mut self) -> Outcome {
        self.feed = None;
        let _ = self.sink.flush();
        self.kill_stragglers();
        // Now, and only now, the leader is reaped and its PID may be reused.
        let status = sys::exit_status(self.child.pid, true)
            .or(self.status)
            .unwrap_or(Status::Exited(0));
        self.child.release_guard();
        if self.child.took_tty {
            sys::give_tty(sys::getpgrp());
        }
        Outcome::new(
            self.child.pid,
            status,
            self.stops,
            self.escalated,
            self.child.started.elapsed(),
        )
    }

    /// The leader died of the kill signal, but a member of its group may ignore it (a
    /// background job that traps TERM): it gets SIGKILL when the grace period ends, as if the
    /// leader had lived. The unreaped leader still pins the group id, so this is safe.
    fn kill_stragglers(&mut self) {
        let Some(at) = self.escalate_at else { return };
        if self.stops.is_empty() || self.escalated {
            return;
        }
        while group_has_others(self.child.pid) {
            if Instant::now() >= at {
                self.escalate();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Job control for a child that owns the terminal: when it is stopped (Ctrl-Z, or a read from
/// the terminal while in the background), stop our own process group the same way, so the
/// shell gets its prompt back; when we are continued, hand the terminal back to the child (if
/// we are in the foreground: `fg`) and continue it. Without this the shell would wait for us
/// while our child sat stopped with the terminal.
fn follow_stop(child: &Running) {
    let Some(sig) = sys::stop_signal(child.pid) else {
        return;
    };
    sys::give_tty(sys::getpgrp());
    // Stop as the terminal would have stopped us (a Ctrl-Z goes to the whole foreground
    // group), then wait to be continued. The signal may be taken by another of our threads, so
    // this one may run on a moment: wait for the SIGCONT count to move. If it does not move
    // soon, the stop was ignored (no job control) and we carry on.
    let stop = if sig == libc::SIGSTOP {
        libc::SIGSTOP
    } else {
        libc::SIGTSTP
    };
    signals::watch_continue();
    let before = signals::continued();
    sys::kill_own_group(stop);
    let asked = Instant::now();
    while signals::continued() == before && asked.elapsed() < Duration::from_millis(200) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Continued (fg or bg).
    if sys::in_foreground() {
        sys::give_tty(child.pid);
    }
    child.signal_group(libc::SIGCONT);
}

/// Whether a live process other than the leader is in process group `pgid` (a /proc scan:
/// only done after a kill, never on the normal path).
fn group_has_others(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == pgid {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, pgrp, ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next();
        let pgrp = f.nth(1).and_then(|p| p.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != Some("Z") {
            return true;
        }
    }
    false
}
