//! The supervisor: one `poll(2)` loop that moves the child's output to a [`Sink`], feeds its
//! stdin, forwards childproc's signals, and enforces the timeout, the output limit and the
//! SIGKILL escalation, until the child has exited and its pipes are drained.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::signals::{self, Seen};
use super::{Limits, Outcome, Running, Status};

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

struct State {
    timed_out: bool,
    limit_hit: Option<Stream>,
    interrupted: Option<i32>,
    output_closed: bool,
    kill_sent: bool,
    escalate_at: Option<Instant>,
    escalated: bool,
    cancelled: bool,
    interrupted_after_exit: bool,
}

impl State {
    /// Signal the group; the first stop also starts the grace period before SIGKILL.
    fn stop(&mut self, child: &Running, sig: i32, limits: &Limits) {
        child.signal_group(sig);
        if !self.kill_sent {
            self.kill_sent = true;
            self.escalate_at = limits
                .kill_after
                .and_then(|d| Instant::now().checked_add(d));
        }
    }

    fn escalate(&mut self, child: &Running) {
        child.signal_group(libc::SIGKILL);
        self.escalated = true;
    }
}

/// How often (ms) a child that owns the terminal is checked for having been stopped.
const STOP_CHECK_MS: i32 = 50;

/// Job control for a child that owns the terminal: when it is stopped (Ctrl-Z, or a read from
/// the terminal while in the background), stop our own process group the same way, so the
/// shell gets its prompt back; when we are continued, hand the terminal back to the child (if
/// we are in the foreground: `fg`) and continue it. Without this the shell would wait for us
/// while our child sat stopped with the terminal.
fn follow_stop(child: &Running) {
    // SAFETY: waitid on our own child for stop reports only; nothing is reaped.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            child.pid as libc::id_t,
            &mut info,
            libc::WSTOPPED | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid/si_status are valid to read for a filled-in CLD_STOPPED report.
    if r != 0 || info.si_code != libc::CLD_STOPPED || unsafe { info.si_pid() } != child.pid {
        return;
    }
    let sig = unsafe { info.si_status() };
    // SAFETY: plain process-group calls on our own group and the child's.
    unsafe {
        super::give_tty(libc::getpgrp());
        // Stop as the terminal would have stopped us (a Ctrl-Z goes to the whole foreground
        // group), then wait to be continued. The signal may be taken by another of our
        // threads, so this one may run on a moment: wait for the SIGCONT count to move. If it
        // does not move soon, the stop was ignored (no job control) and we carry on.
        let stop = if sig == libc::SIGSTOP {
            libc::SIGSTOP
        } else {
            libc::SIGTSTP
        };
        signals::watch_continue();
        let before = signals::continued();
        libc::kill(0, stop);
        let asked = Instant::now();
        while signals::continued() == before && asked.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Continued (fg or bg).
        if libc::tcgetpgrp(0) == libc::getpgrp() {
            super::give_tty(child.pid);
        }
        libc::kill(-child.pid, libc::SIGCONT);
    }
}

/// Watch `child` until it has exited and its piped output is drained; return what happened.
pub fn supervise(mut child: Running, limits: &Limits, sink: &mut dyn Sink) -> Outcome {
    let waker = signals::Waker::for_thread().ok();
    let mut seen = Seen::default();
    let deadline = limits.timeout.and_then(|t| child.started.checked_add(t));
    let mut outs: [Option<OwnedFd>; 2] = [child.stdout.take(), child.stderr.take()];
    let mut feed = child.stdin.take().map(|(fd, bytes)| (fd, bytes, 0usize));
    let mut hold = child.hold.take();
    if let Some((_, bytes, _)) = &feed
        && bytes.is_empty()
    {
        feed = None; // closing the pipe at once gives the child EOF
    }
    let mut st = State {
        timed_out: false,
        limit_hit: None,
        interrupted: None,
        output_closed: false,
        kill_sent: false,
        escalate_at: None,
        escalated: false,
        cancelled: false,
        interrupted_after_exit: false,
    };
    let mut status: Option<Status> = None;
    let mut buf = vec![0u8; READ_CHUNK];

    loop {
        if sink.flush() == SinkResult::Closed && !st.output_closed {
            st.output_closed = true;
            st.stop(&child, libc::SIGPIPE, limits);
        }
        if status.is_some() {
            if outs.iter().all(Option::is_none) && hold.is_none() {
                break;
            }
            if st.kill_sent && (st.escalated || st.escalate_at.is_none()) {
                // Everyone who could still write has been killed: take what is buffered.
                for (i, slot) in outs.iter_mut().enumerate() {
                    if let Some(fd) = slot.take() {
                        pump(
                            fd.as_raw_fd(),
                            STREAMS[i],
                            &mut buf,
                            sink,
                            &mut st,
                            &child,
                            limits,
                            64,
                        );
                    }
                }
                break;
            }
        }

        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        if !st.timed_out
            && let Some(d) = deadline
        {
            wake = Some(d);
        }
        if !st.escalated
            && let Some(e) = st.escalate_at
        {
            wake = Some(wake.map_or(e, |w| w.min(e)));
        }
        let mut timeout_ms: i32 = match wake {
            None => -1,
            Some(w) => {
                let left = w.saturating_duration_since(now);
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        if child.took_tty && status.is_none() {
            // A pidfd reports exits, not stops: look for a Ctrl-Z this often.
            timeout_ms = if timeout_ms < 0 {
                STOP_CHECK_MS
            } else {
                timeout_ms.min(STOP_CHECK_MS)
            };
            follow_stop(&child);
        }

        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
        let mut roles: Vec<Role> = Vec::with_capacity(5);
        let mut add = |fd: RawFd, events: i16, role: Role| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            roles.push(role);
        };
        if status.is_none() {
            add(child.pidfd.as_raw_fd(), libc::POLLIN, Role::Pid);
        }
        if let Some(w) = waker {
            add(w.fd(), libc::POLLIN, Role::Signal);
        }
        for (i, slot) in outs.iter().enumerate() {
            if let Some(fd) = slot {
                add(fd.as_raw_fd(), libc::POLLIN, Role::Out(i));
            }
        }
        if let Some((fd, _, _)) = &feed {
            add(fd.as_raw_fd(), libc::POLLOUT, Role::In);
        }
        if let Some(fd) = &hold {
            add(fd.as_raw_fd(), libc::POLLIN, Role::Hold);
        }
        // SAFETY: fds is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // poll cannot fail on valid arguments; treat it like a timeout tick to stay safe.
        }

        for (pfd, role) in fds.iter().zip(roles.iter()) {
            if pfd.revents == 0 {
                continue;
            }
            match *role {
                Role::Signal => {
                    if let Some(w) = waker {
                        w.drain();
                    }
                    if signals::cancelled() && !st.kill_sent {
                        st.cancelled = true;
                        st.stop(&child, limits.kill_signal.number(), limits);
                    }
                    let cur = Seen::now();
                    for sig in seen.new_since(&cur) {
                        if st.interrupted.is_none() {
                            st.interrupted = Some(sig);
                            st.interrupted_after_exit = status.is_some();
                            st.stop(&child, sig, limits);
                        } else {
                            st.escalate(&child);
                        }
                    }
                    seen = cur;
                }
                Role::Out(i) => {
                    if let Some(fd) = &outs[i] {
                        let open = pump(
                            fd.as_raw_fd(),
                            STREAMS[i],
                            &mut buf,
                            sink,
                            &mut st,
                            &child,
                            limits,
                            16,
                        );
                        if !open {
                            outs[i] = None;
                            if sink.eof(STREAMS[i]) == SinkResult::Closed && !st.output_closed {
                                st.output_closed = true;
                                st.stop(&child, libc::SIGPIPE, limits);
                            }
                        }
                    }
                }
                Role::In => {
                    if let Some((fd, bytes, pos)) = &mut feed {
                        match write_some(fd.as_raw_fd(), &bytes[*pos..]) {
                            Ok(n) => {
                                *pos += n;
                                if *pos >= bytes.len() {
                                    feed = None;
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            // EPIPE: the child stopped reading; that is its right.
                            Err(_) => feed = None,
                        }
                    }
                }
                Role::Pid => status = reap(child.pid, false),
                Role::Hold => {
                    if let Some(fd) = &hold
                        && !held_open(fd.as_raw_fd(), &mut buf)
                    {
                        hold = None;
                    }
                }
            }
        }

        let now = Instant::now();
        if !st.timed_out
            && let Some(d) = deadline
            && now >= d
        {
            st.timed_out = true;
            st.stop(&child, limits.kill_signal.number(), limits);
        }
        if !st.escalated
            && let Some(e) = st.escalate_at
            && now >= e
        {
            st.escalate(&child);
        }
    }

    drop(feed);
    let _ = sink.flush();
    // The leader died of the kill signal, but a member of its group may ignore it (a
    // background job that traps TERM): it gets SIGKILL when the grace period ends, as if the
    // leader had lived. The unreaped leader still pins the group id, so this is safe.
    if let Some(at) = st.escalate_at
        && st.kill_sent
        && !st.escalated
    {
        while group_has_others(child.pid) {
            if Instant::now() >= at {
                st.escalate(&child);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Now, and only now, the leader is reaped and its PID may be reused.
    let status = reap(child.pid, true)
        .or(status)
        .unwrap_or(Status::Exited(0));
    child.release_guard();
    if child.took_tty {
        // SAFETY: getpgrp is always safe.
        super::give_tty(unsafe { libc::getpgrp() });
    }
    Outcome {
        pid: child.pid,
        status,
        timed_out: st.timed_out,
        limit_hit: st.limit_hit,
        interrupted: st.interrupted,
        output_closed: st.output_closed,
        escalated: st.escalated,
        cancelled: st.cancelled,
        interrupted_after_exit: st.interrupted_after_exit,
        duration: child.started.elapsed(),
    }
}

const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

#[derive(Clone, Copy)]
enum Role {
    Pid,
    Signal,
    Out(usize),
    In,
    Hold,
}

/// Drain a held descriptor (its data is not ours to use); false once it is at end of file.
fn held_open(fd: RawFd, buf: &mut [u8]) -> bool {
    // SAFETY: reading into our own buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    n > 0
        || (n < 0
            && matches!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ))
}

/// Read what is available (at most `rounds` chunks); false once the stream is at EOF.
#[allow(clippy::too_many_arguments)]
fn pump(
    fd: RawFd,
    stream: Stream,
    buf: &mut [u8],
    sink: &mut dyn Sink,
    st: &mut State,
    child: &Running,
    limits: &Limits,
    rounds: usize,
) -> bool {
    for _ in 0..rounds {
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            let err = std::io::Error::last_os_error();
            return match err.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => true,
                _ => false,
            };
        }
        match sink.data(stream, &buf[..n as usize]) {
            SinkResult::Continue => {}
            SinkResult::Overflow => {
                if st.limit_hit.is_none() {
                    st.limit_hit = Some(stream);
                    st.stop(child, limits.kill_signal.number(), limits);
                }
            }
            SinkResult::Closed => {
                if !st.output_closed {
                    st.output_closed = true;
                    st.stop(child, libc::SIGPIPE, limits);
                }
            }
        }
        if (n as usize) < buf.len() {
            return true;
        }
    }
    true
}

fn write_some(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    let len = bytes.len().min(1 << 20);
    // SAFETY: writing from a valid slice.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), len) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The child's status. With `reap == false` the zombie is left in place (WNOWAIT), which keeps
/// its PID and process-group ID reserved.
pub(crate) fn reap(pid: i32, reap: bool) -> Option<Status> {
    loop {
        // SAFETY: waitid on our own child into a zeroed siginfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let mut flags = libc::WEXITED | libc::WNOHANG;
        if !reap {
            flags |= libc::WNOWAIT;
        }
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        // SAFETY: si_pid/si_status are valid for SIGCHLD-style siginfo from waitid.
        let (spid, code) = unsafe { (info.si_pid(), info.si_status()) };
        if spid == 0 {
            return None; // not exited yet
        }
        return Some(match info.si_code {
            libc::CLD_EXITED => Status::Exited(code),
            _ => Status::Signaled(code),
        });
    }
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
