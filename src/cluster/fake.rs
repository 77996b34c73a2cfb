//! A scripted fake worker and launcher (no processes), and the slot tests that use them:
//! retries, requeue, halt and the crash-loop give-up, each job reported exactly once.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::attempt::Attempt;
use super::dispatch::{Delivered, Dispatcher, Sink, Summary};
use super::job::{JobOutcome, JobReport};
use super::launch::{HostState, Launcher, Role};
use super::plan::{Mode, Settings};
use super::queue::Inputs;
use super::slot::Slot;
use super::tasks::Task;
use super::template::Template;
use super::worker::{Lost, Reply, Worker};
use crate::process::{Limits, SpawnError, Status};
use crate::values::{HaltPolicy, JobTimeout, parse_halt};

/// What a fake worker does with one message (or an `--exec` launcher with one job).
#[derive(Debug, Clone)]
enum Act {
    /// Answer with these bytes.
    Answer(&'static str),
    /// Die before answering.
    Die(Option<Status>),
    /// Hit `--job-timeout`.
    TimeOut,
    /// The connection fails.
    Lose,
    /// An `--exec` job exits with this code.
    Exit(i32),
    /// An `--exec` job is killed because the run is being stopped.
    Cancelled,
}

/// Decides, for the `n`-th worker started (from 0) and one message, what happens.
type Script = dyn Fn(usize, &str) -> Act + Send + Sync;

struct FakeWorker {
    n: usize,
    script: Arc<Script>,
    sent: VecDeque<String>,
    dead: bool,
}

impl Worker for FakeWorker {
    fn send(&mut self, msg: &[u8]) -> bool {
        self.sent
            .push_back(String::from_utf8_lossy(msg).into_owned());
        !self.dead
    }

    fn wait(&mut self, _timeout: Option<Duration>) -> Reply {
        let Some(msg) = self.sent.pop_front() else {
            return Reply::Died(None);
        };
        match (self.script)(self.n, &msg) {
            Act::Answer(a) => Reply::Message(a.as_bytes().to_vec()),
            Act::Die(st) => {
                self.dead = true;
                Reply::Died(st)
            }
            Act::TimeOut => Reply::TimedOut,
            Act::Lose => Reply::Lost(Lost::retry("fake connection lost")),
            Act::Exit(_) | Act::Cancelled => Reply::Died(None),
        }
    }

    fn pid(&self) -> i32 {
        100 + self.n as i32
    }

    fn stopped_by(&self) -> i32 {
        0
    }

    fn remote_host(&self) -> Option<&str> {
        None
    }

    fn job_pid(&self) -> Option<i32> {
        None
    }

    fn remote_cpu(&self) -> Duration {
        Duration::ZERO
    }

    fn set_stop(&mut self, _limits: &Limits) {}

    fn shutdown(self: Box<Self>, _grace: Duration) {}
}

struct FakeLauncher {
    state: HostState,
    here: bool,
    started: AtomicUsize,
    script: Arc<Script>,
    /// When each `--exec` try started, and the timeout it was given.
    tries: Mutex<Vec<(Instant, Option<Duration>)>>,
}

impl FakeLauncher {
    fn new(
        label: &str,
        here: bool,
        script: impl Fn(usize, &str) -> Act + Send + Sync + 'static,
    ) -> FakeLauncher {
        FakeLauncher {
            state: HostState::new(label),
            here,
            started: AtomicUsize::new(0),
            script: Arc::new(script),
            tries: Mutex::new(Vec::new()),
        }
    }
}

impl Launcher for FakeLauncher {
    fn state(&self) -> &HostState {
        &self.state
    }

    fn start(&self, _role: &Role) -> Result<Box<dyn Worker>, SpawnError> {
        Ok(Box::new(FakeWorker {
            n: self.started.fetch_add(1, Ordering::SeqCst),
            script: Arc::clone(&self.script),
            sent: VecDeque::new(),
            dead: false,
        }))
    }

    fn runs_here(&self) -> bool {
        self.here
    }

    fn attempt(
        &self,
        argv: &[OsString],
        limits: &Limits,
        _out: &mut super::output::JobOut,
    ) -> Result<Attempt, SpawnError> {
        self.tries
            .lock()
            .unwrap()
            .push((Instant::now(), limits.timeout));
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        let act = (self.script)(n, &argv[argv.len() - 1].to_string_lossy());
        let (code, cancelled) = match act {
            Act::Exit(c) => (c, false),
            Act::Cancelled => (-1, true),
            _ => (0, false),
        };
        Ok(Attempt {
            pid: 200 + n as i32,
            status: Status::Exited(code),
            timed_out: false,
            cancelled,
            stdout: format!("out {n}\n").into_bytes(),
            stderr: Vec::new(),
        })
    }
}

/// A sink that keeps every report.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<JobReport>>>);

impl Sink for Recorder {
    fn job(&mut self, r: JobReport) {
        self.0.lock().unwrap().push(r);
    }

    fn broken(&self) -> bool {
        false
    }

    fn tick(&mut self) {}

    fn finish(&mut self, _summary: &Summary) -> Delivered {
        Delivered::default()
    }
}

fn settings(mode: Mode, retries: u32, halt: HaltPolicy, remote: bool) -> Settings {
    Settings {
        mode,
        halt,
        retries,
        job_timeout: Some(JobTimeout::Fixed(Duration::from_secs(1))),
        delay: None,
        limits: Limits::default(),
        remote,
        stop_args: Vec::new(),
        exec_limits: Vec::new(),
        backoff: Duration::ZERO,
        output: super::output::OutputPlan::default(),
    }
}

fn halt(s: &str) -> HaltPolicy {
    parse_halt(s).unwrap()
}

fn never() -> HaltPolicy {
    HaltPolicy::Never
}

fn worker_mode() -> Mode {
    Mode::Worker {
        serialization: crate::ipc::Serialization::Json,
        argv: vec!["w".into()],
        line: "w".into(),
    }
}

fn inputs(n: u64) -> Inputs {
    Inputs::new((1..=n).map(|i| OsString::from(i.to_string())).collect())
}

/// Run `launchers.len()` slots (one per launcher) over `n` inputs; the reports by seq.
fn run_slots(s: &Settings, n: u64, launchers: &[&dyn Launcher]) -> (Vec<JobReport>, bool) {
    let ran = run_slots_with(s, n, launchers, || {});
    (ran.reports, ran.collapsed)
}

/// What a run of fake slots left.
struct Ran {
    /// By seq.
    reports: Vec<JobReport>,
    collapsed: bool,
    excused: u64,
}

/// [`run_slots`], with `cancel` as the way of stopping running jobs.
fn run_slots_with(s: &Settings, n: u64, launchers: &[&dyn Launcher], cancel: fn()) -> Ran {
    let rec = Recorder::default();
    let jobs = Dispatcher::new(
        inputs(n),
        launchers.len(),
        s,
        Some(n),
        Box::new(rec.clone()),
    )
    .with_cancel(cancel);
    let live = super::output::Live::new(false);
    std::thread::scope(|scope| {
        for (i, l) in launchers.iter().enumerate() {
            let slot = Slot {
                n: i + 1,
                settings: s,
                jobs: &jobs,
                launcher: *l,
            };
            let live = &live;
            scope.spawn(move || super::run_slot(slot, live));
        }
    });
    let mut reports = std::mem::take(&mut *rec.0.lock().unwrap());
    reports.sort_by_key(|r| r.job.seq);
    Ran {
        reports,
        collapsed: jobs.collapsed(),
        excused: jobs.excused(),
    }
}

fn seqs(reports: &[JobReport]) -> Vec<u64> {
    reports.iter().map(|r| r.job.seq).collect()
}

/// The input of a task or worker message.
fn input_of(msg: &str) -> u64 {
    let digits: String = msg.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

#[test]
fn every_job_is_answered_once_through_the_task_pipeline() {
    let s = settings(Mode::Task(Task::Sum), 0, never(), false);
    let l = FakeLauncher::new(":", true, |_, _| Act::Answer("{\"result\":1}"));
    let l2 = FakeLauncher::new(":", true, |_, _| Act::Answer("{\"result\":1}"));
    let (reports, collapsed) = run_slots(&s, 500, &[&l, &l2]);
    assert_eq!(seqs(&reports), (1..=500).collect::<Vec<_>>());
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == JobOutcome::Answered && r.output.bytes() == b"1")
    );
    assert!(!collapsed);
}

#[test]
fn a_failed_task_is_retried_then_reported_with_its_attempts() {
    let s = settings(Mode::Task(Task::Sum), 2, never(), false);
    let l = FakeLauncher::new(":", true, |_, msg| match input_of(msg) {
        2 => Act::Answer("{\"error\":\"bad input\"}"),
        _ => Act::Answer("{\"result\":7}"),
    });
    let (reports, _) = run_slots(&s, 3, &[&l]);
    assert_eq!(seqs(&reports), [1, 2, 3]);
    assert_eq!(
        reports[1].outcome,
        JobOutcome::TaskFailed("bad input".into())
    );
    assert_eq!(reports[1].attempts, 3);
    assert_eq!(reports[0].attempts, 1);
}

#[test]
fn a_worker_death_is_retried_on_a_new_worker() {
    let s = settings(worker_mode(), 1, never(), false);
    // The first worker answers once, then dies on its second job; the next one is fine.
    let l = FakeLauncher::new(":", true, |n, msg| match (n, input_of(msg)) {
        (0, 2) => Act::Die(Some(Status::Signaled(9))),
        _ => Act::Answer("\"ok\""),
    });
    let (reports, _) = run_slots(&s, 3, &[&l]);
    assert_eq!(seqs(&reports), [1, 2, 3]);
    assert!(reports.iter().all(|r| r.outcome.ok()));
    assert_eq!(reports[1].attempts, 2);
    assert_eq!(l.started.load(Ordering::SeqCst), 2);
}

#[test]
fn a_timeout_without_retries_fails_only_that_job() {
    let s = settings(worker_mode(), 0, never(), false);
    let l = FakeLauncher::new(":", true, |_, msg| match input_of(msg) {
        2 => Act::TimeOut,
        _ => Act::Answer("1"),
    });
    let (reports, _) = run_slots(&s, 3, &[&l]);
    assert_eq!(seqs(&reports), [1, 2, 3]);
    assert_eq!(
        reports[1].outcome.error().as_deref(),
        Some("timed out after 1s")
    );
    assert!(reports[0].outcome.ok() && reports[2].outcome.ok());
}

#[test]
fn a_worker_that_keeps_dying_at_start_up_makes_the_pool_give_up() {
    let s = settings(worker_mode(), 0, never(), false);
    let l = FakeLauncher::new(":", true, |_, _| Act::Die(Some(Status::Exited(1))));
    let (reports, collapsed) = run_slots(&s, 20, &[&l]);
    // Every job exactly once: the five that met a dying worker, and the rest not run.
    assert_eq!(seqs(&reports), (1..=20).collect::<Vec<_>>());
    assert!(collapsed);
    assert_eq!(l.started.load(Ordering::SeqCst), 5);
    let died = |r: &JobReport| matches!(r.outcome, JobOutcome::WorkerDied { .. });
    assert_eq!(reports.iter().filter(|r| died(r)).count(), 5);
    let last = reports[19].outcome.error().unwrap();
    assert!(
        last.starts_with("not run: no worker left (worker keeps dying"),
        "{last}"
    );
}

#[test]
fn one_crash_looping_slot_leaves_its_jobs_to_the_others() {
    let s = settings(worker_mode(), 0, never(), false);
    // The good slot answers only once the bad one has given up (bounded wait): on a loaded
    // machine it could otherwise run all 200 jobs before the bad slot's thread takes one.
    static DEATHS: AtomicUsize = AtomicUsize::new(0);
    let bad = FakeLauncher::new(":", true, |_, _| {
        DEATHS.fetch_add(1, Ordering::SeqCst);
        Act::Die(None)
    });
    let good = FakeLauncher::new(":", true, |_, _| {
        let t = Instant::now();
        while DEATHS.load(Ordering::SeqCst) < 5 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Act::Answer("1")
    });
    let (reports, collapsed) = run_slots(&s, 200, &[&bad, &good]);
    assert_eq!(seqs(&reports), (1..=200).collect::<Vec<_>>());
    assert!(!collapsed);
    let failed = reports.iter().filter(|r| !r.outcome.ok()).count();
    assert!((5..=6).contains(&failed), "{failed} failed");
}

#[test]
fn a_lost_connection_hands_the_jobs_back() {
    let s = settings(worker_mode(), 0, never(), true);
    // Host a loses every connection and goes down; host b runs everything. b answers only
    // once a has lost a connection (bounded wait), so a hand-back really happens even when
    // b alone could finish first.
    static LOST: AtomicBool = AtomicBool::new(false);
    let a = FakeLauncher::new("a", false, |_, _| {
        LOST.store(true, Ordering::SeqCst);
        Act::Lose
    });
    let b = FakeLauncher::new("b", false, |_, _| {
        let t = std::time::Instant::now();
        while !LOST.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Act::Answer("1")
    });
    let (reports, collapsed) = run_slots(&s, 50, &[&a, &b]);
    assert_eq!(seqs(&reports), (1..=50).collect::<Vec<_>>());
    assert!(reports.iter().all(|r| r.outcome.ok()));
    assert!(reports.iter().all(|r| r.host.as_deref() == Some("b")));
    assert!(a.started.load(Ordering::SeqCst) > 0 && !b.state().is_down());
    assert!(!collapsed);
}

#[test]
fn when_every_host_is_down_each_job_fails_once() {
    let s = settings(worker_mode(), 0, never(), true);
    let a = FakeLauncher::new("a", false, |_, _| Act::Lose);
    let b = FakeLauncher::new("b", false, |_, _| Act::Lose);
    let (reports, collapsed) = run_slots(&s, 30, &[&a, &b]);
    assert_eq!(seqs(&reports), (1..=30).collect::<Vec<_>>());
    assert!(collapsed);
    assert!(reports.iter().all(|r| {
        r.outcome == JobOutcome::NotRun("not run: all hosts are down".into()) && r.host.is_none()
    }));
}

#[test]
fn halt_soon_starts_no_job_after_the_first_failure() {
    let s = settings(worker_mode(), 0, halt("soon"), false);
    let l = FakeLauncher::new(":", true, |_, msg| match input_of(msg) {
        3 => Act::Die(Some(Status::Exited(2))),
        _ => Act::Answer("1"),
    });
    let (reports, _) = run_slots(&s, 10, &[&l]);
    assert_eq!(seqs(&reports), [1, 2, 3]);
    assert!(!reports[2].outcome.ok());
}

#[test]
fn exec_jobs_are_retried_until_they_succeed() {
    let template = Template::parse("run {}", false).unwrap();
    let s = settings(Mode::Exec(template), 3, never(), false);
    // The first two tries fail, then every try succeeds.
    let l = FakeLauncher::new(
        ":",
        true,
        |n, _| if n < 2 { Act::Exit(1) } else { Act::Exit(0) },
    );
    let (reports, _) = run_slots(&s, 2, &[&l]);
    assert_eq!(seqs(&reports), [1, 2]);
    assert!(reports.iter().all(|r| r.outcome.ok()));
    assert_eq!(reports[0].attempts, 3);
    assert_eq!(reports[0].output.bytes(), b"out 2\n");
    assert_eq!(reports[0].command, b"run 1");
    assert_eq!(reports[1].attempts, 1);
}

#[test]
fn exec_halt_now_stops_at_the_first_failure() {
    let template = Template::parse("run", false).unwrap();
    let s = settings(Mode::Exec(template), 0, halt("now"), false);
    let l = FakeLauncher::new(
        ":",
        true,
        |n, _| if n == 1 { Act::Exit(4) } else { Act::Exit(0) },
    );
    let (reports, _) = run_slots(&s, 10, &[&l]);
    assert_eq!(seqs(&reports), [1, 2]);
    assert_eq!(reports[1].outcome.ended().exit, 4);
}

fn exec_settings(halt_policy: &str) -> Settings {
    let template = Template::parse("run {}", false).unwrap();
    let mut s = settings(Mode::Exec(template), 0, halt(halt_policy), false);
    s.job_timeout = None;
    s
}

/// An `--exec` launcher whose job with input `i` exits with `code(i)`.
fn exits(code: fn(u64) -> i32) -> FakeLauncher {
    FakeLauncher::new(":", true, move |_, input| Act::Exit(code(input_of(input))))
}

#[test]
fn halt_soon_fail_n_stops_at_the_nth_failure() {
    let s = exec_settings("soon,fail=2");
    let l = exits(|i| i32::from(i == 2 || i == 4 || i == 5));
    let (reports, _) = run_slots(&s, 8, &[&l]);
    assert_eq!(
        seqs(&reports),
        [1, 2, 3, 4],
        "no job after the second failure"
    );
}

#[test]
fn halt_fail_percent_counts_against_every_job() {
    // 6 jobs: 2 failures are 33%, below 50%, so every job runs (GNU parallel does the same).
    let s = exec_settings("soon,fail=50%");
    let l = exits(|i| i32::from(i == 1 || i == 2));
    assert_eq!(seqs(&run_slots(&s, 6, &[&l]).0), [1, 2, 3, 4, 5, 6]);
    // The third failure makes 50%.
    let l = exits(|i| i32::from(i <= 3));
    assert_eq!(seqs(&run_slots(&s, 6, &[&l]).0), [1, 2, 3]);
}

#[test]
fn halt_on_success_and_on_done() {
    let s = exec_settings("soon,success=2");
    let l = exits(|i| i32::from(i % 2 == 1));
    let ran = run_slots_with(&s, 9, &[&l], || {});
    assert_eq!(seqs(&ran.reports), [1, 2, 3, 4]);
    assert_eq!(ran.excused, 0, "soon kills nothing");
    let s = exec_settings("now,done=3");
    let l = exits(|i| i32::from(i == 1));
    assert_eq!(seqs(&run_slots(&s, 9, &[&l]).0), [1, 2, 3]);
    let s = exec_settings("soon,done=50%");
    assert_eq!(seqs(&run_slots(&s, 9, &[&l]).0), [1, 2, 3, 4, 5]);
}

#[test]
fn jobs_killed_by_a_halt_on_success_are_excused() {
    // Job 1 runs until the halt cancels it; job 2 succeeds and triggers the halt.
    static CANCELLED: AtomicBool = AtomicBool::new(false);
    let s = exec_settings("now,success=1");
    let script = |_: usize, input: &str| match input_of(input) {
        1 => {
            let t = Instant::now();
            while !CANCELLED.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Act::Cancelled
        }
        _ => Act::Exit(0),
    };
    let a = FakeLauncher::new(":", true, script);
    let b = FakeLauncher::new(":", true, script);
    let ran = run_slots_with(&s, 5, &[&a, &b], || CANCELLED.store(true, Ordering::SeqCst));
    assert!(
        CANCELLED.load(Ordering::SeqCst),
        "the halt cancelled the run"
    );
    assert_eq!(seqs(&ran.reports), [1, 2]);
    assert!(!ran.reports[0].outcome.ok() && ran.reports[1].outcome.ok());
    assert_eq!(ran.excused, 1);
}

#[test]
fn delay_spaces_every_start_including_retries() {
    let template = Template::parse("run {}", false).unwrap();
    let mut s = settings(Mode::Exec(template), 1, never(), false);
    s.delay = Some(Duration::from_millis(60));
    // Job 2 fails once and is retried: the retry is a start too.
    static FAILED_ONCE: AtomicBool = AtomicBool::new(false);
    let script = |_: usize, input: &str| {
        Act::Exit(i32::from(
            input_of(input) == 2 && !FAILED_ONCE.swap(true, Ordering::SeqCst),
        ))
    };
    let a = FakeLauncher::new(":", true, script);
    let b = FakeLauncher::new(":", true, script);
    let (reports, _) = run_slots(&s, 4, &[&a, &b]);
    assert_eq!(seqs(&reports), [1, 2, 3, 4]);
    assert!(reports.iter().all(|r| r.outcome.ok()));
    assert_eq!(reports[1].attempts, 2);
    let mut starts: Vec<Instant> = [&a, &b]
        .iter()
        .flat_map(|l| {
            l.tries
                .lock()
                .unwrap()
                .iter()
                .map(|t| t.0)
                .collect::<Vec<_>>()
        })
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 5, "4 jobs and a retry");
    // Measured after each start took its turn: a little less than the delay can show when a
    // thread is preempted between the two, never starts bunched together.
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(45),
            "starts {:?} apart",
            w[1] - w[0]
        );
    }
}

#[test]
fn a_timeout_of_the_median_is_set_once_three_jobs_succeeded() {
    let template = Template::parse("run {}", false).unwrap();
    let mut s = settings(Mode::Exec(template), 0, never(), false);
    s.job_timeout = Some(JobTimeout::OfMedian(300));
    let l = exits(|_| 0);
    let (reports, _) = run_slots(&s, 5, &[&l]);
    let tries = l.tries.lock().unwrap();
    let limits: Vec<Option<Duration>> = tries.iter().map(|t| t.1).collect();
    assert_eq!(
        limits[..3],
        [None, None, None],
        "no limit before 3 successes"
    );
    let mut first3: Vec<Duration> = reports[..3].iter().map(|r| r.duration).collect();
    first3.sort();
    assert_eq!(
        limits[3],
        Some(first3[1] * 3),
        "300% of the median of the first three"
    );
    assert!(limits[4].is_some());
}
