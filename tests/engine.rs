//! The process engine through `spawn`, `exec` and `execfile`: exit statuses, program lookup,
//! working directory and environment, stdin, large output, --max-buffer, timeouts and process
//! groups, signals to childproc, literal arguments, --json shapes, descriptors.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::*;

// ---------------------------------------------------------------- exit statuses

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 2, 42, 123, 200] {
        for sub in ["spawn", "execfile"] {
            cp().args([sub, "sh", "-c", &format!("exit {code}")])
                .assert()
                .code(code);
        }
        cp().args(["exec", &format!("exit {code}")])
            .assert()
            .code(code);
    }
}

#[test]
fn death_by_signal_is_128_plus_n_and_named() {
    for (sig, name) in [
        (15, "SIGTERM"),
        (9, "SIGKILL"),
        (2, "SIGINT"),
        (1, "SIGHUP"),
        (11, "SIGSEGV"),
    ] {
        let out = cp()
            .args(["spawn", "sh", "-c", &format!("kill -{sig} $$")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + sig), "{name}");
        assert!(
            text(&out.stderr).contains(name),
            "{name}: {}",
            text(&out.stderr)
        );
        let out = cp()
            .args(["exec", &format!("kill -{sig} $$")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + sig), "exec {name}");
    }
}

#[test]
fn exit_137_that_is_not_a_signal_is_not_called_sigkill() {
    let out = cp()
        .args(["spawn", "sh", "-c", "exit 137"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(!text(&out.stderr).contains("SIGKILL"));
}

// ---------------------------------------------------------------- finding the program

#[test]
fn not_found_is_127_and_not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    for sub in ["spawn", "execfile"] {
        let out = cp().args([sub, "no-such-program-xyz"]).output().unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert!(text(&out.stderr).contains("not found"));
        cp().arg(sub).arg(&plain).assert().code(126);
        cp().args([sub, "/tmp"]).assert().code(126);
    }
}

#[test]
fn a_script_without_a_shebang_runs_under_sh_everywhere() {
    // execvp, Node and the shell run a file the kernel refuses (ENOEXEC) under /bin/sh.
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        write_script(&p, body, 0o755);
        p.display().to_string()
    };
    let plain = script("plain", "echo \"ran:$*\"\n");
    for sub in ["spawn", "execfile"] {
        cp().args([sub, &plain, "a b", "c"])
            .assert()
            .code(0)
            .stdout("ran:a b c\n");
    }
    cp().args(["exec", &format!("{plain} x")])
        .assert()
        .code(0)
        .stdout("ran:x\n");
    let ipc = script("ipc", "printf '[\"no-shebang\"]\\n' >&3\n");
    cp().args(["fork", &ipc])
        .write_stdin("")
        .assert()
        .code(0)
        .stdout("[\"no-shebang\"]\n");
    cp().args([
        "cluster",
        "-w",
        "2",
        "--no-progress",
        "-k",
        "--exec",
        &plain,
        "1",
        "2",
    ])
    .assert()
    .code(0)
    .stdout("ran:1\nran:2\n");
    let worker = script(
        "worker",
        "while read -r m <&3; do printf '{\"got\":%s}\\n' \"$m\" >&3; done\n",
    );
    cp().args([
        "cluster",
        "-w",
        "1",
        "--no-progress",
        "--worker",
        &worker,
        "7",
    ])
    .assert()
    .code(0)
    .stdout("{\"got\":7}\n");
}

#[test]
fn json_results_exist_when_the_program_cannot_start() {
    // Scripts that parse --json get a result even then: pid and code null, Node's error code.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["execfile", "--json", "no-such-program-xyz"],
            127,
            "ENOENT",
        ),
        (&["execfile", "--json", "/tmp"], 126, "EACCES"),
        (
            &["exec", "--json", "--cwd", missing.to_str().unwrap(), "true"],
            125,
            "ENOENT",
        ),
        (
            &["execfile", "--json", "--cwd", "/etc/passwd", "true"],
            125,
            "ENOTDIR",
        ),
    ];
    for (args, code, errno) in cases {
        let out = cp().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let v = json_of(&out);
        assert_eq!(v["pid"], serde_json::Value::Null, "{args:?}");
        assert_eq!(v["code"], serde_json::Value::Null, "{args:?}");
        assert_eq!(v["error"]["code"], errno, "{args:?}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 3, "{v}");
        assert_eq!(text(&out.stderr).lines().count(), 1, "{args:?}");
    }
    let out = cp()
        .args(["spawn", "--json", "no-such-program-xyz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "error");
    assert_eq!(events[0]["code"], "ENOENT");
}

#[test]
fn path_lookup_skips_non_executable_matches_and_uses_the_childs_path() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("tool"), "#!/bin/sh\necho from-a\n").unwrap();
    std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(b.join("tool"), "#!/bin/sh\necho from-b\n").unwrap();
    std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", a.display(), b.display());
    cp().args(["execfile", "--env", &format!("PATH={path}"), "tool"])
        .assert()
        .code(0)
        .stdout("from-b\n");
    // Only a non-executable match: permission denied, not "not found".
    let only_a = format!("PATH={}", a.display());
    let out = cp()
        .args(["execfile", "--env", &only_a, "tool"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(text(&out.stderr).contains("permission denied"));
}

// ---------------------------------------------------------------- cwd and environment

#[test]
fn cwd_missing_file_and_relative() {
    let dir = tempfile::tempdir().unwrap();
    let out = cp()
        .args(["spawn", "--cwd", "/no/such/dir", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("/no/such/dir"));
    assert!(!text(&out.stderr).contains("not found"));
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let out = cp()
        .arg("spawn")
        .arg("-C")
        .arg(&file)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("not a directory"));
    // Relative --cwd, and a relative PROGRAM with '/' resolved against it.
    std::fs::create_dir_all(dir.path().join("sub/bin")).unwrap();
    let script = dir.path().join("sub/bin/here");
    std::fs::write(&script, "#!/bin/sh\npwd\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = cp()
        .current_dir(dir.path())
        .args(["execfile", "-C", "sub", "./bin/here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let want = dir.path().join("sub").canonicalize().unwrap();
    assert_eq!(text(&out.stdout).trim(), want.to_str().unwrap());
}

#[test]
fn env_add_override_and_clear() {
    cp().env("KEEP", "kept")
        .args([
            "execfile",
            "-e",
            "A=1",
            "-e",
            "B=",
            "-e",
            "A=2",
            "sh",
            "-c",
            "echo $A:$B:$KEEP",
        ])
        .assert()
        .stdout("2::kept\n");
    let out = cp()
        .env("KEEP", "kept")
        .args(["execfile", "--env-clear", "-e", "ONLY=x", "/usr/bin/env"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "ONLY=x\n");
}

// ---------------------------------------------------------------- stdin

#[test]
fn stdin_passes_through_one_byte_and_fifty_megabytes() {
    cp().args(["spawn", "od", "-An", "-c"])
        .write_stdin("x")
        .assert()
        .stdout("   x\n");
    let big = vec![b'z'; 50 << 20];
    let out = cp()
        .args(["execfile", "--max-buffer", "64MiB", "wc", "-c"])
        .write_stdin(big)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), (50u64 << 20).to_string());
}

#[test]
fn eof_reaches_the_child_and_input_options_feed_it() {
    cp().args(["spawn", "sh", "-c", "cat; echo done"])
        .write_stdin("a\n")
        .assert()
        .stdout("a\ndone\n");
    cp().args(["exec", "--input", "hello", "cat; echo"])
        .assert()
        .stdout("hello\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "from file").unwrap();
    cp().arg("execfile")
        .arg("--input-file")
        .arg(f.path())
        .arg("cat")
        .assert()
        .stdout("from file");
}

#[test]
fn a_child_that_exits_without_reading_a_big_stdin_is_fine() {
    let t = Instant::now();
    let out = cp()
        .args(["spawn", "true"])
        .write_stdin(vec![b'x'; 100 << 20])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(30));
    let out = cp()
        .args(["exec", "--input", &"y".repeat(100_000), "true"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "EPIPE on --input is not an error"
    );
}

// ---------------------------------------------------------------- big output, no deadlock

#[test]
fn ten_megabytes_on_each_stream_in_either_order() {
    let mb10 = 10 << 20;
    for script in [
        "head -c 10485760 /dev/zero >&2; head -c 10485760 /dev/zero",
        "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2",
    ] {
        let out = cp().args(["spawn", "sh", "-c", script]).output().unwrap();
        assert_eq!(
            (out.stdout.len(), out.stderr.len()),
            (mb10, mb10),
            "spawn: {script}"
        );
        let out = cp()
            .args(["exec", "--max-buffer", "16MiB", script])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout.len(), mb10, "exec stdout: {script}");
        assert_eq!(out.stderr.len(), mb10, "exec stderr: {script}");
    }
}

// ---------------------------------------------------------------- --max-buffer

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn max_buffer_at_the_limit_is_fine_and_one_byte_over_is_not() {
    let out = cp()
        .args(["exec", "--max-buffer", "100", "head -c 100 /dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), 100);
    let out = cp()
        .args(["exec", "--max-buffer", "100", "head -c 101 /dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout.len(), 100, "exactly the first SIZE bytes");
    let err = text(&out.stderr);
    assert!(err.contains("stdout") && err.contains("100"), "{err}");
}

#[test]
fn max_buffer_zero_and_streams_counted_separately() {
    let out = cp()
        .args(["exec", "--max-buffer", "0", "--json", "echo x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(json_of(&out)["maxBufferExceeded"], "stdout");
    assert_eq!(json_of(&out)["stdout"], "");
    cp().args(["exec", "--max-buffer", "0", "true"])
        .assert()
        .code(0);
    // 60 + 60 bytes with a 64-byte limit per stream: fine.
    let out = cp()
        .args(["exec", "--max-buffer", "64", "--json"])
        .arg("head -c 60 /dev/zero; head -c 60 /dev/zero >&2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
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
}

#[test]
fn max_buffer_cuts_mid_utf8_byte_exactly() {
    // "é" is two bytes: a 3-byte limit cuts the second "é" in half.
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
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(json_of(&out)["stdout"], "w6nD", "base64 of c3 a9 c3");
    let out = cp()
        .args(["exec", "--max-buffer", "3", "printf 'éé'"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"\xc3\xa9\xc3");
}

#[test]
fn max_buffer_overflow_kills_yes_promptly() {
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--max-buffer", "100", "yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(out.stdout, "y\n".repeat(50).as_bytes());
    assert!(t.elapsed() < Duration::from_secs(5));
    // The same with yes in the background of a shell: the whole group goes, yes included.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("yes");
    // The background job writes its own pid before it prints anything (it becomes `yes`).
    let script = format!("sh -c 'echo $$ > {}; exec yes' & wait", pidfile.display());
    let out = cp()
        .args(["exec", "--max-buffer", "100", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let yes = read_pid(&pidfile, Duration::from_secs(5));
    assert!(
        gone_within(yes, Duration::from_secs(5)),
        "yes {yes} survived"
    );
}

// ---------------------------------------------------------------- timeouts and groups

#[test]
fn a_timeout_that_needs_sigkill_exits_137_as_timeout_1_does() {
    // timeout(1) itself, for reference: CONT cannot end sleep, the SIGKILL after -k does (and
    // takes timeout's own process group with it, so a shell sees 137).
    let gnu = std::process::Command::new("sh")
        .args(["-c", "timeout -s CONT -k 1 0.1 sleep 10; echo $?"])
        .output()
        .unwrap();
    assert_eq!(text(&gnu.stdout), "137\n", "timeout(1)");
    let limits = [
        "--timeout",
        "100ms",
        "--kill-signal",
        "CONT",
        "--kill-after",
        "500ms",
    ];
    for sub in ["spawn", "execfile", "exec"] {
        let mut cmd = cp();
        cmd.arg(sub).args(limits);
        match sub {
            "exec" => cmd.arg("exec sleep 10"),
            _ => cmd.args(["--", "sleep", "10"]),
        };
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(137), "{sub}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("then SIGKILL"), "{sub}");
    }
    // --json still says timedOut, with the signal that ended it.
    let out = cp()
        .args(["execfile", "--json"])
        .args(limits)
        .args(["--", "sleep", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = json_of(&out);
    assert_eq!(v["timedOut"], true);
    assert_eq!(v["signal"], "SIGKILL");
    // The kill signal ending the child is still 124, even after a grace period was needed
    // for nothing.
    cp().args([
        "spawn",
        "--timeout",
        "100ms",
        "--kill-after",
        "5s",
        "--",
        "sleep",
        "10",
    ])
    .assert()
    .code(124);
}

#[test]
fn timeout_kills_the_whole_group_and_keeps_earlier_output() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg");
    let script = format!(
        "echo before; sleep 31 & echo $! > {}; sleep 32; wait",
        pidfile.display()
    );
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--timeout", "500ms", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(text(&out.stdout), "before\n");
    assert!(text(&out.stderr).contains("timed out"));
    let bg = read_pid(&pidfile, Duration::from_secs(5));
    assert!(
        gone_within(bg, Duration::from_secs(5)),
        "grandchild {bg} survived"
    );
}

#[test]
fn preserve_status_reports_the_signal_instead_of_124() {
    cp().args([
        "spawn",
        "--timeout",
        "200ms",
        "--preserve-status",
        "sleep",
        "30",
    ])
    .assert()
    .code(143);
    cp().args([
        "spawn",
        "--timeout",
        "200ms",
        "--kill-signal",
        "INT",
        "sleep",
        "30",
    ])
    .assert()
    .code(124);
}

#[test]
fn a_child_ignoring_term_is_killed_after_the_grace_period() {
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--timeout", "300ms", "--kill-after", "500ms"])
        .arg("trap '' TERM; echo ready; while :; do sleep 0.05; done")
        .output()
        .unwrap();
    // Ended by the SIGKILL after the grace period, not by TERM: 137, as timeout(1).
    assert_eq!(out.status.code(), Some(137));
    assert_eq!(text(&out.stdout), "ready\n");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(750), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(text(&out.stderr).contains("SIGKILL"));
}

#[test]
fn a_grandchild_holding_the_pipe_does_not_hang_a_timed_run() {
    // The grandchild leaves the process group (setsid) and keeps stdout open.
    let t = Instant::now();
    let out = cp()
        .args(["exec", "--timeout", "300ms", "--kill-after", "300ms"])
        .arg("setsid sleep 20 & echo started")
        .output()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(text(&out.stdout), "started\n");
}

#[test]
fn sigterm_to_childproc_is_forwarded_and_leaves_no_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg");
    let script = format!(
        "sleep 33 & echo $! > {}; echo ready; wait",
        pidfile.display()
    );
    let mut child = std::process::Command::new(bin())
        .args(["spawn", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let bg = read_pid(&pidfile, Duration::from_secs(5));
    // SAFETY: signalling the process we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(
        gone_within(bg, Duration::from_secs(5)),
        "grandchild {bg} survived"
    );
}

#[test]
fn sigkill_to_childproc_takes_its_child_down() {
    let mut child = std::process::Command::new(bin())
        .args(["spawn", "sh", "-c", "echo $$; exec sleep 34"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid: i32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "child {pid} survived SIGKILL of childproc"
    );
}

// ---------------------------------------------------------------- pipes and SIGPIPE

#[test]
fn yes_into_head_inside_exec_has_empty_stderr() {
    let out = cp().args(["exec", "yes | head -n1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "y\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn a_closed_stdout_ends_childproc_quietly() {
    for mode in ["", "--prefix '> '", "--json"] {
        let line = format!("{} spawn {mode} seq 1 10000000 | head -n1", bin().display());
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .unwrap();
        let first = text(&out.stdout);
        if mode == "--json" {
            assert!(first.starts_with("{\"event\":\"spawn\""), "{first}");
        } else {
            assert!(first.ends_with("1\n"), "{mode}: {first}");
        }
        assert!(out.stderr.is_empty(), "{mode}: {}", text(&out.stderr));
    }
}

// ---------------------------------------------------------------- literal arguments

#[test]
fn arguments_reach_the_program_literally() {
    let tricky = [
        "$(touch pwned)",
        "; rm -rf /",
        "'quoted'",
        "\"dq\"",
        "`id`",
        "a\nb",
        "*",
        "",
        "--help",
        "--",
    ];
    let dir = tempfile::tempdir().unwrap();
    for sub in ["execfile", "spawn"] {
        let out = cp()
            .current_dir(dir.path())
            .args([sub, "printf", "[%s]"])
            .args(tricky)
            .output()
            .unwrap();
        let want: String = tricky.iter().map(|a| format!("[{a}]")).collect();
        assert_eq!(text(&out.stdout), want, "{sub}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing ran in a shell"
    );
    // Non-UTF-8 bytes pass through unchanged.
    let raw = OsStr::from_bytes(b"\xff\xfe-bytes");
    let out = cp()
        .args(["execfile", "printf", "%s"])
        .arg(raw)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"\xff\xfe-bytes");
}

// ---------------------------------------------------------------- JSON shapes

#[test]
fn exec_json_result_has_every_field_in_order() {
    let out = cp()
        .args(["exec", "--json", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v = json_of(&out);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
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
    assert_eq!(v["command"], "echo out; echo err >&2; exit 3");
    assert_eq!(
        v["argv"],
        serde_json::json!(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    );
    assert_eq!(v["code"], 3);
    assert!(v["signal"].is_null());
    assert_eq!(v["timedOut"], false);
    assert!(v["maxBufferExceeded"].is_null());
    assert!(v["durationMs"].as_f64().unwrap() > 0.0);
    assert_eq!(v["stdout"], "out\n");
    assert_eq!(v["stderr"], "err\n");
    let out = cp()
        .args(["execfile", "--json", "--timeout", "200ms", "sleep", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let v = json_of(&out);
    assert!(v["code"].is_null());
    assert_eq!(v["signal"], "SIGTERM");
    assert_eq!(v["timedOut"], true);
}

#[test]
fn spawn_json_is_an_event_stream() {
    let out = cp()
        .args(["spawn", "--json", "sh", "-c", "echo a; echo b >&2; exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "spawn");
    assert!(events[0]["pid"].as_i64().unwrap() > 0);
    assert!(events.contains(&serde_json::json!({"event": "stdout", "line": "a"})));
    assert!(events.contains(&serde_json::json!({"event": "stderr", "line": "b"})));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "exit");
    assert_eq!(last["code"], 4);
    assert!(last["signal"].is_null());
    assert!(last["durationMs"].is_number());
}

#[test]
fn prefix_labels_lines_and_long_lines_come_in_pieces() {
    let out = cp()
        .args([
            "spawn",
            "--prefix",
            "[{name}] ",
            "sh",
            "-c",
            "echo a; echo b >&2; printf c",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "[sh] a\n[sh] c\n");
    assert_eq!(text(&out.stderr), "[sh] b\n");
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

#[test]
fn stdout_stderr_files_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("o"), dir.path().join("e"));
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
    cp().args(["spawn", "--merge", "sh", "-c", "echo out; echo err >&2"])
        .assert()
        .stdout("out\nerr\n")
        .stderr("");
}

// ---------------------------------------------------------------- descriptors and terminals

#[test]
fn the_child_sees_only_stdin_stdout_stderr() {
    // Leak a descriptor into childproc on purpose: it must not reach the grandchild.
    let leaked = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: clearing close-on-exec on our own descriptor.
    unsafe { libc::fcntl(leaked.as_raw_fd(), libc::F_SETFD, 0) };
    let out = cp()
        .args(["execfile", "sh", "-c", "ls /proc/$$/fd"])
        .output()
        .unwrap();
    let mut fds: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    fds.sort();
    // sh may have one descriptor of its own open while listing (the directory).
    assert!(fds.len() <= 4, "{fds:?}");
    assert_eq!(&fds[..3], ["0", "1", "2"]);
    drop(leaked);
}

#[test]
fn a_child_can_read_the_terminal_and_ctrl_c_reaches_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.sh");
    std::fs::write(
        &file,
        "trap 'n=$((n+1)); echo got-int-$n' INT\nn=0\necho ready\nread line\necho read:$line\nsleep 1\necho done-$n\n",
    )
    .unwrap();
    let cmd = format!("{} spawn sh {}", bin().display(), file.display());
    let mut pty = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = pty.stdin.take().unwrap();
    let mut out = BufReader::new(pty.stdout.take().unwrap());
    let mut seen = String::new();
    let mut wait_for = |needle: &str, seen: &mut String| {
        let t = Instant::now();
        while !seen.contains(needle) {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            seen.push_str(&line);
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "waiting for {needle}: {seen}"
            );
        }
    };
    wait_for("ready", &mut seen);
    stdin.write_all(b"hello\n").unwrap();
    wait_for("read:hello", &mut seen);
    stdin.write_all(b"\x03").unwrap();
    wait_for("done-", &mut seen);
    let _ = pty.wait();
    assert!(seen.contains("got-int-1"), "{seen}");
    assert!(
        !seen.contains("got-int-2"),
        "Ctrl-C delivered twice: {seen}"
    );
    assert!(seen.contains("done-1"), "{seen}");
}
