//! A started child, and the race-free rules for signalling, waiting on and reaping it.
#![deny(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::{Status, guard, sys};

/// A started child: its group leader is not reaped until [`super::supervise`] is done with it.
#[derive(Debug)]
pub struct Running {
    pub pid: i32,
    pub started: Instant,
    pub(super) pidfd: OwnedFd,
    pub(super) stdout: Option<OwnedFd>,
    pub(super) stderr: Option<OwnedFd>,
    pub(super) stdin: Option<(OwnedFd, Vec<u8>)>,
    /// The terminal was handed to the child's group and must be taken back.
    pub(super) took_tty: bool,
    /// The child's entry in the guard's table, released once its group is gone.
    pub(super) guard: Option<guard::Slot>,
    /// Supervision also lasts until this descriptor reaches end of file ([`Running::hold_until_eof`]).
    pub(super) hold: Option<OwnedFd>,
}

impl Running {
    /// Send `sig` to the child's whole process group.
    ///
    /// Safe against PID reuse because the leader is never reaped before we stop signalling.
    pub fn signal_group(&self, sig: i32) {
        sys::kill_group(self.pid, sig);
    }

    /// Make [`super::supervise`] wait, once the child has exited, until `fd` (the read end of a
    /// pipe, say) reaches end of file too, exactly as for an output pipe a grandchild holds
    /// open: the timeout, signals and kill-after still apply to the group meanwhile. Anything
    /// read from `fd` is discarded. `fork` passes a pipe whose write end its channel reader
    /// drops when the IPC channel closes, so a descendant that keeps writing on the channel
    /// is supervised like one that keeps a stdout pipe open.
    pub fn hold_until_eof(&mut self, fd: OwnedFd) {
        self.hold = Some(fd);
    }

    /// The group is gone (its leader reaped): the guard need not kill it any more.
    pub(super) fn release_guard(&mut self) {
        if let Some(slot) = self.guard.take() {
            guard::release(slot);
        }
    }
}

/// For children that are driven by someone else's loop (cluster's persistent workers): the
/// same race-free rules, without [`super::supervise`].
impl Running {
    /// Readable once the child has exited.
    pub fn exit_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    /// The exit status if the child has exited, leaving it unreaped (its PGID stays reserved).
    pub fn exited(&self) -> Option<Status> {
        sys::exit_status(self.pid, false)
    }

    /// Stop the child as `--kill-signal`/`--kill-after` say: `sig` to its group, up to
    /// `kill_after` for it to exit (`None`: as long as it takes, never SIGKILL), then SIGKILL;
    /// reap it. (Cluster workers are stopped this way; supervised children by
    /// [`super::supervise`].)
    pub fn stop(self, sig: i32, kill_after: Option<Duration>) -> Status {
        self.signal_group(sig);
        // "Never" as a deadline `finish` can hold: about 136 years.
        self.finish(kill_after.unwrap_or(Duration::from_secs(u64::from(u32::MAX))))
    }

    /// Wait up to `grace` for the child to exit on its own, then SIGKILL its group; reap it.
    pub fn finish(mut self, grace: Duration) -> Status {
        let now = Instant::now();
        let deadline = now.checked_add(grace).unwrap_or(now);
        let mut killed = false;
        loop {
            if let Some(st) = self.exited() {
                // Take any stragglers of the group down with it before the PGID is freed.
                self.signal_group(libc::SIGKILL);
                let st = sys::exit_status(self.pid, true).unwrap_or(st);
                self.release_guard();
                return st;
            }
            let now = Instant::now();
            if now >= deadline && !killed {
                self.signal_group(libc::SIGKILL);
                killed = true;
            }
            let left = if killed {
                100
            } else {
                deadline
                    .saturating_duration_since(now)
                    .as_millis()
                    .clamp(1, 100) as i32
            };
            let _ = sys::poll(&mut [sys::pollfd(self.exit_fd(), libc::POLLIN)], left);
        }
    }
}
