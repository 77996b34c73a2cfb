//! `childproc spawn`: live stdio. Inherited stdio by default, --prefix, --json events,
//! --stdout/--stderr/--merge, long lines in pieces with bounded memory, stdin, large output on
//! both streams, exit statuses, timeouts and process groups, signals to childproc (forwarded
//! once, no orphans), a closed stdout, descriptors, and the terminal (reads, Ctrl-C once).

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

/// The output modes that keep the stdout/stderr distinction.
const MODES: [&[&str]; 3] = [&[], &["--prefix", "> "], &["--json"]];

// ---------------------------------------------------------------- exit statuses

#[test]
fn exit_codes_pass_through() {
    for mode in MODES {
        for code in [0, 1, 2, 42, 123, 200, 255] {
            let out = cp()
                .arg("spawn")
                .args(mode)
                .args(["sh", "-c", &format!("exit {code}")])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(code), "{mode:?}");
            assert!(
                out.stderr.is_empty(),
                "{mode:?} {code}: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn death_by_signal_is_128_plus_n_and_named() {
    let dir = tempfile::tempdir().unwrap();
    for mode in MODES {
        for (n, name) in [
            (15, "SIGTERM"),
            (9, "SIGKILL"),
            (2, "SIGINT"),
            (1, "SIGHUP"),
            (11, "SIGSEGV"),
        ] {
            let out = cp()
                .current_dir(dir.path())
                .arg("spawn")
                .args(mode)
                .args(["sh", "-c", &format!("ulimit -c 0; kill -{n} $$")])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(128 + n), "{mode:?} {name}");
            assert!(
                text(&out.stderr).contains(name),
                "{mode:?} {name}: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn death_by_sigpipe_is_silent() {
    for mode in MODES {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .args(["sh", "-c", "kill -PIPE $$"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(141), "{mode:?}");
        assert!(out.stderr.is_empty(), "{mode:?}: {}", text(&out.stderr));
    }
}

#[test]
fn exit_137_on_its_own_is_not_called_sigkill() {
    for mode in MODES {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .args(["sh", "-c", "exit 137"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(137));
        assert!(
            !text(&out.stderr).contains("SIGKILL"),
            "{}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stdout).contains("SIGKILL"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn not_found_and_not_executable() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_script(&plain, "echo ran", 0o644);
    for mode in MODES {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .arg("no-such-program-4720")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{mode:?}");
        assert!(text(&out.stderr).contains("no-such-program-4720"));
        let out = cp().arg("spawn").args(mode).arg(&plain).output().unwrap();
        assert_eq!(out.status.code(), Some(126), "{mode:?}");
        assert!(!text(&out.stdout).contains("ran"));
    }
}

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
fn stdin_passes_through_one_byte() {
    cp().args(["spawn", "od", "-An", "-tx1"])
        .write_stdin("x")
        .assert()
        .code(0)
        .stdout(" 78\n");
}

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

#[test]
fn a_child_that_exits_without_reading_a_big_stdin() {
    for mode in MODES {
        let done = run_capped(
            cp_std()
                .arg("spawn")
                .args(mode)
                .args(["sh", "-c", "exit 3"]),
            Feed::Pattern(100 << 20),
            Duration::from_secs(60),
        );
        assert_eq!(done.code(), Some(3), "{mode:?}: {}", done.err());
        assert!(done.elapsed < SECS30, "{mode:?}: {:?}", done.elapsed);
        assert!(done.stderr.is_empty(), "{mode:?}: {}", done.err());
    }
    // One that reads a little, then stops.
    let done = run_args(
        ["spawn", "sh", "-c", "head -c 5 | wc -c"],
        Feed::Pattern(100 << 20),
        Duration::from_secs(60),
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out().trim(), "5");
    assert!(done.elapsed < SECS30, "{:?}", done.elapsed);
}

// ---------------------------------------------------------------- big output

const N: u64 = 1_400_000; // `seq 1 1400000` is about 10 MB

#[test]
fn ten_megabytes_on_each_stream_in_either_order_inherited() {
    let want = seq_text(N);
    for script in [
        format!("seq 1 {N} >&2; seq 1 {N}"),
        format!("seq 1 {N}; seq 1 {N} >&2"),
    ] {
        let out = cp()
            .args(["spawn", "sh", "-c", &script])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stdout == want.as_bytes(), "stdout differs: {script}");
        assert!(out.stderr == want.as_bytes(), "stderr differs: {script}");
    }
}

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
    let last = events.last().unwrap();
    assert_eq!(keys(last), ["event", "code", "signal", "durationMs"]);
    assert_eq!(last["event"], "exit");
    assert_eq!(last["code"], 4);
    assert!(last["signal"].is_null());
    let ms = last["durationMs"].as_f64().unwrap();
    assert!(
        (250.0..10_000.0).contains(&ms),
        "durationMs is milliseconds: {ms}"
    );
}

#[test]
fn json_exit_event_for_signals_and_timeouts() {
    let out = cp()
        .args(["spawn", "--json", "sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(143));
    let events = json_lines(&out.stdout);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "exit");
    assert!(last["code"].is_null(), "{last}");
    assert_eq!(last["signal"], "SIGTERM");
    let out = cp()
        .args(["spawn", "--json", "--timeout", "300ms", "sleep", "20"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let events = json_lines(&out.stdout);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "exit");
    assert_eq!(last["signal"], "SIGTERM");
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
}

#[test]
fn merge_sends_stderr_where_stdout_goes_in_order() {
    let script = "echo 1; echo 2 >&2; echo 3; echo 4 >&2";
    cp().args(["spawn", "--merge", "sh", "-c", script])
        .assert()
        .code(0)
        .stdout("1\n2\n3\n4\n")
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
fn timeout_kills_grandchildren_in_every_mode() {
    for (k, mode) in MODES.iter().enumerate() {
        let bg = format!("1234.4{k}");
        let fg = format!("1234.5{k}");
        let _sweep = Sweep::new(&[&["sleep", &bg], &["sleep", &fg]]);
        let done = run_capped(
            cp_std()
                .args(["spawn", "--timeout", "500ms"])
                .args(*mode)
                .args([
                    "sh",
                    "-c",
                    &format!("echo before; sleep {bg} & sleep {fg}; wait"),
                ]),
            Feed::Null,
            SECS30,
        );
        assert_eq!(done.code(), Some(124), "{mode:?}: {}", done.err());
        assert!(done.elapsed < SECS10, "{mode:?}: {:?}", done.elapsed);
        assert!(
            done.out().contains("before"),
            "{mode:?}: output before the kill is kept"
        );
        assert!(done.err().contains("timed out"), "{mode:?}: {}", done.err());
        assert_none_left(
            &["sleep", &bg],
            Duration::from_secs(5),
            "background grandchild",
        );
        assert_none_left(
            &["sleep", &fg],
            Duration::from_secs(5),
            "foreground grandchild",
        );
    }
}

#[test]
fn timeout_escalates_to_kill_for_a_grandchild_ignoring_term() {
    // The child dies of TERM at once, its background grandchild ignores TERM: only the
    // escalation to SIGKILL after --kill-after ends it ("grandchildren never survive").
    for (k, mode) in MODES.iter().enumerate() {
        let gc = format!("1234.9{k}");
        let _sweep = Sweep::new(&[&["sleep", &gc]]);
        let done = run_capped(
            cp_std()
                .args(["spawn", "--timeout", "500ms", "--kill-after", "300ms"])
                .args(*mode)
                .args([
                    "sh",
                    "-c",
                    &format!("(trap '' TERM; exec sleep {gc}) & wait"),
                ]),
            Feed::Null,
            SECS30,
        );
        assert_eq!(done.code(), Some(124), "{mode:?}: {}", done.err());
        assert!(done.elapsed < SECS10, "{mode:?}: {:?}", done.elapsed);
        assert_none_left(
            &["sleep", &gc],
            Duration::from_secs(5),
            &format!("{mode:?}: TERM-ignoring grandchild"),
        );
    }
}

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
    // Without --preserve-status it is a timeout that needed SIGKILL: 137, as timeout(1).
    let out = cp()
        .args(["spawn", "--timeout", "300ms", "--kill-after", "300ms"])
        .args(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn kill_signal_is_what_the_group_receives() {
    let out = cp()
        .args(["spawn", "--timeout", "1s", "--kill-signal", "INT", "--prefix", ""])
        .args([
            "sh",
            "-c",
            "trap 'echo got-int; exit 0' INT; trap 'echo got-term; exit 0' TERM; while :; do sleep 0.05; done",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "got-int\n");
}

#[test]
fn a_grandchild_holding_the_pipe_does_not_hang_a_timed_run() {
    for (k, mode) in [&["--prefix", "> "][..], &["--json"]].iter().enumerate() {
        let escaped = format!("1234.6{k}");
        let _sweep = Sweep::new(&[&["sleep", &escaped]]);
        let done = run_capped(
            cp_std()
                .args(["spawn", "--timeout", "500ms", "--kill-after", "300ms"])
                .args(*mode)
                .args([
                    "sh",
                    "-c",
                    &format!("setsid sleep {escaped} & echo started; sleep 20"),
                ]),
            Feed::Null,
            SECS30,
        );
        assert!(done.elapsed < SECS10, "{mode:?}: {:?}", done.elapsed);
        assert_eq!(done.code(), Some(124), "{mode:?}: {}", done.err());
        assert!(done.out().contains("started"), "{mode:?}: {}", done.out());
    }
}

// ---------------------------------------------------------------- signals to childproc

/// Starts `spawn sh -c SCRIPT` in `mode`, waits for `ready`, sends `sig` to childproc only.
fn signalled(mode: &[&str], script: &str, sig: Signal) -> (Option<i32>, String, i32) {
    let mut live = Live::start(cp_std().arg("spawn").args(mode).args(["sh", "-c", script]));
    let ready = live.wait_for(SECS10, |l| l.contains("ready"));
    let child_pid: i32 = ready
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(['"', '}'])
        .parse()
        .unwrap_or_else(|_| panic!("ready line: {ready}"));
    live.signal(sig);
    let (st, out, _) = live.finish(SECS10);
    (st.code(), text(&out), child_pid)
}

#[test]
fn signals_to_childproc_are_forwarded_exactly_once_and_awaited() {
    for mode in [&[][..], &["--prefix", ""], &["--json"]] {
        for (sig, name) in [
            (Signal::SIGTERM, "TERM"),
            (Signal::SIGINT, "INT"),
            (Signal::SIGHUP, "HUP"),
        ] {
            // The child counts what it receives, keeps running a while, then reports.
            let script = format!(
                "n=0; trap 'n=$((n+1)); echo got-{name}-$n' {name}; echo ready $$; \
                 i=0; while [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; echo done-$n"
            );
            let (_, out, child) = signalled(mode, &script, sig);
            // childproc waited for the child: it is gone the moment childproc is.
            assert!(
                !alive(child),
                "{mode:?} {name}: childproc exited before its child"
            );
            assert!(
                out.contains(&format!("got-{name}-1")),
                "{mode:?} {name}: {out}"
            );
            assert!(
                !out.contains(&format!("got-{name}-2")),
                "{mode:?} {name}: twice: {out}"
            );
            assert!(out.contains("done-1"), "{mode:?} {name}: {out}");
        }
    }
}

#[test]
fn a_signal_to_childproc_kills_the_group_and_gives_128_plus_n() {
    for (k, (sig, code)) in [
        (Signal::SIGTERM, 143),
        (Signal::SIGINT, 130),
        (Signal::SIGHUP, 129),
    ]
    .into_iter()
    .enumerate()
    {
        let gc = format!("1234.7{k}");
        let _sweep = Sweep::new(&[&["sleep", &gc]]);
        // Here the grandchild runs in the foreground of the child shell.
        let script = format!("echo ready $$; sleep {gc}; echo not-reached");
        let mut live = Live::start(cp_std().args(["spawn", "sh", "-c", &script]));
        let ready = live.wait_for(SECS10, |l| l.contains("ready"));
        let child: i32 = ready.rsplit(' ').next().unwrap().parse().unwrap();
        // Signal only once the shell waits for its foreground sleep: a signal that lands
        // between the shell's fork and exec is a race inside sh, not what this tests.
        let t = Instant::now();
        while pids_with_cmdline(&["sleep", &gc]).is_empty() {
            assert!(t.elapsed() < SECS10, "sleep never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        live.signal(sig);
        let (st, out, _) = live.finish(SECS10);
        let (st, out) = (st.code(), text(&out));
        assert_eq!(st, Some(code), "{sig:?}");
        assert!(!out.contains("not-reached"), "{sig:?}: {out}");
        assert!(!alive(child), "{sig:?}: child left behind");
        assert_none_left(&["sleep", &gc], Duration::from_secs(5), "grandchild");
    }
}

#[test]
fn sigterm_to_childproc_leaves_no_background_grandchild() {
    let _sweep = Sweep::new(&[&["sleep", "1234.74"]]);
    let (st, _, child) = signalled(&[], "sleep 1234.74 & echo ready $$; wait", Signal::SIGTERM);
    assert_eq!(st, Some(143));
    assert!(!alive(child), "child left behind");
    assert_none_left(
        &["sleep", "1234.74"],
        Duration::from_secs(5),
        "background grandchild",
    );
}

#[test]
fn sigint_to_childproc_leaves_no_background_grandchild() {
    // A non-interactive shell starts background jobs with SIGINT ignored, so the forwarded
    // SIGINT alone cannot end this grandchild: the contract's escalation to SIGKILL after
    // --kill-after must ("interruptions signal the whole group, then escalate to SIGKILL after
    // --kill-after, so grandchildren never survive (`sh -c 'sleep 100 & wait'` dies too)").
    let _sweep = Sweep::new(&[&["sleep", "1234.75"]]);
    let t = Instant::now();
    let (st, _, child) = signalled(
        &["--kill-after", "500ms"],
        "sleep 1234.75 & echo ready $$; wait",
        Signal::SIGINT,
    );
    assert_eq!(st, Some(130));
    assert!(!alive(child), "child left behind");
    assert_none_left(
        &["sleep", "1234.75"],
        Duration::from_secs(5),
        "background grandchild",
    );
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
}

#[test]
fn sigkill_to_childproc_takes_its_direct_child_down() {
    for (k, mode) in MODES.iter().enumerate() {
        let arg = format!("1234.8{k}");
        let _sweep = Sweep::new(&[&["sleep", &arg]]);
        let mut child = cp_std()
            .arg("spawn")
            .args(*mode)
            .args(["sleep", &arg])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        let sleeper = loop {
            if let Some(&p) = pids_with_cmdline(&["sleep", &arg]).first() {
                break p;
            }
            assert!(t.elapsed() < SECS10, "sleep never started");
            std::thread::sleep(Duration::from_millis(10));
        };
        signal(child.id() as i32, Signal::SIGKILL);
        child.wait().unwrap();
        assert_gone(
            sleeper,
            Duration::from_secs(5),
            &format!("{mode:?}: child of a SIGKILLed childproc"),
        );
    }
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

#[test]
fn a_closed_stdout_ends_childproc_quietly() {
    for mode in ["", "--prefix '> '", "--json"] {
        let line = format!("{} spawn {mode} seq 1 10000000 | head -n1", bin().display());
        let t = Instant::now();
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .unwrap();
        let first = text(&out.stdout);
        match mode {
            "" => assert_eq!(first, "1\n"),
            "--json" => assert!(first.starts_with("{") && first.contains("spawn"), "{first}"),
            _ => assert_eq!(first, "> 1\n"),
        }
        assert!(out.stderr.is_empty(), "{mode}: {}", text(&out.stderr));
        assert!(t.elapsed() < SECS30, "{mode}: {:?}", t.elapsed());
    }
}

#[test]
fn yes_into_head_has_empty_stderr() {
    for mode in MODES {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .args(["sh", "-c", "yes | head -n1"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}");
        assert!(text(&out.stdout).contains('y'));
        assert!(out.stderr.is_empty(), "{mode:?}: {}", text(&out.stderr));
    }
}

// ---------------------------------------------------------------- descriptors

#[test]
fn the_child_sees_only_stdin_stdout_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("o");
    // `ls` lists its own descriptors (0-2 plus the one it reads the directory with), then the
    // shell's (listed from outside: 0-2 only).
    let script = "ls /proc/self/fd; ls /proc/$$/fd; :";
    for mode in [
        &[][..],
        &["--prefix", ""],
        &["--timeout", "10s"],
        &["--merge"],
        &["--stdout", f.to_str().unwrap()],
    ] {
        let out = cp()
            .arg("spawn")
            .args(mode)
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode:?}: {}",
            text(&out.stderr)
        );
        let got = if mode.first() == Some(&"--stdout") {
            lines(&std::fs::read(&f).unwrap())
        } else {
            lines(&out.stdout)
        };
        assert_eq!(got, ["0", "1", "2", "3", "0", "1", "2"], "{mode:?}");
    }
    let out = cp()
        .args(["spawn", "--json", "sh", "-c", script])
        .output()
        .unwrap();
    let got: Vec<String> = json_lines(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "stdout")
        .map(|e| e["line"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ["0", "1", "2", "3", "0", "1", "2"], "--json");
}

// ---------------------------------------------------------------- the terminal

#[test]
fn a_child_can_read_the_terminal() {
    let cmd = format!(
        "{} spawn sh -c 'echo ready; read x; echo got:$x'",
        bin().display()
    );
    let mut pty = in_pty(&cmd);
    pty.wait_for_line("ready", SECS10);
    pty.write(b"typed\n");
    pty.wait_for_line("got:typed", SECS10);
    let (st, _, _) = pty.finish(SECS10);
    assert_eq!(st.code(), Some(0));
}

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
fn sigkill_to_childproc_takes_grandchildren_down_too() {
    // PR_SET_PDEATHSIG reaches the direct child only; the guard process kills the rest of its
    // group, so background jobs of a SIGKILLed run are not orphaned.
    for (sub, k) in [("spawn", 1), ("exec", 2), ("execfile", 3)] {
        let a = format!("1234.6{k}1");
        let b = format!("1234.6{k}2");
        let _sweep = Sweep::new(&[&["sleep", &a], &["sleep", &b]]);
        let script = format!("sleep {a} & sleep {b} & echo ready; wait");
        let mut cmd = cp_std();
        match sub {
            "exec" => cmd.args(["exec", &script]),
            _ => cmd.args([sub, "sh", "-c", &script]),
        };
        let mut live = Live::start(&mut cmd);
        if sub == "spawn" {
            live.wait_for_line("ready", SECS10);
        } else {
            let t = Instant::now();
            while pids_with_cmdline(&["sleep", &b]).is_empty()
                || pids_with_cmdline(&["sleep", &a]).is_empty()
            {
                assert!(t.elapsed() < SECS10, "{sub}: never started");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        live.signal(Signal::SIGKILL);
        let _ = live.finish(SECS10);
        assert_none_left(
            &["sleep", &a],
            Duration::from_secs(5),
            &format!("{sub}: grandchild"),
        );
        assert_none_left(
            &["sleep", &b],
            Duration::from_secs(5),
            &format!("{sub}: grandchild"),
        );
    }
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
    live.signal(Signal::SIGKILL);
    let _ = live.finish(SECS10);
    // The guard acted once the child's own background job is gone.
    assert_none_left(
        &["sleep", own_arg],
        Duration::from_secs(5),
        "own grandchild",
    );
    std::thread::sleep(Duration::from_millis(300));
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
    let cmd = format!(
        "{} spawn sh -c 'echo child-started; read x; echo got:$x'\n",
        bin().display()
    );
    pty.write(cmd.as_bytes());
    pty.wait_for(SECS10, |l| l.ends_with("child-started"));
    std::thread::sleep(Duration::from_millis(300));
    pty.write(b"\x1a");
    pty.wait_for(SECS10, |l| l.contains("Stopped"));
    pty.write(b"echo prompt-is-back\n");
    pty.wait_for(SECS10, |l| {
        l.ends_with("prompt-is-back") && !l.contains("echo")
    });
    pty.write(b"fg\n");
    std::thread::sleep(Duration::from_millis(500));
    pty.write(b"typed\n");
    pty.wait_for(SECS10, |l| l.ends_with("got:typed"));
    pty.write(b"echo status=$?\n");
    pty.wait_for(SECS10, |l| l.ends_with("status=0"));
    pty.write(b"exit\n");
    let _ = pty.finish(SECS10);
}
