//! The clap model of the command line. It is the single source of truth for parsing, `--help`,
//! the committed shell completions and the man pages (see `cmd::generate`).
// The doc comments below are `--help` text rendered by clap, not rustdoc: `[N/][user@]host`
// is a usage pattern there, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::values::{self, Signal};

const AFTER_HELP: &str = "\
Exit status (spawn, exec, execfile, fork):
  0-123  the child's own exit code
  124    --timeout expired and the child was killed
  125    childproc itself failed (usage, bad --cwd, --max-buffer exceeded, ...)
  126    PROGRAM found but not executable
  127    PROGRAM not found
  128+N  the child was killed by signal N";

#[derive(Debug, Parser)]
#[command(
    name = "childproc",
    version,
    about = "Node.js child_process and cluster for the terminal and shell scripts",
    long_about = "Node.js child_process and cluster for the terminal and shell scripts.\n\n\
        Runs programs with process-group cleanup, timeouts with escalation, bounded \
        output capture and exact exit-status reporting.",
    after_help = AFTER_HELP,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM and stream its stdio live (no shell)
    #[command(after_help = AFTER_HELP)]
    Spawn(SpawnArgs),
    /// Run COMMAND_LINE through /bin/sh -c, buffer its output (--max-buffer)
    #[command(after_help = AFTER_HELP)]
    Exec(ExecArgs),
    /// Run PROGRAM directly (no shell, every argument literal), buffer its output
    #[command(after_help = AFTER_HELP)]
    Execfile(ExecfileArgs),
    /// Start a child with a Node.js IPC channel; JSON messages in (--send, stdin), out (stdout)
    #[command(after_help = AFTER_HELP)]
    Fork(ForkArgs),
    /// Run jobs in parallel over a pool of worker processes (built-in tasks, IPC workers, or
    /// one process per job)
    Cluster(ClusterArgs),
    /// Run a supervised pool of server workers sharing listening sockets (Node's cluster
    /// server mode, for any language)
    Serve(ServeArgs),
    /// Regenerate the committed shell completions and man pages
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Worker role of `cluster --task`: runs built-in tasks sent over the IPC channel
    #[command(hide = true, name = "cluster-worker")]
    ClusterWorker,
    /// Remote side of `cluster --hosts/--slurm`: runs a worker or --exec jobs for a primary
    /// that speaks to it over stdin/stdout
    #[command(hide = true, name = "cluster-remote")]
    ClusterRemote(RemoteArgs),
    /// Child role: echo every IPC message back (what `fork` runs without PROGRAM)
    #[command(hide = true, name = "ipc-echo")]
    IpcEcho,
}

/// How a child is stopped: the signal, then SIGKILL after a grace period.
#[derive(Debug, Args, Clone, Copy)]
pub struct KillOpts {
    /// Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)
    #[arg(long, value_name = "SIG", default_value = "TERM", value_parser = values::parse_signal)]
    pub kill_signal: Signal,

    /// Grace period before SIGKILL follows the kill signal (0 = never escalate)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = values::parse_duration_or_zero)]
    pub kill_after: Duration,
}

impl KillOpts {
    /// The engine's limits with this kill policy and `timeout` (zero means none).
    pub fn limits(&self, timeout: Option<Duration>) -> crate::process::Limits {
        crate::process::Limits {
            timeout: timeout.filter(|d| !d.is_zero()),
            kill_signal: self.kill_signal,
            kill_after: Some(self.kill_after).filter(|d| !d.is_zero()),
        }
    }
}

/// Options every subcommand that runs one child shares.
#[derive(Debug, Args, Clone)]
pub struct RunOpts {
    /// Working directory of the child
    #[arg(short = 'C', long, value_name = "DIR", value_parser = clap::builder::PathBufValueParser::new())]
    pub cwd: Option<PathBuf>,

    /// Add or override one environment variable of the child (repeatable); KEY= sets it empty
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = values::EnvPairParser)]
    pub env: Vec<(OsString, OsString)>,

    /// Start the child from an empty environment, then apply --env
    #[arg(long)]
    pub env_clear: bool,

    /// Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)
    #[arg(long, value_name = "DURATION", value_parser = values::parse_duration_or_zero)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub kill: KillOpts,

    /// On timeout, exit with the child's status instead of 124
    #[arg(long)]
    pub preserve_status: bool,
}

#[derive(Debug, Args)]
pub struct SpawnArgs {
    #[command(flatten)]
    pub run: RunOpts,

    /// Prefix each output line with TEMPLATE ({pid}, {name} are replaced)
    #[arg(long, value_name = "TEMPLATE", conflicts_with = "json")]
    pub prefix: Option<String>,

    /// Print a JSON-lines event stream (spawn, stdout, stderr, exit) on stdout
    #[arg(long)]
    pub json: bool,

    /// Write the child's stdout to FILE (created or truncated)
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new())]
    pub stdout: Option<PathBuf>,

    /// Write the child's stderr to FILE (created or truncated)
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new(), conflicts_with = "merge")]
    pub stderr: Option<PathBuf>,

    /// Send the child's stderr to the same place as its stdout (2>&1)
    #[arg(long)]
    pub merge: bool,

    /// Keep the program alive: run it again whenever it ends (on-failure: with a non-zero
    /// status or a signal; always: whatever the status), with exponential backoff; a signal to
    /// childproc stops it for good (exit 0 once the program has ended within --kill-after)
    #[arg(long, value_enum, value_name = "WHEN", default_value = "never")]
    pub restart: Restart,

    /// With --restart: give up after N restarts within --restart-window (exit 125)
    #[arg(long, value_name = "N", default_value = "10", requires = "restart")]
    pub max_restarts: u32,

    /// With --restart: the window --max-restarts counts restarts in
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = values::parse_duration_positive, requires = "restart")]
    pub restart_window: std::time::Duration,

    /// The program to run, then its arguments (passed literally)
    #[arg(
        value_name = "PROGRAM",
        required = true,
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
}

/// When `spawn --restart` runs the program again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Restart {
    /// Run it once (the default)
    Never,
    /// Again after it ends with a non-zero status or a signal
    OnFailure,
    /// Again after every end
    Always,
}

/// How captured output bytes appear in a `--json` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// UTF-8, invalid sequences replaced by U+FFFD
    Utf8,
    /// Standard base64 of the exact bytes
    Base64,
}

/// Options of the buffered subcommands (exec, execfile).
#[derive(Debug, Args)]
pub struct CaptureOpts {
    #[command(flatten)]
    pub run: RunOpts,

    /// Largest output kept per stream (1048576, 64KiB, 1MiB; 0 allowed); more kills the child
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = values::parse_size)]
    pub max_buffer: u64,

    /// Feed STRING to the child's stdin (instead of childproc's stdin)
    #[arg(long, value_name = "STRING", conflicts_with = "input_file", value_parser = clap::value_parser!(OsString))]
    pub input: Option<OsString>,

    /// Feed FILE to the child's stdin
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new())]
    pub input_file: Option<PathBuf>,

    /// Print one JSON result object instead of the raw output
    #[arg(long)]
    pub json: bool,

    /// How output bytes appear in --json
    #[arg(long, value_enum, value_name = "ENCODING", default_value = "utf8")]
    pub encoding: Encoding,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub capture: CaptureOpts,

    /// The shell that runs COMMAND_LINE
    #[arg(long, value_name = "PATH", default_value = "/bin/sh", value_parser = clap::builder::PathBufValueParser::new())]
    pub shell: PathBuf,

    /// The command line, as ONE argument (quote it: 'ls -l | wc -l')
    #[arg(
        value_name = "COMMAND_LINE",
        required = true,
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command_line: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ExecfileArgs {
    #[command(flatten)]
    pub capture: CaptureOpts,

    /// The program to run, then its arguments (passed literally)
    #[arg(
        value_name = "PROGRAM",
        required = true,
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    #[command(flatten)]
    pub run: RunOpts,

    /// Send this JSON message first (repeatable, in order; then each non-blank stdin line)
    #[arg(long, value_name = "JSON", value_parser = crate::ipc::parse_json_message)]
    pub send: Vec<String>,

    /// Bind a listening socket before the child starts (PORT, HOST:PORT, [V6]:PORT or
    /// unix:PATH; port 0 picks one, said on stderr) and hand it to the child as a net.Server
    /// handle with the --send-server message, as child.send(msg, server) does
    #[arg(long, value_name = "ADDR", value_parser = crate::listen::parse_listen)]
    pub listen: Option<crate::listen::ListenAddr>,

    /// The message the --listen socket travels with (JSON; default "server"), sent before any
    /// --send or stdin message; in Node: process.on('message', (m, server) => …)
    #[arg(long, value_name = "JSON", requires = "listen", value_parser = crate::ipc::parse_json_message)]
    pub send_server: Option<String>,

    /// The node binary used for PROGRAM ending in .js, .mjs or .cjs
    #[arg(long, value_name = "PATH", default_value = "node", value_parser = clap::value_parser!(OsString))]
    pub node: OsString,

    /// When to half-close the channel (the child sees 'disconnect'): on-input-end = once input
    /// has ended and the child has read it and gone quiet (no messages, no CPU use); never =
    /// leave it open until the child closes it or exits; after:N = once input has ended and
    /// the child has sent N messages
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "on-input-end",
        value_parser = values::parse_disconnect
    )]
    pub disconnect: values::Disconnect,

    /// Wire format of the channel, as Node's `serialization` option: json (one JSON text per
    /// line) or advanced (V8's structured clone: BigInt, Map, Set, Date, Buffer, cycles…; on
    /// stdin/stdout they appear in a tagged JSON form, see the README)
    #[arg(long, value_name = "MODE", default_value = "json", value_parser = values::parse_serialization)]
    pub serialization: crate::ipc::Serialization,

    /// The program to fork, then its arguments (default: childproc's built-in echo child)
    #[arg(
        value_name = "PROGRAM",
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
}

/// A built-in CPU task of `cluster --task` (the tasks themselves live in `cluster::tasks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskName {
    /// Naive recursive Fibonacci of N (N <= 93, the largest that fits in 64 bits)
    Fib,
    /// Sum of 0..=N computed in a loop
    Sum,
    /// Count the primes below N (N <= 2*10^9)
    Primes,
    /// Busy-loop for N milliseconds (at most a day)
    Spin,
}

// One mode is required, except with --retry-failed (its jobs come from the joblog): the
// plan says so.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["task", "worker", "exec"])))]
pub struct ClusterArgs {
    /// Number of worker processes: N, N% of this machine's cores (rounded down), or +N/-N
    /// relative to them; at least 1 (0 is refused: GNU parallel's -j 0, "as many as
    /// possible", is not supported). Default: available parallelism; with --hosts: slots per
    /// host that gives no N/ (relative forms count this machine's cores, not each host's);
    /// with --slurm: the allocation's task count
    #[arg(
        short = 'w',
        long,
        visible_short_alias = 'j',
        visible_alias = "jobs",
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = values::parse_worker_count
    )]
    pub workers: Option<values::WorkerCount>,

    /// Built-in CPU task run by pooled childproc workers; each input is N
    #[arg(long, value_enum, value_name = "NAME")]
    pub task: Option<TaskName>,

    /// Persistent worker command speaking the Node IPC protocol (e.g. 'node worker.js')
    #[arg(long, value_name = "CMD")]
    pub worker: Option<String>,

    /// One process per job; {} is replaced by the input (appended when absent)
    #[arg(long, value_name = "TEMPLATE")]
    pub exec: Option<String>,

    /// With --worker: the channel's wire format, as Node's `serialization` option (json, or
    /// advanced: inputs and results in the tagged JSON form of fork --serialization advanced)
    #[arg(long, value_name = "MODE", default_value = "json", value_parser = values::parse_serialization)]
    pub serialization: crate::ipc::Serialization,

    /// With --exec: run the template through /bin/sh -c, every value shell-quoted
    #[arg(long, requires = "exec")]
    pub shell: bool,

    /// An input source: one input per line of FILE ('-' is stdin); repeatable, before the
    /// sources named by INPUTS
    #[arg(short = 'a', long = "arg-file", value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new())]
    pub arg_file: Vec<PathBuf>,

    /// Inputs read from stdin or files end with a NUL byte, not a newline
    #[arg(short = '0', long)]
    pub null: bool,

    /// Split each input at REGEX into columns: each column is one argument ({1}, {2}, ...)
    #[arg(long, value_name = "REGEX")]
    pub colsep: Option<String>,

    /// Print results in input order (default: completion order)
    #[arg(short = 'k', long)]
    pub keep_order: bool,

    /// One JSON object per job: seq, input, ok, output, error, worker, pid, attempts, durationMs
    #[arg(long)]
    pub json: bool,

    /// Print each complete line of a job's stdout (stderr: to stderr) as soon as it
    /// arrives; lines of different jobs interleave, a line is never cut (one longer than 1 MiB
    /// goes out in 1 MiB pieces), an unfinished last line goes out at the job's end as it is.
    /// With -k the oldest job still to be printed writes live and the others' lines are held
    /// until it is their turn (as GNU parallel does)
    #[arg(long, visible_alias = "lb", help_heading = "Output of --exec jobs")]
    pub line_buffer: bool,

    /// The jobs' stdout and stderr are ours: output passes straight through as it is
    /// written (half lines of different jobs may mix; the joblog's Receive is 0; -k orders
    /// nothing). --tag and --tagstring do not apply (refused)
    #[arg(
        short = 'u',
        long,
        conflicts_with = "line_buffer",
        help_heading = "Output of --exec jobs"
    )]
    pub ungroup: bool,

    /// Prefix every output line (stdout and stderr) with the job's arguments joined
    /// by spaces, and a TAB
    #[arg(long, help_heading = "Output of --exec jobs")]
    pub tag: bool,

    /// Prefix every output line with STR (replacement strings such as {1} or {#}
    /// allowed) and a TAB; wins over --tag
    #[arg(long, value_name = "STR", help_heading = "Output of --exec jobs")]
    pub tagstring: Option<String>,

    /// Write each job's output into files instead of printing it: DIR/1/<arg 1>/2/<arg
    /// 2>/.../ holds stdout, stderr, seq (GNU parallel's layout; '/' in a value is written \_,
    /// '\' as \\), plus exitcode (the status as a shell's $? shows it: 128+N for signal N)
    /// and job.json (the job's --json record). With replacement strings DIR names the stdout
    /// file, with .err, .seq, .exitcode and .job.json beside it (ending in '/': a directory
    /// holding stdout, stderr, ...)
    #[arg(long, value_name = "DIR", help_heading = "Output of --exec jobs")]
    pub results: Option<String>,

    /// Retry a failed job (non-zero exit, signal, crashed worker, timeout) up to N times
    #[arg(long, value_name = "N", default_value = "0")]
    pub retries: u32,

    /// Kill a job (its process group) that runs longer than DURATION (0 = no limit), or than
    /// N% (over 100) of the median runtime of the jobs that succeeded so far; the percentage
    /// sets no limit until 3 jobs have succeeded
    #[arg(long, value_name = "DURATION|N%", value_parser = values::parse_job_timeout)]
    pub job_timeout: Option<values::JobTimeout>,

    /// Start no more jobs once a condition is met, as GNU parallel: never, or WHEN,WHY=N|N% with
    /// WHEN now (also kill running jobs) or soon (let them finish), WHY fail, success or done,
    /// N% of all jobs (of the jobs taken so far when inputs come from stdin). now and soon are
    /// now,fail=1 and soon,fail=1; GNU's 0, 1, 2, -1, -2 and N% also work. A run stopped on
    /// success exits 0 unless a job failed on its own
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "never",
        allow_negative_numbers = true,
        value_parser = values::parse_halt
    )]
    pub halt: values::HaltPolicy,

    /// Start no job sooner than DURATION after the previous one started (GNU parallel's
    /// --delay: seconds, e.g. 0.5, or with units: 1.5s, 1m30s, 300ms)
    #[arg(
        long,
        value_name = "DURATION",
        allow_negative_numbers = true,
        value_parser = values::parse_gnu_duration
    )]
    pub delay: Option<Duration>,

    /// Write GNU parallel's joblog (TSV, same columns and meanings) to FILE
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new())]
    pub joblog: Option<PathBuf>,

    /// Skip every job the --joblog FILE already has a row for, whatever its exit status, and
    /// append the rest's rows; jobs are matched by content (the command set and the job's
    /// arguments, the Key column), not by number
    #[arg(long, requires = "joblog", conflicts_with_all = ["resume_failed", "retry_failed"])]
    pub resume: bool,

    /// As --resume, but only jobs with a row that says they succeeded are skipped: failed
    /// ones run again
    #[arg(long, requires = "joblog", conflicts_with = "retry_failed")]
    pub resume_failed: bool,

    /// Run again the jobs the --joblog FILE says failed, as its Command column gives them
    /// (the command line's template and inputs are not used), appending their rows
    #[arg(long, requires = "joblog")]
    pub retry_failed: bool,

    /// Draw a progress bar on stderr (default when stderr is a terminal)
    #[arg(long, overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw a progress bar
    #[arg(long)]
    pub no_progress: bool,

    /// Run slots on these machines over ssh: [N/][user@]host[:port],... (N slots, default 1
    /// or --workers; ':' is this machine)
    // The brackets are the --help syntax, not rustdoc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "LIST", value_parser = values::parse_hosts, help_heading = "Many machines")]
    pub hosts: Option<values::HostList>,

    /// Read --hosts entries from FILE, one per line (# comments)
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new(), help_heading = "Many machines")]
    pub hosts_file: Option<PathBuf>,

    /// The ssh client and its options, split like a shell would (e.g. 'ssh -F cfg')
    #[arg(
        long,
        value_name = "CMD",
        default_value = "ssh",
        help_heading = "Many machines"
    )]
    pub ssh: String,

    /// The childproc binary on the remote side (default: 'childproc' on the remote PATH over
    /// ssh; this binary's own path under Slurm)
    #[arg(long, value_name = "PATH", help_heading = "Many machines")]
    pub remote_childproc: Option<String>,

    /// Run slots as Slurm job steps (srun) of the current allocation; --workers defaults to
    /// its task count
    #[arg(long, conflicts_with_all = ["hosts", "hosts_file"], help_heading = "Many machines")]
    pub slurm: bool,

    /// Extra srun options (e.g. '-p debug -t 10'), split like a shell would; implies --slurm
    #[arg(
        long,
        value_name = "ARGS",
        allow_hyphen_values = true,
        conflicts_with_all = ["hosts", "hosts_file"],
        help_heading = "Many machines"
    )]
    pub slurm_args: Option<String>,

    #[command(flatten)]
    pub kill: KillOpts,

    /// Inputs, one per job (default: lines of stdin). `::: ARGS` and `:::: FILES` add input
    /// sources (the jobs are every combination); `:::+` and `::::+` pair a source with the
    /// one before it. Everything from the first input on is an input
    #[arg(
        value_name = "INPUTS",
        value_parser = clap::value_parser!(OsString),
        trailing_var_arg = true
    )]
    pub inputs: Vec<OsString>,
}

/// When `serve` counts a worker as ready (to take over from the one it replaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ready {
    /// The first sign of any kind; with --listen, as soon as the worker has started
    Auto,
    /// As soon as the worker has started
    Started,
    /// READY=1 on $NOTIFY_SOCKET (sd_notify)
    Notify,
    /// The IPC message 'ready' (pm2's process.send('ready'))
    Message,
    /// Node's cluster 'listening' message
    Listening,
}

/// How Node workers' connections are distributed (Node's `cluster.schedulingPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sched {
    /// childproc accepts each connection and hands it to the next free worker
    Rr,
    /// The listening socket itself is shared; the kernel picks the worker
    #[value(name = "none")]
    Shared,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Number of worker processes (default: available parallelism)
    #[arg(short = 'w', long, value_name = "N", value_parser = values::parse_workers)]
    pub workers: Option<usize>,

    /// Bind ADDR before any worker starts and pass it to every worker by socket activation
    /// (repeatable): PORT, HOST:PORT, [V6]:PORT or unix:PATH, optionally NAME=ADDR
    #[arg(short = 'l', long, value_name = "ADDR", value_parser = crate::listen::parse_listen)]
    pub listen: Vec<crate::listen::ListenAddr>,

    /// Node workers: round-robin hand-off by childproc, or the shared socket (default:
    /// $NODE_CLUSTER_SCHED_POLICY, else rr)
    #[arg(long, value_enum, value_name = "POLICY")]
    pub sched: Option<Sched>,

    /// When a worker counts as ready (a reload waits for it before stopping the old one)
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub ready: Ready,

    /// A replacement not ready after DURATION is stopped, and the old worker kept
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::parse_duration_positive)]
    pub ready_timeout: Duration,

    /// Signal that asks a worker to stop gracefully (reload, shutdown)
    #[arg(long, value_name = "SIG", default_value = "TERM", value_parser = values::parse_signal)]
    pub stop_signal: Signal,

    /// Grace period before SIGKILL follows the stop signal (0 = never escalate)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::parse_duration_or_zero)]
    pub kill_after: Duration,

    /// Give a slot up after N restarts within --restart-window
    #[arg(long, value_name = "N", default_value = "10", value_parser = clap::value_parser!(u32))]
    pub max_restarts: u32,

    /// The window --max-restarts counts restarts in
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = values::parse_duration_positive)]
    pub restart_window: Duration,

    /// Prefix each worker output line with TEMPLATE ({id}, {slot}, {pid} are replaced)
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "[{id} {pid}] ",
        conflicts_with = "no_prefix"
    )]
    pub prefix: String,

    /// Workers write straight to childproc's stdout and stderr (no prefix, no re-emission)
    #[arg(long)]
    pub no_prefix: bool,

    /// Write lifecycle events to FILE as JSON lines
    #[arg(long, value_name = "FILE", value_parser = clap::builder::PathBufValueParser::new())]
    pub events: Option<PathBuf>,

    /// The node binary used for PROGRAM ending in .js, .mjs or .cjs
    #[arg(long, value_name = "PATH", default_value = "node", value_parser = clap::value_parser!(OsString))]
    pub node: OsString,

    /// Working directory of the workers
    #[arg(short = 'C', long, value_name = "DIR", value_parser = clap::builder::PathBufValueParser::new())]
    pub cwd: Option<PathBuf>,

    /// Add or override one environment variable of the workers (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = values::EnvPairParser)]
    pub env: Vec<(OsString, OsString)>,

    /// Start the workers from an empty environment, then apply --env
    #[arg(long)]
    pub env_clear: bool,

    /// The server program, then its arguments (passed literally)
    #[arg(
        value_name = "PROGRAM",
        required = true,
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory that receives completions/ and man/
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// The hidden `cluster-remote` role's options, set by the primary (not meant for users).
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Relay for a pooled built-in task worker
    #[arg(long, value_enum, value_name = "NAME")]
    pub task: Option<TaskName>,

    /// Relay for this IPC worker command (shell-words)
    #[arg(long, value_name = "CMD")]
    pub worker: Option<String>,

    /// Serve --exec jobs sent as JSON requests
    #[arg(long)]
    pub exec: bool,

    /// With --worker: the worker's channel serialization (json or advanced)
    #[arg(long, value_name = "MODE", default_value = "json", value_parser = values::parse_serialization)]
    pub serialization: crate::ipc::Serialization,

    /// With --exec: say when each job has started (its pid), so a job killed before it
    /// answers is still reported with its pid. Not under srun: its I/O forwarding delays a
    /// second small line per job by ~10 ms (measured: 12 ms per job instead of 1).
    #[arg(long, requires = "exec")]
    pub announce_starts: bool,

    /// With --exec: send each job's output as it arrives (output notes), not in its reply
    /// (--line-buffer, --ungroup and --results on the primary)
    #[arg(long, requires = "exec")]
    pub stream_output: bool,

    /// Kill an --exec job that runs longer than DURATION
    #[arg(long, value_name = "DURATION", value_parser = values::parse_duration_positive)]
    pub job_timeout: Option<Duration>,

    #[command(flatten)]
    pub kill: KillOpts,
}
