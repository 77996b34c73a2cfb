//! The child's stdin: childproc's own stdin passed through (one byte, 50 MB, then EOF), the
//! buffered modes' --input and --input-file instead of it, and a child that stops reading.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::{SECS30, SECS60};

case!(stdin_passes_through_one_byte, |m| {
    m.argv(&[], &["od", "-An", "-tx1"])
        .write_stdin("x")
        .assert()
        .code(0)
        .stdout(" 78\n");
    m.argv(&[], &["od", "-An", "-c"])
        .write_stdin("x")
        .assert()
        .stdout("   x\n");
    m.argv(&[], &["cat"])
        .write_stdin("x")
        .assert()
        .code(0)
        .stdout("x");
});

case!(stdin_passes_through_fifty_megabytes, |m| {
    let len: u64 = 50 << 20;
    let dir = tempfile::tempdir().unwrap();
    let want = dir.path().join("want");
    write_pattern(std::fs::File::create(&want).unwrap(), len).unwrap();
    let script = format!("cmp - {} && echo same", sh_quote(want.to_str().unwrap()));
    let done = run_capped(&mut m.sh_std(&[], &script), Feed::Pattern(len), SECS60);
    assert_eq!(done.code(), Some(0), "{}", done.err());
    assert_eq!(done.out(), "same\n");
});

case!(
    fifty_megabytes_of_stdin_counted_by_the_child,
    [exec, execfile],
    |m| {
        let out = m
            .argv(&["--max-buffer", "64MiB"], &["wc", "-c"])
            .write_stdin(vec![b'z'; 50 << 20])
            .output()
            .unwrap();
        assert_eq!(text(&out.stdout).trim(), (50u64 << 20).to_string());
    }
);

case!(eof_reaches_the_child, |m| {
    m.sh(&[], "cat; echo eof")
        .write_stdin("a\n")
        .assert()
        .code(0)
        .stdout("a\neof\n");
    let done = run_capped(&mut m.sh_std(&[], "cat; echo eof"), Feed::Null, SECS30);
    assert_eq!(done.out(), "eof\n");
});

case!(input_and_input_file_replace_stdin, [exec, execfile], |m| {
    // With --input the child gets that, then EOF, and not childproc's stdin.
    m.sh(&["--input", "given"], "cat; echo; echo eof")
        .write_stdin("ignored")
        .assert()
        .code(0)
        .stdout("given\neof\n");
    m.argv(&["--input", "from-option"], &["cat"])
        .write_stdin("from-stdin")
        .assert()
        .stdout("from-option");
    m.sh(&["--input", ""], "cat; echo eof")
        .assert()
        .stdout("eof\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), b"file\0bytes\xff").unwrap();
    let path = f.path().to_str().unwrap();
    m.argv(&["--input-file", path], &["cat"])
        .write_stdin("from-stdin")
        .assert()
        .stdout(&b"file\0bytes\xff"[..]);
    m.sh(&["--input-file", path], "cat; echo eof")
        .write_stdin("ignored")
        .assert()
        .code(0)
        .stdout(&b"file\0bytes\xffeof\n"[..]);
});

case!(an_input_file_at_a_non_utf8_path, [exec, execfile], |m| {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(OsStr::from_bytes(b"dir-\xff"));
    std::fs::create_dir(&odd).unwrap();
    let input = odd.join("input");
    std::fs::write(&input, "fed").unwrap();
    cp().arg(m.name())
        .arg("--input-file")
        .arg(&input)
        .arg("cat")
        .assert()
        .code(0)
        .stdout("fed");
});

case!(a_child_that_exits_without_reading_a_big_stdin, |m| {
    for opts in m.outputs() {
        let done = run_capped(
            &mut m.sh_std(opts, "exit 3"),
            Feed::Pattern(100 << 20),
            SECS60,
        );
        assert_eq!(done.code(), Some(3), "{opts:?}: {}", done.err());
        assert!(done.elapsed < SECS30, "{opts:?}: {:?}", done.elapsed);
        assert!(done.stderr.is_empty(), "{opts:?}: {}", done.err());
    }
    // One that reads a little, then stops.
    for (script, want) in [
        ("head -c 5 >/dev/null; echo read-some", "read-some"),
        ("head -c 5 | wc -c", "5"),
    ] {
        let done = run_capped(&mut m.sh_std(&[], script), Feed::Pattern(100 << 20), SECS60);
        assert_eq!(done.code(), Some(0), "{}", done.err());
        assert_eq!(done.out().trim(), want);
        assert!(done.elapsed < SECS30, "{:?}", done.elapsed);
    }
    let t = Instant::now();
    let out = m
        .argv(&[], &["true"])
        .write_stdin(vec![b'x'; 100 << 20])
        .timeout(SECS60)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(30));
});

case!(
    input_that_the_child_does_not_read_is_not_an_error,
    [exec, execfile],
    |m| {
        // EPIPE on --input is not childproc's error.
        let out = m
            .argv(&["--input", &"y".repeat(100_000)], &["true"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        // The child reads 10 bytes of an endless input and exits: childproc must not keep feeding.
        let out = m
            .argv(&["--input-file", "/dev/zero"], &["head", "-c", "10"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(out.stdout, [0u8; 10]);
        let out = m
            .argv(&["--input-file", "/dev/zero"], &["true"])
            .timeout(SECS30)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
);
