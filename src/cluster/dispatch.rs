//! The dispatcher: one shared queue the slots take jobs from (an idle slot always takes the
//! next, so work balances itself), jobs handed back when a host fails, `--delay` between
//! starts, `--halt`, the median runtime `--job-timeout N%` is taken of, and the single door
//! through which every job is reported — exactly once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::job::{Job, JobOutcome, JobReport, Stop, Timeout};
use super::plan::Settings;
use super::queue::Inputs;
use crate::error_line;
use crate::process::signals;
use crate::values::{HaltPolicy, HaltWhen, HaltWhy, JobTimeout, Threshold};

/// How often a slot waiting for its `--delay` turn looks whether the run is stopping.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Successful jobs needed before `--job-timeout N%` sets a limit: a median of one or two
/// runtimes says little (our rule; GNU parallel does not say).
pub(crate) const MEDIAN_MIN_JOBS: usize = 3;

/// Where finished jobs go (the reporter; a recorder in tests).
pub(crate) trait Sink: Send {
    /// Take one finished job.
    fn job(&mut self, r: JobReport);
    /// Results can no longer be delivered: the run must stop.
    fn broken(&self) -> bool;
    /// Periodic: make output visible.
    fn tick(&mut self);
    /// End of the run: deliver what is left and print the summary.
    fn finish(&mut self, summary: &Summary) -> Delivered;
}

/// What the closing summary says besides the job counts.
#[derive(Debug)]
pub(crate) struct Summary {
    pub wall: Duration,
    pub workers: usize,
    pub interrupted: Option<i32>,
    pub remote_cpu: Duration,
    /// The hosts to list, each with whether it went down.
    pub hosts: Vec<(String, bool)>,
}

/// How the results got out.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pub failed: u64,
    pub undelivered: Option<Undelivered>,
}

/// Why results stopped being delivered.
#[derive(Debug)]
pub(crate) enum Undelivered {
    Stdout(std::io::Error),
    Joblog(String),
}

pub(crate) struct Dispatcher {
    inputs: Mutex<Inputs>,
    /// Jobs handed back by a slot whose host connection failed; taken before new inputs.
    requeue: Mutex<VecDeque<Job>>,
    requeued: Condvar,
    /// Jobs taken and not yet reported or handed back.
    outstanding: AtomicUsize,
    /// No more jobs are taken (halt, interruption, pool collapse, undeliverable results).
    stop: AtomicBool,
    /// Slots that gave up (their worker kept dying, their host is down).
    dead_slots: AtomicUsize,
    workers: usize,
    /// Jobs may be handed back (other machines take part).
    remote: bool,
    halt: HaltPolicy,
    /// The number of jobs, when known up front (`--halt N%` counts against it).
    total: Option<u64>,
    /// Jobs taken from the inputs so far (the total of `--halt N%` when it is not known).
    taken: AtomicU64,
    /// Jobs reported, failed and succeeded (counted for `--halt` only).
    done: AtomicU64,
    failed: AtomicU64,
    succeeded: AtomicU64,
    /// `--halt now,success=…` stopped the run: the jobs it kills are not failures of the run.
    halted_on_success: AtomicBool,
    /// Jobs killed (or never started) by such a halt.
    excused: AtomicU64,
    /// `--delay`, and the earliest time the next job may start.
    delay: Option<Duration>,
    next_start: Mutex<Option<Instant>>,
    /// `--job-timeout`; the median of successful runtimes is kept only for its `N%` form.
    timeout: Option<JobTimeout>,
    median: Mutex<Median>,
    /// CPU time the remote sides reported, in microseconds.
    remote_cpu: AtomicU64,
    sink: Mutex<Box<dyn Sink>>,
    /// Stops every running job of the run (`signals::cancel_all`; a no-op in unit tests).
    cancel: fn(),
}

impl Dispatcher {
    /// `total`: the number of jobs, when known up front.
    pub(crate) fn new(
        inputs: Inputs,
        workers: usize,
        settings: &Settings,
        total: Option<u64>,
        sink: Box<dyn Sink>,
    ) -> Dispatcher {
        Dispatcher {
            inputs: Mutex::new(inputs),
            requeue: Mutex::new(VecDeque::new()),
            requeued: Condvar::new(),
            outstanding: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            dead_slots: AtomicUsize::new(0),
            workers,
            remote: settings.remote,
            halt: settings.halt,
            total,
            taken: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            halted_on_success: AtomicBool::new(false),
            excused: AtomicU64::new(0),
            delay: settings.delay,
            next_start: Mutex::new(None),
            timeout: settings.job_timeout,
            median: Mutex::new(Median::default()),
            remote_cpu: AtomicU64::new(0),
            sink: Mutex::new(sink),
            cancel: signals::cancel_all,
        }
    }

    /// The same, with another way of stopping running jobs.
    #[cfg(test)]
    pub(crate) fn with_cancel(mut self, cancel: fn()) -> Dispatcher {
        self.cancel = cancel;
        self
    }

    /// Take a job: one handed back first, else the next input. `wait` chooses whether to
    /// block on the input lock and for the job's `--delay` turn.
    fn take(&self, wait: bool) -> Option<Job> {
        if self.ended() || (!wait && !self.turn_due()) {
            return None;
        }
        let job = self.pick(wait)?;
        if !self.wait_turn() {
            // The run stopped while the job waited for its turn: it never starts, like the
            // inputs not read yet.
            self.outstanding.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(job)
    }

    /// The run is stopping. A signal stops dispatching at once, before the main thread has
    /// even noticed it.
    fn ended(&self) -> bool {
        self.stopping() || signals::Seen::now().first().is_some()
    }

    /// The job to take, counted as outstanding.
    fn pick(&self, wait: bool) -> Option<Job> {
        if self.remote
            && let Ok(mut rq) = self.requeue.lock()
            && let Some(j) = rq.pop_front()
        {
            self.outstanding.fetch_add(1, Ordering::SeqCst);
            return Some(j);
        }
        let job = if wait {
            self.inputs.lock().ok()?.next()
        } else {
            self.inputs.try_lock().ok()?.next()
        }?;
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        self.taken.fetch_add(1, Ordering::Relaxed);
        Some(job)
    }

    /// Whether a job may start now as far as `--delay` says.
    fn turn_due(&self) -> bool {
        self.delay.is_none() || lock(&self.next_start).is_none_or(|t| Instant::now() >= t)
    }

    /// Wait for a `--delay` turn: no sooner than the delay after the previous start. The
    /// slot that finds the turn due takes it, and the next one is counted from that moment, so
    /// a late wake-up never brings two starts closer. False when the run stopped meanwhile
    /// (looked at every 50 ms at most, so a signal ends the wait at once); the sleeping is
    /// done outside the lock.
    pub(crate) fn wait_turn(&self) -> bool {
        let Some(delay) = self.delay else {
            return true;
        };
        loop {
            if self.ended() {
                return false;
            }
            let left = {
                let mut next = lock(&self.next_start);
                let now = Instant::now();
                match *next {
                    Some(t) if t > now => t - now,
                    _ => {
                        *next = Some(now.checked_add(delay).unwrap_or(now));
                        return true;
                    }
                }
            };
            std::thread::sleep(left.min(STOP_POLL));
        }
    }

    /// The `--job-timeout` of a job starting now (`None`: no limit).
    pub(crate) fn job_timeout(&self) -> Option<Timeout> {
        match self.timeout? {
            JobTimeout::Fixed(t) => Some(Timeout::fixed(t)),
            JobTimeout::OfMedian(pct) => {
                let median = lock(&self.median).get()?;
                Some(Timeout {
                    after: percent_of(median, pct),
                    of_median: Some((pct, median)),
                })
            }
        }
    }

    /// The next job for an idle slot (`None`: no more, or the run is stopping). When other
    /// machines are involved, a slot whose inputs ran out stays until no job can be handed
    /// back.
    pub(crate) fn next(&self) -> Option<Job> {
        loop {
            if let Some(j) = self.take(true) {
                return Some(j);
            }
            if !self.remote || self.stopping() {
                return None;
            }
            let rq = self.requeue.lock().ok()?;
            if !rq.is_empty() {
                continue;
            }
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return None;
            }
            let _ = self.requeued.wait_timeout(rq, Duration::from_millis(100));
        }
    }

    /// A job without waiting for the input lock (`None` also when another slot holds it).
    pub(crate) fn try_next(&self) -> Option<Job> {
        self.take(false)
    }

    /// Hand jobs back: their host failed, not they.
    pub(crate) fn requeue(&self, jobs: impl IntoIterator<Item = Job>) {
        if let Ok(mut rq) = self.requeue.lock() {
            for j in jobs {
                rq.push_back(j);
                self.outstanding.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.requeued.notify_all();
    }

    /// Report one finished job, applying `--halt` first (before the slot can take another).
    pub(crate) fn complete(&self, r: JobReport) {
        let ok = r.outcome.ok();
        if ok && matches!(self.timeout, Some(JobTimeout::OfMedian(_))) {
            lock(&self.median).add(r.duration);
        }
        if self.halted_on_success.load(Ordering::SeqCst) && stopped_by_the_run(&r.outcome) {
            self.excused.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(why) = self.halt_reached(ok)
            && !self.stop.swap(true, Ordering::SeqCst)
        {
            self.halt_now(r.job.seq, why);
        }
        let broken = {
            let mut sink = self.sink();
            sink.job(r);
            sink.broken()
        };
        // Results or the joblog have nowhere to go: stop the run (`run` says how it ends).
        if broken && !self.stop.swap(true, Ordering::SeqCst) {
            (self.cancel)();
        }
        if self.remote {
            self.outstanding.fetch_sub(1, Ordering::SeqCst);
            self.requeued.notify_all();
        } else {
            self.outstanding.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Count one finished job; `Some` with what was counted when `--halt`'s condition is met.
    fn halt_reached(&self, ok: bool) -> Option<(HaltWhy, u64)> {
        let HaltPolicy::On { why, threshold, .. } = self.halt else {
            return None;
        };
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let counter = if ok { &self.succeeded } else { &self.failed };
        let mine = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let n = match why {
            HaltWhy::Done => done,
            HaltWhy::Fail if !ok => mine,
            HaltWhy::Success if ok => mine,
            _ => return None,
        };
        let met = match threshold {
            Threshold::Count(k) => n >= k,
            Threshold::Percent(p) => {
                n.saturating_mul(100) >= self.of_jobs().saturating_mul(u64::from(p))
            }
        };
        met.then_some((why, n))
    }

    /// What `--halt N%` is a percentage of: every job when that is known, else the jobs
    /// taken so far (stdin inputs are read as they are needed).
    fn of_jobs(&self) -> u64 {
        self.total
            .unwrap_or_else(|| self.taken.load(Ordering::SeqCst))
    }

    /// `--halt`'s condition was met by job `seq`, the `n`-th of its kind.
    fn halt_now(&self, seq: u64, (why, n): (HaltWhy, u64)) {
        let HaltPolicy::On {
            when, threshold, ..
        } = self.halt
        else {
            return;
        };
        let (verb, counted) = match why {
            HaltWhy::Fail => ("failed", "failed"),
            HaltWhy::Success => ("succeeded", "succeeded"),
            HaltWhy::Done => ("finished", "finished"),
        };
        let count = match threshold {
            Threshold::Count(1) => String::new(),
            Threshold::Count(_) => format!(" ({n} jobs {counted})"),
            Threshold::Percent(_) => format!(" ({n} of {} jobs {counted})", self.of_jobs()),
        };
        let what = match when {
            HaltWhen::Now => "killing running jobs, starting no more",
            HaltWhen::Soon => "starting no more jobs",
        };
        error_line(&format!(
            "job {seq} {verb}: --halt {}{count}: {what}",
            self.halt
        ));
        if when == HaltWhen::Now {
            if why == HaltWhy::Success {
                self.halted_on_success.store(true, Ordering::SeqCst);
            }
            (self.cancel)();
        }
    }

    /// Jobs that a `--halt …,success=…` killed or left unstarted: reported as failed, but
    /// the run's exit code does not count them.
    pub(crate) fn excused(&self) -> u64 {
        self.excused.load(Ordering::SeqCst)
    }

    /// Take no more jobs.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A slot gave up; true when it was the last one working.
    pub(crate) fn slot_gave_up(&self) -> bool {
        self.dead_slots.fetch_add(1, Ordering::SeqCst) + 1 >= self.workers
    }

    /// Every slot gave up.
    pub(crate) fn collapsed(&self) -> bool {
        self.dead_slots.load(Ordering::SeqCst) >= self.workers
    }

    /// Every job still to come, for the last slot standing to fail each exactly once.
    pub(crate) fn rest(&self) -> impl Iterator<Item = Job> + '_ {
        std::iter::from_fn(|| self.next())
    }

    pub(crate) fn add_remote_cpu(&self, cpu: Duration) {
        if !cpu.is_zero() {
            let us = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
            self.remote_cpu.fetch_add(us, Ordering::Relaxed);
        }
    }

    pub(crate) fn remote_cpu(&self) -> Duration {
        Duration::from_micros(self.remote_cpu.load(Ordering::SeqCst))
    }

    /// The sink, even after a slot panicked while holding it.
    pub(crate) fn sink(&self) -> MutexGuard<'_, Box<dyn Sink>> {
        lock(&self.sink)
    }
}

/// A lock, even after a slot panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A job the run itself ended: killed by a stop, or never started because of one.
fn stopped_by_the_run(o: &JobOutcome) -> bool {
    matches!(
        o,
        JobOutcome::Exited {
            stop: Some(Stop::Cancelled),
            ..
        } | JobOutcome::WorkerStopped {
            stop: Stop::Cancelled,
            ..
        } | JobOutcome::NotRun(_)
    )
}

/// `pct`% of `d`, without overflow.
fn percent_of(d: Duration, pct: u32) -> Duration {
    let nanos = d.as_nanos().saturating_mul(u128::from(pct)) / 100;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// The running median of the successful jobs' runtimes: the lower half in a max-heap, the
/// upper half in a min-heap, so adding is O(log n) and reading is O(1) for any number of jobs.
#[derive(Debug, Default)]
pub(crate) struct Median {
    low: BinaryHeap<Duration>,
    high: BinaryHeap<Reverse<Duration>>,
}

impl Median {
    pub(crate) fn add(&mut self, d: Duration) {
        match self.low.peek() {
            Some(&top) if d > top => self.high.push(Reverse(d)),
            _ => self.low.push(d),
        }
        // Keep the halves balanced: `low` holds the extra one.
        if self.low.len() > self.high.len() + 1 {
            if let Some(top) = self.low.pop() {
                self.high.push(Reverse(top));
            }
        } else if self.high.len() > self.low.len()
            && let Some(Reverse(bottom)) = self.high.pop()
        {
            self.low.push(bottom);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.low.len() + self.high.len()
    }

    /// The median (the mean of the middle two for an even count), once there are at least
    /// [`MEDIAN_MIN_JOBS`] runtimes.
    pub(crate) fn get(&self) -> Option<Duration> {
        if self.len() < MEDIAN_MIN_JOBS {
            return None;
        }
        let mid = *self.low.peek()?;
        if self.low.len() > self.high.len() {
            return Some(mid);
        }
        let Reverse(upper) = *self.high.peek()?;
        // `upper` is never below `mid`: halfway between them, without overflow.
        Some(mid + upper.saturating_sub(mid) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_needs_three_runtimes_and_is_the_middle_one() {
        let ms = Duration::from_millis;
        let mut m = Median::default();
        m.add(ms(10));
        m.add(ms(1000));
        assert_eq!(m.get(), None, "fewer than 3");
        m.add(ms(30));
        assert_eq!(m.get(), Some(ms(30)));
        m.add(ms(40));
        assert_eq!(m.get(), Some(ms(35)), "the mean of the middle two");
        for _ in 0..10 {
            m.add(ms(1));
        }
        assert_eq!(m.get(), Some(ms(1)));
        assert_eq!(m.len(), 14);
    }

    #[test]
    fn the_median_matches_sorting_for_many_runtimes() {
        let mut m = Median::default();
        let mut all = Vec::new();
        // A fixed pseudo-random sequence: deterministic, unsorted, with repeats.
        let mut x: u64 = 12345;
        for i in 0..2001 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let d = Duration::from_micros((x >> 33) % 5000);
            m.add(d);
            all.push(d);
            if i % 250 == 2 || i == 2000 {
                let mut sorted = all.clone();
                sorted.sort();
                let n = sorted.len();
                let want = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    (sorted[n / 2 - 1] + sorted[n / 2]) / 2
                };
                assert_eq!(m.get(), Some(want), "after {n}");
            }
        }
    }

    #[test]
    fn percentages_of_durations_do_not_overflow() {
        assert_eq!(
            percent_of(Duration::from_millis(1200), 200),
            Duration::from_millis(2400)
        );
        assert_eq!(
            percent_of(Duration::from_nanos(3), 150),
            Duration::from_nanos(4)
        );
        assert_eq!(percent_of(Duration::MAX, u32::MAX).as_secs(), u64::MAX);
    }
}
