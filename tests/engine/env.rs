//! The child's working directory and environment: --cwd (missing, a file, relative), --env
//! adding and overriding on top of what childproc inherited, --env-clear, non-UTF-8 bytes.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use predicates::prelude::*;
use predicates::str::contains;

use crate::common::*;

case!(a_missing_cwd_or_a_file_as_cwd_is_125_and_named, |m| {
    let dir = tempfile::tempdir().unwrap();
    m.argv(&["--cwd", "/no/such/dir"], &["true"])
        .assert()
        .code(125)
        .stderr(contains("/no/such/dir"))
        .stderr(contains("not found").not());
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    m.argv(&["-C", file.to_str().unwrap()], &["true"])
        .assert()
        .code(125)
        .stderr(contains("not a directory"));
});

case!(
    a_bad_cwd_is_reported_as_such_not_as_a_missing_program,
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let marker = dir.path().join("ran");
        let touch = ["touch", marker.to_str().unwrap()];
        for cwd in [missing.to_str().unwrap(), file.to_str().unwrap()] {
            let out = m.argv(&["--cwd", cwd], &touch).output().unwrap();
            let line = assert_one_line_error(&out, 125);
            assert!(
                line.contains(cwd),
                "the message should name the directory: {line}"
            );
            assert!(!marker.exists(), "nothing may run");
            // Even when the program does not exist either, the directory is the error (not 127).
            let out = m
                .argv(&["-C", cwd], &["no-such-program-4711"])
                .output()
                .unwrap();
            let line = assert_one_line_error(&out, 125);
            assert!(line.contains(cwd), "{line}");
        }
    }
);

case!(cwd_and_env_apply_to_the_child, |m| {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    let opts = [
        "-C",
        dir.path().to_str().unwrap(),
        "-e",
        "GREETING=hi there",
    ];
    m.sh(&opts, "echo \"$GREETING\"; pwd -P")
        .assert()
        .code(0)
        .stdout(format!("hi there\n{}\n", real.display()));
    m.sh(&["--env-clear", "-e", "A=1"], "echo \"${LEAK-unset}:$A\"")
        .env("LEAK", "x")
        .assert()
        .code(0)
        .stdout("unset:1\n");
});

case!(env_adds_and_overrides_and_the_rest_is_inherited, |m| {
    let opts = ["-e", "A=1", "--env", "OVER=new", "-e", "B=", "-e", "A=2"];
    m.sh(&opts, "echo \"$A|$OVER|${B+set}$B|$KEEP\"")
        .env("KEEP", "kept")
        .env("OVER", "old")
        .assert()
        .code(0)
        .stdout("2|new|set|kept\n");
    m.sh(&["-e", "A=1", "-e", "B=", "-e", "A=2"], "echo $A:$B:$KEEP")
        .env("KEEP", "kept")
        .assert()
        .stdout("2::kept\n");
});

case!(env_clear_starts_from_nothing, [spawn, execfile], |m| {
    m.argv(&["--env-clear"], &["/usr/bin/env"])
        .env("KEEP", "kept")
        .assert()
        .code(0)
        .stdout("");
    let opts = ["--env-clear", "-e", "ONLY=x", "-e", "TWO=y=z"];
    let out = m
        .argv(&opts, &["/usr/bin/env"])
        .env("KEEP", "kept")
        .output()
        .unwrap();
    let mut got = lines(&out.stdout);
    got.sort();
    assert_eq!(got, ["ONLY=x", "TWO=y=z"]);
    let out = m
        .argv(&["--env-clear", "-e", "ONLY=x"], &["/usr/bin/env"])
        .env("KEEP", "kept")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "ONLY=x\n");
});

const RAW: &[u8] = b"\xff\xfe-raw-\x80\xc3";

case!(non_utf8_env_values_pass_through_unchanged, |m| {
    let mut kv = b"RAW=".to_vec();
    kv.extend_from_slice(RAW);
    let mut args = m.argv_args(&["--env", "X"], &["printenv", "RAW"]);
    args[2] = OsString::from_vec(kv);
    let out = cp().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, [RAW, b"\n"].concat(), "env bytes");
});

case!(
    non_utf8_paths_work_for_cwd_and_program,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join(OsStr::from_bytes(b"dir-\xff"));
        std::fs::create_dir(&odd).unwrap();
        write_script(&odd.join("prog"), "echo prog-ran", 0o755);
        let real = odd.canonicalize().unwrap();
        let out = cp()
            .arg(m.name())
            .arg("-C")
            .arg(&odd)
            .arg("pwd")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(out.stdout, [real.as_os_str().as_bytes(), b"\n"].concat());
        cp().arg(m.name())
            .arg(odd.join("prog"))
            .assert()
            .code(0)
            .stdout("prog-ran\n");
    }
);
