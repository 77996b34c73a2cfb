//! One job and how it ended. A [`JobOutcome`] says what happened; the joblog's columns, the
//! `--json` record and the run's exit code are all derived from it, never stored beside it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::process::Status;
use crate::values::Signal;

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// 1-based position in the input (`{#}`, the joblog's Seq), counting jobs `--resume`
    /// skipped.
    pub seq: u64,
    /// 1-based position among the jobs this run takes (what `-k` orders by).
    pub nth: u64,
    /// Its arguments: one per input source, or one per column with `--colsep`.
    pub args: Vec<Vec<u8>>,
    /// Its joblog key, computed once as the job is read (`None` without `--joblog`).
    pub key: Option<super::key::Key>,
}

impl Job {
    /// The input as one string (what `{}` stands for, and how a job is named in messages
    /// and records): the arguments joined by spaces, as GNU parallel joins them.
    pub(crate) fn input(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.args.as_slice() {
            [one] => std::borrow::Cow::Borrowed(one),
            many => std::borrow::Cow::Owned(many.join(&b' ')),
        }
    }
}

/// Why childproc itself ended a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `--job-timeout` expired.
    TimedOut(Timeout),
    /// The run is being stopped (`--halt now`, a signal).
    Cancelled,
}

/// The `--job-timeout` one job ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Timeout {
    pub after: Duration,
    /// `--job-timeout N%`: N, and the median runtime of successful jobs it was taken of.
    pub of_median: Option<(u32, Duration)>,
}

impl Timeout {
    pub(crate) fn fixed(after: Duration) -> Timeout {
        Timeout {
            after,
            of_median: None,
        }
    }
}

impl Stop {
    fn message(self) -> String {
        match self {
            Stop::TimedOut(Timeout {
                after,
                of_median: None,
            }) => format!("timed out after {}", humantime::format_duration(after)),
            Stop::TimedOut(Timeout {
                after,
                of_median: Some((pct, median)),
            }) => format!(
                "timed out after {} ({pct}% of the median {})",
                rounded(after),
                rounded(median)
            ),
            Stop::Cancelled => "killed: the run was stopped".into(),
        }
    }
}

/// A computed duration in words, to the millisecond (to the microsecond below that).
fn rounded(d: Duration) -> humantime::FormattedDuration {
    let whole = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
    let d = if d >= Duration::from_millis(1) {
        Duration::from_millis(whole(d.as_millis()))
    } else {
        Duration::from_micros(whole(d.as_micros()))
    };
    humantime::format_duration(d)
}

/// What happened to one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobOutcome {
    /// A persistent worker answered it (a task's result, a user worker's reply).
    Answered,
    /// A built-in task answered with an error.
    TaskFailed(String),
    /// The worker running it (this pid) died first: how, if known.
    WorkerDied { pid: i32, status: Option<Status> },
    /// We stopped the worker running it; it died of `signal` (0: it exited).
    WorkerStopped { stop: Stop, signal: i32 },
    /// An `--exec` job's process ended with `status`; `stop` when we ended it.
    Exited { status: Status, stop: Option<Stop> },
    /// An `--exec` job could not be started: the message and its exit code.
    NotStarted { error: String, code: i32 },
    /// An `--exec` job ended with `status`, but its `--results` files could not be written.
    Unsaved { status: Status, error: String },
    /// Never run anywhere: why.
    NotRun(String),
}

impl JobOutcome {
    pub(crate) fn ok(&self) -> bool {
        match self {
            JobOutcome::Answered => true,
            JobOutcome::Exited { status, stop } => {
                !matches!(stop, Some(Stop::TimedOut(_))) && *status == Status::Exited(0)
            }
            _ => false,
        }
    }

    /// Why the job failed (`None` when it did not).
    pub(crate) fn error(&self) -> Option<String> {
        if self.ok() {
            return None;
        }
        Some(match self {
            JobOutcome::TaskFailed(e) | JobOutcome::NotRun(e) => e.clone(),
            JobOutcome::NotStarted { error, .. } | JobOutcome::Unsaved { error, .. } => {
                error.clone()
            }
            JobOutcome::WorkerDied { pid, status } => {
                format!("worker {pid} {} while running the job", describe(*status))
            }
            JobOutcome::WorkerStopped { stop, .. } => stop.message(),
            JobOutcome::Exited {
                stop: Some(stop), ..
            } => stop.message(),
            JobOutcome::Exited { status, .. } => describe(Some(*status)),
            JobOutcome::Answered => return None,
        })
    }

    /// The joblog's Exitval and Signal.
    pub(crate) fn ended(&self) -> Ended {
        match self {
            JobOutcome::Answered => Ended::OK,
            JobOutcome::TaskFailed(_) => Ended::FAILED,
            // The worker's own status (a clean exit still failed the job: not written as 0).
            JobOutcome::WorkerDied { status, .. } => match status {
                Some(Status::Exited(0)) | None => Ended::FAILED,
                Some(st) => Ended::of(*st, false),
            },
            JobOutcome::WorkerStopped { signal, .. } => Ended::stopped(*signal),
            JobOutcome::Exited { status, stop } => Ended::of(*status, stop.is_some()),
            JobOutcome::Unsaved { status, .. } => Ended::of(*status, false),
            JobOutcome::NotStarted { code, .. } => Ended {
                exit: *code,
                signal: 0,
            },
            JobOutcome::NotRun(_) => Ended::stopped(0),
        }
    }
}

/// A process status in words: "exited with code 3", "was killed by SIGKILL".
pub(crate) fn describe(status: Option<Status>) -> String {
    match status {
        Some(Status::Exited(c)) => format!("exited with code {c}"),
        Some(Status::Signaled(n)) => {
            format!("was killed by {}", Signal::name_of(n).unwrap_or("a signal"))
        }
        None => "closed the channel".into(),
    }
}

/// The joblog's `Exitval` and `Signal` of a job, with GNU parallel's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    pub exit: i32,
    pub signal: i32,
}

impl Ended {
    pub(crate) const OK: Ended = Ended { exit: 0, signal: 0 };

    /// Failed without a process status of its own (a task's error reply).
    pub(crate) const FAILED: Ended = Ended { exit: 1, signal: 0 };

    /// childproc itself ended the job (timeout, halt, interruption) or never ran it: Exitval
    /// -1, with the signal the job died of, if any.
    pub(crate) fn stopped(signal: i32) -> Ended {
        Ended { exit: -1, signal }
    }

    /// A process status: a job killed by a signal it was not sent by us has Exitval 0.
    pub(crate) fn of(status: Status, we_stopped_it: bool) -> Ended {
        match status {
            Status::Signaled(n) if we_stopped_it => Ended::stopped(n),
            Status::Exited(_) if we_stopped_it => Ended::stopped(0),
            Status::Exited(c) => Ended { exit: c, signal: 0 },
            Status::Signaled(n) => Ended { exit: 0, signal: n },
        }
    }
}

/// What a job wrote on its stdout, as the reporter gets it: the bytes it is to print or
/// record, and how many the job wrote. The two differ when the output went elsewhere as it
/// came (`--line-buffer`, `--ungroup`, `--results`) or was tagged on the way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    kept: Vec<u8>,
    written: u64,
}

impl Output {
    /// `kept`, and `written` bytes written by the job.
    pub(crate) fn new(kept: Vec<u8>, written: u64) -> Output {
        Output { kept, written }
    }

    /// The bytes to print or record.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.kept
    }

    /// How many bytes the job wrote on its stdout (the joblog's Receive), kept here or not.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.written).unwrap_or(usize::MAX)
    }
}

impl From<Vec<u8>> for Output {
    /// Output kept whole, as written.
    fn from(kept: Vec<u8>) -> Output {
        let written = kept.len() as u64;
        Output { kept, written }
    }
}

/// One finished job, as it is reported (exactly once).
#[derive(Debug)]
pub(crate) struct JobReport {
    pub job: Job,
    pub outcome: JobOutcome,
    /// Compact JSON (`--task`, `--worker`) or the job's stdout (`--exec`).
    pub output: Output,
    /// `--exec`: the job's stderr, printed grouped.
    pub stderr: Vec<u8>,
    /// The slot that reported it (1-based).
    pub slot: usize,
    /// `None` for a job that never started (`--json` prints null: a 0 passed to kill(1) would
    /// signal the caller's own process group).
    pub pid: Option<i32>,
    pub attempts: u32,
    pub started: SystemTime,
    pub duration: Duration,
    /// The joblog's `Command` (bytes: an input need not be UTF-8).
    pub command: Vec<u8>,
    /// Where it ran: `:` for this machine, else the host (or Slurm node) name; `None`: nowhere.
    pub host: Option<Arc<str>>,
}

impl JobReport {
    /// A job that was never run anywhere (all hosts down).
    pub(crate) fn not_run(job: Job, slot: usize, why: &str) -> JobReport {
        JobReport::unstarted(job, slot, JobOutcome::NotRun(why.into()))
    }

    /// A job that ended without a process of its own: no output, no pid, no time taken.
    pub(crate) fn unstarted(job: Job, slot: usize, outcome: JobOutcome) -> JobReport {
        JobReport {
            job,
            outcome,
            output: Output::default(),
            stderr: Vec::new(),
            slot,
            pid: None,
            attempts: 0,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            command: Vec::new(),
            host: None,
        }
    }

    /// The joblog's Host column and `--json`'s `host`.
    pub(crate) fn host_name(&self) -> &str {
        self.host.as_deref().unwrap_or("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_derive_exitval_signal_and_error() {
        let cases: Vec<(JobOutcome, bool, Ended, Option<&str>)> = vec![
            (JobOutcome::Answered, true, Ended::OK, None),
            (
                JobOutcome::TaskFailed("bad".into()),
                false,
                Ended::FAILED,
                Some("bad"),
            ),
            (
                JobOutcome::WorkerDied {
                    pid: 4,
                    status: Some(Status::Exited(0)),
                },
                false,
                Ended::FAILED,
                Some("worker 4 exited with code 0 while running the job"),
            ),
            (
                JobOutcome::WorkerDied {
                    pid: 4,
                    status: Some(Status::Signaled(9)),
                },
                false,
                Ended { exit: 0, signal: 9 },
                Some("worker 4 was killed by SIGKILL while running the job"),
            ),
        ];
        check(cases);
    }

    #[test]
    fn outcomes_of_stopped_and_unstarted_jobs() {
        let t = Duration::from_secs(1);
        let cases: Vec<(JobOutcome, bool, Ended, Option<&str>)> = vec![
            (
                JobOutcome::WorkerStopped {
                    stop: Stop::TimedOut(Timeout::fixed(t)),
                    signal: 15,
                },
                false,
                Ended::stopped(15),
                Some("timed out after 1s"),
            ),
            (
                JobOutcome::Exited {
                    status: Status::Signaled(15),
                    stop: Some(Stop::TimedOut(Timeout {
                        after: Duration::from_micros(2_400_900),
                        of_median: Some((200, Duration::from_micros(1_200_450))),
                    })),
                },
                false,
                Ended::stopped(15),
                Some("timed out after 2s 400ms (200% of the median 1s 200ms)"),
            ),
            (
                JobOutcome::Exited {
                    status: Status::Exited(3),
                    stop: None,
                },
                false,
                Ended { exit: 3, signal: 0 },
                Some("exited with code 3"),
            ),
            (
                JobOutcome::Exited {
                    status: Status::Signaled(15),
                    stop: Some(Stop::Cancelled),
                },
                false,
                Ended::stopped(15),
                Some("killed: the run was stopped"),
            ),
            (
                JobOutcome::NotStarted {
                    error: "x: not found".into(),
                    code: 127,
                },
                false,
                Ended {
                    exit: 127,
                    signal: 0,
                },
                Some("x: not found"),
            ),
            (
                JobOutcome::NotRun("not run".into()),
                false,
                Ended::stopped(0),
                Some("not run"),
            ),
        ];
        check(cases);
    }

    fn check(cases: Vec<(JobOutcome, bool, Ended, Option<&str>)>) {
        for (o, ok, ended, error) in cases {
            assert_eq!(o.ok(), ok, "{o:?}");
            assert_eq!(o.ended(), ended, "{o:?}");
            assert_eq!(o.error().as_deref(), error, "{o:?}");
        }
    }

    #[test]
    fn a_job_that_exits_zero_after_a_stop_still_succeeded() {
        let o = JobOutcome::Exited {
            status: Status::Exited(0),
            stop: Some(Stop::Cancelled),
        };
        assert!(o.ok());
        assert_eq!(o.ended(), Ended::stopped(0));
    }
}
