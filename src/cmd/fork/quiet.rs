//! When to half-close the channel, and when to stop waiting for a channel that only the
//! child's descendants keep open. Both rules look at what the child's process group is doing
//! (CPU time, runnable threads) as well as at the channel, so a child that is starting up or
//! computing an answer is never mistaken for one that has nothing more to say.

use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Activity, Disconnect};

/// How long a child must have been quiet — nothing sent, nothing unread, no CPU used, no
/// thread runnable — before the channel is half-closed (plus [`QUIET_PER_MIB`] for the
/// largest message sent).
///
/// A Node child closes its channel the moment it reads end-of-file: a reply it has not sent
/// yet fails (ERR_IPC_CHANNEL_CLOSED), and replies still queued in libuv are dropped (seen:
/// 196k of 200k echoes lost when half-closing right after the last send). Silence alone is
/// not enough: a child still starting, or computing, says nothing for as long as it likes.
const QUIET: Duration = Duration::from_millis(200);

/// Extra quiet time per MiB of the largest message sent: parsing a big message and building
/// its answer takes a Node child about that long before the first byte comes back.
const QUIET_PER_MIB: Duration = Duration::from_millis(100);

/// A child that never stops sending messages is half-closed anyway this long after it
/// consumed our input (at least), between two of its messages and at a moment when none of
/// its threads is running, so a heartbeat cannot keep the run alive forever. A child that
/// computes without talking is waited for.
const CHATTY_CAP: Duration = Duration::from_secs(2);

/// How often the child's process group is looked at in /proc.
const SAMPLE: Duration = Duration::from_millis(50);

/// After the child has exited, a channel that a descendant keeps open but silent (and idle)
/// this long is closed by us.
const STALL: Duration = Duration::from_millis(500);

/// At the end of our input: wait as `mode` says; true when the channel should be half-closed
/// now (false: leave it open until the child closes it).
pub(super) fn half_close_now(
    mode: Disconnect,
    activity: &Activity,
    stream: &UnixStream,
    pgid: i32,
    largest: usize,
) -> bool {
    match mode {
        Disconnect::Never => false,
        Disconnect::After(n) => {
            while activity.messages.load(Ordering::SeqCst) < n
                && !activity.closed.load(Ordering::SeqCst)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            true
        }
        Disconnect::OnInputEnd => {
            wait_until_quiet(activity, stream, pgid, largest);
            true
        }
    }
}

/// Bytes we wrote that the child has not read yet (SIOCOUTQ on a unix socket).
fn unread_by_child(stream: &UnixStream) -> usize {
    use std::os::fd::AsRawFd;
    crate::process::sys::unread_by_peer(stream.as_raw_fd())
}

/// Wait until the child has read all our input and then been quiet (see [`QUIET`]); a child
/// that keeps talking is cut off after [`CHATTY_CAP`] (or twice the quiet time, if longer).
fn wait_until_quiet(activity: &Activity, stream: &UnixStream, pgid: i32, largest: usize) {
    let mib = (largest >> 20).min(50) as u32;
    let quiet = QUIET + QUIET_PER_MIB * mib;
    let cap = CHATTY_CAP.max(quiet * 2);
    let mut last_bytes = activity.bytes.load(Ordering::SeqCst);
    let mut last_messages = activity.messages.load(Ordering::SeqCst);
    let mut silent_since = Instant::now();
    let mut talked_at: Option<Instant> = None;
    let mut consumed_at: Option<Instant> = None;
    let mut group = GroupWatch::new(pgid);
    while !activity.closed.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
        let unread = unread_by_child(stream);
        if unread == 0 && consumed_at.is_none() {
            consumed_at = Some(Instant::now());
        }
        let bytes = activity.bytes.load(Ordering::SeqCst);
        let messages = activity.messages.load(Ordering::SeqCst);
        if messages != last_messages {
            last_messages = messages;
            talked_at = Some(Instant::now());
        }
        let sent_bytes = bytes != last_bytes;
        last_bytes = bytes;
        if unread > 0 || sent_bytes || !activity.waiting.load(Ordering::SeqCst) {
            silent_since = Instant::now();
        }
        group.sample();
        if silent_since.elapsed().min(group.idle_for()) >= quiet {
            return;
        }
        // Cut a chatty child off only between its messages, never in the middle of one.
        let talking = talked_at.is_some_and(|t| t.elapsed() < quiet);
        let between = !activity.partial.load(Ordering::SeqCst);
        if talking
            && between
            && !group.busy_now()
            && consumed_at.is_some_and(|t| t.elapsed() >= cap)
        {
            return;
        }
    }
}

/// Runs while the reader is at work: once the child has exited, a channel that stays silent
/// for [`STALL`] while its remaining holders (descendants) are idle is shut down, so the run
/// ends. Only a descendant that inherited the channel can keep it open after the child's
/// exit; one that keeps writing (or computing) is waited for, under `--timeout` and signals.
pub(super) fn end_stalled_channel(activity: &Activity, stream: &UnixStream, pid: i32) {
    let mut last = activity.bytes.load(Ordering::SeqCst);
    let mut group = GroupWatch::new(pid);
    let mut silent_since = Instant::now();
    while !activity.closed.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
        if !exited(pid) {
            silent_since = Instant::now();
            continue;
        }
        let now = activity.bytes.load(Ordering::SeqCst);
        if now != last || !activity.waiting.load(Ordering::SeqCst) {
            last = now;
            silent_since = Instant::now();
        }
        group.sample();
        if silent_since.elapsed().min(group.idle_for()) >= STALL {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Whether the child `pid` has exited (it stays unreaped, a zombie, until `supervise` is
/// done; once reaped, `waitid` fails and the answer is yes too).
fn exited(pid: i32) -> bool {
    crate::process::sys::has_exited(pid)
}

/// The CPU time and run state of a process group, sampled every [`SAMPLE`].
struct GroupWatch {
    pgid: i32,
    sampled: Option<Instant>,
    last: Load,
    idle_since: Instant,
}

impl GroupWatch {
    fn new(pgid: i32) -> GroupWatch {
        GroupWatch {
            pgid,
            sampled: None,
            last: Load::default(),
            idle_since: Instant::now(),
        }
    }

    fn sample(&mut self) {
        if self.sampled.is_some_and(|t| t.elapsed() < SAMPLE) {
            return;
        }
        let now = group_load(self.pgid);
        if self.sampled.is_none() || now.busy || now.ticks != self.last.ticks {
            self.idle_since = Instant::now();
        }
        self.last = now;
        self.sampled = Some(Instant::now());
    }

    /// How long no member has used CPU or been runnable.
    fn idle_for(&self) -> Duration {
        self.idle_since.elapsed()
    }

    fn busy_now(&self) -> bool {
        self.last.busy
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Load {
    /// utime + stime of every member, in clock ticks.
    ticks: u64,
    /// Some thread of a member is running, runnable or in uninterruptible sleep.
    busy: bool,
}

/// The load of process group `pgid`: the leader and its descendants in the group, found
/// through /proc's `children` lists; once the leader is a zombie (its children re-parented),
/// every process in /proc is looked at instead.
fn group_load(pgid: i32) -> Load {
    let mut load = Load::default();
    let leader_alive = proc_stat(pgid).is_some_and(|s| s.state != b'Z');
    let members: Vec<i32> = if leader_alive {
        descendants_in_group(pgid)
    } else {
        all_in_group(pgid)
    };
    for pid in members {
        let Some(st) = proc_stat(pid) else { continue };
        load.ticks += st.ticks;
        load.busy |= any_thread_busy(pid);
    }
    load
}

fn descendants_in_group(pgid: i32) -> Vec<i32> {
    let mut out = vec![pgid];
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(s) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            for c in s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
                if proc_stat(c).is_some_and(|st| st.pgrp == pgid) && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn all_in_group(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| proc_stat(p).is_some_and(|st| st.pgrp == pgid && st.state != b'Z'))
        .collect()
}

fn any_thread_busy(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read(t.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
            .is_some_and(|st| matches!(st.state, b'R' | b'D'))
    })
}

struct Stat {
    state: u8,
    pgrp: i32,
    ticks: u64,
}

fn proc_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// The fields we need from a `/proc/.../stat` line (after the parenthesised name, which may
/// itself hold spaces and parentheses): state, pgrp, utime + stime.
fn parse_stat(s: &[u8]) -> Option<Stat> {
    let close = s.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&s[close + 1..]).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        state: *f.first()?.as_bytes().first()?,
        pgrp: f.get(2)?.parse().ok()?,
        ticks: num(11)? + num(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = b"42 (a) b (c) R 1 42 42 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0\n";
        let st = parse_stat(line).unwrap();
        assert_eq!((st.state, st.pgrp, st.ticks), (b'R', 42, 10));
        assert!(parse_stat(b"garbage").is_none());
    }
}
