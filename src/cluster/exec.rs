//! `--exec`: one process per job — its argv built from the [`Template`], run here by the
//! engine or through the exec server of the slot's host, retried as `--retries` says.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::attempt::Attempt;
use super::job::{Job, JobOutcome, JobReport, Stop, Timeout};
use super::launch::Role;
use super::output::{JobOut, Kept, Live};
use super::protocol::{JobReply, JobRequest};
use super::slot::Slot;
use super::template::Template;
use super::worker::{Lost, Reply, Worker};
use crate::error_line;
use crate::process::{Limits, Status, Stream};

/// The Exitval of a job childproc itself could not set up (its command, its output files).
const OWN_FAILURE: i32 = crate::exit::Exit::FAILURE as i32;

/// How one try ended, in the terms of its report.
struct Tried {
    outcome: JobOutcome,
    pid: Option<i32>,
    kept: Kept,
}

impl Tried {
    /// It could not be started; `out` holds what was set up for its output (`--results`
    /// files still get the job's exit code and record).
    fn not_started(error: String, code: i32, out: Option<JobOut>) -> Tried {
        Tried {
            outcome: JobOutcome::NotStarted { error, code },
            pid: None,
            kept: out.map_or_else(Kept::nothing, JobOut::finish),
        }
    }

    /// A try that ran under the `--job-timeout` `limit`.
    fn ran(a: Attempt, mut out: JobOut, limit: Option<Timeout>) -> Tried {
        let stop = if a.timed_out {
            Some(Stop::TimedOut(limit.unwrap_or_default()))
        } else if a.cancelled {
            Some(Stop::Cancelled)
        } else {
            None
        };
        // Output that came whole (a remote reply) takes the way streamed output takes.
        let _ = out.whole(Stream::Stdout, a.stdout);
        let _ = out.whole(Stream::Stderr, a.stderr);
        Tried {
            outcome: JobOutcome::Exited {
                status: a.status,
                stop,
            },
            pid: Some(a.pid).filter(|&p| p > 0),
            kept: out.finish(),
        }
    }

    /// Killed because the run is being stopped: never retried.
    fn cancelled(&self) -> bool {
        matches!(
            self.outcome,
            JobOutcome::Exited {
                stop: Some(Stop::Cancelled),
                ..
            }
        )
    }
}

/// What a remote try can end in besides an attempt.
enum RemoteEnd {
    /// The job could not be started there (message, exit code).
    Spawn(String, i32),
    /// The connection failed: the job goes back to the pool.
    Lost(Lost),
}

/// A slot running `--exec` jobs.
pub(crate) struct ExecSlot<'a> {
    slot: Slot<'a>,
    template: &'a Template,
    /// Where `--line-buffer` lines go.
    live: &'a Live,
    /// The connection to the host's exec server (other machines only).
    server: Option<Box<dyn Worker>>,
    /// Connection failures in a row.
    tries: u32,
}

impl<'a> ExecSlot<'a> {
    pub(crate) fn new(slot: Slot<'a>, template: &'a Template, live: &'a Live) -> ExecSlot<'a> {
        ExecSlot {
            slot,
            template,
            live,
            server: None,
            tries: 0,
        }
    }

    pub(crate) fn run(mut self) {
        while let Some(job) = self.slot.jobs.next() {
            if self.slot.launcher.state().is_down() {
                // Another slot of this host found it down: do not try it again.
                self.slot.host_down(vec![job]);
                return;
            }
            match self.run_job(job) {
                Ok(r) => {
                    self.tries = 0;
                    self.slot.jobs.complete(r);
                }
                Err((job, lost)) => {
                    self.tries += 1;
                    if self.slot.connection_failed(&lost, self.tries) {
                        self.slot.host_down(vec![job]);
                        return;
                    }
                    self.slot.jobs.requeue([job]);
                }
            }
        }
        if let Some(s) = self.server.take() {
            s.shutdown(std::time::Duration::from_secs(2));
        }
    }

    /// Run one job to its end, retrying any failure up to `--retries` times (as GNU parallel
    /// does: a non-zero exit too). `Err` hands the job back: its host connection failed.
    fn run_job(&mut self, job: Job) -> Result<JobReport, (Job, Lost)> {
        let began = Instant::now();
        let started = SystemTime::now();
        let argv = match self.template.argv(&job, self.slot.n) {
            Ok(argv) => argv,
            Err(why) => return Ok(self.unbuildable(job, why, started)),
        };
        let command = self.template.command_line(&argv);
        let mut attempts = 0;
        loop {
            attempts += 1;
            // Computed as each try starts: a percentage of the median changes as jobs end.
            let limit = self.slot.jobs.job_timeout();
            let (t, host) = match self.try_once(&job, &argv, limit) {
                (Ok(t), host) => (t, host),
                (Err(lost), _) => return Err((job, lost)),
            };
            if let Some(why) = t.outcome.error()
                && !t.cancelled()
                && self.slot.retry(job.seq, attempts, &why)
            {
                continue;
            }
            let mut report = JobReport {
                job,
                outcome: t.outcome,
                output: t.kept.stdout,
                stderr: t.kept.stderr,
                slot: self.slot.n,
                pid: t.pid,
                attempts,
                started,
                duration: began.elapsed(),
                command,
                host: Some(host),
            };
            if let Some(files) = t.kept.files {
                self.save(&mut report, files);
            }
            return Ok(report);
        }
    }

    /// `--results`: the job's exit code and record go into its files. A job whose files
    /// cannot be written has failed.
    fn save(&self, report: &mut JobReport, files: super::results::JobFiles) {
        let Err(error) = files.finish(report, self.slot.settings.remote) else {
            return;
        };
        match report.outcome {
            JobOutcome::Exited { status, .. } => {
                report.outcome = JobOutcome::Unsaved { status, error };
            }
            // Failed already; say why its files are incomplete too.
            _ => error_line(&format!("job {}: {error}", report.job.seq)),
        }
    }

    /// A job whose command cannot be built (`{3}` of a line with two columns): failed,
    /// never started.
    fn unbuildable(&self, job: Job, why: String, started: SystemTime) -> JobReport {
        let outcome = JobOutcome::NotStarted {
            error: format!("cannot build the command: {why}"),
            code: OWN_FAILURE,
        };
        JobReport {
            attempts: 1,
            started,
            ..JobReport::unstarted(job, self.slot.n, outcome)
        }
    }

    /// One try under `limit`, here or on the slot's host; also where it ran.
    fn try_once(
        &mut self,
        job: &Job,
        argv: &[OsString],
        limit: Option<Timeout>,
    ) -> (Result<Tried, Lost>, Arc<str>) {
        let launcher = self.slot.launcher;
        let tried = match self
            .slot
            .settings
            .output
            .for_job(job, self.slot.n, self.live)
        {
            Err(why) => Ok(Tried::not_started(why, OWN_FAILURE, None)),
            Ok(mut out) => {
                let ended = if launcher.runs_here() {
                    let limits = Limits {
                        timeout: limit.map(|t| t.after),
                        ..self.slot.settings.limits
                    };
                    launcher
                        .attempt(argv, &limits, &mut out)
                        .map_err(|e| RemoteEnd::Spawn(e.to_string(), i32::from(e.exit().code())))
                } else {
                    self.attempt_remote(argv, limit, &mut out)
                };
                match ended {
                    Ok(a) => Ok(Tried::ran(a, out, limit)),
                    Err(RemoteEnd::Spawn(msg, code)) => {
                        Ok(Tried::not_started(msg, code, Some(out)))
                    }
                    Err(RemoteEnd::Lost(lost)) => Err(lost),
                }
            }
        };
        let host = if launcher.runs_here() {
            Arc::clone(&launcher.state().label)
        } else {
            launcher.host_of(self.server.as_ref().and_then(|w| w.remote_host()))
        };
        (tried, host)
    }

    /// One try through the host's exec server, connecting first if needed; output that
    /// comes as it arrives goes to `out`. A fixed limit went with the connection's
    /// arguments; one taken of the median goes with the job.
    fn attempt_remote(
        &mut self,
        argv: &[OsString],
        limit: Option<Timeout>,
        out: &mut JobOut,
    ) -> Result<Attempt, RemoteEnd> {
        if self.server.is_none() {
            let role = Role::Exec(&self.slot.settings.exec_limits);
            let w = self
                .slot
                .launcher
                .start(&role)
                .map_err(|e| RemoteEnd::Lost(Lost::hopeless(e.to_string())))?;
            self.server = Some(w);
        }
        let Some(w) = self.server.as_mut() else {
            return Err(RemoteEnd::Lost(Lost::retry("no connection")));
        };
        let per_job = limit.filter(|t| t.of_median.is_some()).map(|t| t.after);
        let reply = if w.send(&JobRequest::line(argv, per_job)) {
            w.wait_output(None, out)
        } else {
            w.wait_output(Some(std::time::Duration::from_secs(2)), out)
        };
        self.remote_reply(reply)
    }

    /// What the exec server's answer (or silence) means for the try.
    fn remote_reply(&mut self, reply: Reply) -> Result<Attempt, RemoteEnd> {
        match reply {
            Reply::Message(m) => {
                match JobReply::parse(&m).map_err(|e| RemoteEnd::Lost(Lost::retry(e)))? {
                    JobReply::Ran(ran) => {
                        let (a, cpu) = ran.into_attempt();
                        self.slot.jobs.add_remote_cpu(cpu);
                        Ok(a)
                    }
                    JobReply::NotStarted { error, exit } => Err(RemoteEnd::Spawn(error, exit)),
                }
            }
            Reply::Interrupted => {
                // Killed on the far side: its pid came with the job's start line.
                let pid = self.server.take().and_then(|w| w.job_pid()).unwrap_or(0);
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
                self.server = None;
                Err(RemoteEnd::Lost(lost))
            }
            Reply::Died(_) | Reply::TimedOut => {
                self.server = None;
                Err(RemoteEnd::Lost(Lost::retry("the remote side ended")))
            }
        }
    }
}
