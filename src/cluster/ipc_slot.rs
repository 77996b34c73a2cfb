//! `--task` and `--worker`: a slot that keeps one persistent worker and sends it job after
//! job over the IPC channel. Each event — an answer, the worker's death, a timeout, a lost
//! connection, an interruption — is one method; a worker that keeps dying before its first
//! answer makes the slot give up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::job::{Job, JobOutcome, JobReport, Stop, Timeout};
use super::launch::Role;
use super::protocol::{TaskReply, TaskRequest};
use super::quote;
use super::slot::Slot;
use super::tasks::Task;
use super::worker::{Lost, Reply, Worker};
use crate::error_line;
use crate::process::Status;

/// How often a worker may die before answering its first job before its slot gives up.
const MAX_STARTUP_DEATHS: u32 = 5;

/// How many jobs a slot may keep queued at a built-in task worker, which answers in order: a
/// short pipeline hides the round trip for tiny jobs. User workers get one job at a time
/// (their next message is the answer to the job in flight).
const TASK_PIPELINE: usize = 16;

/// Jobs faster than this are "tiny": only then is the pipeline used. Longer jobs go one at a
/// time, so an idle slot can always take the next one (queuing them would unbalance the pool).
const TINY_JOB: Duration = Duration::from_micros(500);

/// A moving average of how long this slot's jobs take, which sets the pipeline depth.
struct Pace {
    avg: Option<Duration>,
    mark: Instant,
}

impl Pace {
    fn depth(&self, max: usize) -> usize {
        match self.avg {
            Some(a) if a < TINY_JOB => max,
            _ => 1,
        }
    }

    /// Work started on an idle worker.
    fn start(&mut self) {
        self.mark = Instant::now();
    }

    /// A reply arrived: the time since the previous reply (or the start) is one job's service.
    fn reply(&mut self) {
        let took = self.mark.elapsed();
        self.mark = Instant::now();
        self.avg = Some(match self.avg {
            None => took,
            Some(a) => (a * 3 + took) / 4,
        });
    }
}

/// A job sent (or about to be sent) to a persistent worker.
struct InFlight {
    job: Job,
    msg: Vec<u8>,
    /// Attempts that ended in a crash or timeout of this very job.
    attempts: u32,
    began: Instant,
    started: SystemTime,
}

/// What the slot knows of its worker after a wait.
struct Seen {
    /// The worker's pid as known (a remote one's is 0 until its hello).
    pid: i32,
    /// When we stopped it (a timeout, a stop): the signal it died of.
    killed_by: i32,
}

impl Seen {
    /// The pid a report names: none if the worker never started as far as we know.
    fn known_pid(&self) -> Option<i32> {
        Some(self.pid).filter(|&p| p > 0)
    }
}

pub(crate) struct IpcSlot<'a> {
    slot: Slot<'a>,
    role: Role<'a>,
    /// The built-in task (`--task`); `None` for the user's worker.
    task: Option<Task>,
    /// The joblog's Command of every job.
    command: Vec<u8>,
    max_depth: usize,
    /// Where the jobs run (a Slurm node is known once a worker said hello).
    host: Arc<str>,
    worker: Option<Box<dyn Worker>>,
    /// Connection failures in a row.
    connect_tries: u32,
    /// Answers from the current worker.
    answered: u64,
    /// Workers in a row that died before their first answer.
    startup_deaths: u32,
    /// Why the slot gave up, once it has.
    gave_up: Option<String>,
    /// The `--job-timeout` of the last wait.
    limit: Option<Timeout>,
    /// Sent to the current worker, oldest first; the front one is the job it is running.
    inflight: VecDeque<InFlight>,
    /// Taken from the queue but not (or no longer) at a worker: sent first.
    ready: VecDeque<InFlight>,
    pace: Pace,
}

impl<'a> IpcSlot<'a> {
    /// A slot of built-in `task` workers.
    pub(crate) fn task(slot: Slot<'a>, task: Task) -> IpcSlot<'a> {
        let role = Role::Task(task, &slot.settings.stop_args);
        let command = format!("task {}", task.name()).into_bytes();
        IpcSlot::new(slot, role, Some(task), command, TASK_PIPELINE)
    }

    /// A slot of the user's IPC worker `argv` (`line` as the user wrote it).
    pub(crate) fn worker(
        slot: Slot<'a>,
        argv: &'a [String],
        line: &'a str,
        ser: crate::ipc::Serialization,
    ) -> IpcSlot<'a> {
        let role = Role::Worker(argv, line, &slot.settings.stop_args, ser);
        let command = quote::join(argv.iter().map(String::as_bytes));
        IpcSlot::new(slot, role, None, command, 1)
    }

    fn new(
        slot: Slot<'a>,
        role: Role<'a>,
        task: Option<Task>,
        command: Vec<u8>,
        max_depth: usize,
    ) -> IpcSlot<'a> {
        IpcSlot {
            host: Arc::clone(&slot.launcher.state().label),
            slot,
            role,
            task,
            command,
            max_depth,
            worker: None,
            connect_tries: 0,
            answered: 0,
            startup_deaths: 0,
            gave_up: None,
            limit: None,
            inflight: VecDeque::new(),
            ready: VecDeque::new(),
            pace: Pace {
                avg: None,
                mark: Instant::now(),
            },
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            self.fill();
            if self.inflight.is_empty() && self.ready.is_empty() {
                break;
            }
            if let Some(why) = self.gave_up.take() {
                self.give_up(&why);
                break;
            }
            if self.slot.launcher.state().is_down() {
                self.host_down();
                return;
            }
            if self.worker.is_none() && !self.start_worker() {
                continue;
            }
            let Some((reply, seen)) = self.exchange() else {
                continue;
            };
            match reply {
                Reply::Message(m) => self.on_answer(m, &seen),
                Reply::Interrupted => return self.on_interrupted(&seen),
                Reply::Lost(lost) if self.on_lost(&lost) => return,
                Reply::Lost(_) => {}
                Reply::Died(status) => self.on_death(status, &seen),
                Reply::TimedOut => self.on_timeout(&seen),
            }
        }
        self.close();
    }

    /// Fill the pipeline, blocking for a job only when nothing at all is in flight.
    fn fill(&mut self) {
        while self.inflight.len() + self.ready.len() < self.pace.depth(self.max_depth) {
            let job = if self.inflight.is_empty() && self.ready.is_empty() {
                self.slot.jobs.next()
            } else {
                self.slot.jobs.try_next()
            };
            match job {
                Some(j) => {
                    let e = self.entry(j);
                    self.ready.push_back(e);
                }
                None => break,
            }
        }
    }

    fn entry(&self, job: Job) -> InFlight {
        InFlight {
            msg: job_message(self.task, &job.input()),
            job,
            attempts: 0,
            began: Instant::now(),
            started: SystemTime::now(),
        }
    }

    /// Start a worker; false when that failed (the slot gave up, or its host may be down).
    fn start_worker(&mut self) -> bool {
        match self.slot.launcher.start(&self.role) {
            Ok(mut w) => {
                w.set_stop(&self.slot.settings.limits);
                self.worker = Some(w);
                self.answered = 0;
                true
            }
            Err(e) if !self.slot.launcher.runs_here() => {
                // The launcher itself (ssh, srun) cannot be started: trying again is no use.
                self.slot
                    .connection_failed(&Lost::hopeless(e.to_string()), 1);
                false
            }
            Err(e) => {
                let why = format!("cannot start worker: {e}");
                error_line(&format!("slot {}: {why}", self.slot.n));
                self.gave_up = Some(why);
                self.slot.jobs.slot_gave_up();
                false
            }
        }
    }

    /// Send the ready jobs and wait for what comes back.
    fn exchange(&mut self) -> Option<(Reply, Seen)> {
        let w = self.worker.as_mut()?;
        if self.inflight.is_empty() {
            self.pace.start();
        }
        while let Some(e) = self.ready.pop_front() {
            let sent = w.send(&e.msg);
            self.inflight.push_back(e);
            if !sent {
                break; // the worker is gone; wait() reports how
            }
        }
        // Computed for each wait: a percentage of the median changes as jobs end.
        self.limit = self.slot.jobs.job_timeout();
        let reply = w.wait(self.limit.map(|t| t.after));
        // Read after the wait: a remote worker's pid and node arrive with its hello (and a
        // job that times out or is killed before any answer still names them).
        let seen = Seen {
            pid: w.pid(),
            killed_by: w.stopped_by(),
        };
        if !self.slot.launcher.runs_here() {
            self.host = self.slot.launcher.host_of(w.remote_host());
        }
        Some((reply, seen))
    }

    /// The worker answered the job at the front.
    fn on_answer(&mut self, m: Vec<u8>, seen: &Seen) {
        self.pace.reply();
        self.answered += 1;
        self.startup_deaths = 0;
        if self.answered == 1 && !self.slot.launcher.runs_here() {
            self.connect_tries = 0;
        }
        let Some(mut e) = self.inflight.pop_front() else {
            return;
        };
        e.attempts += 1;
        let (outcome, output) = match self.task {
            Some(_) => match TaskReply::parse(&m) {
                Ok(output) => (JobOutcome::Answered, output),
                Err(why) if self.slot.retry(e.job.seq, e.attempts, &why) => {
                    self.ready.push_back(e);
                    return;
                }
                Err(why) => (JobOutcome::TaskFailed(why), Vec::new()),
            },
            None => (JobOutcome::Answered, m),
        };
        self.report(e, outcome, output, seen.known_pid());
    }

    /// The run is being stopped and the worker is killed: the job it had started is reported
    /// as such (each still exactly once); queued ones never ran.
    fn on_interrupted(mut self, seen: &Seen) {
        drop(self.worker.take());
        let mut started = std::mem::take(&mut self.inflight).into_iter();
        if let Some(mut e) = started.next() {
            e.attempts += 1;
            let outcome = JobOutcome::WorkerStopped {
                stop: Stop::Cancelled,
                signal: seen.killed_by,
            };
            self.report(e, outcome, Vec::new(), seen.known_pid());
        }
        let unsent: Vec<InFlight> = started.chain(self.ready.drain(..)).collect();
        for e in unsent {
            let outcome = JobOutcome::NotRun("not run: the run was stopped".into());
            self.report(e, outcome, Vec::new(), None);
        }
    }

    /// The connection, not the job, failed: every job here goes back unharmed. True when the
    /// host is down and the slot is done.
    fn on_lost(&mut self, lost: &Lost) -> bool {
        self.worker = None;
        self.connect_tries += 1;
        let jobs = self.take_jobs();
        if self.slot.connection_failed(lost, self.connect_tries) {
            self.slot.host_down(jobs);
            return true;
        }
        self.slot.jobs.requeue(jobs);
        false
    }

    /// The worker died before answering the job at the front.
    fn on_death(&mut self, status: Option<Status>, seen: &Seen) {
        self.retire_worker();
        if self.answered == 0 {
            self.startup_death(status);
        }
        let outcome = JobOutcome::WorkerDied {
            pid: seen.pid,
            status,
        };
        self.fail_front(outcome, seen);
    }

    /// `--job-timeout` expired and the worker was stopped.
    fn on_timeout(&mut self, seen: &Seen) {
        self.retire_worker();
        let outcome = JobOutcome::WorkerStopped {
            stop: Stop::TimedOut(self.limit.unwrap_or_default()),
            signal: seen.killed_by,
        };
        self.fail_front(outcome, seen);
    }

    /// A worker died before its first answer: back off, or give up after too many.
    fn startup_death(&mut self, status: Option<Status>) {
        self.startup_deaths += 1;
        if self.startup_deaths < MAX_STARTUP_DEATHS {
            self.slot.pause(self.startup_deaths - 1);
            return;
        }
        let msg = format!(
            "worker keeps dying at start-up ({} times in a row, last: it {}); giving up on this slot",
            self.startup_deaths,
            super::job::describe(status)
        );
        error_line(&format!("slot {}: {msg}", self.slot.n));
        self.gave_up = Some(msg);
        self.slot.jobs.slot_gave_up();
    }

    /// The front job was running when the worker ended: retry or report it. The others never
    /// started and go back unharmed, in order.
    fn fail_front(&mut self, outcome: JobOutcome, seen: &Seen) {
        let mut rest = std::mem::take(&mut self.inflight);
        if let Some(mut e) = rest.pop_front() {
            e.attempts += 1;
            let why = outcome.error().unwrap_or_default();
            if self.gave_up.is_none() && self.slot.retry(e.job.seq, e.attempts, &why) {
                self.ready.push_back(e);
            } else {
                self.report(e, outcome, Vec::new(), seen.known_pid());
            }
        }
        for e in rest.into_iter().rev() {
            self.ready.push_front(e);
        }
    }

    /// This slot is done. Its own jobs fail with the reason; the queue is left to the slots
    /// still working — unless none is, and then every remaining job fails here, so each is
    /// still reported exactly once.
    fn give_up(&mut self, why: &str) {
        let mine: Vec<InFlight> = self
            .inflight
            .drain(..)
            .chain(self.ready.drain(..))
            .collect();
        for e in mine {
            self.report(e, JobOutcome::NotRun(why.into()), Vec::new(), None);
        }
        if !self.slot.jobs.collapsed() {
            return;
        }
        for job in self.slot.jobs.rest() {
            let e = self.entry(job);
            let why = format!("not run: no worker left ({why})");
            self.report(e, JobOutcome::NotRun(why), Vec::new(), None);
        }
    }

    fn host_down(&mut self) {
        let jobs = self.take_jobs();
        drop(self.worker.take());
        self.slot.host_down(jobs);
    }

    /// Every job this slot holds, taken back from it.
    fn take_jobs(&mut self) -> Vec<Job> {
        self.inflight
            .drain(..)
            .chain(self.ready.drain(..))
            .map(|e| e.job)
            .collect()
    }

    /// The current worker has ended: count its CPU time.
    fn retire_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            self.slot.jobs.add_remote_cpu(w.remote_cpu());
        }
    }

    /// The end of the slot: an orderly end for its worker.
    fn close(&mut self) {
        if let Some(w) = self.worker.take() {
            self.slot.jobs.add_remote_cpu(w.remote_cpu());
            w.shutdown(Duration::from_secs(2));
        }
    }

    fn report(&self, e: InFlight, outcome: JobOutcome, output: Vec<u8>, pid: Option<i32>) {
        self.slot.jobs.complete(JobReport {
            job: e.job,
            outcome,
            output: output.into(),
            stderr: Vec::new(),
            slot: self.slot.n,
            pid,
            attempts: e.attempts.max(1),
            started: e.started,
            duration: e.began.elapsed(),
            command: self.command.clone(),
            host: Some(Arc::clone(&self.host)),
        });
    }
}

/// The message that carries one job to a persistent worker.
fn job_message(task: Option<Task>, input: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(input);
    match task {
        Some(task) => serde_json::to_vec(&TaskRequest { task, input: text }).unwrap_or_default(),
        None => match crate::ipc::compact(input) {
            Ok(c) => c.into_owned(),
            Err(_) => serde_json::to_vec(&text).unwrap_or_default(),
        },
    }
}
