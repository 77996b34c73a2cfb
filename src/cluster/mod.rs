//! `childproc cluster`: a primary that feeds jobs to N worker slots through one shared queue (an
//! idle slot always takes the next job, so work balances itself) and reports every job exactly
//! once.
//!
//! Threads: a feeder streams inputs into a bounded queue (a million stdin lines are never held
//! in memory); one thread per slot runs jobs — on a persistent IPC worker (`--task`, `--worker`)
//! or as one supervised process per job (`--exec`) — and sends a [`JobResult`] back; the main
//! thread reports, writes the joblog, draws progress and watches for signals. Every slot thread
//! lives until the end of the run, which matters because `PR_SET_PDEATHSIG` is tied to the
//! thread that spawned a child.

pub mod launch;
pub mod quote;
pub mod remote;
pub mod report;
pub mod role;
pub mod tasks;
pub mod worker;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::cli::{ClusterArgs, Halt};
use crate::cmd::UsageError;
use crate::error_line;
use crate::exit::Exit;
use crate::output::Capture;
use crate::process::{self, Input, Limits, Output, Spec, Status, signals, supervise};
use launch::{Launcher, Role};
use tasks::Task;
use worker::{IpcWorker, Lost, Reply};

/// One unit of work.
#[derive(Debug, Clone)]
pub struct Job {
    /// 1-based position in the input.
    pub seq: u64,
    pub input: Vec<u8>,
}

/// What happened to one job; sent once per job to the main thread.
#[derive(Debug)]
pub struct JobResult {
    pub seq: u64,
    pub input: Vec<u8>,
    pub ok: bool,
    /// Compact JSON (`--task`, `--worker`) or the job's stdout bytes (`--exec`).
    pub output: Vec<u8>,
    /// `--exec`: the job's stderr, printed grouped.
    pub stderr: Vec<u8>,
    pub error: Option<String>,
    pub worker: usize,
    /// `None` for a job that never started (`--json` prints null: a 0 passed to kill(1) would
    /// signal the caller's own process group).
    pub pid: Option<i32>,
    pub attempts: u32,
    pub started: SystemTime,
    pub duration: Duration,
    pub ended: Ended,
    /// The joblog's `Command` (bytes: an input need not be UTF-8).
    pub command: Vec<u8>,
    /// Where it ran: `:` for this machine, else the host (or Slurm node) name.
    pub host: Arc<str>,
}

/// The joblog's `Exitval` and `Signal` of a job, with GNU parallel's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub exit: i32,
    pub signal: i32,
}

impl Ended {
    pub const OK: Ended = Ended { exit: 0, signal: 0 };

    /// Failed without a process status of its own (a task's error reply).
    pub const FAILED: Ended = Ended { exit: 1, signal: 0 };

    /// childproc itself ended the job (timeout, halt, interruption) or never ran it: Exitval
    /// -1, with the signal the job died of, if any.
    pub fn stopped(signal: i32) -> Ended {
        Ended { exit: -1, signal }
    }

    /// A process status: a job killed by a signal it was not sent by us has Exitval 0.
    pub fn of(status: Status, we_stopped_it: bool) -> Ended {
        let signal = match status {
            Status::Signaled(n) => n,
            Status::Exited(_) => 0,
        };
        match status {
            _ if we_stopped_it => Ended::stopped(signal),
            Status::Exited(c) => Ended { exit: c, signal: 0 },
            Status::Signaled(n) => Ended { exit: 0, signal: n },
        }
    }
}

/// How jobs are run.
enum Mode {
    Task(Task),
    Worker(Vec<String>),
    Exec { template: Vec<String>, shell: bool },
}

struct Shared {
    mode: Mode,
    /// `--worker` as the user wrote it (sent to remote sides as one argument).
    worker_line: String,
    halt: Halt,
    retries: u32,
    job_timeout: Option<Duration>,
    limits: Limits,
    /// No more jobs are taken from the queue (halt, interruption, pool collapse).
    stop: AtomicBool,
    /// Slots whose worker kept dying at start-up and that gave up.
    dead_slots: AtomicUsize,
    workers: usize,
    /// The inputs, read on demand by whichever slot is idle.
    queue: Mutex<Queue>,
    /// Jobs handed back by a slot whose host connection failed; taken before new inputs.
    requeue: Mutex<VecDeque<Job>>,
    requeued: Condvar,
    /// Jobs taken from the queue and not yet reported or handed back.
    outstanding: AtomicUsize,
    /// Some slots run on other machines (jobs may be handed back; hosts are reported).
    remote: bool,
    /// CPU time the remote sides reported, in microseconds.
    remote_cpu: AtomicU64,
    /// `cluster-remote --exec` arguments carrying the job limits.
    exec_limits: Vec<String>,
    /// `cluster-remote` arguments carrying how a worker is stopped.
    stop_args: Vec<String>,
    /// Results are reported by the slot that produced them, under this lock.
    reporter: Mutex<report::Reporter>,
}

/// Where jobs come from: the arguments, or stdin lines read on demand (streamed, so a million
/// inputs are never held in memory, and no feeder thread has to be woken per job).
enum Source {
    Args(std::vec::IntoIter<OsString>),
    Stdin(std::io::BufReader<std::io::Stdin>),
}

struct Queue {
    source: Source,
    seq: u64,
    done: bool,
}

impl Queue {
    fn next(&mut self) -> Option<Job> {
        if self.done {
            return None;
        }
        let input = match &mut self.source {
            Source::Args(it) => it.next().map(OsString::into_vec),
            Source::Stdin(r) => {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                        }
                        Some(line)
                    }
                }
            }
        };
        match input {
            Some(input) => {
                self.seq += 1;
                Some(Job {
                    seq: self.seq,
                    input,
                })
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// How often a worker may die before answering its first job before its slot gives up.
const MAX_STARTUP_DEATHS: u32 = 5;

/// Connection failures in a row after which a slot's host is marked down.
const MAX_CONNECT_TRIES: u32 = 3;

/// The hosts of a run: one launcher each, and for each slot the index of its launcher. The
/// temporary directory holds ssh's ControlMaster sockets; it lives as long as the run.
struct Pool {
    launchers: Vec<Arc<dyn Launcher>>,
    slots: Vec<usize>,
    _control: Option<tempfile::TempDir>,
}

fn pool(a: &ClusterArgs) -> anyhow::Result<Pool> {
    let local_default = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut hosts = a.hosts.clone().map(|h| h.0).unwrap_or_default();
    if let Some(f) = &a.hosts_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| UsageError(format!("--hosts-file {}: {e}", f.display())))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                hosts.push(
                    crate::values::parse_host(line)
                        .map_err(|e| UsageError(format!("--hosts-file {}: {e}", f.display())))?,
                );
            }
        }
        if hosts.is_empty() {
            return Err(UsageError(format!("--hosts-file {}: no hosts in it", f.display())).into());
        }
    }
    let slurm = a.slurm || a.slurm_args.is_some();
    if slurm {
        let srun_args = match &a.slurm_args {
            Some(s) => {
                shell_words::split(s).map_err(|e| UsageError(format!("--slurm-args '{s}': {e}")))?
            }
            None => Vec::new(),
        };
        let remote = match &a.remote_childproc {
            Some(p) => p.clone(),
            None => std::env::current_exe()?.to_string_lossy().into_owned(),
        };
        let n = a
            .workers
            .or_else(launch::allocation_tasks)
            .unwrap_or_else(local_default);
        let l: Arc<dyn Launcher> = Arc::new(launch::Slurm::new(srun_args, remote));
        return Ok(Pool {
            launchers: vec![l],
            slots: vec![0; n],
            _control: None,
        });
    }
    if hosts.is_empty() {
        let n = a.workers.unwrap_or_else(local_default);
        let l: Arc<dyn Launcher> = Arc::new(launch::Local::default());
        return Ok(Pool {
            launchers: vec![l],
            slots: vec![0; n],
            _control: None,
        });
    }
    let client =
        shell_words::split(&a.ssh).map_err(|e| UsageError(format!("--ssh '{}': {e}", a.ssh)))?;
    if client.is_empty() {
        return Err(UsageError("--ssh needs a command".into()).into());
    }
    // A private directory for the ControlMaster sockets (short: a socket path has ~100 bytes).
    let control = tempfile::Builder::new()
        .prefix("cp-ssh-")
        .tempdir_in("/tmp")
        .ok();
    let remote = a
        .remote_childproc
        .clone()
        .unwrap_or_else(|| "childproc".into());
    let mut launchers: Vec<Arc<dyn Launcher>> = Vec::new();
    let mut slots = Vec::new();
    // One launcher per distinct host (a host named twice gets the slots of both entries).
    let mut per_host: Vec<usize> = Vec::new();
    for h in &hosts {
        let n = h.slots.or(a.workers).unwrap_or(1);
        let label = h.label();
        if let Some(i) = launchers.iter().position(|l| *l.state().label == *label) {
            per_host[i] += n;
            continue;
        }
        let l: Arc<dyn Launcher> = match h.dest {
            None => Arc::new(launch::Local::default()),
            Some(_) => Arc::new(launch::Ssh::new(
                h,
                client.clone(),
                remote.clone(),
                control.as_ref().map(|d| d.path()),
            )),
        };
        launchers.push(l);
        per_host.push(n);
    }
    // Slots take turns across hosts, so a few jobs spread over all of them.
    let mut left = per_host.clone();
    while left.iter().any(|&n| n > 0) {
        for (i, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                slots.push(i);
            }
        }
    }
    if slots.len() > 4096 {
        return Err(UsageError(format!(
            "{} slots in all is too many (at most 4096)",
            slots.len()
        ))
        .into());
    }
    Ok(Pool {
        launchers,
        slots,
        _control: control,
    })
}

pub fn run(mut a: ClusterArgs) -> anyhow::Result<Exit> {
    // A zero limit is no limit, as for every other duration.
    a.job_timeout = a.job_timeout.filter(|d| !d.is_zero());
    check_mode_options(&a)?;
    let pool = pool(&a)?;
    let (launchers, slot_hosts) = (&pool.launchers, &pool.slots);
    let workers = slot_hosts.len();
    // Hosts were named: jobs may move between them, and reports say where each ran.
    let remote = a.hosts.is_some() || a.hosts_file.is_some() || a.slurm || a.slurm_args.is_some();
    let mode = if let Some(t) = a.task {
        Mode::Task(t)
    } else if let Some(w) = &a.worker {
        let argv = shell_words::split(w).map_err(|e| UsageError(format!("--worker '{w}': {e}")))?;
        if argv.is_empty() {
            return Err(UsageError("--worker needs a command".into()).into());
        }
        Mode::Worker(argv)
    } else if let Some(t) = &a.exec {
        let mut template =
            shell_words::split(t).map_err(|e| UsageError(format!("--exec '{t}': {e}")))?;
        if a.shell && !template.is_empty() {
            // The shell gets the template as written: splitting and re-joining would lose
            // its quoting (`printf '%s\n' {}`).
            template = vec![t.clone()];
        }
        if template.is_empty() {
            return Err(UsageError("--exec needs a command template".into()).into());
        }
        Mode::Exec {
            template,
            shell: a.shell,
        }
    } else {
        return Err(UsageError("one of --task, --worker or --exec is required".into()).into());
    };
    let exec_limits = exec_limit_args(&a);
    let stop_args = stop_args(&a);
    let mut reporter = report::Reporter::new(&a, remote)?;
    let known_total = (!a.inputs.is_empty()).then_some(a.inputs.len() as u64);
    reporter.set_total(known_total);
    let source = if a.inputs.is_empty() {
        Source::Stdin(std::io::BufReader::with_capacity(
            64 * 1024,
            std::io::stdin(),
        ))
    } else {
        Source::Args(a.inputs.into_iter())
    };

    let shared = Arc::new(Shared {
        mode,
        worker_line: a.worker.clone().unwrap_or_default(),
        halt: a.halt,
        retries: a.retries,
        job_timeout: a.job_timeout,
        limits: a.kill.limits(a.job_timeout),
        stop: AtomicBool::new(false),
        dead_slots: AtomicUsize::new(0),
        workers,
        queue: Mutex::new(Queue {
            source,
            seq: 0,
            done: false,
        }),
        requeue: Mutex::new(VecDeque::new()),
        requeued: Condvar::new(),
        outstanding: AtomicUsize::new(0),
        remote,
        remote_cpu: AtomicU64::new(0),
        exec_limits,
        stop_args,
        reporter: Mutex::new(reporter),
    });

    let started = Instant::now();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for (slot, &h) in slot_hosts.iter().enumerate() {
        let sh = Arc::clone(&shared);
        let done = done_tx.clone();
        let launcher = Arc::clone(&launchers[h]);
        std::thread::Builder::new()
            .name(format!("slot-{slot}"))
            .spawn(move || {
                slot_loop(slot + 1, &sh, &*launcher);
                let _ = done.send(());
            })?;
    }
    drop(done_tx);

    // The main thread only watches: for signals, for the end, and to keep output flowing.
    let mut interrupted: Option<i32> = None;
    let mut finished = 0;
    let mut give_up_at: Option<Instant> = None;
    while finished < workers {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(()) => finished += 1,
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(mut r) = shared.reporter.lock() {
                    r.tick();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if interrupted.is_none()
            && let Some(sig) = signals::Seen::now().first()
        {
            interrupted = Some(sig);
            shared.stop.store(true, Ordering::SeqCst);
            signals::cancel_all();
            // A slot blocked reading a terminal for its next input holds no child: do not
            // wait for it longer than the kill grace period.
            let mut grace = a.kill.kill_after.saturating_add(Duration::from_secs(1));
            if remote {
                grace = grace.saturating_add(worker::REMOTE_STOP_GRACE);
            }
            give_up_at = Instant::now().checked_add(grace);
        }
        if give_up_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
    }
    if interrupted.is_none() {
        interrupted = signals::Seen::now().first();
    }
    let pool_collapsed = shared.dead_slots.load(Ordering::SeqCst) >= workers;
    for l in launchers {
        l.close();
    }
    let mut reporter = match shared.reporter.lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Hosts named up front get a summary line each; a scheduler's nodes show up under their
    // own names in the reporter's counts (its launcher is listed only if it went down).
    let hosts: Vec<(String, bool)> = launchers
        .iter()
        .map(|l| (l, l.state().down.load(Ordering::SeqCst)))
        .filter(|(l, down)| l.named_up_front() || *down)
        .map(|(l, down)| (l.state().label.to_string(), down))
        .collect();
    let remote_cpu = Duration::from_micros(shared.remote_cpu.load(Ordering::SeqCst));
    reporter.finish(started.elapsed(), workers, interrupted, remote_cpu, &hosts);
    if pool_collapsed && remote && hosts.iter().all(|(_, down)| *down) {
        error_line("all hosts are down; the jobs left could not run");
    }

    if let Some(e) = reporter.output_error() {
        if crate::output::is_broken_pipe(e) {
            return Ok(Exit::Signal(libc::SIGPIPE)); // the reader left: a quiet end
        }
        error_line(&format!(
            "writing results to stdout: {e}; the run was stopped"
        ));
        return Ok(Exit::Failure);
    }
    if let Some(e) = reporter.joblog_error() {
        error_line(&format!("{e}; the run was stopped"));
        return Ok(Exit::Failure);
    }
    if let Some(sig) = interrupted {
        return Ok(Exit::Signal(sig));
    }
    if pool_collapsed {
        return Ok(Exit::Failure);
    }
    Ok(match reporter.failed() {
        0 => Exit::Child(0),
        n if n > 100 => Exit::Child(101),
        n => Exit::Child(n as u8),
    })
}

/// Options that only mean something in one mode are refused elsewhere, rather than ignored
/// (`--shell --task sum` would otherwise quietly run without a shell).
fn check_mode_options(a: &ClusterArgs) -> Result<(), UsageError> {
    let remote = a.hosts.is_some() || a.hosts_file.is_some() || a.slurm || a.slurm_args.is_some();
    if a.remote_childproc.is_some() && !remote {
        return Err(UsageError(
            "--remote-childproc only applies with --hosts, --hosts-file or --slurm".into(),
        ));
    }
    if a.ssh != "ssh" && a.hosts.is_none() && a.hosts_file.is_none() {
        return Err(UsageError(
            "--ssh only applies with --hosts or --hosts-file".into(),
        ));
    }
    let mode = if a.task.is_some() {
        "--task"
    } else if a.worker.is_some() {
        "--worker"
    } else {
        return Ok(()); // --exec, or no mode at all (reported later)
    };
    if a.shell {
        return Err(UsageError(format!(
            "--shell only applies to --exec, not to {mode}"
        )));
    }
    Ok(())
}

/// A duration as `cluster-remote` reads it: whole milliseconds, never rounded down to 0.
fn millis(d: Duration) -> String {
    (d.as_millis().max(u128::from(!d.is_zero()))).to_string()
}

/// `cluster-remote` options that carry the stop policy (`--kill-signal`, `--kill-after`).
fn stop_args(a: &ClusterArgs) -> Vec<String> {
    vec![
        "--kill-signal".to_string(),
        a.kill.kill_signal.number().to_string(),
        "--kill-after".to_string(),
        millis(a.kill.kill_after),
    ]
}

/// `cluster-remote --exec` options that carry the job limits to the far side.
fn exec_limit_args(a: &ClusterArgs) -> Vec<String> {
    let mut v = stop_args(a);
    if let Some(t) = a.job_timeout {
        v.extend(["--job-timeout".to_string(), millis(t)]);
    }
    v
}

/// Take a job: one handed back first, else the next input. `wait` chooses whether to block
/// on the input lock.
fn take_job(shared: &Shared, wait: bool) -> Option<Job> {
    // A signal stops dispatching at once, before the main thread has even noticed it.
    if shared.stop.load(Ordering::SeqCst) || signals::Seen::now().first().is_some() {
        return None;
    }
    if shared.remote
        && let Ok(mut rq) = shared.requeue.lock()
        && let Some(j) = rq.pop_front()
    {
        shared.outstanding.fetch_add(1, Ordering::SeqCst);
        return Some(j);
    }
    let job = if wait {
        shared.queue.lock().ok()?.next()
    } else {
        shared.queue.try_lock().ok()?.next()
    }?;
    shared.outstanding.fetch_add(1, Ordering::SeqCst);
    Some(job)
}

/// The next input for an idle slot (`None`: no more, or the run is stopping). When other
/// machines are involved, a slot whose inputs ran out stays until no job can be handed back.
fn next_job(shared: &Shared) -> Option<Job> {
    loop {
        if let Some(j) = take_job(shared, true) {
            return Some(j);
        }
        if !shared.remote || shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        let rq = shared.requeue.lock().ok()?;
        if !rq.is_empty() {
            continue;
        }
        if shared.outstanding.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let _ = shared.requeued.wait_timeout(rq, Duration::from_millis(100));
    }
}

/// Hand jobs back to the pool: their host failed, not they.
fn requeue(shared: &Shared, jobs: impl IntoIterator<Item = Job>) {
    if let Ok(mut rq) = shared.requeue.lock() {
        for j in jobs {
            rq.push_back(j);
            shared.outstanding.fetch_sub(1, Ordering::SeqCst);
        }
    }
    shared.requeued.notify_all();
}

/// A connection to the slot's host failed (`tries` times in a row now). Returns true when the
/// host is down and the slot should stop; otherwise waits a little before the next try.
fn connection_failed(launcher: &dyn Launcher, lost: &Lost, tries: u32) -> bool {
    let st = launcher.state();
    if st.down.load(Ordering::SeqCst) {
        return true;
    }
    if lost.hopeless || tries >= MAX_CONNECT_TRIES {
        st.mark_down(&lost.why);
        return true;
    }
    error_line(&format!("host {}: {}; reconnecting", st.label, lost.why));
    std::thread::sleep(Duration::from_millis(200 << tries.min(5)));
    st.down.load(Ordering::SeqCst)
}

/// This slot's host is down: its jobs go back to the others. The last slot standing fails
/// everything left, each job exactly once.
fn host_down(slot: usize, shared: &Shared, jobs: Vec<Job>) {
    requeue(shared, jobs);
    let dead = shared.dead_slots.fetch_add(1, Ordering::SeqCst) + 1;
    if dead < shared.workers {
        return;
    }
    while let Some(job) = next_job(shared) {
        let r = not_run(slot, job, "not run: all hosts are down");
        report(shared, r);
    }
}

fn not_run(slot: usize, job: Job, why: &str) -> JobResult {
    JobResult {
        seq: job.seq,
        input: job.input,
        ok: false,
        output: Vec::new(),
        stderr: Vec::new(),
        error: Some(why.to_string()),
        worker: slot,
        pid: None,
        attempts: 0,
        started: SystemTime::now(),
        duration: Duration::ZERO,
        ended: Ended::stopped(0),
        command: Vec::new(),
        // Never ran anywhere.
        host: Arc::from("-"),
    }
}

fn slot_loop(slot: usize, shared: &Shared, launcher: &dyn Launcher) {
    // Register this thread's signal waker before any child exists.
    let _ = signals::Waker::for_thread();
    match &shared.mode {
        Mode::Exec { template, shell } => {
            let mut server: Option<IpcWorker> = None;
            let mut tries = 0u32;
            while let Some(job) = next_job(shared) {
                if launcher.state().down.load(Ordering::SeqCst) {
                    // Another slot of this host found it down: do not try it again.
                    host_down(slot, shared, vec![job]);
                    return;
                }
                match run_exec_job(slot, shared, launcher, &mut server, template, *shell, job) {
                    Ok(r) => {
                        tries = 0;
                        report(shared, r);
                    }
                    Err((job, lost)) => {
                        tries += 1;
                        if connection_failed(launcher, &lost, tries) {
                            host_down(slot, shared, vec![job]);
                            return;
                        }
                        requeue(shared, [job]);
                    }
                }
            }
            if let Some(s) = server {
                let _ = s.shutdown(Duration::from_secs(2));
            }
        }
        Mode::Task(_) | Mode::Worker(_) => ipc_slot(slot, shared, launcher),
    }
}

/// Apply `--halt` right here, before the slot can take another job, then report the job.
fn report(shared: &Shared, r: JobResult) {
    if !r.ok && shared.halt != Halt::Never && !shared.stop.swap(true, Ordering::SeqCst) {
        error_line(&format!(
            "job {} failed: --halt {}: {}",
            r.seq,
            if shared.halt == Halt::Now {
                "now"
            } else {
                "soon"
            },
            if shared.halt == Halt::Now {
                "killing running jobs, starting no more"
            } else {
                "starting no more jobs"
            }
        ));
        if shared.halt == Halt::Now {
            signals::cancel_all();
        }
    }
    let out_gone = {
        let mut rep = match shared.reporter.lock() {
            Ok(rep) => rep,
            Err(poisoned) => poisoned.into_inner(),
        };
        rep.job(r);
        rep.broken()
    };
    // Results or the joblog have nowhere to go: stop the run (the main thread says how it
    // ends).
    if out_gone && !shared.stop.swap(true, Ordering::SeqCst) {
        signals::cancel_all();
    }
    if shared.remote {
        shared.outstanding.fetch_sub(1, Ordering::SeqCst);
        shared.requeued.notify_all();
    } else {
        shared.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The message that carries one job to a persistent worker.
fn job_message(mode: &Mode, input: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(input);
    match mode {
        Mode::Task(t) => serde_json::to_vec(&serde_json::json!({"task": t.name(), "input": text}))
            .unwrap_or_default(),
        _ => match crate::ipc::compact(input) {
            Ok(c) => c.into_owned(),
            Err(_) => serde_json::to_vec(&text).unwrap_or_default(),
        },
    }
}

/// A job sent (or about to be sent) to a persistent worker.
struct InFlight {
    job: Job,
    msg: Vec<u8>,
    /// Attempts that ended in a crash or timeout of this very job.
    attempts: u32,
    began: Instant,
    wall: SystemTime,
}

/// How many jobs a slot may keep queued at its worker. Built-in task workers answer in order,
/// so a short pipeline hides the round trip for tiny jobs; user workers get one job at a time
/// (their next message is the answer to the job in flight).
fn pipeline_depth(mode: &Mode) -> usize {
    match mode {
        Mode::Task(_) => 16,
        _ => 1,
    }
}

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

/// Take a job without waiting for the queue lock (`None` also when another slot holds it).
fn try_next_job(shared: &Shared) -> Option<Job> {
    take_job(shared, false)
}

fn ipc_slot(slot: usize, shared: &Shared, launcher: &dyn Launcher) {
    let max_depth = pipeline_depth(&shared.mode);
    let role = match &shared.mode {
        Mode::Task(t) => Role::Task(*t, &shared.stop_args),
        Mode::Worker(argv) => Role::Worker(argv, shared.worker_line.as_str(), &shared.stop_args),
        Mode::Exec { .. } => return,
    };
    let mut host = Arc::clone(&launcher.state().label);
    let mut connect_tries = 0u32;
    let mut pace = Pace {
        avg: None,
        mark: Instant::now(),
    };
    let command = match &shared.mode {
        Mode::Task(t) => format!("task {}", t.name()).into_bytes(),
        Mode::Worker(argv) => quote::join(argv.iter().map(String::as_bytes)),
        Mode::Exec { .. } => Vec::new(),
    };
    let mut current: Option<IpcWorker> = None;
    let mut answered_since_start = 0u64;
    let mut startup_deaths = 0u32;
    let mut gave_up: Option<String> = None;
    // Sent to the current worker, oldest first; the front one is the job it is running.
    let mut inflight: std::collections::VecDeque<InFlight> = Default::default();
    // Taken from the queue but not (or no longer) at a worker: resent first.
    let mut ready: std::collections::VecDeque<InFlight> = Default::default();
    let new_entry = |job: Job| InFlight {
        msg: job_message(&shared.mode, &job.input),
        job,
        attempts: 0,
        began: Instant::now(),
        wall: SystemTime::now(),
    };
    let finish = |e: InFlight,
                  ok: bool,
                  output: Vec<u8>,
                  error: Option<String>,
                  pid: Option<i32>,
                  ended: Ended,
                  host: &Arc<str>| {
        JobResult {
            seq: e.job.seq,
            input: e.job.input,
            ok,
            output,
            stderr: Vec::new(),
            error,
            worker: slot,
            pid,
            attempts: e.attempts.max(1),
            started: e.wall,
            duration: e.began.elapsed(),
            ended,
            command: command.clone(),
            host: Arc::clone(host),
        }
    };

    loop {
        // Fill the pipeline: blocking only when nothing at all is in flight.
        while inflight.len() + ready.len() < pace.depth(max_depth) {
            let job = if inflight.is_empty() && ready.is_empty() {
                next_job(shared)
            } else {
                try_next_job(shared)
            };
            match job {
                Some(j) => ready.push_back(new_entry(j)),
                None => break,
            }
        }
        if inflight.is_empty() && ready.is_empty() {
            break;
        }
        if let Some(why) = &gave_up {
            // This slot is done. Its own jobs fail with the reason; the queue is left to the
            // slots still working — unless none is, and then every remaining job fails here,
            // so each is still reported exactly once.
            for e in inflight.drain(..).chain(ready.drain(..)) {
                report(
                    shared,
                    finish(
                        e,
                        false,
                        Vec::new(),
                        Some(why.clone()),
                        None,
                        Ended::stopped(0),
                        &host,
                    ),
                );
            }
            if shared.dead_slots.load(Ordering::SeqCst) < shared.workers {
                break;
            }
            while let Some(job) = next_job(shared) {
                let why = format!("not run: no worker left ({why})");
                report(
                    shared,
                    finish(
                        new_entry(job),
                        false,
                        Vec::new(),
                        Some(why),
                        None,
                        Ended::stopped(0),
                        &host,
                    ),
                );
            }
            break;
        }
        if launcher.state().down.load(Ordering::SeqCst) {
            let jobs = inflight
                .drain(..)
                .chain(ready.drain(..))
                .map(|e| e.job)
                .collect();
            drop(current.take());
            host_down(slot, shared, jobs);
            return;
        }
        if current.is_none() {
            match launcher.start(&role).map_err(|e| e.to_string()) {
                Ok(mut w) => {
                    w.set_stop(&shared.limits);
                    current = Some(w);
                    answered_since_start = 0;
                }
                Err(e) if !launcher.runs_here() => {
                    // The launcher itself (ssh, srun) cannot be started: trying again is no use.
                    connection_failed(launcher, &Lost::hopeless(e), 1);
                    continue;
                }
                Err(e) => {
                    let why = format!("cannot start worker: {e}");
                    error_line(&format!("slot {slot}: {why}"));
                    gave_up = Some(why);
                    shared.dead_slots.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            }
        }
        let Some(w) = current.as_mut() else { continue };
        if inflight.is_empty() {
            pace.start();
        }
        while let Some(e) = ready.pop_front() {
            let sent = w.send(&e.msg);
            inflight.push_back(e);
            if !sent {
                break; // the worker is gone; wait() reports how
            }
        }
        let reply = w.wait(shared.job_timeout);
        // Read after the wait: a remote worker's pid and node arrive with its hello (and a
        // job that times out or is killed before any answer still names them).
        let pid = w.pid;
        // A remote worker's pid is 0 until its hello: it never started as far as we know.
        let known_pid = Some(pid).filter(|&p| p > 0);
        // When we stopped it (a timeout, a stop): the signal it died of.
        let killed_by = w.stopped_by();
        if !launcher.runs_here() {
            host = launcher.host_of(w.remote_host());
        }
        match reply {
            Reply::Message(m) => {
                pace.reply();
                answered_since_start += 1;
                startup_deaths = 0;
                if answered_since_start == 1 && !launcher.runs_here() {
                    connect_tries = 0;
                }
                let Some(mut e) = inflight.pop_front() else {
                    continue;
                };
                e.attempts += 1;
                let r = match &shared.mode {
                    Mode::Task(_) => {
                        let (ok, output, error) = task_reply(&m);
                        let why = error.as_deref().unwrap_or("unknown error");
                        if !ok && retry(shared, e.job.seq, e.attempts, why) {
                            ready.push_back(e);
                            continue;
                        }
                        let ended = if ok { Ended::OK } else { Ended::FAILED };
                        finish(e, ok, output, error, known_pid, ended, &host)
                    }
                    _ => finish(e, true, m, None, known_pid, Ended::OK, &host),
                };
                report(shared, r);
            }
            Reply::Interrupted => {
                // The run is being stopped and the worker is killed: the jobs it had started
                // are reported as such (each still exactly once); queued ones never ran.
                drop(current.take());
                let why = "killed: the run was stopped";
                let mut started = inflight.drain(..);
                if let Some(mut e) = started.next() {
                    e.attempts += 1;
                    report(
                        shared,
                        finish(
                            e,
                            false,
                            Vec::new(),
                            Some(why.into()),
                            known_pid,
                            Ended::stopped(killed_by),
                            &host,
                        ),
                    );
                }
                let unsent: Vec<InFlight> = started.chain(ready.drain(..)).collect();
                for e in unsent {
                    report(
                        shared,
                        finish(
                            e,
                            false,
                            Vec::new(),
                            Some("not run: the run was stopped".into()),
                            None,
                            Ended::stopped(0),
                            &host,
                        ),
                    );
                }
                return;
            }
            Reply::Lost(lost) => {
                // The connection, not the job, failed: every job here goes back unharmed.
                current = None;
                connect_tries += 1;
                let jobs: Vec<Job> = inflight
                    .drain(..)
                    .chain(ready.drain(..))
                    .map(|e| e.job)
                    .collect();
                if connection_failed(launcher, &lost, connect_tries) {
                    host_down(slot, shared, jobs);
                    return;
                }
                requeue(shared, jobs);
            }
            failure @ (Reply::TimedOut | Reply::Died(_)) => {
                if let Some(w) = current.take() {
                    add_remote_cpu(shared, &w);
                }
                let (why, ended) = match failure {
                    Reply::Died(status) => {
                        let how = describe(status);
                        if answered_since_start == 0 {
                            startup_deaths += 1;
                            if startup_deaths >= MAX_STARTUP_DEATHS {
                                let msg = format!(
                                    "worker keeps dying at start-up ({startup_deaths} times in a row, last: it {how}); giving up on this slot"
                                );
                                error_line(&format!("slot {slot}: {msg}"));
                                gave_up = Some(msg);
                                shared.dead_slots.fetch_add(1, Ordering::SeqCst);
                            } else {
                                // Exponential backoff: 100 ms, 200 ms, 400 ms, ...
                                std::thread::sleep(Duration::from_millis(
                                    100 << (startup_deaths - 1),
                                ));
                            }
                        }
                        (
                            format!("worker {pid} {how} while running the job"),
                            worker_died(status),
                        )
                    }
                    _ => (
                        format!(
                            "timed out after {}",
                            humantime::format_duration(shared.job_timeout.unwrap_or_default())
                        ),
                        Ended::stopped(killed_by),
                    ),
                };
                // The front job was running; the others never started and go back unharmed.
                let mut rest: Vec<InFlight> = inflight.drain(..).collect();
                if !rest.is_empty() {
                    let mut e = rest.remove(0);
                    e.attempts += 1;
                    if gave_up.is_none() && retry(shared, e.job.seq, e.attempts, &why) {
                        ready.push_back(e);
                    } else {
                        report(
                            shared,
                            finish(e, false, Vec::new(), Some(why), known_pid, ended, &host),
                        );
                    }
                }
                for e in rest.into_iter().rev() {
                    ready.push_front(e);
                }
            }
        }
    }
    if let Some(w) = current.take() {
        add_remote_cpu(shared, &w);
        let _ = w.shutdown(Duration::from_secs(2));
    }
}

fn add_remote_cpu(shared: &Shared, w: &IpcWorker) {
    let cpu = w.remote_cpu();
    if !cpu.is_zero() {
        shared
            .remote_cpu
            .fetch_add(cpu.as_micros() as u64, Ordering::Relaxed);
    }
}

/// `{"result":N}` or `{"error":"..."}` from a built-in task worker.
fn task_reply(m: &[u8]) -> (bool, Vec<u8>, Option<String>) {
    // The common case without building a Value: our own worker writes exactly this shape.
    if let Some(rest) = m.strip_prefix(b"{\"result\":")
        && let Some(num) = rest.strip_suffix(b"}")
        && !num.is_empty()
        && num.iter().all(u8::is_ascii_digit)
    {
        return (true, num.to_vec(), None);
    }
    match serde_json::from_slice::<serde_json::Value>(m) {
        Ok(serde_json::Value::Object(o)) => {
            if let Some(v) = o.get("result") {
                return (true, v.to_string().into_bytes(), None);
            }
            let e = o
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("unknown error")
                .to_string();
            (false, Vec::new(), Some(e))
        }
        _ => (
            false,
            Vec::new(),
            Some("malformed reply from task worker".into()),
        ),
    }
}

/// Whether a job that failed after `attempts` tries gets another (`--retries`; none once the
/// run is stopping), saying so on stderr.
fn retry(shared: &Shared, seq: u64, attempts: u32, why: &str) -> bool {
    if attempts > shared.retries || shared.stop.load(Ordering::SeqCst) {
        return false;
    }
    error_line(&format!(
        "job {seq} failed: {why}; retrying (attempt {})",
        attempts + 1
    ));
    true
}

/// The `Ended` of a job whose worker died while running it: the worker's own status (a clean
/// exit still failed the job, so it is not written as 0).
fn worker_died(status: Option<Status>) -> Ended {
    match status {
        Some(Status::Exited(0)) | None => Ended::FAILED,
        Some(st) => Ended::of(st, false),
    }
}

fn describe(status: Option<Status>) -> String {
    match status {
        Some(Status::Exited(c)) => format!("exited with code {c}"),
        Some(Status::Signaled(n)) => format!(
            "was killed by {}",
            crate::values::Signal::name_of(n).unwrap_or("a signal")
        ),
        None => "closed the channel".into(),
    }
}

/// Build the argv of an `--exec` job: `{}` replaced by the input as one literal argument
/// (appended when absent); with `--shell`, the input is shell-quoted into `sh -c`, byte for
/// byte.
fn exec_argv(template: &[String], shell: bool, input: &[u8]) -> Vec<OsString> {
    if shell {
        let line = substitute(&template.join(" "), &quote::quote(input), true);
        return vec!["/bin/sh".into(), "-c".into(), OsString::from_vec(line)];
    }
    let mut out = Vec::with_capacity(template.len() + 1);
    let mut substituted = false;
    for part in template {
        if part.contains("{}") {
            substituted = true;
            out.push(OsString::from_vec(substitute(part, input, false)));
        } else {
            out.push(OsString::from(part));
        }
    }
    if !substituted {
        out.push(OsString::from_vec(input.to_vec()));
    }
    out
}

/// `text` with every `{}` replaced by `with`; when there is none and `append`, `with` is
/// added after a space.
fn substitute(text: &str, with: &[u8], append: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() + with.len() + 1);
    let mut rest = text;
    let mut found = false;
    while let Some(i) = rest.find("{}") {
        found = true;
        bytes.extend_from_slice(&rest.as_bytes()[..i]);
        bytes.extend_from_slice(with);
        rest = &rest[i + 2..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    if !found && append {
        bytes.push(b' ');
        bytes.extend_from_slice(with);
    }
    bytes
}

/// The joblog's `Command`: what a shell would read to run the same job — the argv quoted, or
/// with `--shell` the line handed to the shell (no `/bin/sh -c` in front).
fn command_line(argv: &[OsString], shell: bool) -> Vec<u8> {
    match argv {
        [_, _, line] if shell => line.as_bytes().to_vec(),
        _ => quote::join(argv.iter().map(|a| a.as_bytes())),
    }
}

/// One try of an `--exec` job, wherever it ran.
#[derive(Debug)]
pub struct Attempt {
    pub pid: i32,
    pub status: Status,
    pub timed_out: bool,
    /// Killed because the run is being stopped (`--halt now`, a signal).
    pub cancelled: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run one try on this machine: one supervised process, both streams captured. (The remote
/// role runs its jobs with this too.)
pub fn attempt_here(argv: &[OsString], limits: &Limits) -> Result<Attempt, process::SpawnError> {
    Ok(finish_here(start_here(argv)?, limits))
}

/// The first half of [`attempt_here`]: the job's process, started.
pub fn start_here(argv: &[OsString]) -> Result<process::Running, process::SpawnError> {
    let mut spec = Spec::new(argv[0].clone(), argv[1..].to_vec());
    spec.stdin = Input::Null;
    spec.stdout = Output::Pipe;
    spec.stderr = Output::Pipe;
    process::spawn(spec)
}

/// The second half of [`attempt_here`]: supervise the job to its end.
pub fn finish_here(child: process::Running, limits: &Limits) -> Attempt {
    let mut cap = Capture::new(u64::MAX);
    let out = supervise(child, limits, &mut cap);
    let [stdout, stderr] = cap.bufs;
    Attempt {
        pid: out.pid,
        status: out.status,
        timed_out: out.timed_out,
        cancelled: out.cancelled || out.interrupted.is_some(),
        stdout,
        stderr,
    }
}

/// What a remote try can end in besides an attempt.
enum RemoteEnd {
    /// The job could not be started there (message, exit code).
    Spawn(String, i32),
    /// The connection failed: the job goes back to the pool.
    Lost(Lost),
}

/// Run one try through the slot's exec server on its host, connecting first if needed.
fn attempt_remote(
    shared: &Shared,
    launcher: &dyn Launcher,
    server: &mut Option<IpcWorker>,
    argv: &[OsString],
) -> Result<Attempt, RemoteEnd> {
    if server.is_none() {
        let w = launcher
            .start(&Role::Exec(&shared.exec_limits))
            .map_err(|e| RemoteEnd::Lost(Lost::hopeless(e.to_string())))?;
        *server = Some(w);
    }
    let Some(w) = server.as_mut() else {
        return Err(RemoteEnd::Lost(Lost::retry("no connection")));
    };
    let reply = if w.send(&remote::job_request(argv)) {
        w.wait(None)
    } else {
        w.wait(Some(Duration::from_secs(2)))
    };
    match reply {
        Reply::Message(m) => {
            match remote::parse_reply(&m).map_err(|e| RemoteEnd::Lost(Lost::retry(e)))? {
                remote::JobReply::Ran(a, cpu) => {
                    shared
                        .remote_cpu
                        .fetch_add(cpu.as_micros() as u64, Ordering::Relaxed);
                    Ok(a)
                }
                remote::JobReply::NotStarted(msg, code) => Err(RemoteEnd::Spawn(msg, code)),
            }
        }
        Reply::Interrupted => {
            // Killed on the far side: its pid came with the job's start line.
            let pid = server.take().and_then(|w| w.job_pid()).unwrap_or(0);
            Ok(Attempt {
                pid,
                status: Status::Signaled(libc::SIGKILL),
                timed_out: false,
                cancelled: true,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
        Reply::Lost(lost) => {
            *server = None;
            Err(RemoteEnd::Lost(lost))
        }
        Reply::Died(_) | Reply::TimedOut => {
            *server = None;
            Err(RemoteEnd::Lost(Lost::retry("the remote side ended")))
        }
    }
}

/// How one try of an `--exec` job ended, in the terms of its report.
struct Tried {
    ok: bool,
    error: Option<String>,
    ended: Ended,
    pid: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Killed because the run is being stopped: never retried.
    cancelled: bool,
}

impl Tried {
    fn not_started(msg: String, code: i32) -> Tried {
        Tried {
            ok: false,
            error: Some(msg),
            ended: Ended {
                exit: code,
                signal: 0,
            },
            pid: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            cancelled: false,
        }
    }

    fn ran(a: Attempt, job_timeout: Option<Duration>) -> Tried {
        let ok = !a.timed_out && a.status == Status::Exited(0);
        let error = if ok {
            None
        } else if a.timed_out {
            Some(format!(
                "timed out after {}",
                humantime::format_duration(job_timeout.unwrap_or_default())
            ))
        } else if a.cancelled {
            Some("killed: the run was stopped".into())
        } else {
            Some(describe(Some(a.status)))
        };
        Tried {
            ok,
            error,
            ended: Ended::of(a.status, a.timed_out || a.cancelled),
            pid: Some(a.pid).filter(|&p| p > 0),
            stdout: a.stdout,
            stderr: a.stderr,
            cancelled: a.cancelled,
        }
    }
}

/// One try of an `--exec` job, here or on the slot's host; also where it ran.
fn try_exec(
    shared: &Shared,
    launcher: &dyn Launcher,
    server: &mut Option<IpcWorker>,
    argv: &[OsString],
) -> (Result<Tried, Lost>, Arc<str>) {
    let tried = if launcher.runs_here() {
        attempt_here(argv, &shared.limits)
            .map_err(|e| RemoteEnd::Spawn(e.to_string(), i32::from(e.exit().code())))
    } else {
        attempt_remote(shared, launcher, server, argv)
    };
    let host = if launcher.runs_here() {
        Arc::clone(&launcher.state().label)
    } else {
        launcher.host_of(server.as_ref().and_then(|w| w.remote_host()))
    };
    let tried = match tried {
        Ok(a) => Ok(Tried::ran(a, shared.job_timeout)),
        Err(RemoteEnd::Spawn(msg, code)) => Ok(Tried::not_started(msg, code)),
        Err(RemoteEnd::Lost(lost)) => Err(lost),
    };
    (tried, host)
}

/// Run one `--exec` job to its end, retrying any failure up to `--retries` times (as GNU
/// parallel does: a non-zero exit too). `Err` hands the job back: its host connection failed
/// (the reason says how).
fn run_exec_job(
    slot: usize,
    shared: &Shared,
    launcher: &dyn Launcher,
    server: &mut Option<IpcWorker>,
    template: &[String],
    shell: bool,
    job: Job,
) -> Result<JobResult, (Job, Lost)> {
    let argv = exec_argv(template, shell, &job.input);
    let command = command_line(&argv, shell);
    let began = Instant::now();
    let wall = SystemTime::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (t, host) = match try_exec(shared, launcher, server, &argv) {
            (Ok(t), host) => (t, host),
            (Err(lost), _) => return Err((job, lost)),
        };
        let why = t.error.as_deref().unwrap_or("unknown error");
        if !t.ok && !t.cancelled && retry(shared, job.seq, attempts, why) {
            continue;
        }
        return Ok(JobResult {
            seq: job.seq,
            input: job.input,
            ok: t.ok,
            output: t.stdout,
            stderr: t.stderr,
            error: t.error,
            worker: slot,
            pid: t.pid,
            attempts,
            started: wall,
            duration: began.elapsed(),
            ended: t.ended,
            command,
            host,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_template_substitution_is_literal() {
        let t: Vec<String> = vec!["echo".into(), "x{}y".into()];
        assert_eq!(
            exec_argv(&t, false, b"$(touch pwned)"),
            vec![OsString::from("echo"), OsString::from("x$(touch pwned)y")]
        );
        let t: Vec<String> = vec!["echo".into()];
        assert_eq!(
            exec_argv(&t, false, b"a b"),
            vec![OsString::from("echo"), OsString::from("a b")]
        );
        let sh = exec_argv(&["echo".to_string()], true, b"$(x)");
        assert_eq!(sh[2], OsString::from("echo '$(x)'"));
    }
}
