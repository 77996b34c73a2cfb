//! What a `cluster` run will do, decided from the command line before anything starts: the
//! job mode, the pool of hosts and slots, the limits, and what reporting needs. Pure: no
//! process is started here, so every rule is unit-tested.

use std::path::PathBuf;
use std::time::Duration;

use super::inputs::InputSpec;
use super::key::{CommandSet, How};
use super::output::{Grouping, OutputPlan, Tag};
use super::results::Results;
use super::tasks::Task;
use super::template::{Pattern, Template};
use crate::cli::{ClusterArgs, TaskName};
use crate::process::Limits;
use crate::usage::UsageError;
use crate::values::{HaltPolicy, HostSpec, JobTimeout, WorkerCount};

/// How jobs are run.
#[derive(Debug)]
pub(crate) enum Mode {
    /// A built-in task on pooled `cluster-worker`s.
    Task(Task),
    /// The user's IPC worker: its argv, and the command line as given (sent to remote sides
    /// as one argument).
    Worker {
        argv: Vec<String>,
        line: String,
        serialization: crate::ipc::Serialization,
    },
    /// One process per job.
    Exec(Template),
}

/// The configuration every slot reads (never changed during the run).
#[derive(Debug)]
pub(crate) struct Settings {
    pub mode: Mode,
    pub halt: HaltPolicy,
    pub retries: u32,
    /// `--job-timeout`; `None`: no limit. The fixed form is also in `limits`.
    pub job_timeout: Option<JobTimeout>,
    /// `--delay`: the least time between two job starts.
    pub delay: Option<Duration>,
    pub limits: Limits,
    /// Some slots run on other machines (jobs may be handed back; hosts are reported).
    pub remote: bool,
    /// `cluster-remote` arguments carrying how a worker is stopped.
    pub stop_args: Vec<String>,
    /// `cluster-remote --exec` arguments carrying the job limits.
    pub exec_limits: Vec<String>,
    /// The first pause of a slot whose worker or connection failed (it doubles each time).
    pub backoff: Duration,
    /// Where `--exec` jobs' output goes.
    pub output: OutputPlan,
}

/// Where the slots run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PoolPlan {
    /// This machine only.
    Local { workers: usize },
    /// Every slot one Slurm job step.
    Slurm {
        workers: usize,
        srun_args: Vec<String>,
        remote_childproc: String,
    },
    /// Named hosts (`:` is this machine), each once, with its slot count; `slots` gives each
    /// slot's host index, taking turns across hosts so a few jobs spread over all of them.
    Hosts {
        client: Vec<String>,
        remote_childproc: String,
        hosts: Vec<(HostSpec, usize)>,
        slots: Vec<usize>,
    },
}

impl PoolPlan {
    #[cfg(test)]
    pub(crate) fn workers(&self) -> usize {
        match self {
            PoolPlan::Local { workers } | PoolPlan::Slurm { workers, .. } => *workers,
            PoolPlan::Hosts { slots, .. } => slots.len(),
        }
    }

    pub(crate) fn remote(&self) -> bool {
        !matches!(self, PoolPlan::Local { .. })
    }
}

/// Whether the progress display is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// When stderr is a terminal.
    Auto,
    Always,
    Never,
}

/// What the reporter needs to know.
#[derive(Debug)]
pub(crate) struct ReportPlan {
    pub keep_order: bool,
    pub json: bool,
    /// `--exec`: outputs are raw stdout, stderr is printed grouped.
    pub exec: bool,
    /// `--exec`: the jobs' output comes through the reporter (grouped, no `--results`).
    pub prints_output: bool,
    pub progress: Progress,
    /// Records name the host, and the summary counts per host.
    pub remote: bool,
    /// The number of jobs, when known up front.
    pub total: Option<u64>,
}

/// What an existing joblog means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Nothing: the joblog is written anew.
    No,
    /// `--resume`: jobs with a row are skipped.
    Finished,
    /// `--resume-failed`: jobs whose row says they succeeded are skipped.
    Succeeded,
    /// `--retry-failed`: the failed rows' Commands are the jobs.
    RetryFailed,
}

/// `--joblog` and what to do with the one already there.
#[derive(Debug)]
pub(crate) struct JoblogPlan {
    pub path: PathBuf,
    pub resume: Resume,
    /// What names this run's jobs (`None` with `--retry-failed`: the joblog's rows do).
    pub set: Option<CommandSet>,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub settings: Settings,
    pub pool: PoolPlan,
    pub report: ReportPlan,
    pub joblog: Option<JoblogPlan>,
    /// Said on stderr before the run starts.
    pub notes: Vec<String>,
    /// Where the jobs come from.
    pub inputs: InputSpec,
    /// How long the run waits for its slots once interrupted.
    pub stop_grace: Duration,
}

/// What the plan takes from the machine it runs on.
pub(crate) struct Defaults {
    /// Slots when nothing says how many.
    pub parallelism: usize,
    /// The task count of the current Slurm allocation.
    pub allocation_tasks: Option<usize>,
    /// This binary, the remote childproc under Slurm.
    pub exe: Option<String>,
}

impl Defaults {
    pub(crate) fn here() -> Defaults {
        Defaults {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            allocation_tasks: super::launch::allocation_tasks(),
            exe: std::env::current_exe()
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        }
    }
}

/// The most slots a run may have.
const MAX_SLOTS: usize = 4096;

impl Plan {
    pub(crate) fn from_args(a: ClusterArgs) -> anyhow::Result<Plan> {
        Plan::build(a, &Defaults::here())
    }

    pub(crate) fn build(mut a: ClusterArgs, d: &Defaults) -> anyhow::Result<Plan> {
        // A zero limit is no limit, as for every other duration.
        a.job_timeout = a
            .job_timeout
            .filter(|t| *t != JobTimeout::Fixed(Duration::ZERO));
        check_mode_options(&a)?;
        let notes = replay_notes(&a);
        let workers = a
            .workers
            .map(|w| resolve_workers(w, d.parallelism))
            .transpose()?;
        let pool = pool(&a, workers, d)?;
        let remote = pool.remote();
        let mode = mode(&a)?;
        let inputs = InputSpec::parse(
            std::mem::take(&mut a.inputs),
            &a.arg_file,
            a.null,
            a.colsep.as_deref(),
        )?;
        if let Mode::Exec(t) = &mode {
            t.check_arity(inputs.arity())?;
        }
        let joblog = joblog_plan(&a, &mode);
        let resuming = joblog.as_ref().is_some_and(|j| j.resume != Resume::No);
        let output = output_plan(&a, inputs.arity())?;
        let report = ReportPlan {
            keep_order: a.keep_order,
            json: a.json,
            exec: matches!(mode, Mode::Exec(_)),
            prints_output: output.printed_by_reporter(),
            progress: progress(&a),
            remote,
            // Skipped jobs are not known up front.
            total: inputs.total().filter(|_| !resuming),
        };
        let stop_grace = stop_grace(&a, remote);
        let settings = Settings {
            mode,
            halt: a.halt,
            retries: a.retries,
            job_timeout: a.job_timeout,
            delay: a.delay.filter(|d| !d.is_zero()),
            limits: a.kill.limits(fixed_timeout(&a)),
            remote,
            stop_args: stop_args(&a),
            exec_limits: exec_limit_args(&a, output.streams()),
            backoff: Duration::from_millis(100),
            output,
        };
        Ok(Plan {
            settings,
            pool,
            report,
            joblog,
            notes,
            inputs,
            stop_grace,
        })
    }

    /// `--retry-failed`, once the joblog is read: its `jobs` failed jobs run as their
    /// Commands say, through a shell when `shell`.
    pub(crate) fn replay(&mut self, jobs: usize, shell: bool) {
        self.settings.mode = Mode::Exec(Template::replay(shell));
        self.report.total = Some(jobs as u64);
    }
}

/// The command set that names this run's jobs in the joblog's keys.
fn command_set(a: &ClusterArgs, mode: &Mode) -> Option<CommandSet> {
    if a.retry_failed {
        return None;
    }
    Some(match mode {
        Mode::Task(t) => CommandSet::new(format!("--task {}", t.name()), How::Task),
        Mode::Worker { line, .. } => CommandSet::new(format!("--worker {line}"), How::Worker),
        Mode::Exec(t) => match t.text() {
            (text, false) => CommandSet::new(format!("--exec {text}"), How::Argv),
            (text, true) => CommandSet::new(format!("--shell --exec {text}"), How::Sh),
        },
    })
}

fn joblog_plan(a: &ClusterArgs, mode: &Mode) -> Option<JoblogPlan> {
    let resume = if a.resume {
        Resume::Finished
    } else if a.resume_failed {
        Resume::Succeeded
    } else if a.retry_failed {
        Resume::RetryFailed
    } else {
        Resume::No
    };
    Some(JoblogPlan {
        path: a.joblog.clone()?,
        resume,
        set: command_set(a, mode),
    })
}

/// `--retry-failed` takes its jobs from the joblog, as GNU parallel's does: a template or
/// inputs given as well are not used, and the user is told so.
fn replay_notes(a: &ClusterArgs) -> Vec<String> {
    if !a.retry_failed {
        return Vec::new();
    }
    let mut unused: Vec<&str> = Vec::new();
    for (given, name) in [
        (a.exec.is_some(), "--exec"),
        (a.task.is_some(), "--task"),
        (a.worker.is_some(), "--worker"),
        (!a.inputs.is_empty() || !a.arg_file.is_empty(), "the inputs"),
    ] {
        if given {
            unused.push(name);
        }
    }
    if unused.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "--retry-failed runs the failed jobs' Commands from the joblog; not using {}",
        unused.join(", ")
    )]
}

/// `--progress` / `--no-progress`.
fn progress(a: &ClusterArgs) -> Progress {
    match (a.progress, a.no_progress) {
        (_, true) => Progress::Never,
        (true, false) => Progress::Always,
        (false, false) => Progress::Auto,
    }
}

/// How long an interrupted run waits for its slots: the kill grace period and a second,
/// more when the slots are on other machines.
fn stop_grace(a: &ClusterArgs, remote: bool) -> Duration {
    let grace = a.kill.kill_after.saturating_add(Duration::from_secs(1));
    if remote {
        grace.saturating_add(super::worker::REMOTE_STOP_GRACE)
    } else {
        grace
    }
}

impl From<TaskName> for Task {
    fn from(t: TaskName) -> Task {
        match t {
            TaskName::Fib => Task::Fib,
            TaskName::Sum => Task::Sum,
            TaskName::Primes => Task::Primes,
            TaskName::Spin => Task::Spin,
        }
    }
}

fn mode(a: &ClusterArgs) -> Result<Mode, UsageError> {
    if a.retry_failed {
        // Whether a shell runs them is known once the joblog is read (`Plan::replay`).
        return Ok(Mode::Exec(Template::replay(false)));
    }
    if let Some(t) = a.task {
        return Ok(Mode::Task(t.into()));
    }
    if let Some(w) = &a.worker {
        let argv = shell_words::split(w).map_err(|e| UsageError(format!("--worker '{w}': {e}")))?;
        if argv.is_empty() {
            return Err(UsageError("--worker needs a command".into()));
        }
        return Ok(Mode::Worker {
            argv,
            line: w.clone(),
            serialization: a.serialization,
        });
    }
    if let Some(t) = &a.exec {
        return Template::parse(t, a.shell).map(Mode::Exec);
    }
    Err(UsageError(
        "one of --task, --worker or --exec is required".into(),
    ))
}

/// Options that only mean something in one mode are refused elsewhere, rather than ignored
/// (`--shell --task sum` would otherwise quietly run without a shell).
fn check_mode_options(a: &ClusterArgs) -> Result<(), UsageError> {
    let remote = a.hosts.is_some() || a.hosts_file.is_some() || slurm(a);
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
    if a.serialization != crate::ipc::Serialization::Json && a.worker.is_none() {
        return Err(UsageError(
            "--serialization only applies to --worker (the channel to your worker)".into(),
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

fn slurm(a: &ClusterArgs) -> bool {
    a.slurm || a.slurm_args.is_some()
}

/// `-j/--workers` as a number of slots: relative forms count this machine's parallelism
/// (also with `--hosts`: GNU parallel asks each host, we do not).
fn resolve_workers(w: WorkerCount, parallelism: usize) -> Result<usize, UsageError> {
    let n = match w {
        WorkerCount::Exact(n) => n,
        WorkerCount::Percent(p) => {
            let n = (parallelism as u128).saturating_mul(u128::from(p)) / 100;
            usize::try_from(n).unwrap_or(usize::MAX)
        }
        WorkerCount::Plus(n) => parallelism.saturating_add(n),
        WorkerCount::Minus(n) => parallelism.saturating_sub(n),
    };
    if n > MAX_SLOTS {
        return Err(UsageError(format!(
            "--workers: {n} workers on {parallelism} cores is too many (at most {MAX_SLOTS})"
        )));
    }
    // As GNU parallel: a relative count that comes to less than 1 is 1.
    Ok(n.max(1))
}

fn pool(a: &ClusterArgs, workers: Option<usize>, d: &Defaults) -> anyhow::Result<PoolPlan> {
    if slurm(a) {
        let srun_args = match &a.slurm_args {
            Some(s) => {
                shell_words::split(s).map_err(|e| UsageError(format!("--slurm-args '{s}': {e}")))?
            }
            None => Vec::new(),
        };
        let remote_childproc = match (&a.remote_childproc, &d.exe) {
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => anyhow::bail!("cannot find childproc's own executable"),
        };
        let workers = workers.or(d.allocation_tasks).unwrap_or(d.parallelism);
        return Ok(PoolPlan::Slurm {
            workers,
            srun_args,
            remote_childproc,
        });
    }
    let hosts = host_list(a)?;
    if hosts.is_empty() {
        return Ok(PoolPlan::Local {
            workers: workers.unwrap_or(d.parallelism),
        });
    }
    let client =
        shell_words::split(&a.ssh).map_err(|e| UsageError(format!("--ssh '{}': {e}", a.ssh)))?;
    if client.is_empty() {
        return Err(UsageError("--ssh needs a command".into()).into());
    }
    let hosts = merge_hosts(hosts, workers);
    let slots = take_turns(&hosts);
    if slots.len() > MAX_SLOTS {
        return Err(UsageError(format!(
            "{} slots in all is too many (at most {MAX_SLOTS})",
            slots.len()
        ))
        .into());
    }
    Ok(PoolPlan::Hosts {
        client,
        remote_childproc: a
            .remote_childproc
            .clone()
            .unwrap_or_else(|| "childproc".into()),
        hosts,
        slots,
    })
}

/// `--hosts` and then the entries of `--hosts-file`.
fn host_list(a: &ClusterArgs) -> Result<Vec<HostSpec>, UsageError> {
    let mut hosts = a.hosts.clone().map(|h| h.0).unwrap_or_default();
    let Some(f) = &a.hosts_file else {
        return Ok(hosts);
    };
    let err = |e: &dyn std::fmt::Display| UsageError(format!("--hosts-file {}: {e}", f.display()));
    let text = std::fs::read_to_string(f).map_err(|e| err(&e))?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            hosts.push(crate::values::parse_host(line).map_err(|e| err(&e))?);
        }
    }
    if hosts.is_empty() {
        return Err(err(&"no hosts in it"));
    }
    Ok(hosts)
}

/// Each host once (a host named twice gets the slots of both entries), with its slot count.
fn merge_hosts(hosts: Vec<HostSpec>, workers: Option<usize>) -> Vec<(HostSpec, usize)> {
    let mut merged: Vec<(HostSpec, usize)> = Vec::new();
    for h in hosts {
        let n = h.slots.or(workers).unwrap_or(1);
        match merged.iter_mut().find(|(m, _)| m.label() == h.label()) {
            Some((_, slots)) => *slots += n,
            None => merged.push((h, n)),
        }
    }
    merged
}

/// Each slot's host index: slots take turns across hosts.
fn take_turns(hosts: &[(HostSpec, usize)]) -> Vec<usize> {
    let mut left: Vec<usize> = hosts.iter().map(|(_, n)| *n).collect();
    let mut slots = Vec::new();
    while left.iter().any(|&n| n > 0) {
        for (i, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                slots.push(i);
            }
        }
    }
    slots
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

/// The fixed `--job-timeout`, if that is the form given.
fn fixed_timeout(a: &ClusterArgs) -> Option<Duration> {
    match a.job_timeout {
        Some(JobTimeout::Fixed(t)) => Some(t),
        _ => None,
    }
}

/// `cluster-remote --exec` options that carry the job limits to the far side (a timeout of a
/// percentage of the median changes as jobs finish: it travels with each job instead), and
/// whether the jobs' output is sent as it arrives.
fn exec_limit_args(a: &ClusterArgs, stream_output: bool) -> Vec<String> {
    let mut v = stop_args(a);
    if let Some(t) = fixed_timeout(a) {
        v.extend(["--job-timeout".to_string(), millis(t)]);
    }
    if stream_output {
        v.push("--stream-output".to_string());
    }
    v
}

/// `--line-buffer`, `--ungroup`, `--tag`, `--tagstring` and `--results`, checked: they only
/// mean something for `--exec`, some exclude each other, and every replacement string in
/// them is known (and names an input source that is there, when that is known up front).
fn output_plan(a: &ClusterArgs, arity: Option<usize>) -> Result<OutputPlan, UsageError> {
    let given = [
        (a.line_buffer, "--line-buffer"),
        (a.ungroup, "--ungroup"),
        (a.tag, "--tag"),
        (a.tagstring.is_some(), "--tagstring"),
        (a.results.is_some(), "--results"),
    ];
    let Some(first) = given.iter().find(|(on, _)| *on).map(|(_, name)| *name) else {
        return Ok(OutputPlan::default());
    };
    if a.exec.is_none() {
        return Err(UsageError(format!("{first} only applies to --exec")));
    }
    if a.json {
        return Err(UsageError(format!(
            "{first} cannot be combined with --json (a record holds the job's whole output; \
             with --results each job's record is its job.json)"
        )));
    }
    let tagging = if a.tagstring.is_some() {
        "--tagstring"
    } else {
        "--tag"
    };
    if a.ungroup && (a.tag || a.tagstring.is_some()) {
        return Err(UsageError(format!(
            "{tagging} does not apply with --ungroup (output passes straight through, untouched)"
        )));
    }
    let tag = match &a.tagstring {
        Some(s) => Some(Tag::Text(tag_pattern(s, arity)?)),
        None => a.tag.then_some(Tag::Args),
    };
    let results = a
        .results
        .as_deref()
        .map(|d| Results::parse(d, arity))
        .transpose()?;
    let grouping = if a.line_buffer {
        Grouping::Lines
    } else if a.ungroup {
        Grouping::Ungrouped
    } else {
        Grouping::Grouped
    };
    Ok(OutputPlan {
        grouping,
        tag,
        results,
    })
}

/// `--tagstring STR`: its replacement strings known, and buildable for jobs of `arity`
/// arguments when that is known up front.
fn tag_pattern(s: &str, arity: Option<usize>) -> Result<Pattern, UsageError> {
    let err = |e: &dyn std::fmt::Display| UsageError(format!("--tagstring '{s}': {e}"));
    let p = Pattern::parse(s).map_err(|e| err(&e))?;
    if arity.is_some() {
        super::results::literal_prefix(&p, arity).map_err(|e| err(&e))?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(words: &[&str]) -> ClusterArgs {
        let mut argv = vec!["childproc", "cluster"];
        argv.extend_from_slice(words);
        match crate::cli::Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(crate::cli::Command::Cluster(a)) => a,
            other => panic!("not cluster arguments: {other:?}"),
        }
    }

    fn plan(words: &[&str]) -> anyhow::Result<Plan> {
        let d = Defaults {
            parallelism: 3,
            allocation_tasks: Some(7),
            exe: Some("/opt/cp".into()),
        };
        Plan::build(args(words), &d)
    }

    fn usage(words: &[&str]) -> String {
        match plan(words) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => {
                assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn modes() {
        let p = plan(&["--task", "fib", "1"]).unwrap();
        assert!(matches!(p.settings.mode, Mode::Task(Task::Fib)));
        assert_eq!(p.pool, PoolPlan::Local { workers: 3 });
        assert_eq!(p.report.total, Some(1));
        let p = plan(&["--worker", "node 'my w.js'"]).unwrap();
        let Mode::Worker { argv, line, .. } = &p.settings.mode else {
            panic!("{:?}", p.settings.mode);
        };
        assert_eq!(argv, &["node", "my w.js"]);
        assert_eq!(line, "node 'my w.js'");
        assert_eq!(p.report.total, None);
        let p = plan(&["--exec", "echo {}", "-w", "2"]).unwrap();
        assert!(p.report.exec);
        assert_eq!(p.pool, PoolPlan::Local { workers: 2 });
    }

    #[test]
    fn usage_errors() {
        assert!(usage(&["--worker", ""]).contains("--worker needs a command"));
        assert!(usage(&["--worker", "'x"]).contains("--worker"));
        assert!(usage(&["--exec", ""]).contains("--exec needs a command template"));
        assert!(usage(&["--task", "sum", "--remote-childproc", "x"]).contains("only applies"));
        assert!(usage(&["--task", "sum", "--ssh", "ssh -v"]).contains("--ssh only applies"));
        assert!(usage(&["--task", "sum", "--hosts", "a", "--ssh", ""]).contains("needs a command"));
        assert!(usage(&["--task", "sum", "--slurm-args", "'x"]).contains("--slurm-args"));
    }

    #[test]
    fn limits_and_stop_arguments() {
        let p = plan(&["--exec", "x", "--job-timeout", "0", "--kill-after", "0"]).unwrap();
        assert_eq!(p.settings.job_timeout, None);
        assert_eq!(p.settings.limits.kill_after, None);
        let p = plan(&[
            "--exec",
            "x",
            "--job-timeout",
            "1500us",
            "--kill-signal",
            "INT",
        ])
        .unwrap();
        assert_eq!(
            p.settings.job_timeout,
            Some(JobTimeout::Fixed(Duration::from_micros(1500)))
        );
        assert_eq!(p.settings.limits.timeout, Some(Duration::from_micros(1500)));
        assert_eq!(
            p.settings.exec_limits,
            [
                "--kill-signal",
                "2",
                "--kill-after",
                "2000",
                "--job-timeout",
                "1"
            ]
        );
        assert_eq!(p.settings.stop_args.len(), 4);
        assert_eq!(p.stop_grace, Duration::from_secs(3));
    }

    #[test]
    fn relative_worker_counts_count_this_machines_cores() {
        // The test machine has 3 cores (see `plan`).
        let workers = |w: &[&str]| {
            let mut words = vec!["--exec", "x"];
            words.extend_from_slice(w);
            plan(&words).unwrap().pool.workers()
        };
        assert_eq!(workers(&[]), 3);
        assert_eq!(workers(&["-j", "5"]), 5);
        assert_eq!(workers(&["--jobs", "5"]), 5);
        assert_eq!(workers(&["-w", "5"]), 5);
        assert_eq!(workers(&["-j", "50%"]), 1, "rounded down");
        assert_eq!(workers(&["-j", "10%"]), 1, "at least 1");
        assert_eq!(workers(&["-j", "200%"]), 6);
        assert_eq!(workers(&["-j", "+1"]), 4);
        assert_eq!(workers(&["-j", "-1"]), 2);
        assert_eq!(workers(&["-j-1"]), 2);
        assert_eq!(workers(&["--jobs=-2"]), 1);
        assert_eq!(
            workers(&["-j", "-5"]),
            1,
            "less than 1 is 1, as GNU parallel"
        );
        assert!(usage(&["--exec", "x", "-j", "+4094"]).contains("at most 4096"));
        assert!(usage(&["--exec", "x", "-j", "200000%"]).contains("at most 4096"));
        assert_eq!(workers(&["-j", "+4093"]), 4096);
        // Per host with --hosts, relative to this machine; the Slurm task count is overridden.
        let p = plan(&["--task", "sum", "--hosts", "a,2/b", "-j", "-1"]).unwrap();
        assert_eq!(p.pool.workers(), 2 + 2);
        let p = plan(&["--task", "sum", "--slurm", "-j", "+1"]).unwrap();
        assert_eq!(p.pool.workers(), 4);
    }

    #[test]
    fn scheduling_knobs_reach_the_settings() {
        use crate::values::{HaltWhen, HaltWhy, Threshold};
        let p = plan(&["--exec", "x"]).unwrap();
        assert_eq!(p.settings.halt, HaltPolicy::Never);
        assert_eq!(p.settings.delay, None);
        let p = plan(&["--exec", "x", "--halt", "soon,fail=50%", "--delay", "1m30s"]).unwrap();
        assert_eq!(
            p.settings.halt,
            HaltPolicy::On {
                when: HaltWhen::Soon,
                why: HaltWhy::Fail,
                threshold: Threshold::Percent(50)
            }
        );
        assert_eq!(p.settings.delay, Some(Duration::from_secs(90)));
        assert_eq!(
            plan(&["--exec", "x", "--delay", "0"])
                .unwrap()
                .settings
                .delay,
            None
        );
        // A percentage of the median is no fixed limit, here or over there.
        let p = plan(&["--exec", "x", "--job-timeout", "200%", "--hosts", "h"]).unwrap();
        assert_eq!(p.settings.job_timeout, Some(JobTimeout::OfMedian(200)));
        assert_eq!(p.settings.limits.timeout, None);
        assert!(
            !p.settings
                .exec_limits
                .contains(&"--job-timeout".to_string())
        );
        let p = plan(&["--task", "spin", "--job-timeout", "150%"]).unwrap();
        assert_eq!(p.settings.job_timeout, Some(JobTimeout::OfMedian(150)));
    }

    #[test]
    fn hosts_merge_and_take_turns() {
        let p = plan(&["--task", "sum", "--hosts", "2/a,b,a,:", "-w", "2"]).unwrap();
        let PoolPlan::Hosts {
            hosts,
            slots,
            remote_childproc,
            client,
        } = &p.pool
        else {
            panic!("{:?}", p.pool);
        };
        let counts: Vec<(String, usize)> = hosts.iter().map(|(h, n)| (h.label(), *n)).collect();
        assert_eq!(counts, [("a".into(), 4), ("b".into(), 2), (":".into(), 2)]);
        assert_eq!(slots, &[0, 1, 2, 0, 1, 2, 0, 0]);
        assert_eq!(remote_childproc, "childproc");
        assert_eq!(client, &["ssh"]);
        assert!(p.report.remote && p.settings.remote);
        assert!(p.stop_grace > Duration::from_secs(10));
        assert!(usage(&["--task", "sum", "--hosts", "3000/a,2000/b"]).contains("at most 4096"));
    }

    #[test]
    fn slurm_pool() {
        let p = plan(&["--task", "sum", "--slurm-args", "-p debug"]).unwrap();
        assert_eq!(
            p.pool,
            PoolPlan::Slurm {
                workers: 7,
                srun_args: vec!["-p".into(), "debug".into()],
                remote_childproc: "/opt/cp".into(),
            }
        );
        assert_eq!(p.pool.workers(), 7);
    }

    #[test]
    fn output_options() {
        let p = plan(&["--exec", "x"]).unwrap();
        assert_eq!(p.settings.output.grouping, Grouping::Grouped);
        assert!(p.report.prints_output && !p.settings.output.streams());
        let p = plan(&["--exec", "x", "--lb", "--tag", "--hosts", "h"]).unwrap();
        assert_eq!(p.settings.output.grouping, Grouping::Lines);
        assert!(matches!(p.settings.output.tag, Some(Tag::Args)));
        assert!(!p.report.prints_output);
        assert_eq!(p.settings.exec_limits.last().unwrap(), "--stream-output");
        let p = plan(&[
            "--exec",
            "x",
            "--tag",
            "--tagstring",
            "{2}",
            ":::",
            "a",
            ":::",
            "b",
        ]);
        assert!(matches!(p.unwrap().settings.output.tag, Some(Tag::Text(_))));
        let p = plan(&["--exec", "x", "-u", "--results", "r/{1}"]).unwrap();
        assert_eq!(p.settings.output.grouping, Grouping::Ungrouped);
        assert!(matches!(p.settings.output.results, Some(Results::Named(_))));
        assert!(usage(&["--task", "sum", "--results", "r"]).contains("only applies to --exec"));
        assert!(usage(&["--exec", "x", "-u", "--tagstring", "t"]).contains("--tagstring does not"));
        assert!(usage(&["--exec", "x", "--json", "--results", "r"]).contains("--json"));
        assert!(usage(&["--exec", "x", "--tagstring", "{2}", ":::", "a"]).contains("1 argument"));
    }

    #[test]
    fn hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts");
        std::fs::write(&f, "# none\n\n").unwrap();
        let f = f.to_string_lossy().into_owned();
        assert!(usage(&["--task", "sum", "--hosts-file", &f]).contains("no hosts in it"));
        std::fs::write(&f, "3/x # a comment\n y \n").unwrap();
        let p = plan(&["--task", "sum", "--hosts-file", &f]).unwrap();
        assert_eq!(p.pool.workers(), 4);
        assert!(
            usage(&["--task", "sum", "--hosts-file", "/nonexistent/h"]).contains("--hosts-file")
        );
    }

    #[test]
    fn resume_options() {
        let p = plan(&["--exec", "echo {}", "--joblog", "j", "--resume", "a"]).unwrap();
        let j = p.joblog.unwrap();
        assert_eq!(j.resume, Resume::Finished);
        let set = j.set.unwrap();
        assert_eq!((set.text.as_str(), set.how), ("--exec echo {}", How::Argv));
        assert_eq!(p.report.total, None, "skipped jobs are not known up front");
        let p = plan(&["--exec", "echo {}", "--joblog", "j", "a"]).unwrap();
        assert_eq!(p.joblog.unwrap().resume, Resume::No);
        assert_eq!(p.report.total, Some(1));
        let p = plan(&["--shell", "--exec", "x", "--joblog", "j", "--resume-failed"]).unwrap();
        let j = p.joblog.unwrap();
        assert_eq!(j.resume, Resume::Succeeded);
        assert_eq!(j.set.unwrap().text, "--shell --exec x");
        let p = plan(&["--task", "sum", "--joblog", "j"]).unwrap();
        assert_eq!(p.joblog.unwrap().set.unwrap().text, "--task sum");
        let p = plan(&["--worker", "node 'w.js'", "--joblog", "j"]).unwrap();
        let set = p.joblog.unwrap().set.unwrap();
        assert_eq!(
            (set.text.as_str(), set.how),
            ("--worker node 'w.js'", How::Worker)
        );
    }

    #[test]
    fn retry_failed_takes_its_jobs_from_the_joblog() {
        let p = plan(&["--joblog", "j", "--retry-failed"]).unwrap();
        let j = p.joblog.unwrap();
        assert_eq!((j.resume, j.set), (Resume::RetryFailed, None));
        assert!(p.notes.is_empty());
        assert!(matches!(p.settings.mode, Mode::Exec(_)));
        let p = plan(&["--joblog", "j", "--retry-failed", "--exec", "x", "a"]).unwrap();
        assert_eq!(
            p.notes,
            [
                "--retry-failed runs the failed jobs' Commands from the joblog; not using --exec, the inputs"
            ]
        );
        // Without it, a mode is required.
        assert!(usage(&["a"]).contains("one of --task, --worker or --exec is required"));
    }
}
