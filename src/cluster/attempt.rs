//! One `--exec` job run on this machine: one supervised process, both streams captured. The
//! local launcher runs its jobs with this, and so does the remote role.

use std::ffi::OsString;

use crate::output::Capture;
use crate::process::{self, Input, Limits, Output, Spec, Status, supervise};

/// One try of an `--exec` job, wherever it ran.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub pid: i32,
    pub status: Status,
    pub timed_out: bool,
    /// Killed because the run is being stopped (`--halt now`, a signal).
    pub cancelled: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run one try on this machine.
pub(crate) fn attempt_here(
    argv: &[OsString],
    limits: &Limits,
) -> Result<Attempt, process::SpawnError> {
    Ok(finish_here(start_here(argv)?, limits))
}

/// The first half of [`attempt_here`]: the job's process, started.
pub(crate) fn start_here(argv: &[OsString]) -> Result<process::Running, process::SpawnError> {
    let mut spec = Spec::new(argv[0].clone(), argv[1..].to_vec());
    spec.stdin = Input::Null;
    spec.stdout = Output::Pipe;
    spec.stderr = Output::Pipe;
    process::spawn(spec)
}

/// The second half of [`attempt_here`]: supervise the job to its end.
pub(crate) fn finish_here(child: process::Running, limits: &Limits) -> Attempt {
    let mut cap = Capture::new(u64::MAX);
    let out = supervise(child, limits, &mut cap);
    let [stdout, stderr] = cap.bufs;
    Attempt {
        pid: out.pid,
        status: out.status,
        timed_out: out.timed_out(),
        cancelled: out.cancelled() || out.interrupted().is_some(),
        stdout,
        stderr,
    }
}
