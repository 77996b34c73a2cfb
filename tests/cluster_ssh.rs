//! `cluster --hosts`: jobs spread over OpenSSH hosts. Each test starts private `sshd`s on
//! 127.0.0.1 ports (tests/engines/sshd-up.sh: throwaway keys, a private ssh_config, nothing
//! written to the machine's own ssh configuration) standing for hosts, and stops them at the end.
//! The "remote" childproc is this build, named with --remote-childproc.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const LONG: Duration = Duration::from_secs(120);

/// N private sshd "hosts" (host1..hostN, plus `down`, which refuses connections).
struct Hosts {
    dir: tempfile::TempDir,
}

impl Hosts {
    fn up(n: usize) -> Hosts {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "these tests need openssh-server (.ci/run installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(engines().join("sshd-up.sh"))
            .arg(dir.path())
            .arg(n.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sshd-up.sh failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Hosts { dir }
    }

    /// The value for `--ssh`.
    fn ssh(&self) -> String {
        format!("ssh -F {}", self.dir.path().join("ssh_config").display())
    }

    /// Kill host `name`'s sshd and every session it runs (the host dies).
    fn kill(&self, name: &str) {
        let st = Command::new("bash")
            .arg(engines().join("sshd-down.sh"))
            .arg(self.dir.path())
            .arg(name)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// How many times host `name` accepted a login so far (its sshd log).
    fn logins(&self, name: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        log.matches("Accepted publickey").count()
    }

    /// `childproc cluster --hosts HOSTS --ssh … --remote-childproc <this build>`.
    fn cluster(&self, hosts: &str) -> Vec<String> {
        vec![
            "cluster".into(),
            "--no-progress".into(),
            "--hosts".into(),
            hosts.into(),
            "--ssh".into(),
            self.ssh(),
            "--remote-childproc".into(),
            bin().display().to_string(),
        ]
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(engines().join("sshd-down.sh"))
            .arg(self.dir.path())
            .status();
    }
}

/// `--json` records, checked to name every input exactly once.
fn records_once(stdout: &[u8], inputs: &[String]) -> Vec<serde_json::Value> {
    let recs = json_lines(stdout);
    let mut seen: Vec<String> = recs
        .iter()
        .map(|r| r["input"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut want = inputs.to_vec();
    want.sort();
    assert_eq!(seen, want, "every job exactly once");
    recs
}

fn hosts_used(recs: &[serde_json::Value]) -> Vec<String> {
    let mut h: Vec<String> = recs
        .iter()
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect();
    h.sort();
    h.dedup();
    h
}

#[test]
fn all_three_modes_over_two_hosts_run_every_job_once() {
    let hosts = Hosts::up(2);
    let inputs: Vec<String> = (1..=24).map(|i| (i % 7 + 20).to_string()).collect();
    let uniq: Vec<String> = (0..inputs.len()).map(|i| format!("{i}")).collect();

    // --task: built-in fib on pooled remote workers.
    let before = [hosts.logins("host1"), hosts.logins("host2")];
    let out = cp()
        .args(hosts.cluster("2/host1,2/host2"))
        .args(["--task", "fib", "--json", "-k"])
        .args(&inputs)
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    assert_eq!(recs.len(), inputs.len());
    for (r, i) in recs.iter().zip(&inputs) {
        let n: u64 = i.parse().unwrap();
        let fib = (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
        assert_eq!(r["output"], serde_json::json!(fib), "fib({n})");
        assert!(r["pid"].as_i64().unwrap() > 0);
    }
    assert_eq!(hosts_used(&recs), ["host1", "host2"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("host host1: ") && err.contains("host host2: "),
        "{err}"
    );
    // Connection reuse: both slots of a host share one login (the master connection).
    assert_eq!(
        [hosts.logins("host1"), hosts.logins("host2")],
        [before[0] + 1, before[1] + 1],
        "one ssh login per host"
    );

    // --exec: one process per job on the far side; output grouped per job. The hosts come
    // from a file this time.
    let log = hosts.dir.path().join("exec.log");
    let file = hosts.dir.path().join("hosts.txt");
    std::fs::write(&file, "# build farm\nhost1\n\n1/host2  # the other one\n").unwrap();
    let mut args = hosts.cluster("x");
    args.splice(
        2..4,
        ["--hosts-file".to_string(), file.display().to_string()],
    );
    let out = cp()
        .args(&args)
        .args([
            "--exec",
            "sh -c 'sleep 0.05; echo out-$0; echo err-$0 >&2'",
            "--json",
        ])
        .args(["--joblog", log.to_str().unwrap()])
        .args(&uniq)
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let recs = records_once(&out.stdout, &uniq);
    for r in &recs {
        assert_eq!(
            r["output"],
            format!("out-{}\n", r["input"].as_str().unwrap())
        );
    }
    assert_eq!(hosts_used(&recs), ["host1", "host2"]);
    // The joblog's Host column names the host of each job.
    let joblog = std::fs::read_to_string(&log).unwrap();
    let mut rows = joblog.lines();
    assert!(rows.next().unwrap().starts_with("Seq\tHost\t"));
    let rows: Vec<Vec<&str>> = rows.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), uniq.len());
    for row in &rows {
        assert!(row[1] == "host1" || row[1] == "host2", "{row:?}");
        assert_eq!(row[6], "0");
    }
    assert!(rows.iter().any(|r| r[1] == "host1") && rows.iter().any(|r| r[1] == "host2"));

    // --worker: the user's Node worker with a real IPC channel on the far side.
    if have_node() {
        let w = hosts.dir.path().join("worker.js");
        std::fs::write(
            &w,
            "process.on('message', m => process.send({ pid: process.pid, echo: m }));\n",
        )
        .unwrap();
        let out = cp()
            .args(hosts.cluster("host1,host2"))
            .args(["--worker", &format!("node {}", w.display()), "--json"])
            .args(&uniq)
            .timeout(LONG)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let recs = records_once(&out.stdout, &uniq);
        for r in &recs {
            let input: u64 = r["input"].as_str().unwrap().parse().unwrap();
            assert_eq!(r["output"]["echo"], serde_json::json!(input), "{r}");
            assert_eq!(r["output"]["pid"], r["pid"], "pid is the remote worker's");
        }
    } else {
        panic!("node is needed for the --worker test (.ci/run installs it)");
    }
}

#[test]
fn inputs_and_commands_arrive_literally_on_the_remote_side() {
    let hosts = Hosts::up(1);
    let marker = hosts.dir.path().join("pwned");
    let m = marker.display().to_string();
    let inputs = [
        format!("$(touch {m})"),
        format!("; touch {m}"),
        format!("`touch {m}`"),
        "a  b\tc".to_string(),
        "it's \"quoted\" \\ and *".to_string(),
        "~".to_string(),
    ];
    for mode in [
        &["--exec", "printf '%s\\n'"][..],
        &["--shell", "--exec", "printf '%s\\n' {}"][..],
    ] {
        let out = cp()
            .args(hosts.cluster("host1"))
            .args(mode)
            .arg("-k")
            .args(&inputs)
            .timeout(LONG)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(lines(&out.stdout), inputs, "{mode:?}");
        assert!(
            !marker.exists(),
            "an input was run by a remote shell ({mode:?})"
        );
    }
    // The classic trap: `ssh host sh -c 'exit 7'` returns 0. Exit codes and signals must
    // come back as the job's own.
    let log = hosts.dir.path().join("log");
    let out = cp()
        .args(hosts.cluster("host1"))
        .args([
            "--exec",
            "sh -c 'exit $0'",
            "--joblog",
            log.to_str().unwrap(),
        ])
        .args(["7", "0"])
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one job failed");
    let joblog = std::fs::read_to_string(&log).unwrap();
    let exitvals: Vec<&str> = joblog
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(6).unwrap())
        .collect();
    assert!(
        exitvals.contains(&"7") && exitvals.contains(&"0"),
        "{joblog}"
    );
    assert!(
        text(&out.stderr).contains("exited with code 7"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_host_that_refuses_connections_is_marked_down_and_others_do_the_work() {
    let hosts = Hosts::up(1);
    let inputs: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    let log = hosts.dir.path().join("log");
    // Each job takes 0.3 s, so host1 is still busy when the dead host's third connection
    // attempt (after 0.2 s and 0.4 s of backoff) fails and it is marked down; with instant
    // jobs the run could end before that (seen under load).
    let out = cp()
        .args(hosts.cluster("down,host1"))
        .args([
            "--exec",
            "sh -c 'sleep 0.3; echo \"$0\"'",
            "--json",
            "--joblog",
            log.to_str().unwrap(),
        ])
        .args(&inputs)
        .timeout(LONG)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let recs = records_once(&out.stdout, &inputs);
    assert_eq!(hosts_used(&recs), ["host1"]);
    assert!(recs.iter().all(|r| r["ok"] == true && r["attempts"] == 1));
    assert!(err.contains("host down is down"), "{err}");
    assert!(err.contains("host down: 0 jobs, 0 failed, down"), "{err}");

    // Every host down: a clear error, exit 125, and still each job reported once.
    let out = cp()
        .args(hosts.cluster("down"))
        .args(["--task", "fib", "--json", "1", "2", "3"])
        .timeout(LONG)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(json_lines(&out.stdout).len(), 3);
    assert!(err.contains("all hosts are down"), "{err}");

    // A missing remote binary is one clear error, not a retry loop.
    let out = cp()
        .args(["cluster", "--hosts", "host1", "--ssh", &hosts.ssh()])
        .args([
            "--remote-childproc",
            "/nonexistent/childproc",
            "--exec",
            "true",
            "x",
        ])
        .timeout(LONG)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("remote childproc was not found"), "{err}");
    assert!(!err.contains("reconnecting"), "{err}");
}

#[test]
fn killing_a_host_mid_run_moves_its_jobs_to_the_other_host() {
    let hosts = Hosts::up(2);
    let inputs: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    let mut args = hosts.cluster("host1,host2");
    args.extend(
        ["--json", "--exec", "sh -c 'sleep 0.2; echo $0'"]
            .iter()
            .map(|s| s.to_string()),
    );
    args.extend(inputs.iter().cloned());
    let mut live = Live::childproc(&args);
    // Both hosts have finished a job: now host1 dies, sessions and all.
    live.wait_for(LONG, |l| l.contains("\"host\":\"host1\""));
    hosts.kill("host1");
    let (status, stdout, stderr) = live.finish(LONG);
    let err = text(&stderr);
    assert_eq!(status.code(), Some(0), "{err}");
    let recs = records_once(&stdout, &inputs);
    assert!(recs.iter().all(|r| r["ok"] == true), "{err}");
    let on_host2 = recs.iter().filter(|r| r["host"] == "host2").count();
    assert!(on_host2 > inputs.len() / 2, "host2 ran {on_host2}: {err}");
    assert!(err.contains("host host1 is down"), "{err}");
}

#[test]
fn ctrl_c_leaves_no_remote_process_behind() {
    let hosts = Hosts::up(2);
    let _sweep = Sweep::new(&[&["sleep", "987.25"]]);
    // --exec: the remote jobs.
    let mut args = hosts.cluster("host1,host2");
    args.extend(["--json", "--exec", "sleep", "987.25", "987.25"].map(String::from));
    let live = Live::childproc(&args);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "987.25"]).len() < 2 {
        assert!(t.elapsed() < LONG, "the remote jobs never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let remote_pids = pids_with_cmdline(&["sleep", "987.25"]);
    live.signal(Signal::SIGINT);
    let (status, stdout, stderr) = live.finish(LONG);
    assert_eq!(status.code(), Some(130), "{}", text(&stderr));
    // Both killed jobs are reported, with the pids they had over there.
    let recs = json_lines(&stdout);
    assert_eq!(recs.len(), 2, "{}", text(&stdout));
    for r in &recs {
        assert_eq!(r["error"], "killed: the run was stopped");
        let pid = r["pid"].as_i64().unwrap() as i32;
        assert!(remote_pids.contains(&pid), "{r} vs {remote_pids:?}");
    }
    assert_none_left(
        &["sleep", "987.25"],
        Duration::from_secs(20),
        "remote --exec jobs",
    );

    // --task: the remote relay and its pooled worker.
    let remote = bin().display().to_string();
    let mut args = hosts.cluster("host1,host2");
    args.extend(["--task", "spin", "600000", "600000"].map(String::from));
    let live = Live::childproc(&args);
    let t = Instant::now();
    while pids_with_cmdline(&[&remote, "cluster-worker"]).len() < 2 {
        assert!(t.elapsed() < LONG, "the remote workers never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    live.signal(Signal::SIGINT);
    let (status, _, stderr) = live.finish(LONG);
    assert_eq!(status.code(), Some(130), "{}", text(&stderr));
    assert_none_left(
        &[&remote, "cluster-worker"],
        Duration::from_secs(20),
        "remote workers",
    );
}

#[test]
fn sigkill_of_the_primary_leaves_no_remote_job_behind() {
    // SIGKILLed, the primary does nothing itself: its ssh clients die with it (death signal and
    // guard), and each remote side, seeing its input end, kills the groups it started.
    let hosts = Hosts::up(2);
    let _sweep = Sweep::new(&[&["sleep", "987.31"], &["sleep", "987.32"]]);
    let mut args = hosts.cluster("host1,host2");
    args.extend(
        [
            "--shell",
            "--exec",
            "sleep 987.31 & sleep {}; wait",
            "987.32",
            "987.32",
        ]
        .map(String::from),
    );
    let live = Live::childproc(&args);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "987.32"]).len() < 2
        || pids_with_cmdline(&["sleep", "987.31"]).len() < 2
    {
        assert!(t.elapsed() < LONG, "the remote jobs never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    live.signal(Signal::SIGKILL);
    let _ = live.finish(LONG);
    for m in ["987.31", "987.32"] {
        assert_none_left(&["sleep", m], Duration::from_secs(20), "remote job");
    }
}

#[test]
fn job_timeouts_and_retries_apply_on_remote_hosts() {
    let hosts = Hosts::up(2);
    let _sweep = Sweep::new(&[&["sleep", "987.5"]]);
    // --exec: the far side enforces the timeout; the retry runs it again; the quick job is fine.
    let out = cp()
        .args(hosts.cluster("host1,host2"))
        .args([
            "--job-timeout",
            "300ms",
            "--retries",
            "1",
            "--json",
            "--exec",
            "sleep",
        ])
        .args(["987.5", "0.01"])
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    let slow = recs.iter().find(|r| r["input"] == "987.5").unwrap();
    assert_eq!(slow["ok"], false);
    assert_eq!(slow["attempts"], 2);
    assert!(
        slow["error"].as_str().unwrap().contains("timed out"),
        "{slow}"
    );
    assert!(recs.iter().any(|r| r["input"] == "0.01" && r["ok"] == true));
    assert_none_left(
        &["sleep", "987.5"],
        Duration::from_secs(10),
        "timed-out remote job",
    );

    // --task: the clock starts once the remote worker is up, not while ssh logs in.
    let out = cp()
        .args(hosts.cluster("host1,host2"))
        .args([
            "--job-timeout",
            "2s",
            "--json",
            "--task",
            "spin",
            "600000",
            "1",
        ])
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let recs = json_lines(&out.stdout);
    let quick = recs.iter().find(|r| r["input"] == "1").unwrap();
    assert_eq!(quick["ok"], true, "{quick}");
    let slow = recs.iter().find(|r| r["input"] == "600000").unwrap();
    assert!(
        slow["error"].as_str().unwrap().contains("timed out"),
        "{slow}"
    );
}

#[test]
fn a_timeout_of_the_median_travels_with_each_remote_job() {
    let hosts = Hosts::up(1);
    let _sweep = Sweep::new(&[&["sleep", "986.5"]]);
    // One slot: three quick successes set the median; the slow job's limit goes with it.
    let t = Instant::now();
    let out = cp()
        .args(hosts.cluster("host1"))
        .args(["--job-timeout", "300%", "--json", "--exec", "sleep"])
        .args(["0.2", "0.2", "0.2", "986.5", "0.2"])
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    let recs = json_lines(&out.stdout);
    let slow = recs.iter().find(|r| r["input"] == "986.5").unwrap();
    let err = slow["error"].as_str().unwrap();
    assert!(err.contains("(300% of the median "), "{slow}");
    assert_eq!(recs.iter().filter(|r| r["ok"] == true).count(), 4);
    assert_none_left(
        &["sleep", "986.5"],
        Duration::from_secs(10),
        "timed-out remote job",
    );
}

#[test]
fn a_remote_worker_is_stopped_with_the_kill_signal() {
    // On the far side too: --kill-signal first, SIGKILL only after --kill-after.
    let hosts = Hosts::up(1);
    let dir = hosts.dir.path();
    let js = dir.join("trap.js");
    std::fs::write(
        &js,
        r#"
const fs = require('fs');
const dir = process.argv[2];
process.on('SIGINT', () => {
  fs.writeFileSync(`${dir}/got-SIGINT`, '');
  setTimeout(() => fs.writeFileSync(`${dir}/alive-SIGINT`, ''), 300);
});
process.on('message', () => {});
"#,
    )
    .unwrap();
    let out = cp()
        .args(hosts.cluster("host1"))
        .args([
            "--job-timeout",
            "1s",
            "--kill-signal",
            "INT",
            "--kill-after",
            "2s",
        ])
        .args([
            "--worker",
            &format!("node {} {}", js.display(), dir.display()),
        ])
        .arg("hang")
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // The primary is done once ssh has ended; the far side stops its worker on its own.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("alive-SIGINT").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.join("got-SIGINT").exists(), "{}", text(&out.stderr));
    assert!(
        dir.join("alive-SIGINT").exists(),
        "no SIGKILL with the kill signal"
    );
}

#[test]
fn gnu_input_sources_and_replacement_strings_work_over_hosts() {
    // The argv is built here and travels as data: the far side gets the same arguments a
    // local run gets, whatever the values hold.
    let hosts = Hosts::up(2);
    let marker = hosts.dir.path().join("pwned");
    let m = marker.display().to_string();
    let cases: Vec<Vec<String>> = vec![
        [
            "--exec",
            "printf '%s|' {2} {1/} {1//} {1.} {1/.}",
            ":::",
            "d.x/f.tar.gz",
            "q",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([":::".into(), format!("$(touch {m})"), "a  b".into()])
        .collect(),
        [
            "--shell",
            "--exec",
            "printf '[%s]' {} {#}",
            ":::",
            "x",
            "it's",
            ":::+",
            "1",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        [
            "--colsep",
            ",",
            "--exec",
            "printf '%s+' {3} {1}",
            ":::",
            "a,b,c",
            "d,e,f",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    ];
    for case in cases {
        let local = cp()
            .args(["cluster", "--no-progress", "-k"])
            .args(&case)
            .timeout(LONG)
            .output()
            .unwrap();
        assert_eq!(local.status.code(), Some(0), "{}", text(&local.stderr));
        let remote = cp()
            .args(hosts.cluster("host1,host2"))
            .arg("-k")
            .args(&case)
            .timeout(LONG)
            .output()
            .unwrap();
        assert_eq!(remote.status.code(), Some(0), "{}", text(&remote.stderr));
        assert!(!local.stdout.is_empty(), "{case:?}");
        assert_eq!(text(&remote.stdout), text(&local.stdout), "{case:?}");
    }
    assert!(!marker.exists(), "a value reached a shell");
    // {%} is the slot's number there too: slots 1 and 2, one per host.
    let out = cp()
        .args(hosts.cluster("host1,host2"))
        .args([
            "--exec",
            "sh -c 'sleep 0.2; echo $0' {%}",
            ":::",
            "a",
            "b",
            "c",
            "d",
        ])
        .timeout(LONG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut slots = lines(&out.stdout);
    slots.sort();
    slots.dedup();
    assert!(slots.iter().all(|s| s == "1" || s == "2"), "{slots:?}");
}

/// Every file under `root` by relative path, with its contents.
fn files_under(root: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let content = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), content);
            }
        }
    }
    out
}

#[test]
fn tag_results_and_line_buffer_work_over_hosts() {
    let hosts = Hosts::up(2);
    let dir = tempfile::tempdir().unwrap();
    let template = "echo out {}; echo err {} >&2; printf 'half'";
    let inputs = [":::", "a", "b/c", "d e", ":::", "1", "2"];
    let run = |remote: bool, opts: &[&str]| {
        let mut c = cp();
        c.current_dir(dir.path());
        if remote {
            c.args(hosts.cluster("2/host1,2/host2"));
        } else {
            c.args(["cluster", "--no-progress"]);
        }
        let out = c
            .args(opts)
            .args(["--shell", "--exec", template])
            .args(inputs)
            .timeout(LONG)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    let jobs_stderr = |o: &std::process::Output| -> Vec<String> {
        let mut l: Vec<String> = text(&o.stderr)
            .split("childproc: ")
            .next()
            .unwrap_or("")
            .lines()
            .map(String::from)
            .collect();
        l.sort();
        l
    };

    // --tag, grouped and line by line: exactly what a local run prints.
    for opts in [
        &["-k", "--tag"][..],
        &["-k", "--tagstring", "<{2}>", "--lb"][..],
    ] {
        let (here, there) = (run(false, opts), run(true, opts));
        assert_eq!(text(&there.stdout), text(&here.stdout), "{opts:?}");
        assert!(text(&there.stdout).contains("\tout "), "{opts:?}");
        assert_eq!(jobs_stderr(&there), jobs_stderr(&here), "{opts:?}");
    }

    // --results: the files are written on the primary, the same as a local run's; the
    // records name the host.
    run(false, &["--results", "here"]);
    run(true, &["--results", "there"]);
    let (here, there) = (
        files_under(&dir.path().join("here")),
        files_under(&dir.path().join("there")),
    );
    assert_eq!(here.len(), 6 * 5, "{:?}", here.keys());
    assert_eq!(
        here.keys().collect::<Vec<_>>(),
        there.keys().collect::<Vec<_>>()
    );
    for (p, content) in &here {
        if p.ends_with("job.json") {
            let (mut a, mut b): (serde_json::Value, serde_json::Value) = (
                serde_json::from_slice(content).unwrap(),
                serde_json::from_slice(&there[p]).unwrap(),
            );
            let host = b["host"].as_str().unwrap().to_string();
            assert!(host == "host1" || host == "host2", "{host}");
            for k in ["pid", "durationMs", "worker", "host"] {
                a[k] = serde_json::Value::Null;
                b[k] = serde_json::Value::Null;
            }
            assert_eq!(a, b, "{}", p.display());
        } else {
            assert_eq!(text(&there[p]), text(content), "{}", p.display());
        }
    }

    // --line-buffer: a remote job's lines arrive while it still runs (streamed output).
    let go = dir.path().join("go");
    let waits = format!(
        "echo {{}} start; while [ ! -e {} ]; do sleep 0.01; done; echo {{}} end",
        go.display()
    );
    let mut args = hosts.cluster("host1");
    args.extend(["--lb", "--shell", "--exec", &waits, ":::", "a"].map(String::from));
    let mut live = Live::childproc(&args);
    live.wait_for_line("a start", LONG);
    std::fs::write(&go, "").unwrap();
    live.wait_for_line("a end", LONG);
    let (st, _, err) = live.finish(LONG);
    assert!(st.success(), "{}", text(&err));
}
