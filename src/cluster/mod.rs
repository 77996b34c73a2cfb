//! `childproc cluster`: a primary that feeds jobs to N worker slots through one shared queue
//! and reports every job exactly once.
//!
//! A run reads as: `plan` (the command line turned into a `plan::Plan`, no process
//! started) → `pool` (one launcher per host) → one thread per `slot`, each taking jobs
//! from the `dispatch`er and running them in its mode — on a persistent IPC worker
//! (`--task`, `--worker`: `ipc_slot`) or as one supervised process per job (`--exec`:
//! `exec`) — then completing each through the dispatcher into the `report`er, which writes
//! results, the joblog and progress from each `job::JobOutcome`. The main thread only
//! watches: for signals, for the end, and to keep output flowing; then it derives the exit
//! code. Inputs are read on demand by whichever slot is idle (`queue`); there is no feeder
//! thread. Every slot thread lives until the end of the run, which matters because
//! `PR_SET_PDEATHSIG` is tied to the thread that spawned a child.
//!
//! Other machines: `launch` starts `childproc cluster-remote` (`remote`) over ssh or srun;
//! `worker` speaks to it (or to a local worker) over the Node channel; the messages of both
//! ends are the types of `protocol`.

mod attempt;
mod dispatch;
mod exec;
#[cfg(test)]
mod fake;
mod inputs;
mod ipc_slot;
mod job;
mod joblog;
mod key;
mod launch;
mod output;
mod plan;
mod pool;
mod protocol;
mod queue;
mod quote;
pub(crate) mod remote;
mod report;
mod results;
pub(crate) mod role;
mod slot;
mod tasks;
mod template;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cli::ClusterArgs;
use crate::error_line;
use crate::exit::Exit;
use crate::process::signals;
use dispatch::{Delivered, Dispatcher, Summary, Undelivered};
use exec::ExecSlot;
use inputs::InputSpec;
use ipc_slot::IpcSlot;
use joblog::Joblog;
use plan::{Mode, Plan, Resume, Settings};
use pool::Pool;
use queue::{Inputs, Keys};
use report::Reporter;
use slot::Slot;

/// What every slot thread shares: the configuration and the run's state.
struct Run {
    settings: Settings,
    jobs: Dispatcher,
    /// Where `--line-buffer` jobs write their lines.
    live: Arc<output::Live>,
}

pub fn run(a: ClusterArgs) -> anyhow::Result<Exit> {
    let mut plan = Plan::from_args(a)?;
    for note in &plan.notes {
        error_line(note);
    }
    let skipped = Arc::new(AtomicU64::new(0));
    let (inputs, joblog) = open_jobs(&mut plan, &skipped)?;
    if let Some(r) = &plan.settings.output.results {
        r.prepare()?;
    }
    let resuming = plan.joblog.as_ref().map(|j| j.resume);
    let live = Arc::new(output::Live::new(plan.report.keep_order));
    let reporter = Reporter::new(&plan.report, joblog, Arc::clone(&live));
    let pool = Pool::start(&plan.pool);
    let settings = plan.settings;
    let jobs = Dispatcher::new(
        inputs,
        pool.workers(),
        &settings,
        plan.report.total,
        Box::new(reporter),
    );
    let run = Arc::new(Run {
        settings,
        jobs,
        live,
    });
    let started = Instant::now();
    let done = start_slots(&run, &pool)?;
    let interrupted = watch(&run.jobs, &done, pool.workers(), plan.stop_grace);
    let end = End {
        wall: started.elapsed(),
        interrupted,
        resuming: resuming.map(|r| (r, skipped.load(Ordering::Relaxed))),
    };
    Ok(finish(&run, &pool, end))
}

/// The inputs and the joblog: an existing joblog is read first when resuming, and says
/// which jobs to skip (`--resume`, `--resume-failed`) or which to run (`--retry-failed`).
fn open_jobs(
    plan: &mut Plan,
    skipped: &Arc<AtomicU64>,
) -> anyhow::Result<(Inputs, Option<Joblog>)> {
    // `::: ` with nothing after it: no jobs.
    let none = InputSpec::parse(vec![":::".into()], &[], false, None)?;
    let spec = std::mem::replace(&mut plan.inputs, none.clone());
    let Some(jp) = &plan.joblog else {
        return Ok((Inputs::open(spec)?, None));
    };
    if jp.resume == Resume::RetryFailed {
        let (log, prior) = Joblog::open(jp)?;
        plan.replay(prior.replay.len(), prior.shell);
        let inputs = Inputs::open(none)?.replaying(prior.replay);
        return Ok((inputs, Some(log)));
    }
    let inputs = Inputs::open(spec)?;
    let (log, prior) = Joblog::open(jp)?;
    let inputs = match &jp.set {
        Some(set) => inputs.keyed(Keys {
            set: set.clone(),
            skip: prior.skip,
            skipped: Arc::clone(skipped),
        }),
        None => inputs,
    };
    Ok((inputs, Some(log)))
}

/// One thread per slot; each says on the channel when it is done.
fn start_slots(run: &Arc<Run>, pool: &Pool) -> anyhow::Result<Receiver<()>> {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for (i, launcher) in pool.slots().enumerate() {
        let run = Arc::clone(run);
        let launcher = Arc::clone(launcher);
        let done = done_tx.clone();
        std::thread::Builder::new()
            .name(format!("slot-{i}"))
            .spawn(move || {
                let slot = Slot {
                    n: i + 1,
                    settings: &run.settings,
                    jobs: &run.jobs,
                    launcher: &*launcher,
                };
                run_slot(slot, &run.live);
                let _ = done.send(());
            })?;
    }
    Ok(done_rx)
}

/// Run a slot's jobs until there are none left (or the run stops), in the run's mode. The
/// thread lives until the end of the run: `PR_SET_PDEATHSIG` is tied to the thread that
/// spawned a child.
fn run_slot(slot: Slot, live: &output::Live) {
    // Register this thread's signal waker before any child exists.
    let _ = signals::Waker::for_thread();
    match &slot.settings.mode {
        Mode::Exec(template) => ExecSlot::new(slot, template, live).run(),
        Mode::Task(task) => IpcSlot::task(slot, *task).run(),
        Mode::Worker {
            argv,
            line,
            serialization,
        } => IpcSlot::worker(slot, argv, line, *serialization).run(),
    }
}

/// Wait for the slots, keeping output flowing; on a signal, stop the run and wait at most
/// `grace` more. Returns the signal that interrupted the run, if one did.
fn watch(jobs: &Dispatcher, done: &Receiver<()>, workers: usize, grace: Duration) -> Option<i32> {
    let mut interrupted: Option<i32> = None;
    let mut finished = 0;
    let mut give_up_at: Option<Instant> = None;
    while finished < workers {
        match done.recv_timeout(Duration::from_millis(100)) {
            Ok(()) => finished += 1,
            Err(RecvTimeoutError::Timeout) => jobs.sink().tick(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if interrupted.is_none()
            && let Some(sig) = signals::Seen::now().first()
        {
            interrupted = Some(sig);
            jobs.stop();
            signals::cancel_all();
            // A slot blocked reading a terminal for its next input holds no child: do not
            // wait for it longer than the kill grace period.
            give_up_at = Instant::now().checked_add(grace);
        }
        if give_up_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
    }
    interrupted.or_else(|| signals::Seen::now().first())
}

/// How the run went, as `finish` needs it.
struct End {
    wall: Duration,
    interrupted: Option<i32>,
    /// Resuming: how, and how many jobs were skipped.
    resuming: Option<(Resume, u64)>,
}

/// Close the pool, print the summary, and say how the run ends.
fn finish(run: &Run, pool: &Pool, end: End) -> Exit {
    let End {
        wall,
        interrupted,
        resuming,
    } = end;
    let collapsed = run.jobs.collapsed();
    pool.close();
    let summary = Summary {
        wall,
        workers: pool.workers(),
        interrupted,
        remote_cpu: run.jobs.remote_cpu(),
        hosts: pool.hosts(),
    };
    // Held to the end: a slot still running cannot report after the summary.
    let mut sink = run.jobs.sink();
    let mut delivered = sink.finish(&summary);
    // A run that `--halt …,success=…` stopped: the jobs the halt killed are not failures.
    delivered.failed = delivered.failed.saturating_sub(run.jobs.excused());
    match resuming {
        Some((Resume::Finished, n)) => {
            error_line(&format!(
                "cluster: {n} jobs skipped (already in the joblog)"
            ));
        }
        Some((Resume::Succeeded, n)) => error_line(&format!(
            "cluster: {n} jobs skipped (they succeeded before, says the joblog)"
        )),
        _ => {}
    }
    if collapsed && run.settings.remote && summary.hosts.iter().all(|(_, down)| *down) {
        error_line("all hosts are down; the jobs left could not run");
    }
    exit_code(delivered, interrupted, collapsed)
}

/// The run's exit code: results that could not be delivered, then an interruption, then a
/// pool that collapsed, else the number of failed jobs.
fn exit_code(d: Delivered, interrupted: Option<i32>, collapsed: bool) -> Exit {
    match d.undelivered {
        // The reader left: a quiet end.
        Some(Undelivered::Stdout(e)) if crate::output::is_broken_pipe(&e) => {
            return Exit::Signal(libc::SIGPIPE);
        }
        Some(Undelivered::Stdout(e)) => {
            error_line(&format!(
                "writing results to stdout: {e}; the run was stopped"
            ));
            return Exit::Failure;
        }
        Some(Undelivered::Joblog(e)) => {
            error_line(&format!("{e}; the run was stopped"));
            return Exit::Failure;
        }
        None => {}
    }
    if let Some(sig) = interrupted {
        return Exit::Signal(sig);
    }
    if collapsed {
        return Exit::Failure;
    }
    Exit::failed_jobs(d.failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(failed: u64, undelivered: Option<Undelivered>) -> Delivered {
        Delivered {
            failed,
            undelivered,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(delivered(0, None), None, false), Exit::Child(0));
        assert_eq!(exit_code(delivered(3, None), None, false), Exit::Child(3));
        assert_eq!(
            exit_code(delivered(300, None), None, false),
            Exit::Child(101)
        );
        assert_eq!(
            exit_code(delivered(3, None), Some(15), true),
            Exit::Signal(15)
        );
        assert_eq!(exit_code(delivered(0, None), None, true), Exit::Failure);
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let d = delivered(1, Some(Undelivered::Stdout(pipe)));
        assert_eq!(exit_code(d, Some(15), false), Exit::Signal(libc::SIGPIPE));
        let d = delivered(0, Some(Undelivered::Joblog("--joblog: full".into())));
        assert_eq!(exit_code(d, Some(15), false), Exit::Failure);
    }
}
