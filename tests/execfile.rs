//! `childproc execfile`: no shell, buffered. Program lookup (126/127, PATH), --cwd, --env,
//! literal and non-UTF-8 arguments, exit statuses, byte-exact capture, --json, --max-buffer,
//! timeouts, stdin, descriptors, signals to childproc. (Lookup tests also cover `spawn`, which
//! shares the rules.)

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

mod common;
use common::*;

const SECS10: Duration = Duration::from_secs(10);
const SECS30: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- exit statuses

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 2, 42, 99, 123, 200, 255] {
        let out = cp()
            .args(["execfile", "sh", "-c", &format!("exit {code}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code));
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr.is_empty(),
            "an ordinary exit status needs no comment: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn death_by_signal_is_128_plus_n_and_named() {
    let dir = tempfile::tempdir().unwrap(); // a SEGV might dump core: keep it out of the tree
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
                "execfile",
                "sh",
                "-c",
                &format!("ulimit -c 0; echo before; kill -{n} $$"),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + n), "{name}");
        assert_eq!(
            text(&out.stdout),
            "before\n",
            "{name}: output before death is kept"
        );
        assert!(
            text(&out.stderr).contains(name),
            "{name}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn death_by_sigpipe_is_silent() {
    let out = cp()
        .args(["execfile", "sh", "-c", "kill -PIPE $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn exit_137_on_its_own_is_not_called_sigkill() {
    let out = cp()
        .args(["execfile", "sh", "-c", "exit 137"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(
        !text(&out.stderr).contains("SIGKILL"),
        "{}",
        text(&out.stderr)
    );
    let out = cp()
        .args(["execfile", "--json", "sh", "-c", "exit 137"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = json_of(&out);
    assert_eq!(v["code"], 137);
    assert!(v["signal"].is_null(), "{v}");
}

// ---------------------------------------------------------------- finding the program

#[test]
fn a_missing_program_is_127() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["execfile", "spawn"] {
        for prog in [
            "no-such-program-4713".to_owned(),
            dir.path().join("absent").to_str().unwrap().to_owned(),
            "./relative/absent".to_owned(),
        ] {
            let out = cp()
                .current_dir(dir.path())
                .args([sub, &prog])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(127),
                "{sub} {prog}: {}",
                text(&out.stderr)
            );
            assert!(out.stdout.is_empty());
            let err = text(&out.stderr);
            assert!(
                err.starts_with("childproc: ") && err.contains(&prog),
                "{sub}: {err}"
            );
        }
    }
}

#[test]
fn a_program_that_is_not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_script(&plain, "echo ran", 0o644);
    for sub in ["execfile", "spawn"] {
        for prog in [plain.as_path(), dir.path()] {
            let out = cp().arg(sub).arg(prog).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(126),
                "{sub} {}: {}",
                prog.display(),
                text(&out.stderr)
            );
            assert!(!text(&out.stdout).contains("ran"));
            let err = text(&out.stderr);
            assert!(
                err.starts_with("childproc: ") && err.contains(prog.to_str().unwrap()),
                "{err}"
            );
        }
    }
}

/// A directory `a` with a non-executable `tool`, and `b` with an executable one.
fn two_tools(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let a = root.join("a");
    let b = root.join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write_script(&a.join("tool"), "echo from-a", 0o644);
    write_script(&b.join("tool"), "echo from-b", 0o755);
    (a, b)
}

#[test]
fn path_lookup_skips_a_non_executable_match() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_tools(dir.path());
    let path = format!("PATH={}:{}:/usr/bin:/bin", a.display(), b.display());
    for sub in ["execfile", "spawn"] {
        cp().args([sub, "--env", &path, "tool"])
            .assert()
            .code(0)
            .stdout("from-b\n");
    }
}

#[test]
fn path_lookup_with_only_non_executable_matches_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_tools(dir.path());
    let path = format!("PATH=/nonexistent-dir:{}:/usr/bin:/bin", a.display());
    for sub in ["execfile", "spawn"] {
        let out = cp().args([sub, "--env", &path, "tool"]).output().unwrap();
        assert_eq!(out.status.code(), Some(126), "{sub}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn path_lookup_uses_the_childs_path() {
    let dir = tempfile::tempdir().unwrap();
    let (_, b) = two_tools(dir.path());
    for sub in ["execfile", "spawn"] {
        // Found through --env PATH although childproc's own PATH lacks it ...
        cp().env("PATH", "/usr/bin:/bin")
            .args([sub, "--env", &format!("PATH={}", b.display()), "tool"])
            .assert()
            .code(0)
            .stdout("from-b\n");
        // ... and found through --env PATH with an otherwise empty environment ...
        cp().args([
            sub,
            "--env-clear",
            "--env",
            &format!("PATH={}", b.display()),
            "tool",
        ])
        .assert()
        .code(0)
        .stdout("from-b\n");
        // ... and not found when the child's PATH lacks it, although childproc's has it.
        let out = cp()
            .env("PATH", format!("{}:/usr/bin:/bin", b.display()))
            .args([sub, "--env", "PATH=/nonexistent-dir", "tool"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{sub}: {}", text(&out.stderr));
        let out = cp()
            .args([sub, "--env", "PATH=/nonexistent-dir", "ls"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{sub}: {}", text(&out.stderr));
    }
}

#[test]
fn relative_cwd_and_a_relative_program_with_a_slash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub/bin")).unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    write_script(&dir.path().join("sub/bin/here"), "pwd", 0o755);
    // The same relative path from childproc's own directory: must not be the one that runs.
    write_script(&dir.path().join("bin/here"), "echo wrong-directory", 0o755);
    let want = format!(
        "{}\n",
        dir.path().join("sub").canonicalize().unwrap().display()
    );
    for sub in ["execfile", "spawn"] {
        // --cwd relative to childproc's directory; PROGRAM relative to --cwd.
        for prog in ["./bin/here", "bin/here"] {
            cp().current_dir(dir.path())
                .args([sub, "-C", "sub", prog])
                .assert()
                .code(0)
                .stdout(want.clone());
        }
        cp().current_dir(dir.path())
            .args([sub, "--cwd", "sub", "pwd"])
            .assert()
            .code(0)
            .stdout(want.clone());
        // Relative to --cwd sub/bin there is no ./bin/here (only relative to childproc's
        // directory, which must not count): 127.
        let out = cp()
            .current_dir(dir.path())
            .args([sub, "-C", "sub/bin", "./bin/here"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{sub}: {}", text(&out.stderr));
    }
}

#[test]
fn a_program_without_a_slash_is_not_taken_from_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    write_script(&dir.path().join("only-here-4714"), "echo ran", 0o755);
    for sub in ["execfile", "spawn"] {
        let out = cp()
            .args([sub, "--env", "PATH=/usr/bin:/bin", "-C"])
            .arg(dir.path())
            .arg("only-here-4714")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{sub}: {}", text(&out.stdout));
    }
}

// ---------------------------------------------------------------- environment

#[test]
fn env_adds_and_overrides_and_the_rest_is_inherited() {
    for sub in ["execfile", "spawn"] {
        cp().env("KEEP", "kept")
            .env("OVER", "old")
            .args([
                sub, "-e", "A=1", "--env", "OVER=new", "-e", "B=", "-e", "A=2",
            ])
            .args(["sh", "-c", "echo \"$A|$OVER|${B+set}$B|$KEEP\""])
            .assert()
            .code(0)
            .stdout("2|new|set|kept\n");
    }
}

#[test]
fn env_clear_starts_from_nothing() {
    for sub in ["execfile", "spawn"] {
        cp().env("KEEP", "kept")
            .args([sub, "--env-clear", "/usr/bin/env"])
            .assert()
            .code(0)
            .stdout("");
        let out = cp()
            .env("KEEP", "kept")
            .args([
                sub,
                "--env-clear",
                "-e",
                "ONLY=x",
                "-e",
                "TWO=y=z",
                "/usr/bin/env",
            ])
            .output()
            .unwrap();
        let mut got = lines(&out.stdout);
        got.sort();
        assert_eq!(got, ["ONLY=x", "TWO=y=z"], "{sub}");
    }
}

// ---------------------------------------------------------------- literal arguments

const TRICKY: &[&str] = &[
    "$(touch pwned-subst)",
    "; touch pwned-semi",
    "a && touch pwned-and",
    "'single'",
    "\"double\"",
    "`touch pwned-tick`",
    "line\nbreak",
    "*",
    "?",
    "~",
    "$HOME",
    "",
    " ",
    "back\\slash",
    "--help",
    "--",
    "-e",
    "|",
    ">out",
];

#[test]
fn arguments_reach_the_program_literally() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("glob-target"), "").unwrap();
    for sub in ["execfile", "spawn"] {
        let out = cp()
            .current_dir(dir.path())
            .args([sub, "printf", "[%s]"])
            .args(TRICKY)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", text(&out.stderr));
        let want: String = TRICKY.iter().map(|a| format!("[{a}]")).collect();
        assert_eq!(text(&out.stdout), want, "{sub}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["glob-target"], "no shell ran anything");
}

#[test]
fn argc_counts_empty_arguments() {
    for sub in ["execfile", "spawn"] {
        cp().args([sub, "sh", "-c", "echo $#", "sh", "", "", "x", ""])
            .assert()
            .code(0)
            .stdout("4\n");
    }
}

const RAW: &[u8] = b"\xff\xfe-raw-\x80\xc3";

#[test]
fn non_utf8_arguments_pass_through_unchanged() {
    for sub in ["execfile", "spawn"] {
        let out = cp()
            .args([sub, "printf", "%s|"])
            .arg(OsStr::from_bytes(RAW))
            .arg(OsStr::from_bytes(b"\x80"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            out.stdout,
            [RAW, b"|\x80|"].concat(),
            "{sub}: argument bytes"
        );
    }
    // exec's command line too.
    let mut line = b"printf '%s' '".to_vec();
    line.extend_from_slice(RAW);
    line.push(b'\'');
    let out = cp()
        .arg("exec")
        .arg(OsStr::from_bytes(&line))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, RAW, "exec: command line bytes");
}

#[test]
fn non_utf8_env_values_pass_through_unchanged() {
    for sub in ["execfile", "spawn"] {
        let mut kv = b"RAW=".to_vec();
        kv.extend_from_slice(RAW);
        let out = cp()
            .args([sub, "--env"])
            .arg(OsString::from_vec(kv))
            .args(["printenv", "RAW"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", text(&out.stderr));
        assert_eq!(out.stdout, [RAW, b"\n"].concat(), "{sub}: env bytes");
    }
}

#[test]
fn non_utf8_paths_work_for_cwd_and_program() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(OsStr::from_bytes(b"dir-\xff"));
    std::fs::create_dir(&odd).unwrap();
    write_script(&odd.join("prog"), "echo prog-ran", 0o755);
    let real = odd.canonicalize().unwrap();
    for sub in ["execfile", "spawn"] {
        let out = cp()
            .arg(sub)
            .arg("-C")
            .arg(&odd)
            .arg("pwd")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", text(&out.stderr));
        assert_eq!(
            out.stdout,
            [real.as_os_str().as_bytes(), b"\n"].concat(),
            "{sub}"
        );
        cp().arg(sub)
            .arg(odd.join("prog"))
            .assert()
            .code(0)
            .stdout("prog-ran\n");
    }
    let input = odd.join("input");
    std::fs::write(&input, "fed").unwrap();
    cp().arg("execfile")
        .arg("--input-file")
        .arg(&input)
        .arg("cat")
        .assert()
        .code(0)
        .stdout("fed");
}

// ---------------------------------------------------------------- capture

#[test]
fn captured_output_is_byte_for_byte() {
    // NUL, invalid UTF-8, CR, no trailing newline, on both streams.
    let out = cp()
        .args([
            "execfile",
            "sh",
            "-c",
            r"printf 'a\000b\377\r\n\nend'; printf 'E\000\376\r' >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"a\0b\xff\r\n\nend");
    assert_eq!(out.stderr, b"E\0\xfe\r");
    // Nothing at all stays nothing.
    let out = cp().args(["execfile", "true"]).output().unwrap();
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn stdout_and_stderr_are_kept_apart() {
    let out = cp()
        .args([
            "execfile",
            "sh",
            "-c",
            "echo o1; echo e1 >&2; echo o2; echo e2 >&2",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "o1\no2\n");
    assert_eq!(text(&out.stderr), "e1\ne2\n");
}

#[test]
fn ten_megabytes_on_each_stream_in_either_order() {
    let n = 1_400_000; // `seq 1 1400000` is about 10 MB
    let want = seq_text(n);
    for script in [
        format!("seq 1 {n} >&2; seq 1 {n}"),
        format!("seq 1 {n}; seq 1 {n} >&2"),
    ] {
        let out = cp()
            .args(["execfile", "--max-buffer", "16MiB", "sh", "-c", &script])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(out.stdout == want.as_bytes(), "stdout differs: {script}");
        assert!(out.stderr == want.as_bytes(), "stderr differs: {script}");
    }
}

// ---------------------------------------------------------------- --json

const JSON_KEYS: [&str; 10] = [
    "command",
    "argv",
    "pid",
    "code",
    "signal",
    "timedOut",
    "maxBufferExceeded",
    "durationMs",
    "stdout",
    "stderr",
];

#[test]
fn json_result_shape() {
    let out = cp()
        .args([
            "execfile",
            "--json",
            "sh",
            "-c",
            "echo $$; echo err >&2; sleep 0.3; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "same status as without --json");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let v = json_of(&out);
    assert_eq!(keys(&v), JSON_KEYS);
    assert_eq!(
        v["argv"],
        serde_json::json!(["sh", "-c", "echo $$; echo err >&2; sleep 0.3; exit 3"])
    );
    assert!(v["command"].as_str().unwrap().contains("sh"), "{v}");
    let pid = v["pid"].as_i64().unwrap();
    assert_eq!(v["stdout"], format!("{pid}\n"), "pid is the child's pid");
    assert_eq!(v["code"], 3);
    assert!(v["signal"].is_null());
    assert_eq!(v["timedOut"], false);
    assert!(v["maxBufferExceeded"].is_null());
    let ms = v["durationMs"].as_f64().unwrap();
    assert!((250.0..10_000.0).contains(&ms), "durationMs {ms}");
    assert_eq!(v["stderr"], "err\n");
}

#[test]
fn json_for_a_signal_death() {
    let out = cp()
        .args(["execfile", "--json", "sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = json_of(&out);
    assert_eq!(keys(&v), JSON_KEYS);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGKILL");
    assert_eq!(v["timedOut"], false);
}

#[test]
fn json_for_a_timeout() {
    let out = cp()
        .args([
            "execfile",
            "--json",
            "--timeout",
            "300ms",
            "sh",
            "-c",
            "echo early; exec sleep 20",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let v = json_of(&out);
    assert_eq!(keys(&v), JSON_KEYS);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGTERM");
    assert_eq!(v["timedOut"], true);
    assert_eq!(v["stdout"], "early\n", "output before the kill is kept");
    let out = cp()
        .args([
            "execfile",
            "--json",
            "--timeout",
            "300ms",
            "--preserve-status",
            "sleep",
            "20",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(json_of(&out)["timedOut"], true);
}

#[test]
fn json_exit_status_matches_plain_runs() {
    for args in [
        &["sh", "-c", "exit 0"][..],
        &["sh", "-c", "exit 7"],
        &["sh", "-c", "kill -TERM $$"],
        &["no-such-program-4715"],
    ] {
        let plain = cp().arg("execfile").args(args).output().unwrap();
        let json = cp()
            .args(["execfile", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(plain.status.code(), json.status.code(), "{args:?}");
    }
}

#[test]
fn json_encodings() {
    let script = r"printf 'ok\377\000\n'; printf '\303' >&2";
    let out = cp()
        .args([
            "execfile",
            "--json",
            "--encoding",
            "base64",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["stdout"], "b2v/AAo=", "base64 of 6f 6b ff 00 0a");
    assert_eq!(v["stderr"], "ww==", "base64 of c3");
    // The default is lossy UTF-8.
    let out = cp()
        .args(["execfile", "--json", "sh", "-c", script])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["stdout"], "ok\u{fffd}\0\n");
    assert_eq!(v["stderr"], "\u{fffd}");
    let out = cp()
        .args(["execfile", "--json", "--encoding", "utf8", "printf", "é\\n"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["stdout"], "é\n");
}

// ---------------------------------------------------------------- --max-buffer

#[test]
fn max_buffer_keeps_exactly_the_first_bytes() {
    let seq = seq_text(1000);
    // At the limit: fine.
    let out = cp()
        .args([
            "execfile",
            "--max-buffer",
            &seq.len().to_string(),
            "seq",
            "1",
            "1000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), seq);
    // One byte over.
    let limit = seq.len() - 1;
    let out = cp()
        .args([
            "execfile",
            "--max-buffer",
            &limit.to_string(),
            "seq",
            "1",
            "1000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), seq[..limit]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with("childproc: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("stdout") && err.contains(&limit.to_string()),
        "{err}"
    );
}

#[test]
fn max_buffer_on_stderr() {
    let out = cp()
        .args([
            "execfile",
            "--max-buffer",
            "100",
            "--json",
            "--encoding",
            "base64",
        ])
        .args(["sh", "-c", "echo fine; seq 1 1000 >&2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let v = json_of(&out);
    assert_eq!(v["maxBufferExceeded"], "stderr");
    assert_eq!(v["stdout"], "ZmluZQo=", "base64 of 'fine\\n'");
    let stderr = seq_text(1000);
    let out = cp()
        .args([
            "execfile",
            "--max-buffer",
            "100",
            "sh",
            "-c",
            "seq 1 1000 >&2",
        ])
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

#[test]
fn max_buffer_overflow_ends_yes_promptly_and_leaves_none() {
    let token = "execfile-maxbuf-yes-4716";
    let _sweep = Sweep::new(&[&["yes", token]]);
    let t = Instant::now();
    let out = cp()
        .args(["execfile", "--max-buffer", "100", "yes", token])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(125));
    let want = format!("{token}\n").repeat(10);
    assert_eq!(text(&out.stdout), want[..100]);
    assert_none_left(
        &["yes", token],
        Duration::from_secs(5),
        "yes after --max-buffer",
    );
}

// ---------------------------------------------------------------- timeouts

#[test]
fn timeout_kills_grandchildren_and_keeps_earlier_output() {
    let _sweep = Sweep::new(&[&["sleep", "1234.1"], &["sleep", "1234.2"]]);
    let t = Instant::now();
    let out = cp()
        .args(["execfile", "--timeout", "500ms"])
        .args([
            "sh",
            "-c",
            "echo before; echo err-before >&2; sleep 1234.1 & sleep 1234.2; wait",
        ])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "before\n");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("err-before\n"),
        "captured stderr comes first: {err:?}"
    );
    assert!(err.lines().last().unwrap().contains("timed out"), "{err}");
    assert_none_left(
        &["sleep", "1234.1"],
        Duration::from_secs(5),
        "background grandchild",
    );
    assert_none_left(
        &["sleep", "1234.2"],
        Duration::from_secs(5),
        "foreground grandchild",
    );
}

#[test]
fn a_child_that_finishes_in_time_is_not_held_to_the_timeout() {
    let t = Instant::now();
    let out = cp()
        .args([
            "execfile",
            "--timeout",
            "20s",
            "sh",
            "-c",
            "echo quick; exit 5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(text(&out.stdout), "quick\n");
    assert!(!text(&out.stderr).contains("timed out"));
    assert!(t.elapsed() < SECS10, "{:?}", t.elapsed());
}

// ---------------------------------------------------------------- stdin

#[test]
fn stdin_is_childprocs_stdin_unless_input_is_given() {
    cp().args(["execfile", "cat"])
        .write_stdin("x")
        .assert()
        .code(0)
        .stdout("x");
    cp().args(["execfile", "sh", "-c", "cat; echo eof-seen"])
        .write_stdin("abc\n")
        .assert()
        .code(0)
        .stdout("abc\neof-seen\n");
    cp().args(["execfile", "--input", "from-option", "cat"])
        .write_stdin("from-stdin")
        .assert()
        .stdout("from-option");
    cp().args(["execfile", "--input", "", "sh", "-c", "cat; echo eof"])
        .assert()
        .stdout("eof\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), b"file\0bytes\xff").unwrap();
    cp().arg("execfile")
        .arg("--input-file")
        .arg(f.path())
        .arg("cat")
        .write_stdin("from-stdin")
        .assert()
        .stdout(&b"file\0bytes\xff"[..]);
}

#[test]
fn an_endless_input_file_and_a_child_that_stops_reading() {
    // The child reads 10 bytes of an endless input and exits: childproc must not keep feeding.
    let out = cp()
        .args(["execfile", "--input-file", "/dev/zero", "head", "-c", "10"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, [0u8; 10]);
    let out = cp()
        .args(["execfile", "--input-file", "/dev/zero", "true"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------- descriptors, pipes, signals

#[test]
fn the_child_sees_only_stdin_stdout_stderr() {
    for extra in [
        &[][..],
        &["--input", "x"],
        &["--timeout", "10s"],
        &["--max-buffer", "1KiB"],
    ] {
        // `ls` lists its own descriptors: 0-2 plus the one it reads the directory with.
        let out = cp()
            .arg("execfile")
            .args(extra)
            .args(["ls", "/proc/self/fd"])
            .output()
            .unwrap();
        assert_eq!(lines(&out.stdout), ["0", "1", "2", "3"], "{extra:?}");
        // The shell's own descriptors, listed by its child: 0-2 only.
        let out = cp()
            .arg("execfile")
            .args(extra)
            .args(["sh", "-c", "ls /proc/$$/fd; :"])
            .output()
            .unwrap();
        assert_eq!(lines(&out.stdout), ["0", "1", "2"], "{extra:?}");
    }
    let out = cp()
        .args(["execfile", "--json", "ls", "/proc/self/fd"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["stdout"], "0\n1\n2\n3\n");
}

#[test]
fn sigpipe_is_at_its_default_in_the_child() {
    let out = cp()
        .args(["execfile", "sh", "-c", "yes | head -n1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "y\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn sigkill_to_childproc_takes_its_direct_child_down() {
    let _sweep = Sweep::new(&[&["sleep", "1234.3"]]);
    let mut child = cp_std()
        .args(["execfile", "sleep", "1234.3"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cpid = child.id() as i32;
    let t = Instant::now();
    let sleeper = loop {
        if let Some(&p) = pids_with_cmdline(&["sleep", "1234.3"]).first() {
            break p;
        }
        assert!(t.elapsed() < SECS10, "sleep never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(descendants(cpid).contains(&sleeper));
    signal(cpid, Signal::SIGKILL);
    child.wait().unwrap();
    assert_gone(
        sleeper,
        Duration::from_secs(5),
        "child of a SIGKILLed childproc",
    );
}

#[test]
fn sigterm_to_childproc_is_forwarded_and_output_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!(
        "trap 'echo got-term; exit 3' TERM; echo started; : > {}; while :; do sleep 0.05; done",
        sh_quote(ready.to_str().unwrap())
    );
    let live = Live::childproc(["execfile", "sh", "-c", &script]);
    let t = Instant::now();
    while !ready.exists() {
        assert!(t.elapsed() < SECS10, "child never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    live.signal(Signal::SIGTERM);
    let (_status, out, _err) = live.finish(SECS10);
    assert_eq!(
        text(&out),
        "started\ngot-term\n",
        "captured output is still printed"
    );
}

#[test]
fn a_child_can_read_the_terminal() {
    let cmd = format!(
        "{} execfile sh -c 'echo ready; read x; echo got:$x'",
        bin().display()
    );
    let mut pty = in_pty(&cmd);
    // execfile buffers: `ready` arrives only at the end, so just type the line.
    pty.write(b"typed\n");
    let line = pty.wait_for(SECS10, |l| l.contains("got:"));
    assert_eq!(line, "got:typed");
    let (status, _, _) = pty.finish(SECS10);
    assert_eq!(status.code(), Some(0));
}
