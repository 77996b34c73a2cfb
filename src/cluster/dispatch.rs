//! The dispatcher: one shared queue the slots take jobs from (an idle slot always takes the
//! next, so work balances itself), jobs handed back when a host fails, `--halt`, and the
//! single door through which every job is reported — exactly once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::job::{Job, JobReport};
use super::queue::Inputs;
use crate::cli::Halt;
use crate::error_line;
use crate::process::signals;

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
    halt: Halt,
    /// CPU time the remote sides reported, in microseconds.
    remote_cpu: AtomicU64,
    sink: Mutex<Box<dyn Sink>>,
    /// Stops every running job of the run (`signals::cancel_all`; a no-op in unit tests).
    cancel: fn(),
}

impl Dispatcher {
    pub(crate) fn new(
        inputs: Inputs,
        workers: usize,
        remote: bool,
        halt: Halt,
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
            remote,
            halt,
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
    /// block on the input lock.
    fn take(&self, wait: bool) -> Option<Job> {
        // A signal stops dispatching at once, before the main thread has even noticed it.
        if self.stopping() || signals::Seen::now().first().is_some() {
            return None;
        }
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
        Some(job)
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
        if !r.outcome.ok() && self.halt != Halt::Never && !self.stop.swap(true, Ordering::SeqCst) {
            self.halt_now(r.job.seq);
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

    fn halt_now(&self, seq: u64) {
        let (when, what) = match self.halt {
            Halt::Now => ("now", "killing running jobs, starting no more"),
            _ => ("soon", "starting no more jobs"),
        };
        error_line(&format!("job {seq} failed: --halt {when}: {what}"));
        if self.halt == Halt::Now {
            (self.cancel)();
        }
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
        match self.sink.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
