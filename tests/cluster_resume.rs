//! `cluster --joblog` as a durable record, and `--resume`, `--resume-failed`,
//! `--retry-failed` keyed by each job's content (its Key column), checked against GNU
//! parallel where GNU has the same feature — and where it keys by sequence number and so
//! picks the wrong jobs, against that.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::*;

const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tKey";
const GNU_HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// One row of our joblog.
#[derive(Debug, Clone)]
struct Row {
    seq: u64,
    exit: i32,
    signal: i32,
    command: String,
    key: String,
}

/// A well-formed key: `HOW-<16 hex>-<32 hex>`.
fn is_key(k: &str) -> bool {
    let parts: Vec<&str> = k.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 3
        && ["argv", "sh", "task", "worker", "lossy"].contains(&parts[0])
        && hex(parts[1], 16)
        && hex(parts[2], 32)
}

/// Every whole line of our joblog after the header, each checked to be a whole row; a last
/// line without its newline (torn by a SIGKILL) is left out when `torn_ok`, else an error.
fn read_rows(path: &Path, torn_ok: bool) -> Vec<Row> {
    let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        assert!(
            torn_ok,
            "the joblog ends in a torn line: {:?}",
            lines.last()
        );
        lines.pop();
    }
    assert_eq!(lines.first().map(|l| l.trim_end()), Some(HEADER));
    lines[1..]
        .iter()
        .map(|l| {
            let cols: Vec<&str> = l.trim_end_matches('\n').split('\t').collect();
            assert_eq!(cols.len(), 10, "a whole row has ten columns: {l:?}");
            assert!(is_key(cols[9]), "a whole key: {l:?}");
            Row {
                seq: cols[0].parse().unwrap(),
                exit: cols[6].parse().unwrap(),
                signal: cols[7].parse().unwrap(),
                command: cols[8].to_string(),
                key: cols[9].to_string(),
            }
        })
        .collect()
}

fn rows(path: &Path) -> Vec<Row> {
    read_rows(path, false)
}

/// How many times each line is in `path` (no file: none).
fn counts(path: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `childproc cluster` in `dir`, no progress bar.
fn cluster(dir: &Path) -> Command {
    let mut c = cp_std();
    c.current_dir(dir).args(["cluster", "--no-progress"]);
    c
}

/// GNU parallel in `dir`.
fn gnu(dir: &Path) -> Command {
    let mut c = Command::new("parallel");
    c.current_dir(dir).arg("--will-cite");
    c
}

fn run(c: &mut Command) -> Done {
    run_capped(c, Feed::Null, Duration::from_secs(120))
}

/// The lines of a file `dir/name` holding one input per line.
fn input_file(dir: &Path, name: &str, inputs: impl IntoIterator<Item = String>) -> PathBuf {
    let p = dir.join(name);
    let text: String = inputs.into_iter().map(|i| format!("{i}\n")).collect();
    std::fs::write(&p, text).unwrap();
    p
}

/// Number of newlines in the file (0 when absent).
fn newlines(p: &Path) -> usize {
    std::fs::read(p)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Run `script` (a `--shell` template ending in `echo {} >> marks`) over 1..=n with the joblog,
/// SIGKILL childproc itself once the joblog has `kill_at` rows, then `--resume`: what each run
/// left, checked for what can be promised honestly.
fn kill_then_resume(n: usize, script: &str, kill_at: usize, stdout: Stdio) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("jl");
    let inputs = input_file(d, "in", (1..=n).map(|i| i.to_string()));
    let args = |c: &mut Command| {
        c.args([
            "-w", "2", "--joblog", "jl", "--shell", "--exec", script, "-a",
        ])
        .arg(&inputs);
    };
    let mut c = cluster(d);
    args(&mut c);
    let mut child = c.stdout(stdout).stderr(Stdio::null()).spawn().unwrap();
    wait_until(Duration::from_secs(90), "rows in the joblog", || {
        newlines(&log) > kill_at
    });
    signal(child.id() as i32, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();

    // What the killed run left: whole rows (a torn one only at the very end), each of a job
    // that really ran.
    let first = read_rows(&log, true);
    assert!(first.len() < n, "killed mid-run: {} rows", first.len());
    let ran_first = counts(&d.join("marks"));
    // The word after `echo` in the row's Command.
    let input_of = |r: &Row| {
        let after = r
            .command
            .split("echo ")
            .nth(1)
            .expect("echo in the Command");
        after.split(' ').next().unwrap().to_string()
    };
    for r in &first {
        assert!(
            ran_first.contains_key(&input_of(r)),
            "row without a run: {r:?}"
        );
    }

    let mut c = cluster(d);
    args(&mut c);
    let done = run(c.arg("--resume"));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    let skipped = format!("{} jobs skipped (already in the joblog)", first.len());
    assert!(done.err().contains(&skipped), "{}", done.err());

    // One whole row per job, all its own, and the file well formed.
    let all = rows(&log);
    assert_eq!(all.len(), n);
    let keys: BTreeSet<&str> = all.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), n, "one key per job");
    let logged: BTreeSet<String> = all.iter().map(input_of).collect();
    let want: BTreeSet<String> = (1..=n).map(|i| i.to_string()).collect();
    assert_eq!(logged, want);

    // Every job ran; one with a row from the first run never ran again. Only a job that was
    // running when childproc was killed (at most one per slot) may have run twice.
    let ran = counts(&d.join("marks"));
    let logged_first: BTreeSet<String> = first.iter().map(input_of).collect();
    let mut twice = Vec::new();
    for i in &want {
        match ran.get(i).copied().unwrap_or(0) {
            0 => panic!("job {i} never ran"),
            1 => {}
            k => {
                assert!(
                    !logged_first.contains(i),
                    "job {i} had a row and ran {k} times"
                );
                twice.push(i.clone());
            }
        }
    }
    assert!(twice.len() <= 2, "only jobs in flight ran twice: {twice:?}");
}

#[test]
fn resume_after_sigkill_runs_every_job_once() {
    kill_then_resume(10_000, "echo {} >> marks", 3000, Stdio::null());
}

#[test]
fn sigkill_during_heavy_output_loses_no_finished_row() {
    // Each job prints 256 KiB (captured, then written to a file) before it says it finished.
    let out = tempfile::tempfile().unwrap();
    kill_then_resume(
        600,
        "head -c 262144 /dev/zero; echo {} >> marks",
        150,
        Stdio::from(out),
    );
}

#[test]
fn resume_after_reordering_runs_exactly_the_new_jobs_unlike_gnu() {
    let old = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    // Reversed, a line inserted, two added at the end.
    let new = [
        "j", "new1", "i", "h", "g", "f", "e", "d", "c", "b", "a", "new2", "new3",
    ];
    // {#} in the template: the key does not depend on it.
    let template = "echo {} {#} >> marks";

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ours = |inputs: &[&str], resume: bool| {
        let mut c = cluster(d);
        c.args(["-w", "3", "--joblog", "jl", "--shell", "--exec", template]);
        if resume {
            c.arg("--resume");
        }
        let done = run(c.arg(":::").args(inputs));
        assert_eq!(done.code(), Some(0), "{}", done.err());
        done
    };
    ours(&old, false);
    std::fs::remove_file(d.join("marks")).unwrap();
    let done = ours(&new, true);
    assert!(done.err().contains("10 jobs skipped"), "{}", done.err());
    let ran: BTreeSet<String> = counts(&d.join("marks"))
        .keys()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(ran, set(&["new1", "new2", "new3"]));
    // The new jobs are numbered by their place in the new list.
    let seqs: BTreeSet<String> = counts(&d.join("marks")).into_keys().collect();
    assert_eq!(seqs, set(&["new1 2", "new2 12", "new3 13"]));
    assert_eq!(rows(&d.join("jl")).len(), 13);

    // GNU parallel keys by sequence number: it skips jobs 1..10 of the new list (new1 among
    // them, never run) and runs 11..13, so `a` runs a second time.
    let g = tempfile::tempdir().unwrap();
    let g = g.path();
    let gnu_run = |inputs: &[&str], resume: bool| {
        let mut c = gnu(g);
        c.args(["-j", "3", "--joblog", "jl"]);
        if resume {
            c.arg("--resume");
        }
        let done = run(c.arg(template).arg(":::").args(inputs));
        assert_eq!(done.code(), Some(0), "{}", done.err());
    };
    gnu_run(&old, false);
    std::fs::remove_file(g.join("marks")).unwrap();
    gnu_run(&new, true);
    let gnu_ran: BTreeSet<String> = counts(&g.join("marks"))
        .keys()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(gnu_ran, set(&["a", "new2", "new3"]));
}

/// Jobs 1..=12; those divisible by 3 fail. Each says it ran in `marks`.
const FAILING: &str = r#"sh -c 'echo "$0" >> marks; test $(( $0 % 3 )) -ne 0'"#;

fn twelve() -> Vec<String> {
    (1..=12).map(|i| i.to_string()).collect()
}

/// The inputs that ran since `marks` was last removed.
fn ran(dir: &Path) -> BTreeSet<String> {
    counts(&dir.join("marks")).into_keys().collect()
}

#[test]
fn resume_failed_and_retry_failed_rerun_what_gnu_reruns() {
    for option in ["--resume-failed", "--retry-failed"] {
        let o = tempfile::tempdir().unwrap();
        let g = tempfile::tempdir().unwrap();
        let (o, g) = (o.path(), g.path());
        let first = run(cluster(o)
            .args(["-w", "2", "--joblog", "jl", "--exec", FAILING])
            .args(twelve()));
        assert_eq!(first.code(), Some(4), "{}", first.err());
        let gfirst = run(gnu(g)
            .args(["-j", "2", "--joblog", "jl", FAILING, ":::"])
            .args(twelve()));
        assert_eq!(gfirst.code(), Some(4), "{}", gfirst.err());
        std::fs::remove_file(o.join("marks")).unwrap();
        std::fs::remove_file(g.join("marks")).unwrap();

        let mut again = cluster(o);
        again.args(["-w", "2", "--joblog", "jl", option]);
        let mut gagain = gnu(g);
        gagain.args(["-j", "2", "--joblog", "jl", option]);
        if option == "--resume-failed" {
            again.args(["--exec", FAILING]).args(twelve());
            gagain.args([FAILING, ":::"]).args(twelve());
        }
        let done = run(&mut again);
        assert_eq!(done.code(), Some(4), "{option}: {}", done.err());
        let gdone = run(&mut gagain);
        assert_eq!(gdone.code(), Some(4), "{option}: {}", gdone.err());
        assert_eq!(ran(o), set(&["3", "6", "9", "12"]), "{option}");
        assert_eq!(ran(o), ran(g), "{option}: the same jobs as GNU parallel");

        // Appended to the same file, no second header; each re-run keeps its job's key
        // (and, with --retry-failed, its Seq and Command).
        let all = rows(&o.join("jl"));
        assert_eq!(all.len(), 16, "{option}");
        let (old, new) = all.split_at(12);
        for r in new {
            let before = old.iter().find(|b| b.key == r.key).expect("same key");
            assert_eq!((before.seq, &before.command), (r.seq, &r.command));
            assert_eq!((r.exit, r.signal), (1, 0));
        }
    }
}

#[test]
fn resume_failed_keys_by_content_after_a_reorder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = run(cluster(d)
        .args(["--joblog", "jl", "--exec", FAILING])
        .args(twelve()));
    assert_eq!(first.code(), Some(4));
    std::fs::remove_file(d.join("marks")).unwrap();
    let mut reordered = twelve();
    reordered.reverse();
    reordered.insert(3, "15".into());
    let done = run(cluster(d)
        .args(["--joblog", "jl", "--resume-failed", "--exec", FAILING])
        .args(&reordered));
    assert_eq!(done.code(), Some(5), "{}", done.err());
    assert_eq!(ran(d), set(&["3", "6", "9", "12", "15"]));
    assert!(
        done.err().contains("8 jobs skipped (they succeeded before"),
        "{}",
        done.err()
    );
}

#[test]
fn jobs_that_ran_to_an_end_have_rows_and_are_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A timeout, a program that is not there (127), a failure, a success.
    let template = r#"sh -c 'echo "$0" >> marks; case $0 in t) sleep 30;; n) exec /nonexistent/x;; f) exit 3;; esac'"#;
    let args = [
        "--job-timeout",
        "500ms",
        "--joblog",
        "jl",
        "--exec",
        template,
    ];
    let first = run(cluster(d).args(args).args(["t", "n", "f", "ok"]));
    assert_eq!(first.code(), Some(3), "{}", first.err());
    let mut ends: Vec<(i32, i32)> = rows(&d.join("jl"))
        .iter()
        .map(|r| (r.exit, r.signal))
        .collect();
    ends.sort();
    assert_eq!(ends, [(-1, 15), (0, 0), (3, 0), (127, 0)]);
    std::fs::remove_file(d.join("marks")).unwrap();
    let again = run(cluster(d)
        .args(args)
        .arg("--resume")
        .args(["t", "n", "f", "ok"]));
    assert_eq!(again.code(), Some(0), "{}", again.err());
    assert!(ran(d).is_empty(), "ran again: {:?}", ran(d));
    assert!(again.err().contains("4 jobs skipped"), "{}", again.err());

    // A program childproc itself cannot start: a row (127), and not run again.
    let args = ["--joblog", "nf", "--exec", "{}"];
    let first = run(cluster(d).args(args).arg("/nonexistent/x"));
    assert_eq!(first.code(), Some(1), "{}", first.err());
    let r = rows(&d.join("nf"));
    assert_eq!((r.len(), r[0].exit), (1, 127), "{r:?}");
    let again = run(cluster(d).args(args).args(["--resume", "/nonexistent/x"]));
    assert_eq!(again.code(), Some(0), "{}", again.err());
    assert!(again.err().contains("1 jobs skipped"), "{}", again.err());
}

/// A job that starts, says so in `started`, and finishes (saying so in `done`) once the file
/// `go` exists, or at once for inputs starting with `f`.
const WAITING: &str = r#"sh -c 'echo "$0" >> started; case $0 in f*) ;; *) while [ ! -e go ]; do sleep 0.05; done;; esac; echo "$0" >> done'"#;

#[test]
fn jobs_killed_by_ctrl_c_have_no_row_and_resume_runs_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = ["f1", "s1", "f2", "s2"];
    let mut child = cluster(d)
        .args(["-w", "4", "--joblog", "jl", "--exec", WAITING])
        .args(inputs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "all started, f1 f2 logged", || {
        newlines(&d.join("started")) == 4 && newlines(&d.join("jl")) == 3
    });
    signal(child.id() as i32, nix::sys::signal::Signal::SIGINT);
    let st = wait_deadline(&mut child, Duration::from_secs(30), "interrupted run");
    assert_eq!(st.code(), Some(130));
    let logged: BTreeSet<String> = rows(&d.join("jl"))
        .iter()
        .map(|r| r.command.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(logged, set(&["f1", "f2"]));

    std::fs::write(d.join("go"), "").unwrap();
    std::fs::remove_file(d.join("done")).unwrap();
    let done = run(cluster(d)
        .args(["-w", "4", "--joblog", "jl", "--resume", "--exec", WAITING])
        .args(inputs));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(
        counts(&d.join("done")).into_keys().collect::<BTreeSet<_>>(),
        set(&["s1", "s2"])
    );
    assert_eq!(rows(&d.join("jl")).len(), 4);
}

#[test]
fn jobs_killed_by_halt_now_have_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `x` fails once s1 has started; --halt now then kills s1.
    let template = r#"sh -c 'case $0 in x) while ! grep -q s1 started 2>/dev/null; do sleep 0.05; done; exit 1;; esac; echo "$0" >> started; while [ ! -e go ]; do sleep 0.05; done; echo "$0" >> done'"#;
    let args = [
        "-w", "2", "--halt", "now", "--joblog", "jl", "--exec", template,
    ];
    let first = run(cluster(d).args(args).args(["x", "s1"]));
    // Both failed (s1 was killed), one has a row.
    assert_eq!(first.code(), Some(2), "{}", first.err());
    let r = rows(&d.join("jl"));
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].command.ends_with(" x") && r[0].exit == 1, "{r:?}");

    std::fs::write(d.join("go"), "").unwrap();
    let done = run(cluster(d).args(args).arg("--resume").args(["x", "s1"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(
        counts(&d.join("done")).into_keys().collect::<BTreeSet<_>>(),
        set(&["s1"])
    );
}

#[test]
fn keys_name_content_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_of = |template: &str, inputs: &[&str]| -> Vec<String> {
        let log = d.join("k");
        let done = run(cluster(d)
            .args(["-w", "1", "--joblog", "k", "--exec", template])
            .args(inputs));
        assert_eq!(done.code(), Some(0), "{}", done.err());
        rows(&log).into_iter().map(|r| r.key).collect()
    };
    // By hand, with sha256sum.
    let sha = |script: &str, n: usize| -> String {
        let out = Command::new("sh").args(["-c", script]).output().unwrap();
        text(&out.stdout)[..n].to_string()
    };
    let want = format!(
        "argv-{}-{}",
        sha("printf %s '--exec echo' | sha256sum", 16),
        sha("printf '3:a b,' | sha256sum", 32)
    );
    assert_eq!(key_of("echo", &["a b"]), [want]);
    let shell = sha("printf %s '--shell --exec echo {}' | sha256sum", 16);
    let got = key_of_shell(d);
    assert!(got.starts_with(&format!("sh-{shell}-")), "{got}");

    // Not the sequence or slot number: the same job in another place has the same key.
    let a = key_of("echo {#} {%} {}", &["x", "y"]);
    let b = key_of("echo {#} {%} {}", &["y", "x"]);
    assert_eq!(a[0], b[1]);
    // Arguments are length-prefixed: one argument "a b" is not two, "a" and "b".
    let one = key_of("echo", &["a b"]);
    let two = key_of("echo", &["a", ":::", "b"]);
    assert_ne!(one, two);
}

fn key_of_shell(d: &Path) -> String {
    let done = run(cluster(d).args(["--joblog", "s", "--shell", "--exec", "echo {}", "z"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    rows(&d.join("s")).remove(0).key
}

#[test]
fn keep_order_with_resume_prints_the_rest_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = run(cluster(d).args(["--joblog", "jl", "--exec", "echo", "2", "4"]));
    assert_eq!(first.code(), Some(0));
    let done = run(cluster(d)
        .args([
            "-k", "-w", "3", "--joblog", "jl", "--resume", "--exec", "echo",
        ])
        .args(["1", "2", "3", "4", "5", "6"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "1\n3\n5\n6\n");
}

#[test]
fn task_jobs_resume_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = run(cluster(d).args(["--joblog", "jl", "--task", "sum", "10", "20"]));
    assert_eq!(first.code(), Some(0), "{}", first.err());
    let done = run(cluster(d).args([
        "--joblog", "jl", "--resume", "--task", "sum", "20", "30", "10",
    ]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "465\n");
    let r = rows(&d.join("jl"));
    assert!(r.iter().all(|r| r.key.starts_with("task-")), "{r:?}");
    // Their Command does not carry the input: --retry-failed cannot run them again.
    let bad = run(cluster(d).args(["--joblog", "jl", "--task", "sum", "x"]));
    assert_eq!(bad.code(), Some(1));
    let retry = run(cluster(d).args(["--joblog", "jl", "--retry-failed"]));
    assert_eq!(retry.code(), Some(125));
    assert!(
        retry.err().contains("--task or --worker"),
        "{}",
        retry.err()
    );
}

#[test]
fn resume_options_need_a_joblog() {
    for option in ["--resume", "--resume-failed", "--retry-failed"] {
        let out = cp()
            .args(["cluster", option, "--exec", "echo", "x"])
            .output()
            .unwrap();
        let err = assert_one_line_error(&out, 125);
        assert!(err.contains("--joblog"), "{err}");
    }
}

/// `--resume` over `jl` as it is in `d`; expected to refuse with one line, running nothing.
fn refused(d: &Path, template: &str) -> String {
    let out = cp()
        .current_dir(d)
        .args([
            "cluster", "--joblog", "jl", "--resume", "--shell", "--exec", template,
        ])
        .args(["a", "b"])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert!(!d.join("ran").exists(), "nothing runs: {err}");
    err
}

#[test]
fn a_joblog_that_cannot_be_resumed_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("jl");
    let done = run(cluster(d).args(["--joblog", "jl", "--exec", "echo", "a"]));
    assert_eq!(done.code(), Some(0));

    // Another command set: both are named.
    let err = refused(d, "echo {} > ran");
    assert!(err.contains("another command set"), "{err}");
    assert!(err.contains("--shell --exec echo {} > ran"), "{err}");
    assert!(err.contains("argv-") && err.contains("sh-"), "{err}");

    // GNU parallel's joblog: no Key to match by.
    std::fs::write(
        &log,
        format!("{GNU_HEADER}\n1\t:\t1.0\t     0.001\t0\t2\t0\t0\techo a\n"),
    )
    .unwrap();
    let err = refused(d, "echo {} > ran");
    assert!(err.contains("no Key column"), "{err}");
    // Our header, a row without a Key.
    std::fs::write(
        &log,
        format!("{HEADER}\n1\t:\t1.0\t     0.001\t0\t2\t0\t0\techo a\n"),
    )
    .unwrap();
    let err = refused(d, "echo {} > ran");
    assert!(err.contains("no Key column"), "{err}");
    // Not a joblog at all, and left as it was.
    std::fs::write(&log, "my notes, no newline").unwrap();
    let err = refused(d, "echo {} > ran");
    assert!(err.contains("is not a joblog"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "my notes, no newline"
    );
    // A row that is not one.
    std::fs::write(&log, format!("{HEADER}\nnot a row\n")).unwrap();
    let err = refused(d, "echo {} > ran");
    assert!(
        err.contains("line 2") && err.contains("not a joblog row"),
        "{err}"
    );
}

#[test]
fn a_torn_last_line_is_cut_off_and_its_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("jl");
    let template = "echo {} >> marks";
    let args = ["-w", "1", "--joblog", "jl", "--shell", "--exec", template];
    let first = run(cluster(d).args(args).args(["a", "b", "c"]));
    assert_eq!(first.code(), Some(0));
    // Power loss in the middle of c's row.
    let text = std::fs::read_to_string(&log).unwrap();
    let cut = text.trim_end().rfind('\t').unwrap() + 5;
    std::fs::write(&log, &text[..cut]).unwrap();
    std::fs::remove_file(d.join("marks")).unwrap();
    let done = run(cluster(d).args(args).arg("--resume").args(["a", "b", "c"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(ran(d), set(&["c"]));
    let r = rows(&log);
    assert_eq!(r.len(), 3, "{r:?}");

    // Only a torn header: a new joblog.
    std::fs::write(&log, &HEADER[..7]).unwrap();
    let done = run(cluster(d).args(args).arg("--resume").args(["a"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(rows(&log).len(), 1);
    // None at all: a new one too.
    std::fs::remove_file(&log).unwrap();
    let done = run(cluster(d).args(args).arg("--resume").args(["a"]));
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(rows(&log).len(), 1);
}

#[test]
fn retry_failed_refuses_commands_it_cannot_run_again_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A newline in the shell line: written as a space, the line would not be the same.
    let done = run(cluster(d).args([
        "--joblog",
        "jl",
        "--shell",
        "--exec",
        "echo {} >> marks\nexit 1",
        "a",
    ]));
    assert_eq!(done.code(), Some(1), "{}", done.err());
    assert!(rows(&d.join("jl"))[0].key.starts_with("lossy-"));
    std::fs::remove_file(d.join("marks")).unwrap();
    let out = cp()
        .current_dir(d)
        .args(["cluster", "--joblog", "jl", "--retry-failed"])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert!(
        err.contains("tab or newline") && err.contains("--resume-failed"),
        "{err}"
    );
    assert!(!d.join("marks").exists());
    // --resume-failed reruns it from the command line, exactly.
    let done = run(cluster(d).args([
        "--joblog",
        "jl",
        "--resume-failed",
        "--shell",
        "--exec",
        "echo {} >> marks\nexit 1",
        "a",
    ]));
    assert_eq!(done.code(), Some(1), "{}", done.err());
    assert_eq!(ran(d), set(&["a"]));
}

#[test]
fn retry_failed_reruns_shell_lines_and_ignores_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let template = r#"echo {} >> marks; [ {} != "it's" ]"#;
    let done = run(cluster(d)
        .args(["--joblog", "jl", "--shell", "--exec", template])
        .args(["it's", "ok"]));
    assert_eq!(done.code(), Some(1), "{}", done.err());
    std::fs::remove_file(d.join("marks")).unwrap();
    let again = run(cluster(d).args([
        "--joblog",
        "jl",
        "--retry-failed",
        "--exec",
        "false",
        "other",
    ]));
    assert_eq!(again.code(), Some(1), "{}", again.err());
    assert!(
        again.err().contains("not using --exec, the inputs"),
        "{}",
        again.err()
    );
    assert_eq!(ran(d), set(&["it's"]));
}

#[test]
fn gnu_parallel_reads_our_joblog() {
    let o = tempfile::tempdir().unwrap();
    let g = tempfile::tempdir().unwrap();
    let (o, g) = (o.path(), g.path());
    let done = run(cluster(o)
        .args(["-w", "2", "--joblog", "jl", "--exec", FAILING])
        .args(twelve()));
    assert_eq!(done.code(), Some(4));
    let gdone = run(gnu(g)
        .args(["-j", "2", "--joblog", "jl", FAILING, ":::"])
        .args(twelve()));
    assert_eq!(gdone.code(), Some(4));

    // `cut -f1-9` of ours is GNU's layout, with the same values but timings.
    let cut = |p: &Path| -> Vec<String> {
        let out = Command::new("cut").arg("-f1-9").arg(p).output().unwrap();
        let mut l: Vec<String> = text(&out.stdout)
            .lines()
            .map(|l| {
                let mut c: Vec<&str> = l.split('\t').collect();
                if c[0] != "Seq" {
                    c.drain(2..4);
                }
                c.join("\t")
            })
            .collect();
        l[1..].sort();
        l
    };
    assert_eq!(cut(&o.join("jl"))[0], GNU_HEADER);
    assert_eq!(cut(&o.join("jl")), cut(&g.join("jl")));

    // GNU's --resume reads it: it skips by Seq the jobs it lists, and runs job 13 only.
    std::fs::remove_file(o.join("marks")).unwrap();
    let mut more = twelve();
    more.push("13".into());
    let gres = run(gnu(o)
        .args(["--joblog", "jl", "--resume", FAILING, ":::"])
        .args(&more));
    assert_eq!(gres.code(), Some(0), "{}", gres.err());
    assert_eq!(ran(o), set(&["13"]));
    // And its --retry-failed, on the nine columns, reruns the jobs ours does.
    std::fs::remove_file(o.join("marks")).unwrap();
    let nine = Command::new("cut")
        .arg("-f1-9")
        .arg(o.join("jl"))
        .output()
        .unwrap();
    std::fs::write(o.join("nine"), nine.stdout).unwrap();
    let gretry = run(gnu(o).args(["--joblog", "nine", "--retry-failed"]));
    assert_eq!(gretry.code(), Some(4), "{}", gretry.err());
    assert_eq!(ran(o), set(&["3", "6", "9", "12"]));
}

#[test]
fn a_resumed_run_keeps_order_and_line_buffering_across_the_skipped_jobs() {
    // -k --line-buffer takes turns by position among the jobs this run takes: the skipped
    // sequence numbers must not leave a later job waiting for a turn that never comes, nor
    // mix the order.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let job = "sh -c 'echo $0; sleep 0.$1; echo $0 done'";
    let first = run(cluster(dir.path())
        .arg("--joblog")
        .arg(&log)
        .args(["--exec", job, ":::", "a", "b", "c", ":::+", "1", "1", "1"]));
    assert_eq!(first.code(), Some(0), "{}", first.err());
    let again = run(cluster(dir.path())
        .arg("--joblog")
        .arg(&log)
        .args(["--resume", "-k", "--lb", "-j", "2"])
        .args(["--exec", job])
        .args([
            ":::", "a", "x", "b", "y", "c", "z", ":::+", "1", "3", "1", "1", "1", "2",
        ]));
    assert_eq!(again.code(), Some(0), "{}", again.err());
    assert_eq!(again.out(), "x\nx done\ny\ny done\nz\nz done\n");
    assert!(again.err().contains("3 jobs skipped"), "{}", again.err());
}
