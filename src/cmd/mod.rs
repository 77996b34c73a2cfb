//! One module per subcommand, all over the shared process engine.

pub mod echo;
pub mod exec;
pub mod fork;
pub mod generate;
pub mod spawn;

use std::ffi::OsString;

use crate::cli::{Cli, Command, RunOpts};
use crate::exit::Exit;
use crate::process::{Limits, SpawnError, Spec};

pub use crate::usage::UsageError;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Spawn(a) => spawn::run(a),
        Command::Exec(a) => exec::run_exec(a),
        Command::Execfile(a) => exec::run_execfile(a),
        Command::Fork(a) => fork::run(a),
        Command::Cluster(a) => crate::cluster::run(a),
        Command::Serve(a) => crate::serve::run(a),
        Command::ClusterWorker => crate::cluster::role::run(),
        Command::ClusterRemote(a) => crate::cluster::remote::run(a),
        Command::Generate(a) => generate::run(a),
        Command::IpcEcho => echo::run(),
    }
}

/// The exit code for an error that ended the run before the child could be supervised.
pub fn error_exit(e: &anyhow::Error) -> Exit {
    match e.downcast_ref::<SpawnError>() {
        Some(se) => se.exit(),
        None => Exit::Failure,
    }
}

/// The parts of a [`Spec`] every subcommand sets the same way from the shared options.
pub fn base_spec(program: OsString, args: Vec<OsString>, run: &RunOpts) -> Spec {
    let mut spec = Spec::new(program, args);
    spec.cwd = run.cwd.clone();
    spec.env_clear = run.env_clear;
    spec.env = run.env.clone();
    spec
}

pub fn limits(run: &RunOpts) -> Limits {
    run.kill.limits(run.timeout)
}

/// Print the engine's diagnostics for an outcome, one line each.
pub fn report(
    outcome: &crate::process::Outcome,
    program: &OsString,
    limits: &Limits,
    max_buffer: Option<u64>,
) {
    let name = program.to_string_lossy();
    for line in outcome.diagnostics(&name, limits, max_buffer) {
        crate::error_line(&line);
    }
}

pub use crate::usage::split_command;
