//! How a supervised run ended: the child's [`Status`], why childproc stopped it
//! ([`StopCauses`]), and the one mapping from both to the exit code and the diagnostics.
#![deny(unsafe_code)]

use std::time::Duration;

use super::{Limits, Stream};
use crate::values::Signal;

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

/// Why childproc stopped the child, in order of precedence (the first one decides the exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A stream exceeded `--max-buffer`.
    MaxBuffer(Stream),
    /// childproc's own stdout was closed by its reader.
    OutputClosed,
    /// `--timeout` expired.
    Timeout,
    /// childproc received this signal and forwarded it; `after_exit`: the child itself had
    /// exited already (only a held descriptor or a descendant's pipe kept the run going).
    Signal { number: i32, after_exit: bool },
    /// The whole run was cancelled ([`super::signals::cancel_all`]).
    Cancelled,
}

impl StopCause {
    /// The position in the precedence order (0 decides first).
    const fn rank(self) -> usize {
        match self {
            StopCause::MaxBuffer(_) => 0,
            StopCause::OutputClosed => 1,
            StopCause::Timeout => 2,
            StopCause::Signal { .. } => 3,
            StopCause::Cancelled => 4,
        }
    }
}

/// Every cause that stopped the child, at most one of each kind (the first one seen), kept in
/// precedence order. Empty: childproc never signalled the child.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopCauses([Option<StopCause>; 5]);

impl StopCauses {
    /// Record `cause`; false if one of its kind was recorded already.
    pub fn record(&mut self, cause: StopCause) -> bool {
        let slot = &mut self.0[cause.rank()];
        if slot.is_some() {
            return false;
        }
        *slot = Some(cause);
        true
    }

    /// The cause that decides the exit: the first in precedence order.
    pub fn first(&self) -> Option<StopCause> {
        self.iter().next()
    }

    pub fn is_empty(&self) -> bool {
        self.first().is_none()
    }

    /// Every recorded cause, in precedence order.
    pub fn iter(&self) -> impl Iterator<Item = StopCause> + '_ {
        self.0.iter().flatten().copied()
    }

    pub fn max_buffer(&self) -> Option<Stream> {
        match self.0[0] {
            Some(StopCause::MaxBuffer(s)) => Some(s),
            _ => None,
        }
    }

    pub fn output_closed(&self) -> bool {
        self.0[1].is_some()
    }

    pub fn timed_out(&self) -> bool {
        self.0[2].is_some()
    }

    /// The forwarded signal and whether it came after the child had exited.
    pub fn signal(&self) -> Option<(i32, bool)> {
        match self.0[3] {
            Some(StopCause::Signal { number, after_exit }) => Some((number, after_exit)),
            _ => None,
        }
    }

    pub fn cancelled(&self) -> bool {
        self.0[4].is_some()
    }
}

/// Everything the subcommands report: exit code, `--json` fields and diagnostics derive from it.
///
/// `stops` is the one record of why childproc stopped the child; the questions callers ask
/// of it (timed out? which stream overflowed? …) are methods, not copies.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub pid: i32,
    pub status: Status,
    /// Why childproc stopped the child, if it did.
    pub stops: StopCauses,
    /// The child had to be killed with SIGKILL after the grace period.
    pub escalated: bool,
    pub duration: Duration,
}

impl Outcome {
    pub fn new(
        pid: i32,
        status: Status,
        stops: StopCauses,
        escalated: bool,
        duration: Duration,
    ) -> Outcome {
        Outcome {
            pid,
            status,
            stops,
            escalated,
            duration,
        }
    }

    /// `--timeout` expired.
    pub fn timed_out(&self) -> bool {
        self.stops.timed_out()
    }

    /// The stream whose `--max-buffer` was exceeded.
    pub fn limit_hit(&self) -> Option<Stream> {
        self.stops.max_buffer()
    }

    /// The first signal childproc received and forwarded.
    pub fn interrupted(&self) -> Option<i32> {
        self.stops.signal().map(|(n, _)| n)
    }

    /// childproc's own stdout was closed by its reader.
    pub fn output_closed(&self) -> bool {
        self.stops.output_closed()
    }

    /// Stopped because the whole run was cancelled ([`super::signals::cancel_all`]).
    pub fn cancelled(&self) -> bool {
        self.stops.cancelled()
    }

    /// The one mapping from an outcome to the exit-code table (`crate::exit`, the README).
    pub fn exit(&self, preserve_status: bool) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self.stops.first() {
            Some(StopCause::MaxBuffer(_)) => Exit::Failure,
            Some(StopCause::OutputClosed) => Exit::Signal(libc::SIGPIPE),
            // timeout(1): 137 when the escalation, not the kill signal, ended the child.
            Some(StopCause::Timeout) if !preserve_status => {
                if self.escalated && self.status == Status::Signaled(libc::SIGKILL) {
                    Exit::TimeoutKilled
                } else {
                    Exit::Timeout
                }
            }
            // The child had already exited and only something that kept its output (or
            // fork's channel) open was still running: the signal is what ended the run.
            Some(StopCause::Signal {
                number,
                after_exit: true,
            }) => Exit::Signal(number),
            Some(StopCause::Timeout | StopCause::Signal { .. } | StopCause::Cancelled) | None => {
                self.status_exit()
            }
        }
    }

    /// The child's own status in the exit-code table.
    fn status_exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self.status {
            Status::Exited(c) => Exit::Child(c.clamp(0, 255) as u8),
            Status::Signaled(n) => Exit::Signal(n),
        }
    }

    /// Exit code and signal name in Node's shape (`code` null when killed by a signal).
    pub fn code_and_signal(&self) -> (Option<i32>, Option<String>) {
        match self.status {
            Status::Exited(c) => (Some(c), None),
            Status::Signaled(n) => (
                None,
                Some(Signal::name_of(n).map_or_else(|| format!("SIG{n}"), str::to_owned)),
            ),
        }
    }

    /// The one-line diagnostics childproc prints about this outcome (none when all went well).
    pub fn diagnostics(
        &self,
        program: &str,
        limits: &Limits,
        max_buffer: Option<u64>,
    ) -> Vec<String> {
        let mut lines: Vec<String> = self
            .stops
            .iter()
            .filter_map(|cause| self.stop_line(cause, program, limits, max_buffer))
            .collect();
        // A signal nobody here sent (SIGPIPE is the reader's doing, not news).
        if let Status::Signaled(n) = self.status
            && n != libc::SIGPIPE
            && self.stops.is_empty()
        {
            let name = Signal::name_of(n).map_or_else(|| format!("signal {n}"), str::to_owned);
            lines.push(format!("{program}: killed by {name}"));
        }
        lines
    }

    /// The diagnostics line for one stop cause (none for a closed output or a cancel).
    fn stop_line(
        &self,
        cause: StopCause,
        program: &str,
        limits: &Limits,
        max_buffer: Option<u64>,
    ) -> Option<String> {
        match cause {
            StopCause::MaxBuffer(stream) => Some(format!(
                "{program}: {} exceeded --max-buffer of {} bytes; sent {} to the process group",
                stream.name(),
                max_buffer.unwrap_or(0),
                limits.kill_signal
            )),
            StopCause::Timeout => Some(format!(
                "{program}: timed out after {}; sent {} to the process group{}",
                humantime::format_duration(limits.timeout.unwrap_or_default()),
                limits.kill_signal,
                if self.escalated { ", then SIGKILL" } else { "" }
            )),
            StopCause::Signal { number, .. } => Some(format!(
                "{program}: childproc received {}; forwarded it to the process group",
                Signal::name_of(number).unwrap_or("a signal")
            )),
            StopCause::OutputClosed | StopCause::Cancelled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    fn outcome(causes: &[StopCause], status: Status, escalated: bool) -> Outcome {
        let mut stops = StopCauses::default();
        for &c in causes {
            stops.record(c);
        }
        Outcome::new(1, status, stops, escalated, Duration::ZERO)
    }

    #[test]
    fn the_first_cause_in_precedence_decides_the_exit() {
        let killed = Status::Signaled(libc::SIGTERM);
        let all = [
            StopCause::Cancelled,
            StopCause::Timeout,
            StopCause::OutputClosed,
            StopCause::MaxBuffer(Stream::Stderr),
        ];
        assert_eq!(outcome(&all, killed, false).exit(false), Exit::Failure);
        assert_eq!(
            outcome(&all[..3], killed, false).exit(false),
            Exit::Signal(libc::SIGPIPE)
        );
        assert_eq!(outcome(&all[..2], killed, false).exit(false), Exit::Timeout);
        assert_eq!(
            outcome(&all[..2], killed, false).exit(true),
            Exit::Signal(libc::SIGTERM)
        );
        assert_eq!(
            outcome(&[], Status::Exited(3), false).exit(false),
            Exit::Child(3)
        );
    }

    #[test]
    fn a_timeout_ended_by_the_escalation_is_137() {
        let kill = Status::Signaled(libc::SIGKILL);
        let t = [StopCause::Timeout];
        assert_eq!(outcome(&t, kill, true).exit(false), Exit::TimeoutKilled);
        assert_eq!(outcome(&t, kill, false).exit(false), Exit::Timeout);
        assert_eq!(
            outcome(&t, kill, true).exit(true),
            Exit::Signal(libc::SIGKILL)
        );
    }

    #[test]
    fn only_the_first_cause_of_a_kind_is_kept_and_the_flags_follow() {
        let mut stops = StopCauses::default();
        let first = StopCause::Signal {
            number: libc::SIGINT,
            after_exit: true,
        };
        assert!(stops.record(first));
        assert!(!stops.record(StopCause::Signal {
            number: libc::SIGTERM,
            after_exit: false
        }));
        let o = Outcome::new(1, Status::Exited(0), stops, false, Duration::ZERO);
        assert_eq!(o.interrupted(), Some(libc::SIGINT));
        // The kept cause is the first one, after_exit included: the run ends with its 128+N.
        assert_eq!(o.exit(false), crate::exit::Exit::Signal(libc::SIGINT));
        assert!(!o.timed_out() && !o.cancelled() && !o.output_closed() && o.limit_hit().is_none());
    }

    #[test]
    fn diagnostics_name_each_cause_and_an_unexplained_signal() {
        let limits = Limits::default();
        let o = outcome(&[], Status::Signaled(libc::SIGSEGV), false);
        assert_eq!(o.diagnostics("p", &limits, None), ["p: killed by SIGSEGV"]);
        let o = outcome(&[StopCause::OutputClosed], Status::Signaled(9), false);
        assert!(o.diagnostics("p", &limits, None).is_empty());
        let both = [StopCause::Timeout, StopCause::MaxBuffer(Stream::Stdout)];
        let lines = outcome(&both, Status::Signaled(15), true).diagnostics("p", &limits, Some(4));
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("p: stdout exceeded --max-buffer of 4 bytes"));
        assert!(lines[1].ends_with(", then SIGKILL"), "{lines:?}");
    }
}
