//! One `--exec` job run on this machine: one supervised process whose output goes to a sink
//! (or, with `--ungroup` and `--results`, straight where it belongs). The local launcher runs
//! its jobs with this, and so does the remote role.

use std::ffi::OsString;

use crate::process::{self, Input, Limits, Output, Sink, Spec, Status, supervise};

/// One try of an `--exec` job, wherever it ran.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub pid: i32,
    pub status: Status,
    pub timed_out: bool,
    /// Killed because the run is being stopped (`--halt now`, a signal).
    pub cancelled: bool,
    /// Output that came whole with the try (a remote reply); empty when it went to a sink.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The first half of a try: the job's process, started, its stdout and stderr going to
/// `stdio`.
pub(crate) fn start_here(
    argv: &[OsString],
    stdio: [Output; 2],
) -> Result<process::Running, process::SpawnError> {
    let mut spec = Spec::new(argv[0].clone(), argv[1..].to_vec());
    let [stdout, stderr] = stdio;
    spec.stdin = Input::Null;
    spec.stdout = stdout;
    spec.stderr = stderr;
    process::spawn(spec)
}

/// The second half: supervise the job to its end, its piped output going to `sink`.
pub(crate) fn finish_here(
    child: process::Running,
    limits: &Limits,
    sink: &mut dyn Sink,
) -> Attempt {
    let out = supervise(child, limits, sink);
    Attempt {
        pid: out.pid,
        status: out.status,
        timed_out: out.timed_out(),
        cancelled: out.cancelled() || out.interrupted().is_some(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}
