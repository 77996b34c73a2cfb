//! `childproc cluster`: every job exactly once, real parallelism, ordering, failure policy.

use std::time::{Duration, Instant};

use assert_cmd::Command;

fn cp() -> Command {
    Command::cargo_bin("childproc").expect("binary built")
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn exec_mode_runs_every_job_exactly_once() {
    let inputs: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let out = cp()
        .args(["cluster", "-w", "4", "--exec", "echo job-{}"])
        .args(&inputs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout_lines(&out);
    lines.sort();
    let mut want: Vec<String> = inputs.iter().map(|i| format!("job-{i}")).collect();
    want.sort();
    assert_eq!(lines, want);
}

#[test]
fn inputs_come_from_stdin_lines_when_no_arguments() {
    let out = cp()
        .args(["cluster", "-w", "2", "-k", "--exec", "echo"])
        .write_stdin("a\r\nb\nc d\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_lines(&out), vec!["a", "b", "c d"]);
}

#[test]
fn keep_order_prints_in_input_order() {
    // Later inputs finish first; -k must still print 1, 2, 3.
    let out = cp()
        .args([
            "cluster",
            "-w",
            "3",
            "-k",
            "--exec",
            "sh -c 'sleep $0; echo $0'",
        ])
        .args(["0.6", "0.3", "0"])
        .output()
        .unwrap();
    assert_eq!(stdout_lines(&out), vec!["0.6", "0.3", "0"]);
    let out = cp()
        .args(["cluster", "-w", "3", "--exec", "sh -c 'sleep $0; echo $0'"])
        .args(["0.6", "0.3", "0"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_lines(&out),
        vec!["0", "0.3", "0.6"],
        "completion order by default"
    );
}

#[test]
fn sleeping_jobs_run_in_parallel() {
    let t = Instant::now();
    let out = cp()
        .args(["cluster", "-w", "4", "--exec", "sleep"])
        .args(["1"; 8])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(1900),
        "8 x 1 s on 4 workers cannot take {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "8 x 1 s on 4 workers took {took:?}, not ~2 s"
    );
}

#[test]
fn substitution_is_literal_and_never_reaches_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = cp()
        .current_dir(dir.path())
        .args(["cluster", "-w", "2", "--exec", "echo {}"])
        .args(["$(touch pwned)", "; touch pwned2", "`touch pwned3`"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut lines = stdout_lines(&out);
    lines.sort();
    assert_eq!(
        lines,
        vec!["$(touch pwned)", "; touch pwned2", "`touch pwned3`"]
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn exit_code_is_the_number_of_failed_jobs() {
    let out = cp()
        .args(["cluster", "-w", "2", "--exec", "sh -c 'exit $0'"])
        .args(["0", "1", "2", "0", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("5 jobs, 3 failed"), "summary: {err}");
}

#[test]
fn more_than_100_failures_exit_101() {
    let inputs: Vec<String> = (0..105).map(|_| "1".to_string()).collect();
    let out = cp()
        .args(["cluster", "-w", "2", "--exec", "sh -c 'exit $0'"])
        .args(&inputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
}

#[test]
fn json_records_have_every_field() {
    let out = cp()
        .args([
            "cluster",
            "-w",
            "2",
            "-k",
            "--json",
            "--exec",
            "sh -c 'echo out-$0; exit $0'",
        ])
        .args(["0", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(recs.len(), 2);
    let keys: Vec<&str> = recs[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "seq",
            "input",
            "ok",
            "output",
            "error",
            "worker",
            "pid",
            "attempts",
            "durationMs"
        ]
    );
    assert_eq!(recs[0]["seq"], 1);
    assert_eq!(recs[0]["input"], "0");
    assert_eq!(recs[0]["ok"], true);
    assert_eq!(recs[0]["output"], "out-0\n");
    assert!(recs[0]["error"].is_null());
    assert_eq!(recs[1]["ok"], false);
    assert_eq!(recs[1]["error"], "exited with code 3");
    assert_eq!(recs[1]["attempts"], 1);
    assert!(recs[1]["pid"].as_i64().unwrap() > 0);
}

#[test]
fn job_timeout_kills_and_retries_then_fails() {
    let t = Instant::now();
    let out = cp()
        .args([
            "cluster",
            "-w",
            "2",
            "--json",
            "--job-timeout",
            "300ms",
            "--retries",
            "2",
        ])
        .args(["--exec", "sleep"])
        .arg("30")
        .output()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["attempts"], 3);
    assert!(rec["error"].as_str().unwrap().contains("timed out"));
}

#[test]
fn joblog_has_gnu_parallel_columns() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    cp().args(["cluster", "-w", "2", "--joblog"])
        .arg(&log)
        .args(["--exec", "sh -c 'exit $0'", "0", "4"])
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2);
    let failed = rows.iter().find(|r| r[0] == "2").expect("row for job 2");
    assert_eq!(failed[1], ":");
    assert_eq!(failed[6], "4");
    assert_eq!(failed[8], "sh -c exit $0 4");
}

#[test]
fn invalid_worker_counts_are_usage_errors() {
    for bad in ["0", "-1", "abc", "1.5"] {
        let out = cp()
            .args(["cluster", "--workers", bad, "--exec", "true", "x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "--workers {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn exactly_one_mode_is_required() {
    cp().args(["cluster", "x"]).assert().code(125);
    cp().args(["cluster", "--exec", "true", "--task", "fib", "1"])
        .assert()
        .code(125);
}

#[test]
fn no_jobs_is_success() {
    let out = cp()
        .args(["cluster", "-w", "2", "--exec", "true"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn halt_now_stops_after_the_first_failure() {
    let out = cp()
        .args([
            "cluster",
            "-w",
            "1",
            "--halt",
            "now",
            "--exec",
            "sh -c 'exit $0'",
        ])
        .args(["0", "1", "0", "0", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--halt now"), "{err}");
    // Job 3 onwards never ran: at most one more job may have been in flight.
    assert!(!err.contains("5 jobs"), "{err}");
    assert!(out.status.code().unwrap() >= 1);
}
