//! `childproc serve`: real servers (Python, Perl, sh) on real sockets on 127.0.0.1.
//! Every test binds port 0 and reads the real port from childproc's "listening on" line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

const PY: &str = "tests/fixtures/serve/http_server.py";
const PERL: &str = "tests/fixtures/serve/line_server.pl";
const LONG: Duration = Duration::from_secs(60);

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// A running `childproc serve` whose stderr lines are collected as they come.
struct Serve {
    child: Child,
    err: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    lines
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = cp_std()
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start childproc serve");
        let err = collect(child.stderr.take().unwrap());
        let out = collect(child.stdout.take().unwrap());
        Serve { child, err, out }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The first stderr line that contains `needle`, waiting for it.
    fn wait_err(&self, needle: &str) -> String {
        self.wait_count(needle, 1).pop().unwrap()
    }

    /// Wait until `n` lines of stderr or stdout contain `needle`; those lines.
    fn wait_count(&self, needle: &str, n: usize) -> Vec<String> {
        let t = Instant::now();
        loop {
            let err = self.err.lock().unwrap().clone();
            let out = self.out.lock().unwrap().clone();
            let found: Vec<String> = err
                .into_iter()
                .chain(out)
                .filter(|l| l.contains(needle))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                t.elapsed() < LONG,
                "no {n}× {needle:?} on stderr: {:?}",
                self.err.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The port of the first `--listen` socket.
    fn port(&self) -> u16 {
        let line = self.wait_err("listening on 127.0.0.1:");
        let rest = line.split("127.0.0.1:").nth(1).unwrap();
        rest.split(' ').next().unwrap().parse().unwrap()
    }

    fn err_text(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let st = wait_deadline(&mut self.child, LONG, "childproc serve");
        std::thread::sleep(Duration::from_millis(50)); // the readers catch up
        (st.code(), self.err_text())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP GET on a new connection; the body of a 200 answer.
fn get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(LONG)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    if !(resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200")) {
        return Err(format!("answer: {resp:?}"));
    }
    Ok(resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// One line request to the Perl server; its answer.
fn ask_line(port: u16, line: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(LONG)).unwrap();
    writeln!(s, "{line}").map_err(|e| format!("write: {e}"))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    Ok(resp.trim_end().to_string())
}

/// The worker id (`NODE_UNIQUE_ID`) a server put first in its answer.
fn id_of(answer: &str) -> u32 {
    answer.split(' ').next().unwrap().parse().unwrap()
}

fn events_of(path: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read(path).unwrap_or_default())
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("childproc-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn python_workers_answer_2000_requests_and_both_are_used() {
    let py = fixture(PY);
    let s = Serve::start(&["-w", "2", "-l", "127.0.0.1:0", "--", "python3", &py]);
    let port = s.port();
    s.wait_count("serving", 2);
    let mut by_id: BTreeMap<u32, usize> = BTreeMap::new();
    for i in 0..2000 {
        let body = get(port, "/").unwrap_or_else(|e| panic!("request {i}: {e}"));
        *by_id.entry(id_of(&body)).or_default() += 1;
    }
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [1, 2],
        "{by_id:?}"
    );
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn perl_workers_answer_line_requests_on_a_blocking_accept_loop() {
    let pl = fixture(PERL);
    let s = Serve::start(&["-w", "2", "-l", "127.0.0.1:0", "--", "perl", &pl]);
    let port = s.port();
    s.wait_count("serving", 2);
    let mut ids = BTreeSet::new();
    for i in 0..500 {
        let a = ask_line(port, &format!("q{i}")).unwrap();
        assert!(a.ends_with(&format!(" q{i}")), "{a:?}");
        ids.insert(id_of(&a));
    }
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), [1, 2]);
    s.signal(Signal::SIGINT);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn workers_get_socket_activation_the_channel_and_their_ids() {
    let script = r#"[ "$LISTEN_PID" = "$$" ] && echo "fds=$LISTEN_FDS names=$LISTEN_FDNAMES chan=$NODE_CHANNEL_FD mode=$NODE_CHANNEL_SERIALIZATION_MODE id=$NODE_UNIQUE_ID"; exec sleep 30"#;
    let s = Serve::start(&[
        "-w",
        "2",
        "-l",
        "web=127.0.0.1:0",
        "-l",
        "127.0.0.1:0",
        "--",
        "sh",
        "-c",
        script,
    ]);
    s.wait_count("started", 2);
    let t = Instant::now();
    while s.out.lock().unwrap().len() < 2 && t.elapsed() < LONG {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = s.out.lock().unwrap().clone();
    out.sort();
    assert_eq!(out.len(), 2, "{out:?}");
    for (line, id) in out.iter().zip([1, 2]) {
        let want = format!("fds=2 names=web:unknown chan=5 mode=json id={id}");
        assert!(line.starts_with(&format!("[{id} ")), "prefix: {line:?}");
        assert!(line.ends_with(&want), "{line:?} (want {want:?})");
    }
    assert!(s.err_text().contains("(fd 4)"), "{}", s.err_text());
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_worker_that_crashes_every_25th_request_is_restarted_and_the_rest_are_answered() {
    let py = fixture(PY);
    let events = temp("crash.jsonl");
    let ev = events.to_string_lossy();
    let s = Serve::start(&[
        "-w",
        "2",
        "-l",
        "127.0.0.1:0",
        "--max-restarts",
        "1000",
        "--events",
        &ev,
        "-e",
        "CRASH_EVERY=25",
        "--",
        "python3",
        &py,
    ]);
    let port = s.port();
    s.wait_count("serving", 2);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..300 {
        match get(port, "/") {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    // Each crash loses the request that caused it, and nothing else.
    assert!(
        (300 / 25 - 2..=300 / 25 + 2).contains(&failed),
        "{failed} failed"
    );
    assert_eq!(ok + failed, 300);
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
    let evs = events_of(&events);
    let crashes = evs
        .iter()
        .filter(|e| e["event"] == "exited" && e["code"] == 3)
        .count();
    let restarts = evs.iter().filter(|e| e["event"] == "restarting").count();
    assert_eq!(crashes, failed, "crashes vs failed requests: {err}");
    // The last crash may race with the SIGTERM (then it is not restarted).
    assert!(restarts == crashes || restarts + 1 == crashes, "{err}");
}

#[test]
fn a_crash_loop_is_given_up_and_ends_with_125() {
    let t = Instant::now();
    let s = Serve::start(&["-w", "2", "--max-restarts", "3", "--", "sh", "-c", "exit 7"]);
    let (code, err) = s.wait();
    assert_eq!(code, Some(125), "{err}");
    assert_eq!(err.matches("given up: it died 4 times").count(), 2, "{err}");
    assert!(err.contains("--max-restarts 3"), "{err}");
    assert_eq!(err.matches("exited with code 7").count(), 8, "{err}");
    assert!(err.ends_with("stopped: every slot was given up"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "backoff took {:?}",
        t.elapsed()
    );
}

#[test]
fn sighup_reloads_every_worker_under_load_without_losing_a_request() {
    let py = fixture(PY);
    let events = temp("reload.jsonl");
    let ev = events.to_string_lossy();
    let s = Serve::start(&[
        "-w",
        "2",
        "-l",
        "127.0.0.1:0",
        "--events",
        &ev,
        "--",
        "python3",
        &py,
    ]);
    let port = s.port();
    s.wait_count("serving", 2);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let ids = Arc::new(Mutex::new(BTreeSet::new()));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, done, failures, ids) =
                (stop.clone(), done.clone(), failures.clone(), ids.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match get(port, "/") {
                        Ok(b) => {
                            ids.lock().unwrap().insert(id_of(&b));
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let wait_done = |n: usize| {
        let t = Instant::now();
        while done.load(Ordering::SeqCst) < n {
            assert!(
                t.elapsed() < LONG,
                "load stalled at {}",
                done.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_done(300);
    for round in 1..=2 {
        s.signal(Signal::SIGHUP);
        s.wait_count("reload done: 2 replaced, 0 kept", round);
        wait_done(done.load(Ordering::SeqCst) + 300);
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} failed: {:?}",
        failures.len(),
        done.load(Ordering::SeqCst),
        &failures[..failures.len().min(5)]
    );
    let ids = ids.lock().unwrap().clone();
    // Served by the first workers and by the last replacements (which of a pair takes a
    // connection is the kernel's choice).
    assert!(ids.contains(&1) || ids.contains(&2), "{ids:?}");
    assert!(ids.contains(&5) || ids.contains(&6), "{ids:?}");
    assert!(ids.iter().all(|&i| (1..=6).contains(&i)), "{ids:?}");
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
    let evs = events_of(&events);
    let kinds: Vec<&str> = evs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "reload-started").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "reload-done").count(), 2);
    assert_eq!(kinds.last(), Some(&"stopped"));
}

#[test]
fn sigterm_lets_an_in_flight_slow_request_finish_and_exits_0() {
    let py = fixture(PY);
    let s = Serve::start(&["-w", "1", "-l", "127.0.0.1:0", "--", "python3", &py]);
    let port = s.port();
    s.wait_count("serving", 1);
    let slow = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    s.wait_err("slow request started");
    let t = Instant::now();
    s.signal(Signal::SIGTERM);
    assert_eq!(slow.join().unwrap().map(|b| id_of(&b)), Ok(1));
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "it waited for the request"
    );
    assert!(err.contains("stopped on SIGTERM"), "{err}");
}

#[test]
fn a_worker_that_ignores_the_stop_signal_is_killed_after_the_grace_and_the_exit_is_128_plus_n() {
    let s = Serve::start(&[
        "-w",
        "2",
        "--kill-after",
        "300ms",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo up; while :; do sleep 0.1; done",
    ]);
    s.wait_count("started", 2);
    let t = Instant::now();
    while s.out.lock().unwrap().len() < 2 && t.elapsed() < LONG {
        std::thread::sleep(Duration::from_millis(10));
    }
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(128 + 15), "{err}");
    assert!(
        err.contains("2 worker(s) had to be killed with SIGKILL"),
        "{err}"
    );
    assert_eq!(err.matches("was killed by SIGKILL").count(), 2, "{err}");
}

#[test]
fn a_sigkilled_childproc_leaves_no_worker_behind() {
    let events = temp("kill9.jsonl");
    let ev = events.to_string_lossy();
    let s = Serve::start(&[
        "-w",
        "2",
        "--events",
        &ev,
        "--",
        "sh",
        "-c",
        "sleep 1234.5 & wait",
    ]);
    s.wait_count("started", 2);
    let _sweep = Sweep::new(&[&["sleep", "1234.5"]]);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "1234.5"]).len() < 2 && t.elapsed() < LONG {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids: Vec<i32> = events_of(&events)
        .iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["pid"].as_i64().unwrap() as i32)
        .collect();
    assert_eq!(pids.len(), 2);
    s.signal(Signal::SIGKILL);
    for p in pids {
        assert_gone(p, Duration::from_secs(10), "a worker");
    }
    assert_none_left(
        &["sleep", "1234.5"],
        Duration::from_secs(10),
        "a worker's child",
    );
}

#[test]
fn readiness_by_notify_socket_and_by_ipc_message() {
    let py = fixture(PY);
    let s = Serve::start(&[
        "-w",
        "1",
        "-l",
        "127.0.0.1:0",
        "--ready",
        "notify",
        "-e",
        "NOTIFY=1",
        "--",
        "python3",
        &py,
    ]);
    assert!(s.wait_err("ready (").contains("ready (notify)"));
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));

    let s = Serve::start(&[
        "-w",
        "1",
        "--",
        "sh",
        "-c",
        r#"sleep 0.2; printf '"ready"\n' >&3; exec sleep 30"#,
    ]);
    let t = Instant::now();
    assert!(s.wait_err("ready (").contains("ready (message)"));
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "not before the message"
    );
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
}

#[test]
fn a_unix_socket_listener_serves_and_is_removed_at_the_end() {
    let py = fixture(PY);
    let path = temp("web.sock");
    let _ = std::fs::remove_file(&path);
    let addr = format!("unix:{}", path.display());
    let s = Serve::start(&["-w", "1", "-l", &addr, "--", "python3", &py]);
    s.wait_count("serving", 1);
    let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
    assert!(!path.exists(), "the socket file is removed");
}

/// A marker program: proves that nothing was started when it never runs.
fn marker() -> (PathBuf, String) {
    let m = temp(&format!("marker-{}", rand_suffix()));
    let _ = std::fs::remove_file(&m);
    let script = format!("touch {}; sleep 5", m.display());
    (m, script)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn bad_listen_values_are_one_line_and_125_with_nothing_started() {
    for bad in [
        "",
        "abc",
        "70000",
        "127.0.0.1:",
        "::1:80",
        "[::1]",
        "unix:",
        "[zz]:80",
        "1.2.3.4:x",
    ] {
        let (m, script) = marker();
        let out = cp()
            .args([
                "serve", "-w", "1", "--listen", bad, "--", "sh", "-c", &script,
            ])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let line = assert_one_line_error(&out, 125);
        assert!(line.contains("--listen"), "{bad:?}: {line}");
        assert!(!m.exists(), "{bad:?}: a worker was started");
    }
    for (opt, val) in [
        ("--workers", "0"),
        ("--stop-signal", "BOGUS"),
        ("--kill-after", "x"),
        ("--ready", "never"),
        ("--max-restarts", "-1"),
        ("--events", "/nonexistent-dir/events.jsonl"),
        ("--sched", "random"),
    ] {
        let (m, script) = marker();
        let out = cp()
            .args(["serve", opt, val, "--", "sh", "-c", &script])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        assert_one_line_error(&out, 125);
        assert!(!m.exists(), "{opt} {val}: a worker was started");
    }
}

#[test]
fn an_address_in_use_is_one_line_and_125_with_nothing_started() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (m, script) = marker();
    let addr = format!("127.0.0.1:{port}");
    let out = cp()
        .args([
            "serve",
            "-w",
            "2",
            "-l",
            "127.0.0.1:0",
            "-l",
            &addr,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let line = assert_one_line_error(&out, 125);
    assert!(
        line.contains(&addr) && line.to_lowercase().contains("in use"),
        "{line}"
    );
    assert!(!m.exists(), "a worker was started");
}

#[test]
fn a_missing_program_is_127_before_any_worker_runs() {
    let out = cp()
        .args([
            "serve",
            "-w",
            "2",
            "-l",
            "127.0.0.1:0",
            "--",
            "no-such-server-xyz",
        ])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no-such-server-xyz"));
}

// ------------------------------------------------------------------ Node's cluster protocol

const NODE_APP: &str = "tests/fixtures/serve/cluster_app.js";

/// `serve` of the unmodified Node cluster app, its port chosen by the kernel (`PORT=0`: every
/// worker asks for the same address and gets the one socket childproc bound for the first).
fn node_serve(extra: &[&str]) -> (Serve, u16) {
    let app = fixture(NODE_APP);
    let mut args = vec!["-w", "2", "-e", "PORT=0"];
    args.extend_from_slice(extra);
    args.extend(["--", app.as_str()]);
    let s = Serve::start(&args);
    s.wait_count("ready (listening)", 2);
    let port = s.port();
    (s, port)
}

#[test]
fn an_unmodified_node_cluster_app_answers_2000_requests_on_both_workers_in_rr_mode() {
    node_answers_2000_requests("rr");
}

#[test]
fn an_unmodified_node_cluster_app_answers_2000_requests_on_both_workers_in_shared_mode() {
    node_answers_2000_requests("none");
}

fn node_answers_2000_requests(sched: &str) {
    let (s, port) = node_serve(&["--sched", sched]);
    let mut by_id: BTreeMap<u32, usize> = BTreeMap::new();
    for i in 0..2000 {
        let body = get(port, "/").unwrap_or_else(|e| panic!("request {i}: {e}"));
        *by_id.entry(id_of(&body)).or_default() += 1;
    }
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [1, 2],
        "{by_id:?}"
    );
    assert_eq!(s.wait_count("listening on 127.0.0.1:", 2).len(), 2);
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_node_worker_that_throws_every_50th_request_is_restarted() {
    let (s, port) = node_serve(&["-e", "THROW_EVERY=50", "--max-restarts", "100"]);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..400 {
        match get(port, "/") {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    // rr mode: each throw loses the request that caused it and nothing else.
    assert!(ok >= 400 - 400 / 50 - 2, "{ok} answered, {failed} failed");
    assert!(failed >= 1, "some requests hit a throw");
    let restarts = s.wait_count("restarting in", 1).len();
    assert!(restarts >= 1);
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
}

#[test]
fn node_workers_reload_under_load_without_losing_a_request_in_rr_mode() {
    node_reload_under_load("rr");
}

#[test]
fn node_workers_reload_under_load_without_losing_a_request_in_shared_mode() {
    node_reload_under_load("none");
}

fn node_reload_under_load(sched: &str) {
    let (s, port) = node_serve(&["--sched", sched]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Err(e) = get(port, "/") {
                        failures.lock().unwrap().push(e);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let wait_done = |n: usize| {
        let t = Instant::now();
        while done.load(Ordering::SeqCst) < n {
            assert!(t.elapsed() < LONG, "load stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_done(300);
    s.signal(Signal::SIGHUP);
    s.wait_err("reload done: 2 replaced, 0 kept");
    wait_done(done.load(Ordering::SeqCst) + 300);
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} failed: {:?}",
        failures.len(),
        done.load(Ordering::SeqCst),
        &failures[..failures.len().min(5)]
    );
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
}

#[test]
fn sigterm_disconnects_node_workers_and_lets_a_slow_request_finish() {
    let (s, port) = node_serve(&[]);
    let slow = std::thread::spawn(move || get(port, "/slow?ms=1500"));
    s.wait_err("slow request started");
    s.signal(Signal::SIGTERM);
    assert!(slow.join().unwrap().is_ok());
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("every worker stopped within the grace period"),
        "{err}"
    );
}

#[test]
fn a_node_listen_on_a_taken_port_gets_eaddrinuse() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let app = fixture(NODE_APP);
    let env = format!("PORT={port}");
    let s = Serve::start(&["-w", "1", "--max-restarts", "1", "-e", &env, "--", &app]);
    let (code, err) = s.wait();
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains(&format!("listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("EADDRINUSE"), "Node's own error: {err}");
    drop(taken);
}

#[test]
fn sigusr2_prints_a_status_table_and_rr_counts_the_connections_handed_out() {
    let (s, port) = node_serve(&["--sched", "rr"]);
    for _ in 0..10 {
        get(port, "/").unwrap();
    }
    s.signal(Signal::SIGUSR2);
    let header = s.wait_err("status: 2 worker(s)");
    assert!(header.contains("0 slot(s) given up"), "{header}");
    let rows = s.wait_count("  ready ", 2);
    let handed: u64 = rows
        .iter()
        .map(|r| r.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(handed, 10, "{rows:?}");
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
}

#[test]
fn the_prefix_template_and_no_prefix() {
    let s = Serve::start(&[
        "-w",
        "1",
        "--prefix",
        "<{slot}:{id}:{pid}> ",
        "--",
        "sh",
        "-c",
        "printf 'one\\ntwo'; sleep 0.1; echo ' halves'; echo err >&2; exec sleep 30",
    ]);
    let pid = s
        .wait_err("started")
        .split("pid ")
        .nth(1)
        .unwrap()
        .trim_end_matches(") started")
        .to_string();
    s.wait_count(" halves", 1);
    s.wait_count("<1:1:", 3);
    let out = s.out.lock().unwrap().clone();
    assert_eq!(
        out,
        [
            format!("<1:1:{pid}> one"),
            format!("<1:1:{pid}> two halves")
        ],
        "never split mid-line"
    );
    assert!(s.err_text().contains(&format!("<1:1:{pid}> err")));
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));

    let s = Serve::start(&[
        "-w",
        "1",
        "--no-prefix",
        "--",
        "sh",
        "-c",
        "echo raw; exec sleep 30",
    ]);
    s.wait_count("raw", 1);
    assert_eq!(s.out.lock().unwrap().clone(), ["raw"]);
    s.signal(Signal::SIGTERM);
    assert_eq!(s.wait().0, Some(0));
}

#[test]
fn a_replacement_that_is_never_ready_is_stopped_and_the_old_worker_kept() {
    let flag = temp(&format!("flag-{}", rand_suffix()));
    let script = format!(
        r#"if [ -e {f} ]; then exec sleep 30; fi; touch {f}; printf '"ready"\n' >&3; exec sleep 30"#,
        f = flag.display()
    );
    let s = Serve::start(&[
        "-w",
        "1",
        "--ready",
        "message",
        "--ready-timeout",
        "500ms",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    s.wait_err("ready (message)");
    s.signal(Signal::SIGHUP);
    s.wait_err("reload done: 0 replaced, 1 kept");
    let err = s.err_text();
    assert!(err.contains("was not ready within 500ms"), "{err}");
    // The reload is done once the replacement is gone; the old worker still runs.
    let gone = err
        .find("worker 2 (slot 1, pid")
        .and_then(|_| err.find("killed by SIGTERM"));
    assert!(gone.unwrap() < err.find("reload done").unwrap(), "{err}");
    assert_eq!(err.matches("killed by").count(), 1, "{err}");
    s.signal(Signal::SIGTERM);
    let (code, err) = s.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("worker 1 (slot 1"), "{err}");
    let _ = std::fs::remove_file(flag);
}
