//! Descriptors and the terminal: the child sees stdin, stdout and stderr and nothing else of
//! childproc's (whatever options need pipes or files), and can read the terminal it runs on.

use crate::SECS10;
use crate::common::mode::*;
use crate::common::*;

/// Options that each set up descriptors of their own.
fn descriptor_options(m: Mode, file: &str) -> Vec<Vec<&str>> {
    let mut v = vec![vec![], vec!["--timeout", "10s"]];
    match m {
        Spawn => {
            v.push(vec!["--prefix", ""]);
            v.push(vec!["--merge"]);
            v.push(vec!["--stdout", file]);
        }
        _ => {
            v.push(vec!["--input", "x"]);
            v.push(vec!["--max-buffer", "1KiB"]);
            v.push(vec!["--input", "x", "--timeout", "10s"]);
        }
    }
    v
}

case!(the_child_sees_only_stdin_stdout_stderr, |m| {
    // Leak a descriptor into childproc on purpose: it must not reach the grandchild.
    let leaked = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: clearing close-on-exec on our own descriptor.
    unsafe { libc::fcntl(leaked.as_raw_fd(), libc::F_SETFD, 0) };
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("o");
    // `ls` lists its own descriptors (0-2 plus the one it reads the directory with), then the
    // shell's (listed from outside: 0-2 only).
    let script = "ls /proc/self/fd; ls /proc/$$/fd; :";
    for opts in descriptor_options(m, f.to_str().unwrap()) {
        let out = m.sh(&opts, script).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{opts:?}: {}",
            text(&out.stderr)
        );
        let got = if opts.first() == Some(&"--stdout") {
            lines(&std::fs::read(&f).unwrap())
        } else {
            lines(&out.stdout)
        };
        assert_eq!(got, ["0", "1", "2", "3", "0", "1", "2"], "{opts:?}");
        let out = m.argv(&opts, &["ls", "/proc/self/fd"]).output().unwrap();
        if opts.first() != Some(&"--stdout") {
            assert_eq!(lines(&out.stdout), ["0", "1", "2", "3"], "{opts:?}");
        }
    }
    let out = m.sh(&["--json"], script).output().unwrap();
    assert_eq!(
        m.json_stdout(&out.stdout),
        "0\n1\n2\n3\n0\n1\n2\n",
        "--json"
    );
    drop(leaked);
});

case!(a_child_can_read_the_terminal, |m| {
    let mut pty = in_pty(&m.sh_line("", "read x; echo got:$x"));
    // The terminal keeps what is typed until the child reads it (and a buffered mode's output
    // arrives only at the end), so type at once.
    pty.write(b"typed\n");
    let line = pty.wait_for(SECS10, |l| l.contains("got:"));
    assert_eq!(line, "got:typed");
    let (status, _, _) = pty.finish(SECS10);
    assert_eq!(status.code(), Some(0));
});
