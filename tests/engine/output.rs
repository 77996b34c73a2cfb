//! Output: byte-exact and kept apart, 10 MB on each stream in either order without a deadlock,
//! pipes and SIGPIPE (a child's `yes | head`, a closed stdout), and the buffered modes'
//! --max-buffer (exact, per stream, prompt, the whole group ended).

use std::time::{Duration, Instant};

use crate::common::mode::*;
use crate::common::*;
use crate::{SECS10, SECS30, SECS60};

/// The buffered modes need room for 10 MB; spawn has no limit.
fn room(m: Mode) -> &'static [&'static str] {
    if m.buffered() {
        &["--max-buffer", "16MiB"]
    } else {
        &[]
    }
}

case!(captured_output_is_byte_for_byte, |m| {
    // NUL, invalid UTF-8, CR, no trailing newline, on both streams.
    let script = r"printf 'a\000b\377\r\n\nend'; printf 'E\000\376\r' >&2";
    let out = m.sh(&[], script).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"a\0b\xff\r\n\nend");
    assert_eq!(out.stderr, b"E\0\xfe\r");
    // Nothing at all stays nothing.
    let out = m.argv(&[], &["true"]).output().unwrap();
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
});

case!(stdout_and_stderr_are_kept_apart, |m| {
    let out = m
        .sh(&[], "echo o1; echo e1 >&2; echo o2; echo e2 >&2")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "o1\no2\n");
    assert_eq!(text(&out.stderr), "e1\ne2\n");
});

case!(ten_megabytes_on_each_stream_in_either_order, |m| {
    let n = 1_400_000; // `seq 1 1400000` is about 10 MB
    let want = seq_text(n);
    for script in [
        format!("seq 1 {n} >&2; seq 1 {n}"),
        format!("seq 1 {n}; seq 1 {n} >&2"),
    ] {
        let t = Instant::now();
        let out = m.sh(room(m), &script).timeout(SECS60).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stdout == want.as_bytes(), "stdout differs: {script}");
        assert!(out.stderr == want.as_bytes(), "stderr differs: {script}");
        assert!(t.elapsed() < SECS30, "{script}: {:?}", t.elapsed());
    }
    let mb10 = 10 << 20;
    for script in [
        "head -c 10485760 /dev/zero >&2; head -c 10485760 /dev/zero",
        "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2",
    ] {
        let out = m.sh(room(m), script).timeout(SECS60).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout.len(), mb10, "stdout: {script}");
        assert_eq!(out.stderr.len(), mb10, "stderr: {script}");
    }
});

// ---------------------------------------------------------------- pipes and SIGPIPE

case!(yes_into_head_has_empty_stderr, |m| {
    for opts in m.outputs() {
        let out = m
            .sh(opts, "yes | head -n1")
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{opts:?}");
        assert!(text(&out.stdout).contains('y'));
        if opts.is_empty() {
            assert_eq!(text(&out.stdout), "y\n");
        }
        assert!(
            out.stderr.is_empty(),
            "{opts:?}: SIGPIPE must be at its default: {}",
            text(&out.stderr)
        );
    }
});

case!(a_closed_stdout_ends_childproc_quietly, |m| {
    // spawn streams an endless-looking seq; the buffered modes print theirs at the end.
    let (seq, head) = match m {
        Spawn => ("seq 1 10000000", "head -n1"),
        _ => ("seq 1 100000", "head -c 2"),
    };
    let modes: &[&str] = match m {
        Spawn => &["", "--prefix '> '", "--json"],
        _ => &["", "--json"],
    };
    for opts in modes {
        let line = format!("{} | {head}", m.sh_line(opts, seq));
        let t = Instant::now();
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .unwrap();
        let first = text(&out.stdout);
        match *opts {
            "" => assert_eq!(first, "1\n"),
            "--json" if m == Spawn => {
                assert!(first.starts_with("{\"event\":\"spawn\""), "{first}")
            }
            "--json" => {}
            _ => assert_eq!(first, "> 1\n"),
        }
        assert!(out.stderr.is_empty(), "{opts}: {}", text(&out.stderr));
        assert!(t.elapsed() < SECS30, "{opts}: {:?}", t.elapsed());
    }
});

// ---------------------------------------------------------------- --max-buffer

/// The last line of stderr: childproc's own message (which comes after the captured stderr).
fn err_line(stderr: &[u8]) -> String {
    let err = text(stderr);
    let line = err.lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("childproc: "), "{err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    line
}

case!(max_buffer_at_the_limit_is_fine, [exec, execfile], |m| {
    let script = "head -c 100 /dev/zero; head -c 100 /dev/zero >&2";
    let out = m.sh(&["--max-buffer", "100"], script).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, [0u8; 100]);
    assert_eq!(out.stderr, [0u8; 100]);
    let seq = seq_text(1000);
    let limit = seq.len().to_string();
    let out = m
        .argv(&["--max-buffer", &limit], &["seq", "1", "1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), seq);
});

case!(
    max_buffer_one_byte_over_keeps_exactly_the_first_bytes,
    [exec, execfile],
    |m| {
        let seq = seq_text(1000);
        let limit = seq.len() - 1;
        let out = m
            .argv(&["--max-buffer", &limit.to_string()], &["seq", "1", "1000"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(text(&out.stdout), seq[..limit]);
        let err = text(&out.stderr);
        assert!(
            err.starts_with("childproc: ") && err.lines().count() == 1,
            "{err}"
        );
        let line = err_line(&out.stderr);
        assert!(
            line.contains("stdout") && line.contains(&limit.to_string()),
            "{line}"
        );
        let out = m
            .argv(
                &["--max-buffer", "100"],
                &["head", "-c", "101", "/dev/zero"],
            )
            .output();
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(out.stdout.len(), 100, "exactly the first SIZE bytes");
        let err = text(&out.stderr);
        assert!(err.contains("stdout") && err.contains("100"), "{err}");
        // A much smaller limit: still exactly the first bytes, not a whole read's worth.
        let seq = seq_text(100000);
        for limit in [1usize, 7, 100, 4095, 4096, 4097, 65537] {
            let out = m
                .argv(
                    &["--max-buffer", &limit.to_string()],
                    &["seq", "1", "100000"],
                )
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(125), "{limit}");
            assert!(out.stdout == seq.as_bytes()[..limit], "limit {limit}");
        }
    }
);

case!(max_buffer_zero, [exec, execfile], |m| {
    m.argv(&["--max-buffer", "0"], &["true"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    for script in ["printf x", "echo x"] {
        let out = m
            .sh(&["--max-buffer", "0", "--json"], script)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        let v = json_of(&out);
        assert_eq!(v["maxBufferExceeded"], "stdout");
        assert_eq!(v["stdout"], "");
    }
    let out = m
        .sh(&["--max-buffer", "0"], "printf x >&2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    let line = err_line(&out.stderr);
    assert_eq!(
        text(&out.stderr),
        format!("{line}\n"),
        "no captured byte is kept"
    );
    assert!(line.contains("stderr") && line.contains('0'), "{line}");
});

case!(
    max_buffer_cuts_mid_utf8_byte_exactly,
    [exec, execfile],
    |m| {
        // "é" is c3 a9: a 3-byte limit cuts the second one in half.
        let out = m
            .sh(&["--max-buffer", "3"], "printf 'éé'")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(out.stdout, b"\xc3\xa9\xc3");
        let opts = ["--max-buffer", "3", "--json", "--encoding", "base64"];
        let out = m.sh(&opts, "printf 'éé'").output().unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(json_of(&out)["stdout"], "w6nD", "base64 of c3 a9 c3");
        let out = m
            .sh(&["--max-buffer", "3", "--json"], "printf 'éé'")
            .output()
            .unwrap();
        assert_eq!(
            json_of(&out)["stdout"],
            "é\u{fffd}",
            "lossy UTF-8 of c3 a9 c3"
        );
        // On stderr as well: a, c3 a9, e2|82 ac.
        let out = m
            .sh(&["--max-buffer", "4"], "printf 'aé€' >&2")
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
);

case!(
    max_buffer_counts_each_stream_separately,
    [exec, execfile],
    |m| {
        // 60 + 60 bytes under a 64-byte limit per stream: fine.
        let script = "head -c 60 /dev/zero; head -c 60 /dev/zero >&2; \
                  head -c 4 /dev/zero; head -c 4 /dev/zero >&2";
        let out = m
            .sh(&["--max-buffer", "64", "--json"], script)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v = json_of(&out);
        assert!(v["maxBufferExceeded"].is_null());
        assert_eq!(v["stdout"].as_str().unwrap().len(), 64);
        assert_eq!(v["stderr"].as_str().unwrap().len(), 64);
        // stderr over, stdout under: stderr is named, stdout is complete.
        let script = "echo ok; head -c 65 /dev/zero >&2";
        let out = m
            .sh(&["--max-buffer", "64", "--json"], script)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        let v = json_of(&out);
        assert_eq!(v["maxBufferExceeded"], "stderr");
        assert_eq!(v["stdout"], "ok\n");
        assert_eq!(v["stderr"].as_str().unwrap().len(), 64);
        let line = err_line(&out.stderr);
        assert!(line.contains("stderr") && line.contains("64"), "{line}");
        // stdout over, with some stderr before it: that stderr is still passed on.
        let out = m
            .sh(&["--max-buffer", "64"], "echo warn >&2; seq 1 1000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert!(
            out.stderr.starts_with(b"warn\nchildproc: "),
            "{}",
            text(&out.stderr)
        );
        let line = err_line(&out.stderr);
        assert!(line.contains("stdout") && line.contains("64"), "{line}");
    }
);

case!(
    max_buffer_on_stderr_keeps_exactly_the_first_bytes,
    [exec, execfile],
    |m| {
        let opts = ["--max-buffer", "100", "--json", "--encoding", "base64"];
        let out = m.sh(&opts, "echo fine; seq 1 1000 >&2").output().unwrap();
        assert_eq!(out.status.code(), Some(125));
        let v = json_of(&out);
        assert_eq!(v["maxBufferExceeded"], "stderr");
        assert_eq!(v["stdout"], "ZmluZQo=", "base64 of 'fine\\n'");
        let stderr = seq_text(1000);
        let out = m
            .sh(&["--max-buffer", "100"], "seq 1 1000 >&2")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert!(
            out.stderr.starts_with(&stderr.as_bytes()[..100]),
            "{}",
            text(&out.stderr)
        );
        let rest = text(&out.stderr[100..]);
        assert!(
            rest.starts_with("childproc: "),
            "only the first 100 bytes, then the message: {rest:?}"
        );
        assert!(rest.contains("stderr") && rest.contains("100"), "{rest}");
        assert_eq!(rest.lines().count(), 1, "{rest}");
    }
);

case!(max_buffer_default_is_one_mebibyte, [exec, execfile], |m| {
    let script = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2";
    let out = m.sh(&[], script).output().unwrap();
    let tail = &out.stderr[out.stderr.len().saturating_sub(200)..];
    assert_eq!(out.status.code(), Some(0), "{:?}", text(tail));
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
    let out = m
        .argv(&[], &["head", "-c", "1048577", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout.len(), 1 << 20);
    let line = err_line(&out.stderr);
    assert!(line.contains("1048576"), "the limit in bytes: {line}");
});

case!(
    max_buffer_overflow_ends_yes_promptly_and_leaves_none,
    [exec, execfile],
    |m| {
        let token = format!("maxbuf-yes-4716{}", m.digit());
        let _sweep = Sweep::new(&[&["yes", &token]]);
        let t = Instant::now();
        let out = m
            .argv(&["--max-buffer", "100"], &["yes", &token])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(text(&out.stdout), format!("{token}\n").repeat(10)[..100]);
        assert_none_left(
            &["yes", &token],
            Duration::from_secs(5),
            "yes after --max-buffer",
        );
        // Plain `yes` as in the issue, too.
        let t = Instant::now();
        let out = m
            .argv(&["--max-buffer", "100"], &["yes"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(out.stdout, "y\n".repeat(50).as_bytes());
    }
);

case!(
    max_buffer_overflow_kills_the_whole_group,
    [exec, execfile],
    |m| {
        let token = format!("maxbuf-bg-yes-4718{}", m.digit());
        let gc = m.token("2345.21", 0);
        let _sweep = Sweep::new(&[&["yes", &token], &["sleep", &gc]]);
        let script = format!("sleep {gc} & yes {token} & wait");
        let out = m
            .sh(&["--max-buffer", "100"], &script)
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_none_left(&["yes", &token], Duration::from_secs(5), "background yes");
        assert_none_left(&["sleep", &gc], Duration::from_secs(5), "background sleep");
        // The background job writes its own pid before it prints anything (it becomes `yes`).
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("yes");
        let script = format!("sh -c 'echo $$ > {}; exec yes' & wait", pidfile.display());
        let out = m
            .sh(&["--max-buffer", "100"], &script)
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        let yes = read_pid(&pidfile, Duration::from_secs(5));
        assert!(
            gone_within(yes, Duration::from_secs(5)),
            "yes {yes} survived"
        );
    }
);

case!(
    max_buffer_overflow_escalates_for_a_child_ignoring_term,
    [exec, execfile],
    |m| {
        let token = format!("maxbuf-stubborn-4719{}", m.digit());
        let _sweep = Sweep::new(&[&["yes", &token]]);
        let t = Instant::now();
        let out = m
            .sh(
                &["--max-buffer", "100", "--kill-after", "300ms"],
                &format!("trap '' TERM; yes {token}"),
            )
            .timeout(SECS30)
            .output()
            .unwrap();
        assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(out.stdout.len(), 100);
        assert_none_left(
            &["yes", &token],
            Duration::from_secs(5),
            "TERM-ignoring yes",
        );
    }
);

case!(max_buffer_overflow_in_json, [exec, execfile], |m| {
    let out = m
        .argv(&["--json", "--max-buffer", "10"], &["seq", "1", "100000"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let v = json_of(&out);
    assert_eq!(v["maxBufferExceeded"], "stdout");
    assert_eq!(v["timedOut"], false);
    assert_eq!(v["stdout"], "1\n2\n3\n4\n5\n");
});
