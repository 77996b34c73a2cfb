//! `cluster`'s scheduling knobs, in GNU parallel's spellings: `-j N|N%|+N|-N`, `--delay`,
//! `--halt WHEN,WHY=N|N%` and `--job-timeout N%`. Where GNU parallel has the feature, the same
//! jobs run through both and the results are compared.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

/// GNU parallel on `args` (its `--will-cite` given), with the output.
fn gnu(args: &[&str]) -> std::process::Output {
    std::process::Command::new("parallel")
        .arg("--will-cite")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("GNU parallel (installed by .ci/run)")
}

/// `childproc cluster --no-progress ARGS`.
fn ours(args: &[&str]) -> std::process::Output {
    cp().args(["cluster", "--no-progress"])
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn relative_worker_counts_give_as_many_slots_as_gnu_parallel() {
    let n = cores();
    // (-j, slots, whether GNU parallel agrees): its manual says a count below 1 becomes 1,
    // but 20221122 refuses to run ("Cannot run any jobs"); we follow the manual.
    let cases = [
        ("50%", (n / 2).max(1), true),
        ("200%", 2 * n, true),
        ("+1", n + 1, true),
        ("-1", n.saturating_sub(1).max(1), n > 1),
        ("-9", 1, false),
        ("3", 3, true),
    ];
    for (j, want, gnu_agrees) in cases {
        // Twice as many half-second jobs as slots: every slot gets one before any is free.
        let inputs: Vec<String> = vec!["0".to_string(); 2 * want];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut args = vec!["-j", j, "--json", "--exec", "sleep 0.5"];
        args.extend(&inputs);
        let out = ours(&args);
        assert_eq!(out.status.code(), Some(0), "-j {j}: {}", text(&out.stderr));
        let slots = json_lines(&out.stdout)
            .iter()
            .map(|r| r["worker"].as_u64().unwrap() as usize)
            .max();
        assert_eq!(slots, Some(want), "-j {j} on {n} cores");
        if !gnu_agrees {
            continue;
        }
        let mut args = vec!["-j", j, "sleep 0.5; echo {%}", ":::"];
        args.extend(&inputs);
        let theirs = gnu(&args);
        let gnu_slots = lines(&theirs.stdout)
            .iter()
            .map(|l| l.parse::<usize>().unwrap())
            .max();
        assert_eq!(slots, gnu_slots, "-j {j}: the same as GNU parallel");
    }
    // The long spelling, and -w, say the same.
    for flag in ["--jobs", "-w", "--workers"] {
        let out = ours(&[
            flag,
            "+1",
            "--json",
            "--exec",
            "sleep 0.5",
            "0",
            "0",
            "0",
            "0",
        ]);
        let max = json_lines(&out.stdout)
            .iter()
            .map(|r| r["worker"].as_u64().unwrap())
            .max();
        assert_eq!(max, Some(n as u64 + 1), "{flag} +1");
    }
}

/// One `--halt` case: the exit codes the jobs end with (as their inputs), run one at a time
/// unless `jobs` says otherwise.
struct HaltCase {
    halt: &'static str,
    inputs: &'static [&'static str],
    /// The lines of the jobs that ran, in order.
    ran: &'static [&'static str],
    /// Our exit code.
    exit: i32,
}

#[test]
fn halt_conditions_stop_after_the_same_jobs_as_gnu_parallel() {
    let cases = [
        HaltCase {
            halt: "now,fail=1",
            inputs: &["0", "0", "3", "0", "0"],
            ran: &["0", "0", "3"],
            exit: 1,
        },
        HaltCase {
            halt: "2",
            inputs: &["0", "4", "0"],
            ran: &["0", "4"],
            exit: 1,
        },
        HaltCase {
            halt: "soon,fail=2",
            inputs: &["0", "1", "0", "2", "0", "1"],
            ran: &["0", "1", "0", "2"],
            exit: 2,
        },
        // 2 failures of 6 jobs are 33%: not 50%, so every job runs.
        HaltCase {
            halt: "soon,fail=50%",
            inputs: &["1", "0", "1", "0", "0", "0"],
            ran: &["1", "0", "1", "0", "0", "0"],
            exit: 2,
        },
        // The third failure of 6 is 50%.
        HaltCase {
            halt: "soon,fail=50%",
            inputs: &["1", "1", "0", "1", "0", "0"],
            ran: &["1", "1", "0", "1"],
            exit: 3,
        },
        HaltCase {
            halt: "30%",
            inputs: &["1", "1", "0", "0", "0", "0"],
            ran: &["1", "1"],
            exit: 2,
        },
        HaltCase {
            halt: "soon,success=2",
            inputs: &["1", "0", "1", "0", "0"],
            ran: &["1", "0", "1", "0"],
            exit: 2,
        },
        HaltCase {
            halt: "-1",
            inputs: &["1", "0", "1"],
            ran: &["1", "0"],
            exit: 1,
        },
        HaltCase {
            halt: "now,done=3",
            inputs: &["1", "0", "0", "0", "1"],
            ran: &["1", "0", "0"],
            exit: 1,
        },
        HaltCase {
            halt: "soon,done=50%",
            inputs: &["0", "2", "0", "0"],
            ran: &["0", "2"],
            exit: 1,
        },
    ];
    for c in cases {
        let mut args = vec![
            "-j",
            "1",
            "--halt",
            c.halt,
            "--exec",
            "sh -c 'echo $0; exit $0'",
        ];
        args.extend(c.inputs);
        let out = ours(&args);
        let err = text(&out.stderr);
        assert_eq!(lines(&out.stdout), c.ran, "--halt {}: {err}", c.halt);
        assert_eq!(out.status.code(), Some(c.exit), "--halt {}: {err}", c.halt);
        let mut args = vec!["-j", "1", "--halt", c.halt, "echo {}; exit {}", ":::"];
        args.extend(c.inputs);
        assert_eq!(
            lines(&gnu(&args).stdout),
            c.ran,
            "GNU parallel --halt {}",
            c.halt
        );
    }
}

#[test]
fn halt_now_on_success_kills_the_rest_and_exits_0_like_gnu_parallel() {
    // Two slots: 0.2 succeeds first; the 3 s job it interrupts is killed, the last never runs.
    let t = Instant::now();
    let out = ours(&[
        "-j",
        "2",
        "--json",
        "--halt",
        "now,success=1",
        "--exec",
        "sh -c 'sleep $0; echo $0'",
        "3",
        "0.2",
        "3",
    ]);
    let took = t.elapsed();
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "killed jobs are no failures: {err}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}: {err}");
    assert!(
        err.contains("job 2 succeeded: --halt now,success=1: killing running jobs"),
        "{err}"
    );
    let recs = json_lines(&out.stdout);
    assert_eq!(recs.len(), 2, "job 3 never started: {recs:?}");
    let killed = recs.iter().find(|r| r["seq"] == 1).unwrap();
    assert_eq!(killed["error"], "killed: the run was stopped");
    let outputs: Vec<String> = recs
        .iter()
        .filter_map(|r| r["output"].as_str().map(str::to_string))
        .filter(|o| !o.is_empty())
        .collect();
    assert_eq!(outputs, ["0.2\n"]);
    let theirs = gnu(&[
        "-j",
        "2",
        "--halt",
        "now,success=1",
        "sleep {}; echo {}",
        ":::",
        "3",
        "0.2",
        "3",
    ]);
    assert_eq!(lines(&theirs.stdout), ["0.2"]);
    assert_eq!(theirs.status.code(), Some(0));
    // A job that failed on its own still counts.
    let out = ours(&[
        "-j",
        "1",
        "--halt",
        "now,success=1",
        "--exec",
        "sh -c 'exit $0'",
        "5",
        "0",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn halt_percentages_of_stdin_inputs_count_the_jobs_taken_so_far() {
    // One slot and stdin: when job 2 fails, 2 jobs have been taken: 1 of 2 is 50%.
    let out = cp()
        .args([
            "cluster",
            "--no-progress",
            "-j",
            "1",
            "--halt",
            "soon,fail=50%",
        ])
        .args(["--exec", "sh -c 'echo $0; exit $0'"])
        .write_stdin("0\n1\n0\n0\n0\n0\n")
        .output()
        .unwrap();
    assert_eq!(lines(&out.stdout), ["0", "1"], "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(1 of 2 jobs failed)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn delay_spaces_job_starts_like_gnu_parallel() {
    for delay in ["0.3", "300ms"] {
        let t = Instant::now();
        let out = ours(&[
            "-j", "4", "--delay", delay, "--exec", "true", "1", "2", "3", "4",
        ]);
        let took = t.elapsed();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            took >= Duration::from_millis(900),
            "4 starts 0.3 s apart took {took:?}"
        );
    }
    let t = Instant::now();
    let theirs = gnu(&[
        "-j", "4", "--delay", "0.3", "true", ":::", "1", "2", "3", "4",
    ]);
    assert!(theirs.status.success());
    assert!(t.elapsed() >= Duration::from_millis(900));
    // The starts, not the ends, are spaced: four 1 s jobs 0.3 s apart overlap (~1.9 s).
    let t = Instant::now();
    let out = ours(&[
        "-j", "4", "--delay", "0.3", "--exec", "sleep", "1", "1", "1", "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_millis(3900),
        "{:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_signal_ends_a_long_delay_at_once() {
    let mut run = Live::childproc([
        "cluster",
        "--no-progress",
        "-j",
        "2",
        "--delay",
        "100",
        "--exec",
        "echo",
        "first",
        "second",
        "third",
    ]);
    run.wait_for_line("first", Duration::from_secs(20));
    let t = Instant::now();
    run.signal(Signal::SIGTERM);
    let (status, stdout, stderr) = run.finish(Duration::from_secs(20));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        t.elapsed()
    );
    assert_eq!(status.code(), Some(128 + 15), "{}", text(&stderr));
    assert_eq!(lines(&stdout), ["first"], "no job started after the signal");
}

#[test]
fn job_timeout_of_the_median_kills_the_slow_job_like_gnu_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let (log, gnu_log) = (dir.path().join("ours"), dir.path().join("gnu"));
    let inputs = ["0.1", "0.1", "0.1", "5", "0.1"];
    let t = Instant::now();
    let mut args = vec![
        "-j",
        "1",
        "--joblog",
        log.to_str().unwrap(),
        "--job-timeout",
        "200%",
        "--exec",
        "sh -c 'sleep $0; echo $0'",
    ];
    args.extend(inputs);
    let out = ours(&args);
    let err = text(&out.stderr);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "{:?}: {err}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(lines(&out.stdout), ["0.1"; 4]);
    assert!(
        err.contains("job 4 (5) failed: timed out after ") && err.contains("(200% of the median "),
        "{err}"
    );
    let mut args = vec![
        "-j",
        "1",
        "--joblog",
        gnu_log.to_str().unwrap(),
        "--timeout",
        "200%",
        "sleep {}; echo {}",
        ":::",
    ];
    args.extend(inputs);
    let theirs = gnu(&args);
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(lines(&theirs.stdout), ["0.1"; 4]);
    // Exitval and Signal of every job, as GNU parallel writes them.
    let ends = |p: &std::path::Path| -> Vec<(String, String)> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c[6].to_string(), c[7].to_string())
            })
            .collect()
    };
    assert_eq!(ends(&log), ends(&gnu_log));
    assert_eq!(ends(&log)[3], ("-1".to_string(), "15".to_string()));
}

#[test]
fn job_timeout_of_the_median_sets_no_limit_before_three_successes() {
    // Job 3 (1.5 s) starts after only two successes: no limit yet, so it succeeds (GNU
    // parallel would already kill it). Job 7 starts after five: it is killed.
    let out = ours(&[
        "-j",
        "1",
        "--json",
        "--job-timeout",
        "300%",
        "--exec",
        "sleep",
        "0.1",
        "0.1",
        "1.5",
        "0.1",
        "0.1",
        "0.1",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    let ok: Vec<bool> = recs.iter().map(|r| r["ok"] == true).collect();
    assert_eq!(ok, [true, true, true, true, true, true, false]);
    let err = recs[6]["error"].as_str().unwrap();
    assert!(err.contains("(300% of the median "), "{err}");
}

#[test]
fn a_fixed_job_timeout_still_works_like_gnu_parallel() {
    let t = Instant::now();
    let out = ours(&[
        "-j",
        "2",
        "--job-timeout",
        "300ms",
        "--exec",
        "sleep",
        "30",
        "0",
    ]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("timed out after 300ms"));
    let theirs = gnu(&["-j", "2", "--timeout", "0.3", "sleep", ":::", "30", "0"]);
    assert_eq!(theirs.status.code(), Some(1));
}

#[test]
fn job_timeout_of_the_median_applies_to_task_workers() {
    let out = ours(&[
        "-j",
        "1",
        "--json",
        "--job-timeout",
        "200%",
        "--task",
        "spin",
        "50",
        "50",
        "50",
        "60000",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    let slow = recs.iter().find(|r| r["input"] == "60000").unwrap();
    let err = slow["error"].as_str().unwrap();
    assert!(
        err.contains("timed out") && err.contains("200% of the median"),
        "{err}"
    );
}

#[test]
fn the_remote_side_applies_a_jobs_own_timeout() {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(bin())
        .args(["cluster-remote", "--exec", "--job-timeout", "60000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The job's own 300 ms replaces the connection's 60 s; a job without one keeps it.
    stdin
        .write_all(
            b"{\"argv\":[\"sleep\",\"30\"],\"timeoutUs\":300000}\n{\"argv\":[\"echo\",\"hi\"]}\n",
        )
        .unwrap();
    let t = Instant::now();
    let mut replies = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let hello = replies.next().unwrap().unwrap();
    assert!(hello.contains("NODE_CHILDPROC_HELLO"), "{hello}");
    let slow: serde_json::Value = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    assert_eq!(slow["timedOut"], true, "{slow}");
    assert!(t.elapsed() < Duration::from_secs(10));
    let quick: serde_json::Value = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    assert_eq!(quick["timedOut"], false);
    assert_eq!(quick["stdout"], "aGkK");
    drop(stdin);
    let _ = child.wait();
}

#[test]
fn bad_scheduling_values_are_one_line_usage_errors_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad: &[&[&str]] = &[
        &["-j", "0"],
        &["-j", "0%"],
        &["-j", "x"],
        &["-j", "1.5"],
        &["--jobs", "5000"],
        &["-j", "+5000"],
        &["-j", "-x"],
        &["--halt", "now,fail=0"],
        &["--halt", "later,fail=1"],
        &["--halt", "now,fail=x"],
        &["--halt", "now,fail=101%"],
        &["--halt", "3"],
        &["--delay", "-1"],
        &["--delay", "1x"],
        &["--delay", "1 s"],
        &["--job-timeout", "50%"],
        &["--job-timeout", "100%"],
        &["--job-timeout", "x%"],
    ];
    for args in bad {
        let out = cp()
            .current_dir(dir.path())
            .args(["cluster", "--no-progress"])
            .args(*args)
            .args(["--exec", "touch", "ran"])
            .output()
            .unwrap();
        let line = assert_one_line_error(&out, 125);
        assert!(line.len() < 300, "{args:?}: {line}");
        assert!(!dir.path().join("ran").exists(), "{args:?} ran a job");
    }
    let out = cp()
        .args(["cluster", "-j", "0", "--exec", "true", "x"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("-j 0"), "says why 0 is refused");
    let out = cp()
        .args(["cluster", "--job-timeout", "50%", "--exec", "true", "x"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("over 100%"), "says why");
}
