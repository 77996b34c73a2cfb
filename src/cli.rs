//! The clap model of the command line. It is the single source of truth for parsing, `--help`,
//! the committed shell completions and the man pages (see `cmd::generate`).

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
    /// Regenerate the committed shell completions and man pages
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// Options every subcommand that runs one child shares.
#[derive(Debug, Args, Clone)]
pub struct RunOpts {
    /// Working directory of the child
    #[arg(short = 'C', long, value_name = "DIR", value_parser = values::parse_path)]
    pub cwd: Option<PathBuf>,

    /// Add or override one environment variable of the child (repeatable); KEY= sets it empty
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = values::parse_env_pair)]
    pub env: Vec<(OsString, OsString)>,

    /// Start the child from an empty environment, then apply --env
    #[arg(long)]
    pub env_clear: bool,

    /// Kill the child after DURATION (500ms, 5s, 2m, or bare milliseconds; 0 = no timeout)
    #[arg(long, value_name = "DURATION", value_parser = values::parse_duration_or_zero)]
    pub timeout: Option<Duration>,

    /// Signal sent on timeout, limit or interruption (TERM, SIGTERM, sigterm, 15)
    #[arg(long, value_name = "SIG", default_value = "TERM", value_parser = values::parse_signal)]
    pub kill_signal: Signal,

    /// Grace period before SIGKILL follows the kill signal (0 = never escalate)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = values::parse_duration_or_zero)]
    pub kill_after: Duration,

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
    #[arg(long, value_name = "FILE", value_parser = values::parse_path)]
    pub stdout: Option<PathBuf>,

    /// Write the child's stderr to FILE (created or truncated)
    #[arg(long, value_name = "FILE", value_parser = values::parse_path, conflicts_with = "merge")]
    pub stderr: Option<PathBuf>,

    /// Send the child's stderr to the same place as its stdout (2>&1)
    #[arg(long)]
    pub merge: bool,

    /// The program to run, then its arguments (passed literally)
    #[arg(
        value_name = "PROGRAM",
        required = true,
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
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
    #[arg(long, value_name = "FILE", value_parser = values::parse_path)]
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
    #[arg(long, value_name = "PATH", default_value = "/bin/sh", value_parser = values::parse_path)]
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
pub struct GenerateArgs {
    /// Directory that receives completions/ and man/
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}
