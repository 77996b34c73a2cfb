//! The program and its arguments (spawn and execfile share the rules; exec leaves the lookup to
//! the shell): 127 when it is missing, 126 when it cannot be executed, PATH searched as the
//! child will see it and skipping non-executable matches, a relative PROGRAM resolved against
//! --cwd, a script without `#!` run under /bin/sh as execvp and Node do, and arguments passed
//! literally, byte for byte, with no shell in between.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use predicates::str::{contains, starts_with};

use crate::common::*;

case!(a_missing_program_is_127, [spawn, execfile], |m| {
    let dir = tempfile::tempdir().unwrap();
    for opts in m.outputs() {
        for prog in [
            "no-such-program-4713".to_owned(),
            dir.path().join("absent").to_str().unwrap().to_owned(),
            "./relative/absent".to_owned(),
        ] {
            let run = m.argv(opts, &[&prog]).current_dir(dir.path()).assert();
            let run = run
                .code(127)
                .stderr(starts_with("childproc: ").and(contains(prog.as_str())))
                .stderr(contains("not found"));
            if opts != ["--json"] {
                run.stdout("");
            }
        }
    }
});

case!(
    a_program_that_is_not_executable_is_126,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        write_script(&plain, "echo ran", 0o644);
        for opts in m.outputs() {
            for prog in [plain.as_path(), dir.path(), Path::new("/tmp")] {
                let prog = prog.to_str().unwrap();
                m.argv(opts, &[prog])
                    .assert()
                    .code(126)
                    .stdout(contains("ran").not())
                    .stderr(starts_with("childproc: ").and(contains(prog)));
            }
        }
    }
);

/// A directory `a` with a non-executable `tool`, and `b` with an executable one.
fn two_tools(root: &Path) -> (PathBuf, PathBuf) {
    let a = root.join("a");
    let b = root.join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write_script(&a.join("tool"), "echo from-a", 0o644);
    write_script(&b.join("tool"), "echo from-b", 0o755);
    (a, b)
}

case!(
    path_lookup_skips_a_non_executable_match,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_tools(dir.path());
        let path = format!("PATH={}:{}:/usr/bin:/bin", a.display(), b.display());
        m.argv(&["--env", &path], &["tool"])
            .assert()
            .code(0)
            .stdout("from-b\n");
    }
);

case!(
    path_lookup_with_only_non_executable_matches_is_126,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = two_tools(dir.path());
        for path in [
            format!("PATH=/nonexistent-dir:{}:/usr/bin:/bin", a.display()),
            format!("PATH={}", a.display()),
        ] {
            // Permission denied, not "not found".
            m.argv(&["--env", &path], &["tool"])
                .assert()
                .code(126)
                .stdout("")
                .stderr(contains("permission denied"));
        }
    }
);

case!(path_lookup_uses_the_childs_path, [spawn, execfile], |m| {
    let dir = tempfile::tempdir().unwrap();
    let (_, b) = two_tools(dir.path());
    let child_path = format!("PATH={}", b.display());
    // Found through --env PATH although childproc's own PATH lacks it ...
    m.argv(&["--env", &child_path], &["tool"])
        .env("PATH", "/usr/bin:/bin")
        .assert()
        .code(0)
        .stdout("from-b\n");
    // ... and found through --env PATH with an otherwise empty environment ...
    m.argv(&["--env-clear", "--env", &child_path], &["tool"])
        .assert()
        .code(0)
        .stdout("from-b\n");
    // ... and not found when the child's PATH lacks it, although childproc's has it.
    let out = m
        .argv(&["--env", "PATH=/nonexistent-dir"], &["tool"])
        .env("PATH", format!("{}:/usr/bin:/bin", b.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    let out = m
        .argv(&["--env", "PATH=/nonexistent-dir"], &["ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
});

case!(
    relative_cwd_and_a_relative_program_with_a_slash,
    [spawn, execfile],
    |m| {
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
        // --cwd relative to childproc's directory; PROGRAM relative to --cwd.
        for prog in ["./bin/here", "bin/here"] {
            m.argv(&["-C", "sub"], &[prog])
                .current_dir(dir.path())
                .assert()
                .code(0)
                .stdout(want.clone());
        }
        m.argv(&["--cwd", "sub"], &["pwd"])
            .current_dir(dir.path())
            .assert()
            .code(0)
            .stdout(want.clone());
        // Relative to --cwd sub/bin there is no ./bin/here (only relative to childproc's
        // directory, which must not count): 127.
        let out = m
            .argv(&["-C", "sub/bin"], &["./bin/here"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    }
);

case!(
    a_program_without_a_slash_is_not_taken_from_the_cwd,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        write_script(&dir.path().join("only-here-4714"), "echo ran", 0o755);
        let cwd = dir.path().to_str().unwrap();
        let out = m
            .argv(
                &["--env", "PATH=/usr/bin:/bin", "-C", cwd],
                &["only-here-4714"],
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{}", text(&out.stdout));
    }
);

/// Writes an executable shell script without a `#!` line (the kernel refuses it: ENOEXEC).
fn write_unshebanged(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

case!(a_script_without_a_shebang_runs_under_sh, |m| {
    // execvp, Node and the shell run a file the kernel refuses (ENOEXEC) under /bin/sh.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_unshebanged(&plain, "echo \"ran:$*\"\n");
    m.argv(&[], &[plain.to_str().unwrap(), "a b", "c"])
        .assert()
        .code(0)
        .stdout("ran:a b c\n");
});

#[test]
fn a_script_without_a_shebang_runs_under_fork_and_cluster_too() {
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        write_unshebanged(&p, body);
        p.display().to_string()
    };
    let plain = script("plain", "echo \"ran:$*\"\n");
    let ipc = script("ipc", "printf '[\"no-shebang\"]\\n' >&3\n");
    cp().args(["fork", &ipc])
        .write_stdin("")
        .assert()
        .code(0)
        .stdout("[\"no-shebang\"]\n");
    let pool = ["cluster", "-w", "2", "--no-progress", "-k", "--exec"];
    cp().args(pool)
        .args([&plain, "1", "2"])
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
    "$(touch pwned)",
    "; rm -rf /",
    "`id`",
];

case!(
    arguments_reach_the_program_literally,
    [spawn, execfile],
    |m| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("glob-target"), "").unwrap();
        let argv = [&["printf", "[%s]"][..], TRICKY].concat();
        let out = m.argv(&[], &argv).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let want: String = TRICKY.iter().map(|a| format!("[{a}]")).collect();
        assert_eq!(text(&out.stdout), want);
        // Without `--` before PROGRAM, too.
        let out = cp()
            .current_dir(dir.path())
            .args([m.name(), "printf", "[%s]"])
            .args(TRICKY)
            .output()
            .unwrap();
        assert_eq!(text(&out.stdout), want);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["glob-target"], "no shell ran anything");
    }
);

case!(argc_counts_empty_arguments, [spawn, execfile], |m| {
    m.argv(&[], &["sh", "-c", "echo $#", "sh", "", "", "x", ""])
        .assert()
        .code(0)
        .stdout("4\n");
});

const RAW: &[u8] = b"\xff\xfe-raw-\x80\xc3";

case!(
    non_utf8_arguments_pass_through_unchanged,
    [spawn, execfile],
    |m| {
        let out = cp()
            .args([m.name(), "printf", "%s|"])
            .arg(OsStr::from_bytes(RAW))
            .arg(OsStr::from_bytes(b"\x80"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(out.stdout, [RAW, b"|\x80|"].concat(), "argument bytes");
        let out = cp()
            .args([m.name(), "printf", "%s"])
            .arg(OsStr::from_bytes(b"\xff\xfe-bytes"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"\xff\xfe-bytes");
    }
);
