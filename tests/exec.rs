//! What only `childproc exec` has: the command line runs in `/bin/sh -c` (or `--shell`), as one
//! argument, byte for byte. Everything exec shares with spawn and execfile — exit statuses,
//! stdin, --max-buffer, timeouts, signals, --json, descriptors — is in the engine suite
//! (`tests/engine/`), run for each of them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

mod common;
use common::*;

#[test]
fn the_command_line_runs_in_bin_sh() {
    cp().args([
        "exec",
        "echo a b | tr ab xy; X=1; echo \"[$X]\" 2>/dev/null",
    ])
    .assert()
    .code(0)
    .stdout("x y\n[1]\n");
    let cmd = "echo $$";
    let out = cp().args(["exec", "--json", cmd]).output().unwrap();
    let v = json_of(&out);
    assert_eq!(v["command"], cmd);
    assert_eq!(v["argv"], serde_json::json!(["/bin/sh", "-c", cmd]));
    assert_eq!(
        v["stdout"],
        format!("{}\n", v["pid"]),
        "pid is the shell's pid"
    );
}

#[test]
fn shell_option_picks_the_shell() {
    if !std::path::Path::new("/bin/bash").exists() {
        eprintln!("no /bin/bash here; only checking --shell with /bin/sh");
    } else {
        cp().args([
            "exec",
            "--shell",
            "/bin/bash",
            "echo ${BASH_VERSION:+is-bash}",
        ])
        .assert()
        .code(0)
        .stdout("is-bash\n");
        let out = cp()
            .args(["exec", "--shell", "/bin/bash", "--json", "true"])
            .output()
            .unwrap();
        assert_eq!(
            json_of(&out)["argv"],
            serde_json::json!(["/bin/bash", "-c", "true"])
        );
    }
    // A shell that prints its arguments shows how it is called.
    let dir = tempfile::tempdir().unwrap();
    let shell = dir.path().join("argshell");
    write_script(&shell, "printf '[%s]' \"$@\"", 0o755);
    cp().arg("exec")
        .arg("--shell")
        .arg(&shell)
        .arg("some 'command' line")
        .assert()
        .code(0)
        .stdout("[-c][some 'command' line]");
}

#[test]
fn the_command_line_passes_non_utf8_bytes_unchanged() {
    const RAW: &[u8] = b"\xff\xfe-raw-\x80\xc3";
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
fn exec_with_two_operands_explains_quoting() {
    let dir = tempfile::tempdir().unwrap();
    // `touch ran` as two words: had exec joined them, the file would exist.
    let out = cp()
        .current_dir(dir.path())
        .args(["exec", "touch", "ran"])
        .output()
        .unwrap();
    let line = assert_one_line_error(&out, 125);
    assert!(
        line.to_lowercase().contains("quot"),
        "the message should explain quoting: {line}"
    );
    assert!(!dir.path().join("ran").exists(), "nothing may run");
    let out = cp().args(["exec", "echo", "hi"]).output().unwrap();
    let line = assert_one_line_error(&out, 125);
    assert!(line.to_lowercase().contains("quot"), "{line}");
}

#[test]
fn the_one_operand_is_the_command_line_even_when_it_looks_like_an_option() {
    cp().args(["exec", "--", "echo --help"])
        .assert()
        .code(0)
        .stdout("--help\n");
}
