//! `--json`: exec's and execfile's one result object (every field, in order) and spawn's
//! `exit` event, for a normal exit, a timeout and a program that cannot start; the exit status
//! is the same as without --json.

use crate::SECS30;
use crate::common::mode::*;
use crate::common::*;

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

case!(
    json_result_has_every_field_in_order,
    [exec, execfile],
    |m| {
        let cmd = "echo $$; echo err >&2; sleep 0.3; exit 3";
        let out = m.sh(&["--json"], cmd).output().unwrap();
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
        assert_eq!(keys(&v), JSON_KEYS);
        match m {
            Exec => {
                assert_eq!(v["command"], cmd);
                assert_eq!(v["argv"], serde_json::json!(["/bin/sh", "-c", cmd]));
            }
            _ => {
                assert_eq!(v["argv"], serde_json::json!(["sh", "-c", cmd]));
                assert!(v["command"].as_str().unwrap().contains("sh"), "{v}");
            }
        }
        let pid = v["pid"].as_i64().unwrap();
        assert!(pid > 1);
        assert_eq!(v["stdout"], format!("{pid}\n"), "pid is the child's pid");
        assert_eq!(v["code"], 3);
        assert!(v["signal"].is_null());
        assert_eq!(v["timedOut"], false);
        assert!(v["maxBufferExceeded"].is_null());
        let ms = v["durationMs"].as_f64().unwrap();
        assert!(ms > 0.0);
        assert!(
            (250.0..10_000.0).contains(&ms),
            "durationMs is milliseconds: {ms}"
        );
        assert_eq!(v["stderr"], "err\n");
    }
);

case!(json_for_a_signal_death, [exec, execfile], |m| {
    let out = m.sh(&["--json"], "kill -KILL $$").output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = json_of(&out);
    assert_eq!(keys(&v), JSON_KEYS);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGKILL");
    assert_eq!(v["timedOut"], false);
});

case!(json_for_a_signal_death_and_a_timeout, |m| {
    let out = m.sh(&["--json"], "kill -TERM $$").output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let v = m.json_outcome(&out.stdout);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGTERM");
    let opts = ["--json", "--timeout", "300ms"];
    let out = m
        .sh(&opts, "echo early; exec sleep 20")
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    let v = m.json_outcome(&out.stdout);
    assert!(v["code"].is_null(), "{v}");
    assert_eq!(v["signal"], "SIGTERM");
    assert_eq!(
        m.json_stdout(&out.stdout),
        "early\n",
        "output before the kill is kept"
    );
    if m.buffered() {
        assert_eq!(keys(&v), JSON_KEYS);
        assert_eq!(v["timedOut"], true);
        assert!(v["maxBufferExceeded"].is_null());
    }
    let opts = ["--json", "--timeout", "300ms", "--kill-signal", "KILL"];
    let out = m
        .argv(&opts, &["sleep", "20"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(m.json_outcome(&out.stdout)["signal"], "SIGKILL");
    let opts = ["--json", "--timeout", "300ms", "--preserve-status"];
    let out = m
        .argv(&opts, &["sleep", "20"])
        .timeout(SECS30)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(143));
    if m.buffered() {
        assert_eq!(json_of(&out)["timedOut"], true);
    }
});

case!(json_exit_status_matches_plain_runs, |m| {
    for script in ["exit 0", "exit 7", "kill -TERM $$"] {
        let plain = m.sh(&[], script).output().unwrap();
        let json = m.sh(&["--json"], script).output().unwrap();
        assert_eq!(plain.status.code(), json.status.code(), "{script}");
    }
    if m != Exec {
        let plain = m.argv(&[], &["no-such-program-4715"]).output().unwrap();
        let json = m
            .argv(&["--json"], &["no-such-program-4715"])
            .output()
            .unwrap();
        assert_eq!(plain.status.code(), json.status.code(), "a missing program");
    }
});

case!(json_encodings, [exec, execfile], |m| {
    let script = r"printf 'ok\377\000\n'; printf '\303' >&2";
    let out = m
        .sh(&["--json", "--encoding", "base64"], script)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["stdout"], "b2v/AAo=", "base64 of 6f 6b ff 00 0a");
    assert_eq!(v["stderr"], "ww==", "base64 of c3");
    // The default is lossy UTF-8.
    let out = m.sh(&["--json"], script).output().unwrap();
    let v = json_of(&out);
    assert_eq!(v["stdout"], "ok\u{fffd}\0\n");
    assert_eq!(v["stderr"], "\u{fffd}");
    let out = m
        .argv(&["--json", "--encoding", "utf8"], &["printf", "é\\n"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["stdout"], "é\n");
});

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
