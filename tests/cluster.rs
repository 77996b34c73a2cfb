//! `childproc cluster`: every job exactly once, real parallelism, ordering, failure policy.

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

mod common;
use common::*;

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
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tKey"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2);
    let failed = rows.iter().find(|r| r[0] == "2").expect("row for job 2");
    assert_eq!(failed[1], ":");
    assert_eq!(failed[6], "4");
    assert_eq!(failed[8], "sh -c 'exit $0' 4");
}

/// The joblog columns that do not depend on timing: Seq, Host, Send, Receive, Exitval,
/// Signal, Command — and JobRuntime's `%10.3f` shape. GNU parallel's nine columns; ours have
/// the Key after them (tests/cluster_resume.rs).
fn joblog_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&text);
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() == 9 || cols.len() == 10, "{l:?}");
            cols.truncate(9);
            let rt = cols[3];
            assert!(
                rt.len() >= 10 && rt.trim_start().split('.').nth(1).map(str::len) == Some(3),
                "JobRuntime as %10.3f: {rt:?}"
            );
            let mut keep: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
            keep.drain(2..4); // Starttime, JobRuntime
            keep
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn joblog_columns_mean_what_gnu_parallel_means() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    // stdout and stderr (only stdout counts as received), exit codes, a signal the job got from
    // elsewhere (Exitval 0, Signal 15), inputs that need quoting.
    let template =
        r#"sh -c 'echo "$0"; echo to-stderr >&2; case $0 in x) exit 3;; k) kill -TERM $$;; esac'"#;
    let inputs = ["a b", "it's", "x", "k", "plain"];
    let out = cp()
        .args(["cluster", "-w", "2", "--joblog"])
        .arg(&log)
        .args(["--exec", template])
        .args(inputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let mut rows = joblog_rows(&log);
    let want = |seq: &str, recv: &str, exit: &str, sig: &str, quoted: &str| -> Vec<String> {
        [
            seq,
            ":",
            "0",
            recv,
            exit,
            sig,
            &format!("{template} {quoted}"),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut expected = vec![
        want("1", "4", "0", "0", "'a b'"),
        want("2", "5", "0", "0", r#"'it'"'"'s'"#),
        want("3", "2", "3", "0", "x"),
        want("4", "2", "0", "15", "k"),
        want("5", "6", "0", "0", "plain"),
    ];
    expected.sort();
    rows.sort();
    assert_eq!(rows, expected);

    // GNU parallel itself writes the same columns for the same jobs.
    let gnu_log = dir.path().join("gnu.tsv");
    let gnu = std::process::Command::new("parallel")
        .args(["--will-cite", "-j", "2", "--joblog"])
        .arg(&gnu_log)
        .arg(template)
        .arg(":::")
        .args(inputs)
        .output()
        .expect("GNU parallel (installed by .ci/run)");
    assert_eq!(gnu.status.code(), Some(2), "{}", text(&gnu.stderr));
    assert_eq!(joblog_rows(&gnu_log), expected);
}

#[test]
fn joblog_command_of_a_shell_job_is_the_line_as_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    cp().args(["cluster", "--joblog"])
        .arg(&log)
        .args(["--shell", "--exec", "echo {} >&2; echo x", "a b"])
        .assert()
        .code(0);
    let rows = joblog_rows(&log);
    assert_eq!(rows[0][6], "echo 'a b' >&2; echo x");
    assert_eq!(rows[0][3], "2", "Receive counts stdout only");
}

#[test]
fn joblog_exitval_is_minus_one_only_for_jobs_childproc_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    cp().args(["cluster", "--job-timeout", "200ms", "--joblog"])
        .arg(&log)
        .args(["--exec", "sleep", "30"])
        .assert()
        .code(1);
    let rows = joblog_rows(&log);
    assert_eq!((rows[0][4].as_str(), rows[0][5].as_str()), ("-1", "15"));
}

#[test]
fn shell_jobs_get_their_input_byte_for_byte() {
    for shell in [true, false] {
        let mut cmd = cp();
        cmd.arg("cluster");
        if shell {
            cmd.arg("--shell");
        }
        let out = cmd
            .args(["--exec", "printf %s {}"])
            .arg(std::ffi::OsStr::from_bytes(b"\xff\xfeA"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(out.stdout, b"\xff\xfeA", "--shell {shell}");
    }
}

#[test]
fn invalid_worker_counts_are_usage_errors() {
    for bad in ["0", "0%", "abc", "1.5", "-x"] {
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

#[test]
fn builtin_tasks_give_known_results() {
    let out = cp()
        .args(["cluster", "-w", "2", "-k", "--task", "fib", "30", "40", "1"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_lines(&out), vec!["832040", "102334155", "1"]);
    let out = cp()
        .args(["cluster", "--task", "sum", "1000000"])
        .output()
        .unwrap();
    assert_eq!(stdout_lines(&out), vec!["500000500000"]);
    let out = cp()
        .args(["cluster", "--task", "primes", "100"])
        .output()
        .unwrap();
    assert_eq!(stdout_lines(&out), vec!["25"]);
    let out = cp()
        .args(["cluster", "--task", "spin", "20"])
        .output()
        .unwrap();
    assert_eq!(stdout_lines(&out), vec!["20"]);
}

#[test]
fn invalid_task_inputs_fail_only_their_job() {
    let out = cp()
        .args(["cluster", "-w", "2", "-k", "--json", "--task", "fib", "--"])
        .args(["abc", "-3", "10", "94"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[2]["output"], 55);
    for i in [0, 1, 3] {
        assert_eq!(recs[i]["ok"], false);
        assert!(recs[i]["output"].is_null());
        assert!(recs[i]["error"].as_str().unwrap().len() > 5);
    }
}

#[test]
fn task_mode_runs_every_job_exactly_once() {
    let inputs: Vec<String> = (1..=100).map(|i| (i % 20).to_string()).collect();
    let out = cp()
        .args(["cluster", "-w", "4", "--json", "--task", "fib"])
        .args(&inputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut seqs: Vec<u64> = stdout_lines(&out)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
}

fn sh_worker() -> &'static str {
    // A persistent worker in sh: answers each message with ["done", <message>].
    r#"sh -c 'while read -r m <&"$NODE_CHANNEL_FD"; do printf "[\"done\",%s]\n" "$m" >&"$NODE_CHANNEL_FD"; done'"#
}

#[test]
fn worker_mode_runs_every_job_exactly_once_and_sends_json_or_strings() {
    let mut inputs: Vec<String> = (1..=98).map(|i| i.to_string()).collect();
    inputs.push("plain text".into());
    inputs.push(r#"{"k":[1,2]}"#.into());
    let out = cp()
        .args(["cluster", "-w", "4", "-k", "--worker", sh_worker()])
        .args(&inputs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0], r#"["done",1]"#);
    assert_eq!(lines[98], r#"["done","plain text"]"#);
    assert_eq!(lines[99], r#"["done",{"k":[1,2]}]"#);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("exited"), "no worker-exit noise: {err}");
}

#[test]
fn node_workers_work() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.js");
    std::fs::write(
        &w,
        "process.on('message', m => process.send({ sq: m * m, pid: process.pid }));\n",
    )
    .unwrap();
    let out = cp()
        .args(["cluster", "-w", "2", "-k", "--worker"])
        .arg(format!("node {}", w.display()))
        .args(["2", "3", "4"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sq: Vec<i64> = stdout_lines(&out)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["sq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(sq, vec![4, 9, 16]);
}

#[test]
fn more_workers_than_jobs_is_quiet() {
    let out = cp()
        .args(["cluster", "-w", "8", "--worker", sh_worker(), "only"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "only the summary line: {err}");
}

#[test]
fn a_worker_that_crashes_on_one_job_is_replaced() {
    // Dies on the input "boom", answers everything else.
    let worker = r#"sh -c 'while read -r m <&3; do [ "$m" = "\"boom\"" ] && kill -9 $$; echo "$m" >&3; done'"#;
    let inputs = ["1", "2", "boom", "3", "4", "5", "6"];
    let out = cp()
        .args(["cluster", "-w", "2", "--json", "--worker", worker])
        .args(inputs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 7, "every job reported once");
    let boom = recs.iter().find(|r| r["input"] == "boom").unwrap();
    assert_eq!(boom["ok"], false);
    assert!(boom["error"].as_str().unwrap().contains("SIGKILL"));
    assert_eq!(recs.iter().filter(|r| r["ok"] == true).count(), 6);
}

#[test]
fn a_crashing_job_is_retried_on_a_new_worker() {
    // The first worker of each slot dies on its first job; replacements work.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("crashed");
    let worker = format!(
        r#"sh -c 'if [ ! -e {m} ]; then touch {m}; read -r m <&3; kill -9 $$; fi; while read -r m <&3; do echo "$m" >&3; done'"#,
        m = marker.display()
    );
    let out = cp()
        .args([
            "cluster",
            "-w",
            "1",
            "--json",
            "--retries",
            "1",
            "--worker",
            &worker,
            "7",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["ok"], true);
    assert_eq!(rec["output"], 7);
    assert_eq!(rec["attempts"], 2);
}

#[test]
fn a_crash_loop_gives_up_within_seconds() {
    let t = Instant::now();
    let inputs: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let out = cp()
        .args(["cluster", "-w", "2", "--worker", "sh -c 'exit 3'"])
        .args(&inputs)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("giving up"), "{err}");
    assert!(
        err.contains("50 jobs, 50 failed"),
        "every job reported once: {err}"
    );
}

#[test]
fn a_worker_killed_from_outside_mid_job_is_reported_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // The worker records its pid and then takes 30 s on the job "slow".
    let worker = format!(
        r#"sh -c 'while read -r m <&3; do if [ "$m" = "\"slow\"" ]; then echo $$ > {p}; sleep 30; fi; echo "$m" >&3; done'"#,
        p = pidfile.display()
    );
    let child = std::process::Command::new(bin())
        .args([
            "cluster", "-w", "1", "-k", "--json", "--worker", &worker, "slow", "after",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let pid = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile)
            && let Ok(p) = s.trim().parse::<i32>()
        {
            break p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "worker never started the job"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling the worker process we were told about.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["ok"], false);
    assert!(recs[0]["error"].as_str().unwrap().contains("SIGKILL"));
    assert_eq!(recs[1]["ok"], true, "a new worker took the next job");
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn sigterm_to_the_primary_leaves_no_worker_or_job_behind() {
    for mode in [
        ["--exec", "sleep"],
        ["--worker", "sh -c 'read -r m <&3; sleep 60'"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(bin())
            .current_dir(dir.path())
            .args([
                "cluster",
                "-w",
                "2",
                "--no-progress",
                mode[0],
                mode[1],
                "61",
                "62",
                "63",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let primary = child.id() as i32;
        // Wait until both slots have a child running.
        let t = Instant::now();
        while descendants(primary).len() < 2 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "workers never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = descendants(primary);
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(primary, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(143), "{mode:?}");
        for pid in before {
            assert!(
                gone_within(pid, Duration::from_secs(10)),
                "{mode:?}: process {pid} survived"
            );
        }
    }
}

#[test]
fn two_runs_at_the_same_time_each_get_their_own_results() {
    let run = |tag: &'static str| {
        std::thread::spawn(move || {
            let inputs: Vec<String> = (0..40).map(|i| format!("{tag}{i}")).collect();
            let out = cp()
                .args(["cluster", "-w", "2", "-k", "--worker", sh_worker()])
                .args(&inputs)
                .output()
                .unwrap();
            (inputs, stdout_lines(&out))
        })
    };
    let a = run("a");
    let b = run("b");
    for h in [a, b] {
        let (inputs, lines) = h.join().unwrap();
        let want: Vec<String> = inputs
            .iter()
            .map(|i| format!(r#"["done","{i}"]"#))
            .collect();
        assert_eq!(lines, want);
    }
}

#[test]
fn a_timed_out_task_fails_alone_and_the_queued_ones_still_run() {
    // Built-in task workers get several jobs queued; killing the worker for the slow one must
    // not lose or fail the jobs queued behind it.
    let t = Instant::now();
    let out = cp()
        .args([
            "cluster",
            "-w",
            "1",
            "-k",
            "--json",
            "--job-timeout",
            "300ms",
        ])
        .args(["--task", "spin", "20000", "1", "2", "3"])
        .output()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0]["ok"], false);
    assert!(recs[0]["error"].as_str().unwrap().contains("timed out"));
    for (i, want) in [(1, 1), (2, 2), (3, 3)] {
        assert_eq!(recs[i]["output"], want);
        assert_eq!(recs[i]["attempts"], 1);
    }
}

#[test]
fn tiny_task_jobs_are_all_reported_once() {
    let input = "1\n".repeat(20_000);
    let out = cp()
        .args(["cluster", "-w", "2", "--task", "fib"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_lines(&out).len(), 20_000);
    assert!(stdout_lines(&out).iter().all(|l| l == "1"));
}

#[test]
fn shell_mode_quotes_the_input_for_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = cp()
        .current_dir(dir.path())
        .args([
            "cluster",
            "-w",
            "2",
            "-k",
            "--shell",
            "--exec",
            "echo got: {} | tr a-z A-Z",
        ])
        .args(["abc", "$(touch pwned) x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stdout_lines(&out),
        vec!["GOT: ABC", "GOT: $(TOUCH PWNED) X"]
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn halt_soon_lets_running_jobs_finish_and_starts_no_more() {
    // Two workers: job 1 fails after 0.2 s, while job 2 is running (1 s) and must finish;
    // the rest must never start.
    let out = cp()
        .args(["cluster", "-w", "2", "--json", "--halt", "soon"])
        .args([
            "--exec",
            "sh -c 'case $0 in fail) sleep 0.2; exit 1;; *) sleep $0;; esac'",
        ])
        .args(["fail", "1", "0", "0", "0", "0"])
        .output()
        .unwrap();
    let recs: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(recs.len() <= 3, "no new jobs after the failure: {recs:?}");
    let running = recs
        .iter()
        .find(|r| r["input"] == "1")
        .expect("job 2 reported");
    assert_eq!(running["ok"], true, "the running job finished normally");
    assert!(text(&out.stderr).contains("--halt soon"));
}

#[test]
fn ctrl_c_to_the_primary_exits_130_and_reports_what_finished() {
    let child = std::process::Command::new(bin())
        .args([
            "cluster",
            "-w",
            "2",
            "--no-progress",
            "--exec",
            "sh -c 'sleep $0'",
        ])
        .args(["0", "30", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let primary = child.id() as i32;
    let t = Instant::now();
    while descendants(primary).len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(20), "jobs never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(primary, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = text(&out.stderr);
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15));
}

#[test]
fn bad_host_options_are_one_line_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let empty = dir.path().join("empty-hosts");
    std::fs::write(&empty, "# nothing but a comment\n\n").unwrap();
    let bad: Vec<Vec<String>> = vec![
        vec!["--hosts".into(), "0/h1".into()],
        vec!["--hosts".into(), "h1:99999".into()],
        vec!["--hosts".into(), "-oProxyCommand=x".into()],
        vec!["--hosts".into(), ",".into()],
        vec![
            "--hosts-file".into(),
            dir.path().join("missing").display().to_string(),
        ],
        vec!["--hosts-file".into(), empty.display().to_string()],
        vec![
            "--hosts".into(),
            "h1".into(),
            "--ssh".into(),
            "'unclosed".into(),
        ],
        vec!["--hosts".into(), "h1".into(), "--slurm".into()],
        vec!["--slurm-args".into(), "'unclosed".into()],
    ];
    for opts in bad {
        let out = cp()
            .arg("cluster")
            .args(&opts)
            .args(["--exec", &format!("touch {}", marker.display()), "x"])
            .output()
            .unwrap();
        let line = assert_one_line_error(&out, 125);
        assert!(!marker.exists(), "{opts:?}: ran anyway ({line})");
    }
}

#[test]
fn the_local_host_in_hosts_runs_jobs_here() {
    let out = cp()
        .args([
            "cluster",
            "--no-progress",
            "--hosts",
            "2/:",
            "--json",
            "--exec",
            "echo",
        ])
        .args(["a", "b", "c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["host"] == ":" && r["ok"] == true));
    assert!(
        text(&out.stderr).contains("this machine (:): 3 jobs, 0 failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_signal_stops_dispatching_at_once_and_started_jobs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    let _sweep = Sweep::new(&[&["sleep", "654.5"]]);
    // --exec: two jobs start; after SIGTERM no third one may (their kill must not free a slot).
    let script = format!("echo $0 >> {}; exec sleep 654.5", marks.display());
    let mut args: Vec<String> = ["cluster", "-w", "2", "--json", "--exec"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("sh -c '{script}'"));
    args.extend((1..=10).map(|i| i.to_string()));
    let live = Live::childproc(&args);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "654.5"]).len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "jobs never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{}", text(&stderr));
    assert_eq!(std::fs::read_to_string(&marks).unwrap().lines().count(), 2);
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 2, "the two started jobs, each once");
    assert!(recs.iter().all(|r| r["ok"] == false));

    // --task: the jobs in flight on killed workers are reported too.
    let live = Live::childproc([
        "cluster", "-w", "2", "--json", "--task", "spin", "60000", "60000", "60000",
    ]);
    // Both workers up (a job is sent the moment a worker starts), and a little time to read it.
    let t = Instant::now();
    while descendants(live.pid()).len() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "workers never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    live.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, stdout, stderr) = live.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{}", text(&stderr));
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 2, "{}", text(&stdout));
    assert!(
        recs.iter()
            .all(|r| r["error"] == "killed: the run was stopped")
    );
}

#[test]
fn a_closed_stdout_stops_the_run_quietly_and_a_full_one_is_an_error() {
    let t = Instant::now();
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "seq 1 200000 | {} cluster --no-progress --task sum | head -n 1; echo \"${{PIPESTATUS[1]}}\" >&2",
                bin().display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(lines(&out.stdout).len(), 1);
    let err = text(&out.stderr);
    assert!(err.trim_end().ends_with("141"), "{err}");
    assert!(!err.contains("failed:"), "no per-job noise: {err}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(bin())
        .args(["cluster", "--no-progress", "--task", "fib", "5"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("No space left"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn progress_prints_plain_lines_when_stderr_is_not_a_terminal() {
    let out = cp()
        .args([
            "cluster",
            "--progress",
            "-w",
            "2",
            "--task",
            "spin",
            "1300",
            "1300",
            "1300",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("/3 jobs done"), "{err}");
}

#[test]
fn a_zero_job_timeout_is_no_limit() {
    cp().args(["cluster", "--job-timeout", "0", "--exec", "echo", "a"])
        .assert()
        .code(0)
        .stdout("a\n");
}

#[test]
fn sigkill_to_the_primary_leaves_no_job_process_behind() {
    let _sweep = Sweep::new(&[&["sleep", "1234.71"], &["sleep", "1234.72"]]);
    let live = Live::childproc([
        "cluster",
        "-w",
        "2",
        "--exec",
        "sh -c 'sleep 1234.71 & exec sleep $0'",
        "1234.72",
        "1234.72",
    ]);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "1234.72"]).len() < 2
        || pids_with_cmdline(&["sleep", "1234.71"]).len() < 2
    {
        assert!(t.elapsed() < Duration::from_secs(20), "jobs never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    live.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = live.finish(Duration::from_secs(10));
    assert_none_left(
        &["sleep", "1234.71"],
        Duration::from_secs(5),
        "background job process",
    );
    assert_none_left(&["sleep", "1234.72"], Duration::from_secs(5), "job process");
}

#[test]
fn options_of_another_mode_are_usage_errors() {
    // --shell means something only to --exec: elsewhere it must not be silently ignored.
    for mode in [&["--task", "sum"][..], &["--worker", "node w.js"][..]] {
        let out = cp()
            .arg("cluster")
            .arg("--shell")
            .args(mode)
            .arg("3")
            .output()
            .unwrap();
        let err = assert_one_line_error(&out, 125);
        assert!(err.contains("--shell"), "{err}");
    }
    let out = cp()
        .args(["cluster", "--remote-childproc", "/x", "--exec", "echo", "1"])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert!(err.contains("--remote-childproc"), "{err}");
    let out = cp()
        .args(["cluster", "--ssh", "ssh -v", "--task", "sum", "1"])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert!(err.contains("--ssh"), "{err}");
}

#[test]
fn a_joblog_that_cannot_be_written_is_an_error() {
    // Not even the header fits: nothing runs, one line, 125.
    let out = cp()
        .args([
            "cluster",
            "--joblog",
            "/dev/full",
            "--exec",
            "echo",
            "1",
            "2",
            "3",
        ])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert!(err.contains("--joblog"), "{err}");

    // A disk that fills up during the run (a 1 KiB file size limit; SIGXFSZ ignored so the
    // write fails with EFBIG): the first row that does not fit stops the run.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec {} cluster -w 2 --joblog {} --exec echo $(seq 1 300)",
        sh_quote(bin().to_str().unwrap()),
        sh_quote(log.to_str().unwrap())
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("--joblog: cannot write"), "{err}");
    assert!(lines(&out.stdout).len() < 300, "the run was stopped: {err}");
}

#[test]
fn retries_cover_every_failure_as_in_gnu_parallel() {
    // Fails the first time, succeeds the second (a counter file per job).
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let flaky =
        r#"sh -c 'n=$(cat "$0" 2>/dev/null || echo 0); echo $((n+1)) >"$0"; [ "$n" -ge 1 ]'"#;
    let out = cp()
        .args(["cluster", "--json", "--retries", "1", "--exec", flaky])
        .arg(&counter)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rec = json_of(&out);
    assert_eq!(
        (rec["ok"].clone(), rec["attempts"].clone()),
        (true.into(), 2.into())
    );
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "2");

    // Always failing: N+1 attempts, then reported failed.
    let out = cp()
        .args([
            "cluster",
            "--json",
            "--retries",
            "2",
            "--exec",
            "sh -c 'exit 3'",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rec = json_of(&out);
    assert_eq!(
        (rec["ok"].clone(), rec["attempts"].clone()),
        (false.into(), 3.into())
    );
    assert_eq!(rec["error"], "exited with code 3");

    // A task's error reply is a failure like any other.
    let out = cp()
        .args([
            "cluster",
            "--json",
            "--retries",
            "2",
            "--task",
            "fib",
            "abc",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["attempts"], 3);
}

#[test]
fn records_of_jobs_that_never_started_have_a_null_pid() {
    // A pid of 0 would be dangerous: `kill 0` signals the caller's own process group.
    let cases: [&[&str]; 2] = [
        &["--exec", "/nonexistent/program"],
        &["-w", "1", "--worker", "/nonexistent/worker"],
    ];
    for args in cases {
        let out = cp()
            .args(["cluster", "--json"])
            .args(args)
            .args(["1", "2"])
            .output()
            .unwrap();
        let recs = json_lines(&out.stdout);
        assert_eq!(recs.len(), 2, "{args:?}: {}", text(&out.stderr));
        for r in &recs {
            assert_eq!(r["ok"], false, "{r}");
            assert!(r["pid"].is_null(), "{args:?}: {r}");
        }
    }
    // A job that ran has its real pid.
    let out = cp()
        .args(["cluster", "--json", "--exec", "true", "x"])
        .output()
        .unwrap();
    assert!(json_of(&out)["pid"].as_i64().unwrap() > 0);
}

/// Talks to `childproc cluster-remote --exec` as the primary does: request lines in, replies
/// out; stdin stays open until the replies are in (its end stops the remote side).
fn remote_exec_replies(
    requests: Vec<u8>,
    replies: usize,
    limit: Duration,
) -> Vec<serde_json::Value> {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(bin())
        .args(["cluster-remote", "--exec"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let _ = stdin.write_all(&requests);
        // Keep stdin open (the thread parks) until the test kills the process.
        std::thread::park();
    });
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    // The hello, then one reply per request.
    while got.len() < replies + 1 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => got.push(serde_json::from_str::<serde_json::Value>(&l).unwrap()),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{} of {replies} replies after {limit:?}",
                    got.len().saturating_sub(1)
                );
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    got.remove(0);
    got
}

#[test]
fn the_remote_side_reads_a_huge_request_line_in_linear_time() {
    // 32 MB in one request line took ~4 s when every read rescanned the whole buffer.
    let mut req = br#"{"argv":["echo","big"],"pad":""#.to_vec();
    req.resize(req.len() + (32 << 20), b'x');
    req.extend_from_slice(b"\"}\n");
    req.extend_from_slice(b"{\"argv\":[\"echo\",\"small\"]}\n");
    let replies = remote_exec_replies(req, 2, Duration::from_secs(20));
    let out: Vec<&str> = replies
        .iter()
        .map(|r| r["stdout"].as_str().unwrap())
        .collect();
    assert_eq!(out, ["YmlnCg==", "c21hbGwK"], "base64 of big\\n, small\\n");
}

#[test]
fn only_json_whitespace_is_blank_on_the_cluster_channels() {
    // The remote side: a form feed line is a malformed request, answered as such.
    let replies = remote_exec_replies(
        b"\x0c\n \t\r\n{\"argv\":[\"true\"]}\n".to_vec(),
        2,
        Duration::from_secs(20),
    );
    assert_eq!(replies[0]["exit"], 125, "{}", replies[0]);
    assert!(
        replies[0]["spawnError"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );
    assert_eq!(replies[1]["code"], 0);

    // A worker's form feed line is reported, not silently skipped; its answer still counts.
    let worker = r#"sh -c 'while read -r m <&3; do printf "\f\n[\"done\",%s]\n" "$m" >&3; done'"#;
    let out = cp()
        .args(["cluster", "-w", "1", "--worker", worker, "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "[\"done\",1]\n");
    assert!(
        text(&out.stderr).contains("malformed message"),
        "{}",
        text(&out.stderr)
    );
}

/// A Node worker that answers each message with itself, except `hang` (never answered) and
/// `fail` (exits 3 once a `hang` job has started elsewhere). On SIGTERM or SIGINT it writes
/// `got-SIG…`, and 300 ms later `alive-SIG…` (no SIGKILL came with the signal); then it
/// exits if told to (`exit` as its second argument), else keeps running.
fn trapping_worker(dir: &std::path::Path, then: &str) -> String {
    let js = dir.join("trap.js");
    std::fs::write(
        &js,
        r#"
const fs = require('fs');
const [dir, then] = process.argv.slice(2);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    fs.writeFileSync(`${dir}/got-${sig}`, String(process.pid));
    setTimeout(() => {
      fs.writeFileSync(`${dir}/alive-${sig}`, '');
      if (then === 'exit') process.exit(0);
    }, 300);
  });
}
process.on('message', (m) => {
  if (m === 'hang') {
    fs.writeFileSync(`${dir}/started`, String(process.pid));
  } else if (m === 'fail') {
    const t = setInterval(() => {
      if (fs.existsSync(`${dir}/started`)) { clearInterval(t); process.exit(3); }
    }, 10);
  } else {
    process.send(m);
  }
});
"#,
    )
    .unwrap();
    format!(
        "node {} {} {then}",
        sh_quote(js.to_str().unwrap()),
        sh_quote(dir.to_str().unwrap())
    )
}

fn marker(dir: &std::path::Path, name: &str) -> bool {
    dir.join(name).exists()
}

#[test]
fn a_timed_out_worker_gets_the_kill_signal_then_sigkill_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    let t = Instant::now();
    let out = cp()
        .args([
            "cluster",
            "-w",
            "1",
            "--job-timeout",
            "500ms",
            "--kill-after",
            "3s",
        ])
        .arg("--joblog")
        .arg(&log)
        .args(["--worker", &trapping_worker(dir.path(), "stay"), "hang"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        marker(dir.path(), "got-SIGTERM"),
        "the kill signal came first"
    );
    assert!(
        marker(dir.path(), "alive-SIGTERM"),
        "and no SIGKILL with it"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(3500),
        "SIGKILL only after --kill-after"
    );
    let rows = joblog_rows(&log);
    assert_eq!(
        (rows[0][4].as_str(), rows[0][5].as_str()),
        ("-1", "9"),
        "{rows:?}"
    );
}

#[test]
fn halt_now_stops_workers_with_the_kill_signal() {
    let dir = tempfile::tempdir().unwrap();
    let out = cp()
        .args([
            "cluster",
            "-w",
            "2",
            "--halt",
            "now",
            "--kill-signal",
            "INT",
        ])
        .args([
            "--worker",
            &trapping_worker(dir.path(), "exit"),
            "hang",
            "fail",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(marker(dir.path(), "got-SIGINT"), "{}", text(&out.stderr));
    assert!(marker(dir.path(), "alive-SIGINT"), "no SIGKILL with it");
    assert!(!marker(dir.path(), "got-SIGTERM"));
}

#[test]
fn an_interrupted_run_stops_workers_with_the_kill_signal() {
    // --kill-after 0: never escalate; the worker ends by itself after its clean-up.
    let dir = tempfile::tempdir().unwrap();
    let mut child = cp_std()
        .args(["cluster", "-w", "1", "--kill-after", "0"])
        .args(["--worker", &trapping_worker(dir.path(), "exit"), "hang"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    read_pid(&dir.path().join("started"), Duration::from_secs(30));
    signal(child.id() as i32, nix::sys::signal::Signal::SIGTERM);
    let st = wait_deadline(&mut child, Duration::from_secs(30), "cluster after SIGTERM");
    assert_eq!(st.code(), Some(143));
    assert!(marker(dir.path(), "got-SIGTERM"));
    assert!(marker(dir.path(), "alive-SIGTERM"), "never escalated");
}

#[test]
fn a_timed_out_task_worker_gets_the_kill_signal() {
    // The built-in worker dies of the signal it is sent: the joblog says which.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.tsv");
    cp().args([
        "cluster",
        "-w",
        "1",
        "--job-timeout",
        "300ms",
        "--kill-signal",
        "INT",
    ])
    .arg("--joblog")
    .arg(&log)
    .args(["--task", "spin", "60000"])
    .timeout(Duration::from_secs(60))
    .assert()
    .code(1);
    let rows = joblog_rows(&log);
    assert_eq!(
        (rows[0][4].as_str(), rows[0][5].as_str()),
        ("-1", "2"),
        "{rows:?}"
    );
}
