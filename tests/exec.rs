//! `childproc exec`: a command line through /bin/sh -c, buffered. Exit statuses, the shell,
//! --json, --max-buffer (exact, per stream, prompt), large output, timeouts with process groups
//! and escalation, stdin and --input, pipes and SIGPIPE, signals to childproc, descriptors.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const SECS10: Duration = Duration::from_secs(10);
const SECS30: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- exit statuses

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 2, 42, 123, 200, 255] {
        let out = cp()
            .args(["exec", &format!("exit {code}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code));
        assert!(out.stderr.is_empty(), "{code}: {}", text(&out.stderr));
    }
}

#[test]
fn death_by_signal_is_128_plus_n_and_named() {
    let dir = tempfile::tempdir().unwrap();
    for (n, name) in [
        (15, "SIGTERM"),
        (9, "SIGKILL"),
        (2, "SIGINT"),
        (1, "SIGHUP"),
        (11, "SIGSEGV"),
    ] {
        let out = cp()
            .current_dir(dir.path())
            .args([
                "exec",
                &format!("ulimit -c 0; echo out; echo err >&2; kill -{n} $$"),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + n), "{name}");
        assert_eq!(text(&out.stdout), "out\n", "{name}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("err\n"),
            "{name}: captured stderr first: {err:?}"
        );
        assert!(err.contains(name), "{name}: {err}");
        let out = cp()
            .current_dir(dir.path())
            .args(["exec", "--json", &format!("ulimit -c 0; kill -{n} $$")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + n), "--json {name}");
        let v = json_of(&out);
        assert!(v["code"].is_null(), "{v}");
        assert_eq!(v["signal"], name);
    }
}

#[test]
fn death_by_sigpipe_is_silent() {
    let out = cp().args(["exec", "kill -PIPE $$"]).output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn exit_137_on_its_own_is_not_called_sigkill() {
    let out = cp().args(["exec", "exit 137"]).output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(
        !text(&out.stderr).contains("SIGKILL"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------- the shell

#[test]
fn the_command_line_runs_in_bin_sh() {
    cp().args([
        "exec",
        "echo a b | tr ab xy; X=1; echo \"[$X]\" 2>/dev/null",
    ])
    .assert()
    .code(0)
    .stdout("x y\n[1]\n");
    let cmd = "echo $$";
    let out = cp().args(["exec", "--json", cmd]).output().unwrap();
    let v = json_of(&out);
    assert_eq!(v["command"], cmd);
    assert_eq!(v["argv"], serde_json::json!(["/bin/sh", "-c", cmd]));
    assert_eq!(
        v["stdout"],
        format!("{}\n", v["pid"]),
        "pid is the shell's pid"
    );
}

#[test]
fn shell_option_picks_the_shell() {
    if !std::path::Path::new("/bin/bash").exists() {
        eprintln!("no /bin/bash here; only checking --shell with /bin/sh");
    } else {
        cp().args([
            "exec",
            "--shell",
            "/bin/bash",
            "echo ${BASH_VERSION:+is-bash}",
        ])
        .assert()
        .code(0)
        .stdout("is-bash\n");
        let out = cp()
            .args(["exec", "--shell", "/bin/bash", "--json", "true"])
            .output()
            .unwrap();
        assert_eq!(
            json_of(&out)["argv"],
            serde_json::json!(["/bin/bash", "-c", "true"])
        );
    }
    // A shell that prints its arguments shows how it is called.
    let dir = tempfile::tempdir().unwrap();
    let shell = dir.path().join("argshell");
    write_script(&shell, "printf '[%s]' \"$@\"", 0o755);
    cp().arg("exec")
        .arg("--shell")
        .arg(&shell)
        .arg("some 'command' line")
        .assert()
        .code(0)
        .stdout("[-c][some 'command' line]");
}

#[test]
fn cwd_and_env_apply_to_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    cp().arg("exec")
        .arg("-C")
        .arg(dir.path())
        .args(["-e", "GREETING=hi there", "echo \"$GREETING\"; pwd -P"])
        .assert()
        .code(0)
        .stdout(format!("hi there\n{}\n", real.display()));
    cp().env("LEAK", "x")
        .args([
            "exec",
            "--env-clear",
            "-e",
            "A=1",
            "echo \"${LEAK-unset}:$A\"",
        ])
        .assert()
        .code(0)
        .stdout("unset:1\n");
}

// ---------------------------------------------------------------- --json

#[test]
fn json_result_has_every_field_in_order() {
    let cmd = "echo out; echo err >&2; sleep 0.3; exit 3";
    let out = cp().args(["exec", "--json", cmd]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "same exit status as without --json"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(
        out.stdout.ends_with(b"\n") && out.stdout.iter().filter(|&&b| b == b'\n').count() == 1,
        "one JSON object on one line: {}",
        text(&out.stdout)
    );
    let v = json_of(&out);
    assert_eq!(
        keys(&v),
        [
            "command",
            "argv",
            "pid",
            "code",
            "signal",
            "timedOut",
            "maxBufferExceeded",
            "durationMs",
            "stdout",
            "stderr"
        ]
    );
    assert_eq!(v["command"], cmd);
    assert_eq!(v["argv"], serde_json::json!(["/bin/sh", "-c", cmd]));
    assert!(v["pid"].as_i64().unwrap() > 1);
    assert_eq!(v["code"], 3);
    assert!(v["signal"].is_null());
    assert_eq!(v["timedOut"], false);
    assert!(v["maxBufferExceeded"].is_null());
    let ms = v["durationMs"].as_f64().unwrap();
    assert!(
        (250.0..10_000.0).contains(&ms),
        "durationMs is milliseconds: {ms}"
    );
    assert_eq!(v["stdout"], "out\n");
    assert_eq!(v["stderr"], "err\n");
}

#[test]
fn json_for_a_timeout_and_for_max_buffer() {
    let out = cp()
        .args([
            "exec",
            "--json",
            "--timeout",
            "300ms",
            "echo early; sleep 20",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let v = json_of(&out);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGTERM");
    assert_eq!(v["timedOut"], true);
    assert!(v["maxBufferExceeded"].is_null());
    assert_eq!(v["stdout"], "early\n");
    let out = cp()
        .args([
            "exec",
            "--json",
            "--timeout",
            "300ms",
            "--kill-signal",
            "KILL",
            "sleep 20",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(json_of(&out)["signal"], "SIGKILL");
    let out = cp()
        .args(["exec", "--json", "--max-buffer", "10", "seq 1 100000"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let v = json_of(&out);
    assert_eq!(v["maxBufferExceeded"], "stdout");
    assert_eq!(v["timedOut"], false);
    assert_eq!(v["stdout"], "1\n2\n3\n4\n5\n");
}

// ---------------------------------------------------------------- --max-buffer

#[test]
fn max_buffer_at_the_limit_is_fine() {
    let out = cp()
        .args([
            "exec",
            "--max-buffer",
            "100",
            "head -c 100 /dev/zero; head -c 100 /dev/zero >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, [0u8; 100]);
    assert_eq!(out.stderr, [0u8; 100]);
}

#[test]
fn max_buffer_one_byte_over_keeps_exactly_the_first_bytes() {
    let seq = seq_text(1000);
    let limit = seq.len() - 1;
    let out = cp()
        .args(["exec", "--max-buffer", &limit.to_string(), "seq 1 1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), seq[..limit]);
    let line = assert_err_line(&out.stderr);
    assert!(
        line.contains("stdout") && line.contains(&limit.to_string()),
        "{line}"
    );
    // A much smaller limit: still exactly the first bytes, not a whole read's worth.
    for limit in [1usize, 7, 100, 4095, 4096, 4097, 65537] {
        let out = cp()
            .args(["exec", "--max-buffer", &limit.to_string(), "seq 1 100000"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{limit}");
        assert!(
            out.stdout == seq_text(100000).as_bytes()[..limit],
            "limit {limit}"
        );
    }
}

/// The last line of stderr: childproc's own message (which comes after the captured stderr).
fn assert_err_line(stderr: &[u8]) -> String {
    let err = text(stderr);
    let line = err.lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("childproc: "), "{err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    line
}

#[test]
fn max_buffer_zero() {
    cp().args(["exec", "--max-buffer", "0", "true"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    let out = cp()
        .args(["exec", "--max-buffer", "0", "--json", "printf x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let v = json_of(&out);
    assert_eq!(v["maxBufferExceeded"], "stdout");
    assert_eq!(v["stdout"], "");
    let out = cp()
        .args(["exec", "--max-buffer", "0", "printf x >&2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    let line = assert_err_line(&out.stderr);
    assert_eq!(
        text(&out.stderr),
        format!("{line}\n"),
        "no captured byte is kept"
    );
    assert!(line.contains("stderr") && line.contains('0'), "{line}");
}

#[test]
fn max_buffer_cuts_mid_utf8_byte_exactly() {
    // "é" is c3 a9: a 3-byte limit cuts the second one in half.
    let out = cp()
        .args(["exec", "--max-buffer", "3", "printf 'éé'"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout, b"\xc3\xa9\xc3");
    let out = cp()
        .args([
            "exec",
            "--max-buffer",
            "3",
            "--json",
            "--encoding",
            "base64",
            "printf 'éé'",
        ])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["stdout"], "w6nD", "base64 of c3 a9 c3");
    let out = cp()
        .args(["exec", "--max-buffer", "3", "--json", "printf 'éé'"])
        .output()
        .unwrap();
    assert_eq!(
        json_of(&out)["stdout"],
        "é\u{fffd}",
        "lossy UTF-8 of c3 a9 c3"
    );
    // On stderr as well: a, c3 a9, e2|82 ac.
    let out = cp()
        .args(["exec", "--max-buffer", "4", "printf 'aé€' >&2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let rest = out
        .stderr
        .strip_prefix(b"a\xc3\xa9\xe2")
        .unwrap_or_else(|| panic!("{:?}", out.stderr));
    assert!(
        rest.starts_with(b"childproc: ") || rest.starts_with(b"\nchildproc: "),
        "exactly 4 bytes, then the message: {:?}",
        text(&out.stderr)
    );
}

#[test]
fn max_buffer_counts_each_stream_separately() {
    // 60 + 60 bytes under a 64-byte limit per stream: fine.
    let out = cp()
        .args(["exec", "--max-buffer", "64", "--json"])
        .arg("head -c 60 /dev/zero; head -c 60 /dev/zero >&2; head -c 4 /dev/zero; head -c 4 /dev/zero >&2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json_of(&out);
    assert!(v["maxBufferExceeded"].is_null());
    assert_eq!(v["stdout"].as_str().unwrap().len(), 64);
    assert_eq!(v["stderr"].as_str().unwrap().len(), 64);
    // stderr over, stdout under: stderr is named, stdout is complete.
    let out = cp()
        .args([
            "exec",
            "--max-buffer",
            "64",
            "--json",
            "echo ok; head -c 65 /dev/zero >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let v = json_of(&out);
    assert_eq!(v["maxBufferExceeded"], "stderr");
    assert_eq!(v["stdout"], "ok\n");
    assert_eq!(v["stderr"].as_str().unwrap().len(), 64);
    let line = assert_err_line(&out.stderr);
    assert!(line.contains("stderr") && line.contains("64"), "{line}");
    // stdout over, with some stderr before it: that stderr is still passed on.
    let out = cp()
        .args(["exec", "--max-buffer", "64", "echo warn >&2; seq 1 1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        out.stderr.starts_with(b"warn\nchildproc: "),
        "{}",
        text(&out.stderr)
    );
    let line = assert_err_line(&out.stderr);
    assert!(line.contains("stdout") && line.contains("64"), "{line}");
}

#[test]
fn max_buffer_default_is_one_mebibyte() {
    let out = cp()
        .args([
            "exec",
            "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}",
        text(&out.stderr[out.stderr.len().saturating_sub(200)..])
    );
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
    let out = cp()
        .args(["exec", "head -c 1048577 /dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout.len(), 1 << 20);
    let line = assert_err_line(&out.stderr);
    assert!(line.contains("1048576"), "the limit in bytes: {line}");
}

#[test]
fn max_buffer_overflow_ends_yes_promptly_and_leaves_none() {
    let token = "exec-maxbuf-yes-4717";
    let _sweep = Sweep::new(&[&["yes", token]]);
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--max-buffer", "100", &format!("yes {token}")])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), format!("{token}\n").repeat(10)[..100]);
    assert_none_left(&["yes", token], Duration::from_secs(5), "yes");
    // Plain `yes` as in the issue, too.
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--max-buffer", "100", "yes"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout, "y\n".repeat(50).as_bytes());
}

#[test]
fn max_buffer_overflow_kills_the_whole_group() {
    let token = "exec-maxbuf-bg-yes-4718";
    let _sweep = Sweep::new(&[&["yes", token], &["sleep", "1234.21"]]);
    let out = cp()
        .args(["exec", "--max-buffer", "100"])
        .arg(format!("sleep 1234.21 & yes {token} & wait"))
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_none_left(&["yes", token], Duration::from_secs(5), "background yes");
    assert_none_left(
        &["sleep", "1234.21"],
        Duration::from_secs(5),
        "background sleep",
    );
}

#[test]
fn max_buffer_overflow_escalates_for_a_child_ignoring_term() {
    let token = "exec-maxbuf-stubborn-4719";
    let _sweep = Sweep::new(&[&["yes", token]]);
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--max-buffer", "100", "--kill-after", "300ms"])
        .arg(format!("trap '' TERM; yes {token}"))
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout.len(), 100);
    assert_none_left(&["yes", token], Duration::from_secs(5), "TERM-ignoring yes");
}

// ---------------------------------------------------------------- big output

#[test]
fn ten_megabytes_on_each_stream_in_either_order() {
    let n = 1_400_000; // `seq 1 1400000` is about 10 MB
    let want = seq_text(n);
    for script in [
        format!("seq 1 {n} >&2; seq 1 {n}"),
        format!("seq 1 {n}; seq 1 {n} >&2"),
    ] {
        let t = Instant::now();
        let out = cp()
            .args(["exec", "--max-buffer", "16MiB", &script])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stdout == want.as_bytes(), "stdout differs: {script}");
        assert!(out.stderr == want.as_bytes(), "stderr differs: {script}");
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{script}: {:?}",
            t.elapsed()
        );
    }
}

// ---------------------------------------------------------------- timeouts

#[test]
fn timeout_kills_grandchildren_and_keeps_earlier_output() {
    let _sweep = Sweep::new(&[&["sleep", "1234.22"], &["sleep", "1234.23"]]);
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--timeout", "500ms"])
        .arg("echo before; echo err-before >&2; sleep 1234.22 & sleep 1234.23; wait")
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "before\n");
    let err = text(&out.stderr);
    assert!(err.starts_with("err-before\n"), "{err:?}");
    let line = assert_err_line(&out.stderr);
    assert!(line.contains("timed out"), "{line}");
    assert_none_left(
        &["sleep", "1234.22"],
        Duration::from_secs(5),
        "background grandchild",
    );
    assert_none_left(
        &["sleep", "1234.23"],
        Duration::from_secs(5),
        "foreground grandchild",
    );
}

#[test]
fn preserve_status_and_kill_signal() {
    for (args, code) in [
        (&["--preserve-status"][..], 143),
        (&["--kill-signal", "INT"], 124),
        (&["--kill-signal", "INT", "--preserve-status"], 130),
        (&["--kill-signal", "KILL", "--preserve-status"], 137),
        (&["--kill-signal", "HUP", "--preserve-status"], 129),
    ] {
        let out = cp()
            .args(["exec", "--timeout", "300ms"])
            .args(args)
            .arg("sleep 20")
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_child_ignoring_term_is_killed_after_the_grace_period() {
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--json", "--timeout", "1s", "--kill-after", "500ms"])
        .arg("trap '' TERM; echo ready; while :; do sleep 0.05; done")
        .timeout(SECS30)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(137),
        "SIGKILLed after the grace period"
    );
    let v = json_of(&out);
    assert_eq!(v["stdout"], "ready\n", "output before the kill is kept");
    assert_eq!(v["signal"], "SIGKILL", "escalated");
    assert_eq!(v["timedOut"], true);
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < SECS10, "{took:?}");
    let out = cp()
        .args([
            "exec",
            "--timeout",
            "300ms",
            "--kill-after",
            "300ms",
            "--preserve-status",
        ])
        .arg("trap '' TERM; while :; do sleep 0.05; done")
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn the_default_grace_period_is_two_seconds() {
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--timeout", "300ms", "--preserve-status"])
        .arg("trap '' TERM; while :; do sleep 0.05; done")
        .timeout(SECS30)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(137));
    assert!(took >= Duration::from_millis(2200), "{took:?}");
    assert!(took < SECS10, "{took:?}");
}

#[test]
fn kill_after_zero_never_escalates() {
    let out = cp()
        .args(["exec", "--timeout", "300ms", "--kill-after", "0"])
        .arg("trap 'echo got-term' TERM; i=0; while [ $i -lt 30 ]; do sleep 0.05; i=$((i+1)); done; echo survived")
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got-term\nsurvived\n");
}

#[test]
fn a_child_that_dies_of_the_signal_is_not_held_to_the_grace_period() {
    let t = Instant::now();
    let out = cp()
        .args([
            "exec",
            "--timeout",
            "300ms",
            "--kill-after",
            "20s",
            "sleep 20",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    let t = Instant::now();
    cp().args(["exec", "--timeout", "20s", "echo quick"])
        .timeout(SECS30)
        .assert()
        .code(0)
        .stdout("quick\n")
        .stderr("");
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
}

#[test]
fn a_grandchild_that_left_the_group_does_not_hang_a_timed_run() {
    let _sweep = Sweep::new(&[&["sleep", "1234.24"], &["sleep", "1234.25"]]);
    // The grandchild leaves the process group (setsid) and keeps stdout and stderr open.
    let done = run_args(
        [
            "exec",
            "--timeout",
            "500ms",
            "--kill-after",
            "300ms",
            "setsid sleep 1234.24 & echo started; sleep 1234.25",
        ],
        Feed::Null,
        SECS30,
    );
    assert!(done.elapsed < SECS10, "{:?}", done.elapsed);
    assert_eq!(done.code(), Some(124), "{}", done.err());
    assert_eq!(done.out(), "started\n");
    assert!(done.err().contains("timed out"), "{}", done.err());
    assert_none_left(
        &["sleep", "1234.25"],
        Duration::from_secs(5),
        "the child's own sleep",
    );
}

#[test]
fn a_grandchild_ignoring_the_signal_does_not_hang_a_timed_run() {
    let _sweep = Sweep::new(&[&["sleep", "1234.26"]]);
    // Same group, but it ignores TERM and --kill-after 0 never escalates: it outlives the
    // run with the output pipes open.
    let done = run_args(
        [
            "exec",
            "--timeout",
            "500ms",
            "--kill-after",
            "0",
            "(trap '' TERM; exec sleep 1234.26) & echo started; sleep 20",
        ],
        Feed::Null,
        SECS30,
    );
    assert!(done.elapsed < SECS10, "{:?}", done.elapsed);
    assert_eq!(done.code(), Some(124), "{}", done.err());
    assert_eq!(done.out(), "started\n");
}

#[test]
fn a_grandchild_holding_the_pipe_after_the_child_exits_does_not_hang_a_timed_run() {
    let _sweep = Sweep::new(&[&["sleep", "1234.27"]]);
    let done = run_args(
        [
            "exec",
            "--timeout",
            "500ms",
            "setsid sleep 1234.27 & echo started",
        ],
        Feed::Null,
        SECS30,
    );
    assert!(done.elapsed < SECS10, "{:?}", done.elapsed);
    assert_eq!(done.out(), "started\n");
}

// ---------------------------------------------------------------- stdin

#[test]
fn stdin_passes_through_one_byte() {
    cp().args(["exec", "od -An -tx1"])
        .write_stdin("x")
        .assert()
        .code(0)
        .stdout(" 78\n");
}

#[test]
fn stdin_passes_through_fifty_megabytes() {
    let len: u64 = 50 << 20;
    let dir = tempfile::tempdir().unwrap();
    let want = dir.path().join("want");
    write_pattern(std::fs::File::create(&want).unwrap(), len).unwrap();
    let done = run_args(
        [
            "exec",
            &format!("cmp - {} && echo same", sh_quote(want.to_str().unwrap())),
        ],
        Feed::Pattern(len),
        Duration::from_secs(60),
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "same\n");
}

#[test]
fn eof_reaches_the_child() {
    cp().args(["exec", "cat; echo eof"])
        .write_stdin("a\n")
        .assert()
        .code(0)
        .stdout("a\neof\n");
    let done = run_args(["exec", "cat; echo eof"], Feed::Null, SECS30);
    assert_eq!(done.out(), "eof\n");
    // With --input the child gets that, then EOF, and not childproc's stdin.
    cp().args(["exec", "--input", "given", "cat; echo; echo eof"])
        .write_stdin("ignored")
        .assert()
        .code(0)
        .stdout("given\neof\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "from file\n").unwrap();
    cp().arg("exec")
        .arg("--input-file")
        .arg(f.path())
        .args(["cat; echo eof"])
        .write_stdin("ignored")
        .assert()
        .code(0)
        .stdout("from file\neof\n");
}

#[test]
fn a_child_that_exits_without_reading_a_big_stdin() {
    let done = run_args(
        ["exec", "exit 3"],
        Feed::Pattern(100 << 20),
        Duration::from_secs(60),
    );
    assert_eq!(done.code(), Some(3), "{}", done.err());
    assert!(done.elapsed < SECS30, "{:?}", done.elapsed);
    assert!(done.stderr.is_empty(), "{}", done.err());
    let done = run_args(
        ["exec", "head -c 5 >/dev/null; echo read-some"],
        Feed::Pattern(100 << 20),
        Duration::from_secs(60),
    );
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "read-some\n");
    // --input that the child does not read is not an error either (EPIPE is not childproc's).
    let out = cp()
        .args(["exec", "--input", &"y".repeat(100_000), "true"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------- pipes and SIGPIPE

#[test]
fn yes_into_head_has_empty_stderr() {
    let out = cp()
        .args(["exec", "yes | head -n1"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "y\n");
    assert!(
        out.stderr.is_empty(),
        "SIGPIPE must be at its default: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_closed_stdout_ends_childproc_quietly() {
    for args in ["", "--json"] {
        let line = format!("{} exec {args} 'seq 1 100000' | head -c 2", bin().display());
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .unwrap();
        if args.is_empty() {
            assert_eq!(text(&out.stdout), "1\n");
        }
        assert!(out.stderr.is_empty(), "{args}: {}", text(&out.stderr));
    }
}

// ---------------------------------------------------------------- signals to childproc

#[test]
fn sigterm_to_childproc_is_forwarded_and_leaves_no_orphan() {
    let _sweep = Sweep::new(&[&["sleep", "1234.28"]]);
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!(
        "echo started; sleep 1234.28 & : > {}; wait",
        sh_quote(ready.to_str().unwrap())
    );
    let live = Live::childproc(["exec", &script]);
    let t = Instant::now();
    while !ready.exists() {
        assert!(t.elapsed() < SECS10, "never ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pids_with_cmdline(&["sleep", "1234.28"]).len(), 1);
    live.signal(Signal::SIGTERM);
    let (status, out, _) = live.finish(SECS10);
    assert_eq!(status.code(), Some(143));
    assert_eq!(text(&out), "started\n", "captured output is still printed");
    assert_none_left(&["sleep", "1234.28"], Duration::from_secs(5), "grandchild");
}

#[test]
fn sigkill_to_childproc_takes_its_direct_child_down() {
    let _sweep = Sweep::new(&[&["sleep", "1234.29"]]);
    let mut child = cp_std()
        .args(["exec", "exec sleep 1234.29"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let sleeper = loop {
        if let Some(&p) = pids_with_cmdline(&["sleep", "1234.29"]).first() {
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
        "child of a SIGKILLed childproc",
    );
}

// ---------------------------------------------------------------- descriptors and terminals

#[test]
fn the_child_sees_only_stdin_stdout_stderr() {
    let out = cp().args(["exec", "ls /proc/$$/fd; :"]).output().unwrap();
    assert_eq!(lines(&out.stdout), ["0", "1", "2"]);
    let out = cp().args(["exec", "ls /proc/self/fd"]).output().unwrap();
    assert_eq!(lines(&out.stdout), ["0", "1", "2", "3"]);
    let out = cp()
        .args([
            "exec",
            "--input",
            "x",
            "--timeout",
            "10s",
            "ls /proc/$$/fd; :",
        ])
        .output()
        .unwrap();
    assert_eq!(lines(&out.stdout), ["0", "1", "2"]);
}

#[test]
fn a_child_can_read_the_terminal() {
    let cmd = format!("{} exec 'read x; echo got:$x'", bin().display());
    let mut pty = in_pty(&cmd);
    pty.write(b"typed\n");
    let line = pty.wait_for(SECS10, |l| l.contains("got:"));
    assert_eq!(line, "got:typed");
    let (status, _, _) = pty.finish(SECS10);
    assert_eq!(status.code(), Some(0));
}
