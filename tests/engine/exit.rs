//! Exit statuses: the child's own status passes through; death by signal N is 128+N and named,
//! except SIGPIPE, which is quiet; a plain `exit 137` is not mistaken for SIGKILL.

use predicates::prelude::*;
use predicates::str::{contains, starts_with};

use crate::common::*;

case!(exit_codes_pass_through, |m| {
    for opts in m.outputs() {
        for code in [0, 1, 2, 42, 99, 123, 200, 255] {
            let out = m.sh(opts, &format!("exit {code}")).output().unwrap();
            assert_eq!(out.status.code(), Some(code), "{opts:?}");
            assert!(
                out.stderr.is_empty(),
                "{opts:?} {code}: an ordinary exit status needs no comment: {}",
                text(&out.stderr)
            );
            if opts != ["--json"] {
                assert!(out.stdout.is_empty(), "{opts:?}: {}", text(&out.stdout));
            }
        }
    }
});

const SIGNALS: [(i32, &str); 5] = [
    (15, "SIGTERM"),
    (9, "SIGKILL"),
    (2, "SIGINT"),
    (1, "SIGHUP"),
    (11, "SIGSEGV"),
];

case!(death_by_signal_is_128_plus_n_and_named, |m| {
    let dir = tempfile::tempdir().unwrap(); // a SEGV might dump core: keep it out of the tree
    for opts in m.outputs() {
        for (n, name) in SIGNALS {
            let script = format!("ulimit -c 0; echo out; echo err >&2; kill -{n} $$");
            let run = m.sh(opts, &script).current_dir(dir.path()).assert();
            let run = run.code(128 + n).stderr(contains(name));
            if opts.is_empty() {
                // Output before death is kept, and the child's stderr comes first.
                run.stdout("out\n").stderr(starts_with("err\n"));
            }
        }
    }
});

case!(death_by_signal_in_json, |m| {
    let dir = tempfile::tempdir().unwrap();
    for (n, name) in SIGNALS {
        let out = m
            .sh(&["--json"], &format!("ulimit -c 0; kill -{n} $$"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(128 + n), "--json {name}");
        let v = m.json_outcome(&out.stdout);
        assert!(v["code"].is_null(), "{v}");
        assert_eq!(v["signal"], name);
    }
});

case!(death_by_sigpipe_is_silent, |m| {
    for opts in m.outputs() {
        m.sh(opts, "kill -PIPE $$").assert().code(141).stderr("");
    }
});

case!(exit_137_on_its_own_is_not_called_sigkill, |m| {
    for opts in m.outputs() {
        m.sh(opts, "exit 137")
            .assert()
            .code(137)
            .stderr(contains("SIGKILL").not())
            .stdout(contains("SIGKILL").not());
    }
    let out = m.sh(&["--json"], "exit 137").output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    let v = m.json_outcome(&out.stdout);
    assert_eq!(v["code"], 137);
    assert!(v["signal"].is_null(), "{v}");
});
