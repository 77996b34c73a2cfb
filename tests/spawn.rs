//! What only `childproc spawn` has: live stdio. Inherited stdio by default, --prefix, --json
//! events, --stdout/--stderr/--merge, long lines in pieces with bounded memory, stdin and output
//! streamed both ways, output seen while the child still runs, a full stdout, the guard's trust
//! boundary, and the terminal (Ctrl-C once, Ctrl-Z and fg). What spawn shares with exec and
//! execfile is in the engine suite (`tests/engine/`), run for each of them.

use std::io::Read;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const SECS10: Duration = Duration::from_secs(10);
const SECS30: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- inherited stdio

#[test]
fn by_default_the_child_inherits_childprocs_stdio() {
    let i = tempfile::NamedTempFile::new().unwrap();
    let o = tempfile::NamedTempFile::new().unwrap();
    let e = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(i.path(), "input\n").unwrap();
    let mut child = cp_std()
        .args([
            "spawn",
            "sh",
            "-c",
            "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; read x; echo $x; echo to-err >&2",
        ])
        .stdin(std::fs::File::open(i.path()).unwrap())
        .stdout(o.reopen().unwrap())
        .stderr(e.reopen().unwrap())
        .spawn()
        .unwrap();
    let st = wait_deadline(&mut child, SECS10, "spawn");
    assert_eq!(st.code(), Some(0));
    let want = format!(
        "{}\n{}\n{}\ninput\n",
        i.path().display(),
        o.path().display(),
        e.path().display()
    );
    assert_eq!(
        std::fs::read_to_string(o.path()).unwrap(),
        want,
        "the very same files"
    );
    assert_eq!(std::fs::read_to_string(e.path()).unwrap(), "to-err\n");
}

#[test]
fn in_the_piped_modes_stdin_is_still_inherited() {
    for mode in [&["--prefix", "p:"][..], &["--json"]] {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .args([
                "sh",
                "-c",
                "read x; echo \"got $x\"; cat >/dev/null; echo eof",
            ])
            .write_stdin("line\nmore\n")
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let s = text(&out.stdout);
        assert!(s.contains("got line") && s.contains("eof"), "{mode:?}: {s}");
    }
}

// ---------------------------------------------------------------- stdin

#[test]
fn stdin_passes_through_fifty_megabytes_both_ways() {
    let len: u64 = 50 << 20;
    let mut child = cp_std()
        .args(["spawn", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                if t.elapsed() > Duration::from_secs(60) {
                    for p in descendants(pid) {
                        signal(p, Signal::SIGKILL);
                    }
                    signal(pid, Signal::SIGKILL);
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || write_pattern(stdin, len));
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut want = vec![0u8; 1 << 16];
    let mut off = 0u64;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        fill_pattern(&mut want[..n], off);
        assert!(buf[..n] == want[..n], "bytes differ near offset {off}");
        off += n as u64;
    }
    finished.store(true, Ordering::SeqCst);
    assert!(!watchdog.join().unwrap(), "took longer than 60 s");
    writer.join().unwrap().unwrap();
    assert_eq!(off, len, "all bytes came back");
    let mut err = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(err.is_empty(), "{}", text(&err));
}

#[test]
fn eof_reaches_the_child_live() {
    let mut live = Live::childproc([
        "spawn",
        "sh",
        "-c",
        "while read x; do echo \"got:$x\"; done; echo eof",
    ]);
    live.write(b"a\n");
    live.wait_for_line("got:a", SECS10);
    live.write(b"b\n");
    live.wait_for_line("got:b", SECS10);
    live.close_stdin();
    live.wait_for_line("eof", SECS10);
    let (st, _, err) = live.finish(SECS10);
    assert_eq!(st.code(), Some(0));
    assert!(err.is_empty(), "{}", text(&err));
}

// ---------------------------------------------------------------- big output

const N: u64 = 1_400_000; // `seq 1 1400000` is about 10 MB

#[test]
fn ten_megabytes_on_each_stream_in_either_order_prefixed() {
    let mut want = String::new();
    for i in 1..=N {
        want.push_str("> ");
        want.push_str(&i.to_string());
        want.push('\n');
    }
    for script in [
        format!("seq 1 {N} >&2; seq 1 {N}"),
        format!("seq 1 {N}; seq 1 {N} >&2"),
    ] {
        let t = Instant::now();
        let out = cp()
            .args(["spawn", "--prefix", "> ", "sh", "-c", &script])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stdout == want.as_bytes(), "stdout differs: {script}");
        assert!(out.stderr == want.as_bytes(), "stderr differs: {script}");
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "{script}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn a_megabyte_on_each_stream_in_either_order_as_json() {
    let n = 150_000; // about 1 MB per stream: far beyond any pipe buffer
    for (first, second) in [("stderr", "stdout"), ("stdout", "stderr")] {
        let redirect = |s: &str| if s == "stderr" { " >&2" } else { "" };
        let script = format!(
            "seq 1 {n}{}; seq 1 {n}{}",
            redirect(first),
            redirect(second)
        );
        let out = cp()
            .args(["spawn", "--json", "sh", "-c", &script])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        let events = json_lines(&out.stdout);
        for stream in ["stdout", "stderr"] {
            let got: Vec<&str> = events
                .iter()
                .filter(|e| e["event"] == stream)
                .map(|e| e["line"].as_str().unwrap())
                .collect();
            assert_eq!(got.len(), n, "{stream}: every line once, none split");
            assert!(
                got.iter()
                    .enumerate()
                    .all(|(i, l)| *l == (i + 1).to_string()),
                "{stream}: lines in order and whole"
            );
        }
    }
}

// ---------------------------------------------------------------- --prefix

#[test]
fn prefix_labels_each_line_on_its_own_stream() {
    let out = cp()
        .args([
            "spawn",
            "--prefix",
            "[{name}] ",
            "sh",
            "-c",
            "echo a; echo b >&2; echo; echo c",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "[sh] a\n[sh] \n[sh] c\n");
    assert_eq!(text(&out.stderr), "[sh] b\n");
    // {name} is the program's basename; {pid} the child's pid, every occurrence replaced.
    let out = cp()
        .args([
            "spawn",
            "--prefix",
            "{name}:{pid}:{name}|",
            "/bin/sh",
            "-c",
            "echo $$",
        ])
        .output()
        .unwrap();
    let s = text(&out.stdout);
    let (head, pid) = s.trim_end().rsplit_once('|').unwrap();
    assert_eq!(head, format!("sh:{pid}:sh"), "{s}");
    assert!(pid.parse::<u32>().is_ok(), "{s}");
    let out = cp()
        .args(["spawn", "--prefix", "[{name}] "])
        .args(["sh", "-c", "echo a; echo b >&2; printf c"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "[sh] a\n[sh] c\n");
    assert_eq!(text(&out.stderr), "[sh] b\n");
}

#[test]
fn prefix_with_a_last_line_without_newline() {
    let out = cp()
        .args(["spawn", "--prefix", "> ", "printf", "a\\nlast"])
        .output()
        .unwrap();
    let s = text(&out.stdout);
    assert!(s == "> a\n> last\n" || s == "> a\n> last", "{s:?}");
}

/// Splits `out` into lines, checks each starts with `prefix` and holds at most 64 KiB after it,
/// and returns the contents joined.
fn pieces(out: &[u8], prefix: &[u8]) -> (usize, Vec<u8>) {
    let mut joined = Vec::new();
    let mut count = 0;
    for piece in out.split(|&b| b == b'\n').filter(|p| !p.is_empty()) {
        let body = piece.strip_prefix(prefix).unwrap_or_else(|| {
            panic!(
                "piece without prefix: {:?}",
                text(&piece[..piece.len().min(40)])
            )
        });
        assert!(body.len() <= 65536, "a piece of {} bytes", body.len());
        joined.extend_from_slice(body);
        count += 1;
    }
    (count, joined)
}

#[test]
fn long_lines_come_in_pieces_of_at_most_64_kib() {
    let script = "head -c 200000 /dev/zero | tr '\\0' a; echo; echo tail";
    let out = cp()
        .args(["spawn", "--prefix", "> ", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (count, joined) = pieces(&out.stdout, b"> ");
    assert!(
        count >= 5,
        "200000 bytes need at least 4 pieces, then 'tail': {count}"
    );
    assert_eq!(joined, [vec![b'a'; 200_000], b"tail".to_vec()].concat());
    assert!(out.stdout.ends_with(b"> tail\n"));
    // The same on stderr.
    let out = cp()
        .args([
            "spawn",
            "--prefix",
            "E ",
            "sh",
            "-c",
            &format!("({script}) >&2"),
        ])
        .output()
        .unwrap();
    let (count, joined) = pieces(&out.stderr, b"E ");
    assert!(count >= 5, "{count}");
    assert_eq!(joined, [vec![b'a'; 200_000], b"tail".to_vec()].concat());
    assert!(out.stdout.is_empty());
    // And as JSON events.
    let out = cp()
        .args(["spawn", "--json", "sh", "-c", script])
        .output()
        .unwrap();
    let events = json_lines(&out.stdout);
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "stdout")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert!(lines.len() >= 5, "{}", lines.len());
    assert!(lines.iter().all(|l| l.len() <= 65536));
    assert_eq!(lines.last().unwrap(), &"tail");
    assert_eq!(lines[..lines.len() - 1].concat(), "a".repeat(200_000));
}

#[test]
fn a_stream_without_any_newline_comes_in_pieces_too() {
    // NUL bytes, 200000 of them: exactly four pieces.
    let out = cp()
        .args([
            "spawn",
            "--prefix",
            "> ",
            "head",
            "-c",
            "200000",
            "/dev/zero",
        ])
        .output()
        .unwrap();
    let pieces: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(pieces.len(), 4, "200000 bytes in pieces of at most 64 KiB");
    assert!(
        pieces
            .iter()
            .all(|p| p.len() <= 2 + 65536 && p.starts_with(b"> "))
    );
}

/// Peak resident memory of `pid` seen while polling until it exits.
fn peak_rss_kib(child: &mut std::process::Child, limit: Duration) -> u64 {
    let pid = child.id();
    let t = Instant::now();
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if child.try_wait().unwrap().is_some() {
            return peak;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn memory_stays_bounded_for_a_line_without_end() {
    // 256 MiB without a newline through each re-emitting mode.
    for mode in [&["--prefix", "> "][..], &["--json"]] {
        let mut child = cp_std()
            .arg("spawn")
            .args(mode)
            .args(["sh", "-c", "head -c 268435456 /dev/zero | tr '\\0' a"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let peak = peak_rss_kib(&mut child, Duration::from_secs(60));
        assert_eq!(child.wait().unwrap().code(), Some(0));
        assert!(peak > 0, "no memory figure read");
        assert!(
            peak < 64 * 1024,
            "{mode:?}: peak RSS {peak} KiB for a 256 MiB line"
        );
    }
}

// ---------------------------------------------------------------- --json

#[test]
fn json_event_stream_shape() {
    let out = cp()
        .args([
            "spawn",
            "--json",
            "sh",
            "-c",
            "echo $$; echo err >&2; echo; sleep 0.3; printf 'no-newline'; exit 4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let events = json_lines(&out.stdout);
    let first = &events[0];
    assert_eq!(keys(first), ["event", "pid"]);
    assert_eq!(first["event"], "spawn");
    let pid = first["pid"].as_i64().unwrap();
    let outs: Vec<&serde_json::Value> = events[1..events.len() - 1].iter().collect();
    for e in &outs {
        assert_eq!(keys(e), ["event", "line"], "{e}");
    }
    let stdout: Vec<&str> = outs
        .iter()
        .filter(|e| e["event"] == "stdout")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(
        stdout,
        [pid.to_string().as_str(), "", "no-newline"],
        "pid is the child's"
    );
    let stderr: Vec<&str> = outs
        .iter()
        .filter(|e| e["event"] == "stderr")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(stderr, ["err"]);
    assert!(events.contains(&serde_json::json!({"event": "stdout", "line": "no-newline"})));
    assert!(events.contains(&serde_json::json!({"event": "stderr", "line": "err"})));
    assert!(events[0]["pid"].as_i64().unwrap() > 0);
    let last = events.last().unwrap();
    assert_eq!(keys(last), ["event", "code", "signal", "durationMs"]);
    assert_eq!(last["event"], "exit");
    assert_eq!(last["code"], 4);
    assert!(last["signal"].is_null());
    assert!(last["durationMs"].is_number());
    let ms = last["durationMs"].as_f64().unwrap();
    assert!(
        (250.0..10_000.0).contains(&ms),
        "durationMs is milliseconds: {ms}"
    );
}

#[test]
fn json_lines_stay_valid_for_odd_bytes() {
    let out = cp()
        .args([
            "spawn",
            "--json",
            "printf",
            "bad\\377utf8\\nquote\"back\\\\slash\\ttab\\001ctl\\n",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "stdout")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("bad") && lines[0].ends_with("utf8"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "quote\"back\\slash\ttab\u{1}ctl");
}

// ---------------------------------------------------------------- --stdout, --stderr, --merge

#[test]
fn stdout_and_stderr_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("o"), dir.path().join("e"));
    std::fs::write(&o, "old content that is longer than the new\n").unwrap();
    cp().arg("spawn")
        .arg("--stdout")
        .arg(&o)
        .arg("--stderr")
        .arg(&e)
        .args(["sh", "-c", "echo out; echo err >&2; exit 6"])
        .assert()
        .code(6)
        .stdout("")
        .stderr("");
    assert_eq!(
        std::fs::read_to_string(&o).unwrap(),
        "out\n",
        "created or truncated"
    );
    assert_eq!(std::fs::read_to_string(&e).unwrap(), "err\n");
    // Only --stdout: stderr stays on childproc's stderr.
    cp().arg("spawn")
        .arg("--stdout")
        .arg(&o)
        .args(["sh", "-c", "echo out2; echo err2 >&2"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("err2\n");
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "out2\n");
    cp().arg("spawn")
        .arg("--stdout")
        .arg(&o)
        .arg("--stderr")
        .arg(&e)
        .args(["sh", "-c", "echo out; echo err >&2"])
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "out\n");
    assert_eq!(std::fs::read_to_string(&e).unwrap(), "err\n");
}

#[test]
fn merge_sends_stderr_where_stdout_goes_in_order() {
    let script = "echo 1; echo 2 >&2; echo 3; echo 4 >&2";
    cp().args(["spawn", "--merge", "sh", "-c", script])
        .assert()
        .code(0)
        .stdout("1\n2\n3\n4\n")
        .stderr("");
    cp().args(["spawn", "--merge", "sh", "-c", "echo out; echo err >&2"])
        .assert()
        .stdout("out\nerr\n")
        .stderr("");
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("both");
    cp().arg("spawn")
        .arg("--merge")
        .arg("--stdout")
        .arg(&o)
        .args(["sh", "-c", script])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "1\n2\n3\n4\n");
}

// ---------------------------------------------------------------- timeouts

#[test]
fn a_child_trapping_term_is_escalated_to_kill() {
    let mut live = Live::childproc([
        "spawn",
        "--timeout",
        "1s",
        "--kill-after",
        "500ms",
        "--preserve-status",
        "sh",
        "-c",
        "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    let t = Instant::now();
    live.wait_for_line("ready", SECS10);
    live.wait_for_line("got-term", SECS10);
    let (st, _, _) = live.finish(SECS10);
    let took = t.elapsed();
    assert_eq!(st.code(), Some(137), "killed by SIGKILL in the end");
    assert!(took >= Duration::from_millis(1300), "{took:?}");
    assert!(took < SECS10, "{took:?}");
}

// ---------------------------------------------------------------- pipes

#[test]
fn a_full_stdout_is_an_error_not_a_quiet_end() {
    // Only a closed reader (EPIPE) ends quietly with 141; a full disk is one line and 125.
    for mode in [&["--json"][..], &["--prefix", "> "]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = cp_std()
            .arg("spawn")
            .args(mode)
            .args(["--", "echo", "hi"])
            .stdout(full)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{mode:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{mode:?}: {err}");
        assert!(err.contains("No space left on device"), "{mode:?}: {err}");
    }
}

// ---------------------------------------------------------------- the terminal

#[test]
fn ctrl_c_reaches_the_child_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("t.sh");
    std::fs::write(
        &script,
        "n=0\ntrap 'n=$((n+1)); echo int:$n' INT\necho ready\nread line\necho read:$line\n\
         i=0; while [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done\necho done:$n\nexit 7\n",
    )
    .unwrap();
    let cmd = format!("{} spawn sh {}", bin().display(), script.display());
    let mut pty = in_pty(&cmd);
    pty.wait_for_line("ready", SECS10);
    pty.write(b"hello\n");
    pty.wait_for_line("read:hello", SECS10);
    pty.write(b"\x03");
    pty.wait_for(SECS10, |l| l.ends_with("int:1"));
    let done = pty.wait_for(SECS10, |l| l.starts_with("done:"));
    assert_eq!(done, "done:1", "Ctrl-C delivered more than once");
    let (st, out, _) = pty.finish(SECS10);
    let seen = text(&out);
    assert!(seen.contains("int:1"), "{seen}");
    assert!(!seen.contains("int:2"), "Ctrl-C delivered twice: {seen}");
    assert!(seen.contains("done:1"), "{seen}");
    assert!(!text(&out).contains("int:2"), "{}", text(&out));
    assert_eq!(
        st.code(),
        Some(7),
        "childproc went on and returned the child's status"
    );
}

#[test]
fn ctrl_c_ends_a_child_that_does_not_trap_it() {
    let cmd = format!(
        "{} spawn sh -c 'echo ready; exec sleep 1234.9'",
        bin().display()
    );
    let _sweep = Sweep::new(&[&["sleep", "1234.9"]]);
    let mut pty = in_pty(&cmd);
    pty.wait_for_line("ready", SECS10);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", "1234.9"]).is_empty() {
        assert!(t.elapsed() < SECS10, "sleep never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    pty.write(b"\x03");
    let (st, _, _) = pty.finish(SECS10);
    assert_eq!(st.code(), Some(130));
    assert_none_left(
        &["sleep", "1234.9"],
        Duration::from_secs(5),
        "sleep after Ctrl-C",
    );
}

#[test]
fn a_child_reading_the_terminal_works_with_prefix_too() {
    let cmd = format!(
        "{} spawn --prefix 'p: ' sh -c 'echo ready; read x; echo got:$x'",
        bin().display()
    );
    let mut pty = in_pty(&cmd);
    pty.wait_for_line("p: ready", SECS10);
    pty.write(b"typed\n");
    pty.wait_for_line("p: got:typed", SECS10);
    let (st, _, _) = pty.finish(SECS10);
    assert_eq!(st.code(), Some(0));
}

#[test]
fn a_child_cannot_make_the_guard_kill_a_stranger() {
    // A child running as the same user tries every way it has into the guard: it writes a
    // stranger's process-group id (native-endian i32, what the guard's protocol once was) to
    // every descriptor of childproc it can reopen through /proc. When childproc is then
    // SIGKILLed, the guard must kill the child's own group and nothing else.
    let stranger_arg = "1234.991";
    let own_arg = "1234.992";
    let _sweep = Sweep::new(&[&["sleep", stranger_arg], &["sleep", own_arg]]);
    let mut stranger = std::process::Command::new("setsid")
        .args(["sleep", stranger_arg])
        .spawn()
        .unwrap();
    let victim = stranger.id() as i32;
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", stranger_arg]).is_empty() {
        assert!(t.elapsed() < SECS10, "the stranger never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let attack = format!(
        r#"
import os, struct, subprocess
parent = os.getppid()
payload = struct.pack("i", {victim}) * 4
hits = 0
for name in os.listdir(f"/proc/{{parent}}/fd"):
    if int(name) < 3:
        continue
    try:
        fd = os.open(f"/proc/{{parent}}/fd/{{name}}", os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        continue
    try:
        os.write(fd, payload); hits += 1
    except OSError:
        pass
    os.close(fd)
subprocess.Popen(["sleep", "{own_arg}"])
print("ready", hits, flush=True)
subprocess.run(["sleep", "300"])
"#
    );
    let mut live = Live::start(cp_std().args(["spawn", "--", "python3", "-c", &attack]));
    live.wait_for(SECS10, |l| l.starts_with("ready"));
    let guards = guards_of(live.pid());
    assert_eq!(guards.len(), 1, "childproc's guard: {guards:?}");
    live.signal(Signal::SIGKILL);
    let _ = live.finish(SECS10);
    // The guard acted once the child's own background job is gone, and is done once it exits.
    assert_none_left(
        &["sleep", own_arg],
        Duration::from_secs(5),
        "own grandchild",
    );
    assert_gone(guards[0], Duration::from_secs(5), "the guard after its run");
    let survived = stranger.try_wait().unwrap().is_none();
    signal(victim, Signal::SIGKILL);
    let _ = stranger.wait();
    assert!(
        survived,
        "the guard killed a process group childproc never started"
    );
}

#[test]
fn ctrl_z_stops_the_job_and_fg_gives_the_terminal_back() {
    // An interactive shell on a fresh terminal: Ctrl-Z must stop the whole job (the shell gets
    // its prompt back, not a hung terminal), and `fg` must let the child read the terminal.
    let mut pty = in_pty("bash --norc --noprofile -i");
    pty.write(b"PS1='PROMPT> '; echo shell-ready\n");
    pty.wait_for(SECS10, |l| l.ends_with("shell-ready"));
    let script = "echo child-started; read x; echo got:$x";
    let cmd = format!("{} spawn sh -c '{script}'\n", bin().display());
    pty.write(cmd.as_bytes());
    pty.wait_for(SECS10, |l| l.ends_with("child-started"));
    let child = || {
        pids_with_cmdline(&["sh", "-c", script])
            .first()
            .copied()
            .unwrap_or(0)
    };
    // Ctrl-Z once the child owns the terminal and waits for a line on it.
    wait_until(SECS10, "the child never read the terminal", || {
        reading_the_terminal(child())
    });
    pty.write(b"\x1a");
    pty.wait_for(SECS10, |l| l.contains("Stopped"));
    pty.write(b"echo prompt-is-back\n");
    pty.wait_for(SECS10, |l| {
        l.ends_with("prompt-is-back") && !l.contains("echo")
    });
    pty.write(b"fg\n");
    // Type once `fg` gave the child the terminal back and it reads again.
    wait_until(SECS10, "fg never gave the child the terminal", || {
        reading_the_terminal(child())
    });
    pty.write(b"typed\n");
    pty.wait_for(SECS10, |l| l.ends_with("got:typed"));
    pty.write(b"echo status=$?\n");
    pty.wait_for(SECS10, |l| l.ends_with("status=0"));
    pty.write(b"exit\n");
    let _ = pty.finish(SECS10);
}

// ---------------------------------------------------------------- --restart

#[test]
fn restart_on_failure_runs_the_program_again_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let log = dir.path().join("out");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo run $n; [ $n -ge 3 ]",
        c = count.display()
    );
    let out = cp()
        .args(["spawn", "--restart", "on-failure", "--stdout"])
        .arg(&log)
        .args(["--", "sh", "-c", &script])
        .timeout(SECS30)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("restarting in").count(), 2, "{err}");
    assert!(
        err.contains("exited with code 1; restarting in 100ms (restart 1)"),
        "{err}"
    );
    // The --stdout file is opened once: every run's output is in it.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "run 1\nrun 2\nrun 3\n"
    );
}

#[test]
fn restart_always_gives_up_on_a_crash_loop() {
    let out = cp()
        .args([
            "spawn",
            "--restart",
            "always",
            "--max-restarts",
            "2",
            "--",
            "true",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.matches("restarting in").count(), 2, "{err}");
    assert!(err.contains("not restarted again"), "{err}");
}

#[test]
fn a_signal_stops_a_kept_alive_program_for_good() {
    // Stopped within the grace period: a normal end (0); had to be SIGKILLed: 128+N.
    for (script, opts, want) in [
        ("echo ready; sleep 30", &[][..], 0),
        (
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
            &["--kill-after", "300ms"][..],
            143,
        ),
    ] {
        let mut live = Live::start(
            cp_std()
                .args(["spawn", "--restart", "always"])
                .args(opts)
                .args(["--", "sh", "-c", script]),
        );
        live.wait_for_line("ready", SECS10);
        live.signal(Signal::SIGTERM);
        let (st, _, err) = live.finish(SECS10);
        assert_eq!(st.code(), Some(want), "{script}: {}", text(&err));
        assert!(!text(&err).contains("restarting"), "{}", text(&err));
    }
}

#[test]
fn restart_options_need_restart() {
    let out = cp()
        .args(["spawn", "--max-restarts", "3", "--", "true"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 125);
}

#[test]
fn a_signal_after_the_child_exited_still_ends_the_run_with_128_plus_n() {
    // The child exits 0 at once; its background job keeps the output pipe, so the run goes on
    // until the job ends. A SIGTERM then is what ends the run: 143, not the child's 0.
    let gc = "1234.951";
    let _sweep = Sweep::new(&[&["sleep", gc]]);
    let script = format!("sleep {gc} & echo ready");
    let mut live = Live::start(cp_std().args(["spawn", "--prefix", "", "--", "sh", "-c", &script]));
    live.wait_for_line("ready", SECS10);
    let t = Instant::now();
    while pids_with_cmdline(&["sleep", gc]).is_empty() {
        assert!(t.elapsed() < SECS10, "the background job never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    live.signal(Signal::SIGTERM);
    let (st, _, err) = live.finish(SECS10);
    assert_eq!(st.code(), Some(143), "{}", text(&err));
    assert_none_left(&["sleep", gc], Duration::from_secs(5), "background job");
}
