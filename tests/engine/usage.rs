//! Usage errors and validation: every one is exactly one `childproc: ` line on stderr, exit 125,
//! and nothing is run. Also what is NOT an error: the accepted spellings, `--help`/`--version`,
//! and everything after PROGRAM belonging to the child.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::mode::*;
use crate::common::*;

/// Runs `childproc MODE OPTS... <a child that would create a marker file>` in a fresh
/// directory and checks that it is a usage error (125, one line) and that the child never ran.
fn rejected(m: Mode, opts: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut cmd = cp();
    cmd.current_dir(dir.path()).arg(m.name()).args(opts);
    match m {
        Exec => cmd.arg(format!("touch {}", sh_quote(marker.to_str().unwrap()))),
        _ => cmd.arg("touch").arg(&marker),
    };
    let out = cmd.timeout(Duration::from_secs(20)).output().unwrap();
    let line = assert_one_line_error(&out, 125);
    assert!(
        !marker.exists(),
        "`{m:?} {opts:?}` was rejected but the child still ran"
    );
    line
}

case!(bad_durations_are_usage_errors, |m| {
    for opt in ["--timeout", "--kill-after"] {
        for bad in ["-1", "1.5s", "abc", "5x", ""] {
            // Both spellings: `--opt VALUE` and `--opt=VALUE`.
            rejected(m, &[opt, bad]);
            rejected(m, &[&format!("{opt}={bad}")]);
        }
    }
});

case!(bad_signals_are_usage_errors, |m| {
    for bad in ["SIGBOGUS", "BOGUS", "0", "500", "-9", "", "SIG"] {
        rejected(m, &["--kill-signal", bad]);
        rejected(m, &[&format!("--kill-signal={bad}")]);
    }
});

case!(bad_sizes_are_usage_errors, [exec, execfile], |m| {
    for bad in ["-1", "abc", "", "12 parsecs"] {
        rejected(m, &["--max-buffer", bad]);
        rejected(m, &[&format!("--max-buffer={bad}")]);
    }
});

case!(bad_env_pairs_are_usage_errors, |m| {
    for bad in ["FOO", "=x", "=", ""] {
        rejected(m, &["--env", bad]);
        rejected(m, &["-e", bad]);
    }
});

case!(unknown_options_and_values_are_usage_errors, |m| {
    rejected(m, &["--no-such-option"]);
    if m.buffered() {
        rejected(m, &["--encoding", "hex"]);
    }
});

case!(
    a_missing_input_file_is_an_error_and_nothing_runs,
    [exec, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-input");
        let line = rejected(m, &["--input-file", missing.to_str().unwrap()]);
        assert!(line.contains("no-such-input"), "{line}");
    }
);

case!(
    everything_after_program_belongs_to_the_child,
    [spawn, execfile],
    |m| {
        let sub = m.name();
        // (GNU echo would answer a lone --help itself, so let printf show the argument.)
        cp().args([sub, "printf", "%s\n", "--help"])
            .assert()
            .code(0)
            .stdout("--help\n");
        cp().args([sub, "printf", "%s\n", "--version", "-h", "-V"])
            .assert()
            .code(0)
            .stdout("--version\n-h\n-V\n");
        cp().args([sub, "printf", "%s|", "--", "--timeout", ""])
            .assert()
            .code(0)
            .stdout("--|--timeout||");
        // Options after PROGRAM are not childproc's: no timeout, no JSON, no bogus-option error.
        let opts = ["--timeout", "1", "--json", "--bogus", "-e", "X"];
        cp().args([sub, "printf", "%s|"])
            .args(opts)
            .assert()
            .code(0)
            .stdout("--timeout|1|--json|--bogus|-e|X|");
        // A timeout after PROGRAM would kill `sh` after 1 ms: it must reach sh as $1 instead.
        cp().args([
            sub,
            "sh",
            "-c",
            "sleep 0.2; echo \"$1\"",
            "sh",
            "--timeout=1",
        ])
        .assert()
        .code(0)
        .stdout("--timeout=1\n");
        // `--` before PROGRAM ends childproc's options; the PROGRAM may then look like an option.
        cp().args([sub, "--", "echo", "-e", "x"]).assert().code(0);
    }
);

case!(a_start_up_error_names_the_os_error_once, |m| {
    // With 4 descriptors there is no room for the child's pipes (spawn needs --prefix for
    // pipes of its own).
    let opts = if m == Spawn { "--prefix x" } else { "" };
    let line = format!("ulimit -n 4; exec {}", m.sh_line(opts, "echo hi"));
    let out = std::process::Command::new("sh")
        .args(["-c", &line])
        .output()
        .unwrap();
    let err = assert_one_line_error(&out, 125);
    assert_eq!(err.matches("Too many open files").count(), 1, "{err}");
});

#[test]
fn missing_operands_and_unknown_subcommands_are_usage_errors() {
    for args in [
        &["spawn"][..],
        &["exec"],
        &["execfile"],
        &["spawn", "--timeout", "5s"],
        &["no-such-subcommand", "true"],
    ] {
        let out = cp().args(args).output().unwrap();
        assert_one_line_error(&out, 125);
    }
}

#[test]
fn help_and_version_exit_zero() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["spawn", "--help"],
        &["exec", "--help"],
        &["execfile", "--help"],
        &["help"],
    ] {
        let out = cp().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("Usage"),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
    let spawn_help = text(&cp().args(["spawn", "--help"]).output().unwrap().stdout);
    for opt in [
        "--cwd",
        "--env",
        "--timeout",
        "--kill-signal",
        "--kill-after",
        "--json",
        "--prefix",
    ] {
        assert!(spawn_help.contains(opt), "spawn --help lacks {opt}");
    }
    let exec_help = text(&cp().args(["exec", "--help"]).output().unwrap().stdout);
    for opt in [
        "--max-buffer",
        "--input",
        "--input-file",
        "--encoding",
        "--shell",
    ] {
        assert!(exec_help.contains(opt), "exec --help lacks {opt}");
    }
    let out = cp().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = text(&out.stdout);
    assert!(v.starts_with("childproc "), "{v}");
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
}

fn timed(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = cp()
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (out, t.elapsed())
}

#[test]
fn duration_spellings() {
    // A bare number is milliseconds: 300 means 0.3 s, not 300 s.
    let (out, took) = timed(&["spawn", "--timeout", "300", "sleep", "20"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (out, took) = timed(&["spawn", "--timeout", "500ms", "sleep", "20"]);
    assert_eq!(out.status.code(), Some(124));
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let (out, took) = timed(&["spawn", "--timeout", "1s", "sleep", "20"]);
    assert_eq!(out.status.code(), Some(124));
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // Large values are accepted and do not fire (nor delay a quick child).
    for big in ["5s", "2m", "600000"] {
        let (out, took) = timed(&["spawn", "--timeout", big, "sleep", "0.3"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--timeout {big}: {}",
            text(&out.stderr)
        );
        assert!(took < Duration::from_secs(10), "--timeout {big}: {took:?}");
    }
    // 0 = no timeout at all.
    let (out, took) = timed(&["spawn", "--timeout", "0", "sleep", "0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(took >= Duration::from_millis(450), "{took:?}");
    // --kill-after takes the same spellings.
    for ka in ["300", "300ms", "1s", "2m", "0"] {
        let (out, _) = timed(&["spawn", "--kill-after", ka, "true"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--kill-after {ka}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn signal_spellings() {
    // Every spelling of TERM delivers TERM: the child's trap says so.
    for sig in ["TERM", "SIGTERM", "sigterm", "term", "15"] {
        let out = cp()
            .args(["execfile", "--timeout", "1s", "--kill-signal", sig])
            .args([
                "sh",
                "-c",
                "trap 'echo got-TERM; exit 0' TERM; while :; do sleep 0.05; done",
            ])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(124), "{sig}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "got-TERM\n", "--kill-signal {sig}");
    }
    for (sig, name) in [
        ("INT", "INT"),
        ("SIGHUP", "HUP"),
        ("usr1", "USR1"),
        ("10", "USR1"),
    ] {
        let out = cp()
            .args(["execfile", "--timeout", "1s", "--kill-signal", sig])
            .arg("sh")
            .arg("-c")
            .arg(format!(
                "trap 'echo got-{name}; exit 0' {name}; while :; do sleep 0.05; done"
            ))
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(124), "{sig}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            format!("got-{name}\n"),
            "--kill-signal {sig}"
        );
    }
}

#[test]
fn size_spellings() {
    for (size, limit) in [
        ("100", 100usize),
        ("1KiB", 1024),
        ("64KiB", 65536),
        ("1MiB", 1 << 20),
    ] {
        let at = format!("head -c {limit} /dev/zero");
        let over = format!("head -c {} /dev/zero", limit + 1);
        let out = cp()
            .args(["exec", "--max-buffer", size, &at])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{size}: {}", text(&out.stderr));
        assert_eq!(out.stdout.len(), limit, "{size}");
        let out = cp()
            .args(["exec", "--max-buffer", size, &over])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{size}");
        assert_eq!(out.stdout.len(), limit, "{size}");
    }
}

#[test]
fn env_values_may_contain_equals_signs_and_be_empty() {
    cp().args([
        "execfile",
        "-e",
        "A=b=c",
        "-e",
        "E=",
        "sh",
        "-c",
        "echo \"$A|${E+set}|$E|\"",
    ])
    .assert()
    .code(0)
    .stdout("b=c|set||\n");
}

#[test]
fn no_subcommand_is_a_one_line_usage_error() {
    let out = cp().output().unwrap();
    let line = assert_one_line_error(&out, 125);
    assert!(line.contains("subcommand"), "{line}");
}

#[test]
fn a_fractional_byte_count_is_a_usage_error() {
    rejected(Exec, &["--max-buffer", "2.5"]);
    rejected(Execfile, &["--max-buffer", "1.5B"]);
    // Exponents, fractions that round and inner spaces once became 3, 0, 1 and 12 bytes.
    for bad in ["25e-1", "1e-1", "1e-3KiB", "1 2"] {
        for m in [Exec, Execfile] {
            let line = rejected(m, &["--max-buffer", bad]);
            assert!(line.contains(bad), "{line}");
        }
    }
    cp().args(["exec", "--max-buffer", "1.5KiB", "printf abc"])
        .assert()
        .code(0)
        .stdout("abc");
}
