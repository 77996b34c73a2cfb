//! The guard's promise, across the subcommands that the per-subcommand suites do not cover:
//! a SIGKILLed childproc leaves no descendant of any child behind, background jobs included.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const SECS20: Duration = Duration::from_secs(20);

/// Start childproc with `args`, wait until every `sleep MARK` in `marks` runs, SIGKILL it, and
/// check that none of them survives.
fn killed_leaves_nothing(args: &[&str], marks: &[&str], stdin: Option<&[u8]>) {
    let sweep: Vec<[&str; 2]> = marks.iter().map(|m| ["sleep", *m]).collect();
    let lists: Vec<&[&str]> = sweep.iter().map(|s| &s[..]).collect();
    let _sweep = Sweep::new(&lists);
    let mut live = Live::childproc(args);
    if let Some(bytes) = stdin {
        live.write(bytes);
    }
    let t = Instant::now();
    while marks
        .iter()
        .any(|m| pids_with_cmdline(&["sleep", m]).is_empty())
    {
        assert!(t.elapsed() < SECS20, "{args:?}: never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    live.signal(Signal::SIGKILL);
    let _ = live.finish(SECS20);
    for m in marks {
        assert_none_left(
            &["sleep", m],
            Duration::from_secs(5),
            &format!("{args:?}: sleep {m}"),
        );
    }
}

#[test]
fn fork_child_background_jobs_die_with_a_sigkilled_childproc() {
    killed_leaves_nothing(
        &[
            "fork",
            "--",
            "sh",
            "-c",
            "sleep 1234.811 & sleep 1234.812 & wait",
        ],
        &["1234.811", "1234.812"],
        None,
    );
}

#[test]
fn cluster_worker_background_jobs_die_with_a_sigkilled_childproc() {
    // An IPC worker that starts a background job, then serves jobs forever.
    killed_leaves_nothing(
        &[
            "cluster",
            "-w",
            "2",
            "--no-progress",
            "--worker",
            "sh -c 'sleep 1234.821 & while read -r m <&3; do sleep 1234.822; done'",
            "1",
            "2",
        ],
        &["1234.821", "1234.822"],
        None,
    );
}

#[test]
fn cluster_shell_jobs_background_jobs_die_with_a_sigkilled_childproc() {
    killed_leaves_nothing(
        &[
            "cluster",
            "-w",
            "2",
            "--no-progress",
            "--shell",
            "--exec",
            "sleep 1234.83{} & sleep 1234.84{}; wait",
            "1",
            "2",
        ],
        &["1234.831", "1234.832", "1234.841", "1234.842"],
        None,
    );
}
