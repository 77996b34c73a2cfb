//! `cluster --slurm`: slots as Slurm job steps. The test starts a private single-node Slurm on
//! localhost (tests/engines/slurm-up.sh: a munge key, slurm.conf under a temp dir, slurmctld
//! and slurmd started by hand) and stops it at the end. One test function: the scenarios share
//! the cluster and run in order.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const LONG: Duration = Duration::from_secs(120);

struct Slurm {
    dir: tempfile::TempDir,
}

impl Slurm {
    fn up() -> Slurm {
        assert!(
            Path::new("/usr/sbin/slurmctld").exists(),
            "these tests need slurm-wlm and munge (.ci/run installs them)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(engines().join("slurm-up.sh"))
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slurm-up.sh failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Slurm { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// `salloc -n TASKS childproc cluster --no-progress ARGS…` (inside an allocation).
    fn in_allocation(&self, tasks: u32) -> std::process::Command {
        let mut c = Command::new("salloc");
        c.env("SLURM_CONF", self.conf())
            .args(["-Q", "-n", &tasks.to_string()])
            .arg(bin())
            .args(["cluster", "--no-progress"]);
        c
    }

    /// `childproc cluster --no-progress ARGS…` outside any allocation.
    fn outside(&self) -> std::process::Command {
        let mut c = cp_std();
        c.env("SLURM_CONF", self.conf())
            .env_remove("SLURM_JOB_ID")
            .args(["cluster", "--no-progress"]);
        c
    }

    fn steps_running(&self) -> usize {
        let out = Command::new("squeue")
            .env("SLURM_CONF", self.conf())
            .args(["-h", "-s"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(engines().join("slurm-down.sh"))
            .arg(self.dir.path())
            .status();
    }
}

fn run(cmd: &mut std::process::Command) -> Done {
    run_capped(cmd, Feed::Null, LONG)
}

fn node() -> String {
    let out = Command::new("hostname").arg("-s").output().unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn slurm_engine() {
    let slurm = Slurm::up();
    three_modes_inside_an_allocation(&slurm);
    gnu_inputs_inside_an_allocation(&slurm);
    outputs_and_resume_inside_an_allocation(&slurm);
    outside_an_allocation_with_slurm_args(&slurm);
    step_failures_are_reported_like_local_ones(&slurm);
    ctrl_c_cancels_the_steps(&slurm);
    a_killed_primary_leaves_no_step_behind(&slurm);
}

fn three_modes_inside_an_allocation(slurm: &Slurm) {
    let inputs: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    // --task: the worker count defaults to the allocation's task count.
    let d = run(slurm
        .in_allocation(2)
        .args(["--slurm", "--task", "fib", "--json", "-k"])
        .args(&inputs));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    let recs = json_lines(d.out().as_bytes());
    assert_eq!(recs.len(), inputs.len());
    for (r, i) in recs.iter().zip(&inputs) {
        let n: u64 = i.parse().unwrap();
        let fib = (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
        assert_eq!(r["output"], serde_json::json!(fib));
        assert_eq!(r["host"], node().as_str(), "the Slurm node runs it");
    }
    assert!(d.err().contains("on 2 workers"), "{}", d.err());

    // --exec: every job exactly once, the input literal.
    let mut odd = inputs.clone();
    odd.push("$(echo no) ; `x` 'q'".into());
    let d = run(slurm
        .in_allocation(2)
        .args(["--slurm", "--exec", "echo", "-k"])
        .args(&odd));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    assert_eq!(d.out().lines().collect::<Vec<_>>(), odd);

    // --worker: the user's Node worker, with a real IPC channel inside the step.
    assert!(have_node(), "node is needed (.ci/run installs it)");
    let w = slurm.dir.path().join("worker.js");
    std::fs::write(
        &w,
        "process.on('message', m => process.send({ got: m }));\n",
    )
    .unwrap();
    let d = run(slurm
        .in_allocation(2)
        .args([
            "--slurm",
            "--worker",
            &format!("node {}", w.display()),
            "-k",
        ])
        .args(&inputs));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    let want: Vec<String> = inputs.iter().map(|i| format!("{{\"got\":{i}}}")).collect();
    assert_eq!(d.out().lines().collect::<Vec<_>>(), want);
}

/// GNU parallel's input sources and replacement strings: the argv is built by the primary
/// and reaches the step as data, so the output is what a local run prints.
fn gnu_inputs_inside_an_allocation(slurm: &Slurm) {
    let case = [
        "-k",
        "--exec",
        "printf '%s|' {2} {1/} {1.} {#}",
        ":::",
        "d.x/f.tar.gz",
        "$(echo no)",
        ":::",
        "a  b",
        "c",
    ];
    let local = run(cp_std().args(["cluster", "--no-progress"]).args(case));
    assert_eq!(local.code(), Some(0), "{}", local.err());
    let d = run(slurm.in_allocation(2).arg("--slurm").args(case));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    assert_eq!(d.out(), local.out());
    assert_eq!(
        local.out(),
        "a  b|f.tar.gz|d.x/f.tar|1|c|f.tar.gz|d.x/f.tar|2|a  b|$(echo no)|$(echo no)|3|c|$(echo no)|$(echo no)|4|"
    );
}

/// --tag, --line-buffer, --results and --resume with job steps: what a local run gives.
fn outputs_and_resume_inside_an_allocation(slurm: &Slurm) {
    let dir = slurm.dir.path().join("outputs");
    std::fs::create_dir_all(&dir).unwrap();
    let job = "sh -c 'echo out $0; echo err $0 >&2' {}";
    for opts in [
        &["--tag", "-k"][..],
        &["--lb", "--tagstring", "<{#}>", "-k"][..],
    ] {
        let local = run(cp_std()
            .args(["cluster", "--no-progress"])
            .args(opts)
            .args(["--exec", job, ":::", "a", "b c"]));
        assert_eq!(local.code(), Some(0), "{}", local.err());
        let d = run(slurm
            .in_allocation(2)
            .arg("--slurm")
            .args(opts)
            .args(["--exec", job, ":::", "a", "b c"]));
        assert_eq!(d.code(), Some(0), "{}", d.err());
        assert_eq!(d.out(), local.out(), "{opts:?}");
        assert!(d.err().contains("err a"), "{}", d.err());
    }
    let res = dir.join("res");
    let d = run(slurm
        .in_allocation(2)
        .args(["--slurm", "--results"])
        .arg(&res)
        .args(["--exec", job, ":::", "a", "b/c"]));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    assert_eq!(d.out(), "", "--results prints nothing");
    let read = |p: &str| std::fs::read_to_string(res.join(p)).unwrap();
    assert_eq!(read("1/a/stdout"), "out a\n");
    assert_eq!(read("1/b\\_c/stderr"), "err b/c\n");
    assert_eq!(read("1/a/exitcode").trim(), "0");
    // A joblog written through steps resumes: only the new input runs.
    let log = dir.join("joblog");
    let marks = dir.join("marks");
    let mark = format!("sh -c 'echo $0 >> {}' {{}}", marks.display());
    for inputs in [&["x", "y"][..], &["y", "z", "x"][..]] {
        let d = run(slurm
            .in_allocation(2)
            .args(["--slurm", "--joblog"])
            .arg(&log)
            .args(if inputs.len() == 3 {
                &["--resume"][..]
            } else {
                &[][..]
            })
            .args(["--exec", &mark, ":::"])
            .args(inputs));
        assert_eq!(d.code(), Some(0), "{}", d.err());
    }
    let mut ran = std::fs::read_to_string(&marks)
        .unwrap()
        .lines()
        .map(String::from)
        .collect::<Vec<_>>();
    ran.sort();
    assert_eq!(
        ran,
        ["x", "y", "z"],
        "each job ran once across the two runs"
    );
}

fn outside_an_allocation_with_slurm_args(slurm: &Slurm) {
    let log = slurm.dir.path().join("joblog");
    let d = run(slurm
        .outside()
        .args(["--slurm-args", "-p debug", "-w", "2", "--exec", "echo"])
        .args(["--joblog", log.to_str().unwrap(), "a", "b", "c"]));
    assert_eq!(d.code(), Some(0), "{}", d.err());
    let stdout = d.out();
    let mut out: Vec<&str> = stdout.lines().collect();
    out.sort();
    assert_eq!(out, ["a", "b", "c"]);
    let joblog = std::fs::read_to_string(&log).unwrap();
    for row in joblog.lines().skip(1) {
        assert_eq!(row.split('\t').nth(1), Some(node().as_str()), "{joblog}");
    }
}

fn step_failures_are_reported_like_local_ones(slurm: &Slurm) {
    // A job killed by a signal, one that exits 3, one fine: two failures, exit 2.
    let d = run(slurm
        .outside()
        .args([
            "--slurm",
            "-w",
            "2",
            "--json",
            "--exec",
            "sh -c 'if [ $0 = k ]; then kill -9 $$; fi; exit $0'",
        ])
        .args(["k", "3", "0"]));
    assert_eq!(d.code(), Some(2), "{}", d.err());
    let err = d.err();
    assert!(err.contains("was killed by SIGKILL"), "{err}");
    assert!(err.contains("exited with code 3"), "{err}");

    // A worker step that dies mid-job is a crash, retried like a local one.
    let d = run(slurm.outside().args([
        "--slurm",
        "-w",
        "1",
        "--retries",
        "1",
        "--worker",
        "sh -c 'exit 9'",
        "x",
    ]));
    let err = d.err();
    assert_ne!(d.code(), Some(0), "{err}");
    assert!(err.contains("exited with code 9"), "{err}");

    // A worker step that times out before answering is still credited to its node.
    let d = run(slurm.outside().args([
        "--slurm",
        "-w",
        "1",
        "--json",
        "--job-timeout",
        "1s",
        "--task",
        "spin",
        "60000",
    ]));
    assert_eq!(d.code(), Some(1), "{}", d.err());
    let recs = json_lines(d.out().as_bytes());
    assert_eq!(recs[0]["host"], node().as_str(), "{}", d.out());
    assert!(recs[0]["error"].as_str().unwrap().contains("timed out"));

    // srun itself refuses (no such partition): the engine is down, one clear error, 125.
    let d = run(slurm.outside().args([
        "--slurm-args",
        "-p nosuchpartition",
        "-w",
        "1",
        "--exec",
        "true",
        "x",
    ]));
    let err = d.err();
    assert_eq!(d.code(), Some(125), "{err}");
    assert!(err.contains("all hosts are down"), "{err}");
}

fn ctrl_c_cancels_the_steps(slurm: &Slurm) {
    let _sweep = Sweep::new(&[&["sleep", "987.75"]]);
    let mut cmd = slurm.outside();
    cmd.args(["--slurm", "-w", "2", "--exec", "sleep", "987.75", "987.75"]);
    let live = Live::start(&mut cmd);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "987.75"]).len() < 2 {
        assert!(t.elapsed() < LONG, "the steps never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    live.signal(Signal::SIGINT);
    let (status, _, stderr) = live.finish(LONG);
    assert_eq!(status.code(), Some(130), "{}", text(&stderr));
    assert_none_left(
        &["sleep", "987.75"],
        Duration::from_secs(30),
        "cancelled steps",
    );
    let t = Instant::now();
    while slurm.steps_running() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "steps still in squeue"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_killed_primary_leaves_no_step_behind(slurm: &Slurm) {
    // SIGKILLed, childproc can do nothing itself: its srun children get SIGTERM (their death
    // signal) and cancel their steps; nothing may wait for Slurm's own inactivity limit.
    for mode in [
        &["--exec", "sleep", "987.85", "987.85"][..],
        &["--task", "spin", "600000", "600000"],
    ] {
        let _sweep = Sweep::new(&[&["sleep", "987.85"]]);
        let mut cmd = slurm.outside();
        cmd.args(["--slurm", "-w", "2"]).args(mode);
        let live = Live::start(&mut cmd);
        let t = Instant::now();
        while slurm.steps_running() < 2 {
            assert!(t.elapsed() < LONG, "{mode:?}: the steps never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        live.signal(Signal::SIGKILL);
        let _ = live.finish(LONG);
        let t = Instant::now();
        while slurm.steps_running() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{mode:?}: steps outlived the primary"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_none_left(&["sleep", "987.85"], Duration::from_secs(10), "steps' jobs");
        let remote = bin().display().to_string();
        assert_none_left(
            &[&remote, "cluster-worker"],
            Duration::from_secs(10),
            "steps' workers",
        );
    }
}
