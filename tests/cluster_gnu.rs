//! `cluster --exec` against GNU parallel itself (installed by `.ci/run`): the same job set
//! through both, outputs compared exactly with `-k`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::*;

/// Run `cmd` with `args` and `stdin`.
fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// GNU parallel with `opts`, the command `template` and the input words `inputs`.
fn gnu(dir: &Path, opts: &[&str], template: &str, inputs: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new("parallel");
    c.current_dir(dir)
        .arg("--will-cite")
        .args(opts)
        .arg(template)
        .args(inputs);
    let out = run(c, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "GNU parallel: {}",
        text(&out.stderr)
    );
    out
}

/// childproc with the same job set (`--shell`: GNU parallel runs every command in a shell).
fn ours(dir: &Path, opts: &[&str], template: &str, inputs: &[&str], stdin: &[u8]) -> Output {
    let mut c = cp_std();
    c.current_dir(dir)
        .args(["cluster", "--no-progress", "--exec", template])
        .args(opts)
        .args(inputs);
    let out = run(c, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "childproc: {}",
        text(&out.stderr)
    );
    out
}

/// Both print exactly the same (with `-k`).
fn same(opts: &[&str], template: &str, inputs: &[&str], stdin: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut with_k = vec!["-k"];
    with_k.extend_from_slice(opts);
    let g = gnu(dir.path(), &with_k, template, inputs, stdin);
    with_k.push("--shell");
    let o = ours(dir.path(), &with_k, template, inputs, stdin);
    assert_eq!(
        text(&o.stdout),
        text(&g.stdout),
        "{template} {inputs:?}: childproc (left) and GNU parallel (right) differ"
    );
    text(&o.stdout)
}

#[test]
fn input_sources_combine_as_in_gnu_parallel() {
    let out = same(&[], "echo", &[":::", "a", "b", ":::", "1", "2"], b"");
    assert_eq!(out, "a 1\na 2\nb 1\nb 2\n");
    same(
        &[],
        "echo",
        &[":::", "a", "b", ":::", "1", ":::", "x", "y"],
        b"",
    );
    // Linked sources pair up, stopping at the shortest (this GNU parallel's rule).
    let out = same(&[], "echo", &[":::", "a", "b", "c", ":::+", "1", "2"], b"");
    assert_eq!(out, "a 1\nb 2\n");
    same(
        &[],
        "echo {2}-{1}",
        &[":::", "a", "b", "c", "d", ":::+", "1", "2", ":::", "x"],
        b"",
    );
    // An empty source beside others is one empty argument; alone, no job at all.
    same(&[], "echo [{1}] [{2}]", &[":::", "a", ":::"], b"");
    same(&[], "echo [{1}] [{2}]", &[":::", ":::", "x"], b"");
    same(&[], "echo", &[":::", ":::"], b"");
}

#[test]
fn files_stdin_and_nul_separated_inputs_match_gnu_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.txt");
    std::fs::write(&f, "f1\nf 2\n\nf4").unwrap();
    let f = f.to_str().unwrap();
    same(&["-a", f], "echo", &[":::", "z", "y"], b"");
    same(&[], "echo", &["::::", f, ":::", "z"], b"");
    same(&[], "echo", &["::::", f, "-"], b"s1\ns2\n");
    same(&[], "echo [{}]", &[], b"a\n\nb c\n");
    same(&["-0"], "echo [{}]", &[], b"a b\0c\nd\0");
    same(&["--null", "-a", "-"], "echo [{}]", &[], b"x\0y");
}

#[test]
fn replacement_strings_match_gnu_parallel() {
    let paths = [
        ":::",
        "sub.d/f.tar.gz",
        "./.bashrc",
        "foo.",
        "nodir",
        "a/b/",
        "/",
        ".hidden",
        "a/.b",
        "..",
        "dir.x/y",
    ];
    same(&[], "echo {}={.}={/}={//}={/.}={#}", &paths, b"");
    // One slot: {%} is 1 for every job in both.
    same(&["-j1"], "echo {%} {#}", &paths, b"");
    same(
        &[],
        "echo {2}={1.}={2/}={1//}={2/.}={-1}={-2/}",
        &[":::", "a.x/b.c", "q", ":::", "/p/q.r", "s/t"],
        b"",
    );
    // Several arguments under one {} split the word around them, as in a shell.
    same(&[], "echo x{}y", &[":::", "a", "b", ":::", "1"], b"");
    // No replacement string: the arguments are appended.
    same(&[], "echo {#} -", &[":::", "a"], b"");
    same(&[], "echo", &[":::", "a b", "c", ":::", "d"], b"");
}

#[test]
fn columns_match_gnu_parallel() {
    same(&["--colsep", ","], "echo {3}-{1}", &[], b"a,b,c\nd,e,f\n");
    same(&["--colsep", ",+"], "echo", &[], b"a,,b\nc\n");
    same(
        &["--colsep", "\t"],
        "echo {2}",
        &[":::", "x\ty", "1\t2"],
        b"",
    );
}

#[test]
fn values_reach_the_shell_quoted_exactly() {
    let nasty = [
        ":::",
        "it's",
        "$(touch pwned)",
        "a  b",
        "`id`",
        "\"q\"",
        "back\\slash",
        "*",
        "semi;colon",
        "tab\there",
    ];
    let dir = tempfile::tempdir().unwrap();
    let g = gnu(dir.path(), &["-k"], "printf '[%s]\\n' {}", &nasty, b"");
    let o = ours(
        dir.path(),
        &["-k", "--shell"],
        "printf '[%s]\\n' {}",
        &nasty,
        b"",
    );
    assert_eq!(text(&o.stdout), text(&g.stdout));
    // Without --shell, no shell at all: every value one literal argument.
    let o = ours(dir.path(), &["-k"], "printf '[%s]\\n' x{}y", &nasty, b"");
    let want: String = nasty[1..].iter().map(|n| format!("[x{n}y]\n")).collect();
    assert_eq!(text(&o.stdout), want);
    assert!(!dir.path().join("pwned").exists());
    // A newline stays inside its one word (GNU parallel 20221122 splits it into two).
    let o = ours(
        dir.path(),
        &["--shell"],
        "printf '[%s]\\n' {}",
        &[":::", "new\nline"],
        b"",
    );
    assert_eq!(text(&o.stdout), "[new\nline]\n");
}

#[test]
fn bad_templates_and_inputs_are_one_line_and_125_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch {} {{}}", marker.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--exec", "echo {..}", ":::", "a"],
            "unknown replacement string {..}",
        ),
        (
            vec!["--exec", "echo {0}", ":::", "a"],
            "unknown replacement string {0}",
        ),
        (
            vec!["--exec", "echo {3}", ":::", "a", ":::", "b"],
            "{3} names an input source",
        ),
        (
            vec!["--exec", &touch, "--colsep", "(", ":::", "a"],
            "--colsep '('",
        ),
        (
            vec!["--exec", &touch, "::::", "/nonexistent/in"],
            "input file /nonexistent/in",
        ),
        (vec!["--exec", &touch, ":::+", "a"], "first source"),
        (
            vec!["--exec", &touch, "::::"],
            ":::: needs at least one file",
        ),
    ];
    for (args, want) in cases {
        let out = cp().arg("cluster").args(&args).output().unwrap();
        let line = assert_one_line_error(&out, 125);
        assert!(line.contains(want), "{args:?}: {line}");
        assert!(!marker.exists(), "{args:?} ran a job");
    }
}

#[test]
fn a_line_without_the_column_a_template_needs_fails_that_job_only() {
    let out = cp()
        .args([
            "cluster",
            "--no-progress",
            "-k",
            "--colsep",
            ",",
            "--exec",
            "echo {3}",
        ])
        .write_stdin("a,b,c\nd,e\ng,h,i\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "c\ni\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("job 2 (d e) failed: cannot build the command: {3}: the job has 2 arguments"),
        "{err}"
    );
}

#[test]
fn options_stay_before_the_inputs_and_inputs_may_look_like_options() {
    let out = cp()
        .args([
            "cluster",
            "--no-progress",
            "-k",
            "--exec",
            "printf '%s\\n'",
            ":::",
            "-n",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "-n\n--json\n");
}
