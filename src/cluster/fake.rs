//! A scripted fake worker and launcher (no processes), and the slot tests that use them:
//! retries, requeue, halt and the crash-loop give-up, each job reported exactly once.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use crate::cli::Halt;
use crate::process::{Limits, SpawnError, Status};

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
            Act::Exit(_) => Reply::Died(None),
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
        _limits: &Limits,
        _out: &mut super::output::JobOut,
    ) -> Result<Attempt, SpawnError> {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        let code = match (self.script)(n, &argv[argv.len() - 1].to_string_lossy()) {
            Act::Exit(c) => c,
            _ => 0,
        };
        Ok(Attempt {
            pid: 200 + n as i32,
            status: Status::Exited(code),
            timed_out: false,
            cancelled: false,
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

fn settings(mode: Mode, retries: u32, halt: Halt, remote: bool) -> Settings {
    Settings {
        mode,
        halt,
        retries,
        job_timeout: Some(Duration::from_secs(1)),
        limits: Limits::default(),
        remote,
        stop_args: Vec::new(),
        exec_limits: Vec::new(),
        backoff: Duration::ZERO,
        output: super::output::OutputPlan::default(),
    }
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
    let rec = Recorder::default();
    let jobs = Dispatcher::new(
        inputs(n),
        launchers.len(),
        s.remote,
        s.halt,
        Box::new(rec.clone()),
    )
    .with_cancel(|| {});
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
    (reports, jobs.collapsed())
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
    let s = settings(Mode::Task(Task::Sum), 0, Halt::Never, false);
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
    let s = settings(Mode::Task(Task::Sum), 2, Halt::Never, false);
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
    let s = settings(worker_mode(), 1, Halt::Never, false);
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
    let s = settings(worker_mode(), 0, Halt::Never, false);
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
    let s = settings(worker_mode(), 0, Halt::Never, false);
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
    let s = settings(worker_mode(), 0, Halt::Never, false);
    let bad = FakeLauncher::new(":", true, |_, _| Act::Die(None));
    let good = FakeLauncher::new(":", true, |_, _| Act::Answer("1"));
    let (reports, collapsed) = run_slots(&s, 200, &[&bad, &good]);
    assert_eq!(seqs(&reports), (1..=200).collect::<Vec<_>>());
    assert!(!collapsed);
    let failed = reports.iter().filter(|r| !r.outcome.ok()).count();
    assert!((5..=6).contains(&failed), "{failed} failed");
}

#[test]
fn a_lost_connection_hands_the_jobs_back() {
    let s = settings(worker_mode(), 0, Halt::Never, true);
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
    let s = settings(worker_mode(), 0, Halt::Never, true);
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
    let s = settings(worker_mode(), 0, Halt::Soon, false);
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
    let s = settings(Mode::Exec(template), 3, Halt::Never, false);
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
    let s = settings(Mode::Exec(template), 0, Halt::Now, false);
    let l = FakeLauncher::new(
        ":",
        true,
        |n, _| if n == 1 { Act::Exit(4) } else { Act::Exit(0) },
    );
    let (reports, _) = run_slots(&s, 10, &[&l]);
    assert_eq!(seqs(&reports), [1, 2]);
    assert_eq!(reports[1].outcome.ended().exit, 4);
}
