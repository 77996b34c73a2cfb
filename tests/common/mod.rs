//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

#[macro_use]
pub mod mode;

/// `childproc` as built for this test run.
pub fn cp() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("childproc").expect("binary built")
}

pub fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("childproc")
}

/// `childproc` as a plain `std::process::Command` (for live streams, signals, custom stdio).
pub fn cp_std() -> std::process::Command {
    std::process::Command::new(bin())
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The one JSON document on `out`'s stdout.
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}): {:?} (stderr: {:?})",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// Every stdout line parsed as JSON (JSON-lines output).
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

/// The keys of a JSON object, in document order.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Asserts the shape of every error childproc reports about itself: the given exit code, nothing
/// on stdout, and exactly one line on stderr that starts with `childproc: `. Returns that line.
pub fn assert_one_line_error(out: &std::process::Output, code: i32) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status (stderr: {err:?}, stdout: {:?})",
        text(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout should be empty: {:?}",
        text(&out.stdout)
    );
    assert!(
        err.starts_with("childproc: "),
        "stderr should start with 'childproc: ': {err:?}"
    );
    assert!(
        err.ends_with('\n') && err.matches('\n').count() == 1,
        "stderr should be exactly one line: {err:?}"
    );
    err.trim_end().to_owned()
}

/// The expected output of `seq 1 n`.
pub fn seq_text(n: u64) -> String {
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&i.to_string());
        s.push('\n');
    }
    s
}

/// A deterministic, non-repeating-looking byte pattern: byte `i` of the stream.
pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Fills `buf` with the pattern starting at stream offset `offset`.
pub fn fill_pattern(buf: &mut [u8], offset: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(offset + k as u64);
    }
}

/// Writes `len` bytes of the pattern to `w`, ignoring a reader that goes away (EPIPE).
pub fn write_pattern(mut w: impl Write, len: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        fill_pattern(&mut buf[..n], off);
        w.write_all(&buf[..n])?;
        off += n as u64;
    }
    Ok(())
}

// ---------------------------------------------------------------- processes

/// True once `pid` is gone or a zombie (dead, waiting for a reaper that is not ours).
pub fn gone_within(pid: i32, limit: Duration) -> bool {
    let t = Instant::now();
    loop {
        if !alive(pid) {
            return true;
        }
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    if nix::sys::signal::kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z")
        }
    }
}

/// Sends `sig` to `pid` (errors ignored: the process may be gone already).
pub fn signal(pid: i32, sig: Signal) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
}

/// All live descendants of `pid`, from /proc. Children are listed per thread, and the cluster
/// primary's slot threads are the ones that spawn. childproc's guard process (which only
/// waits to clean up if childproc is SIGKILLed) is not counted.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
                for c in s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
                    if is_guard(c) {
                        continue;
                    }
                    out.push(c);
                    frontier.push(c);
                }
            }
        }
    }
    out
}

/// The guard processes among `pid`'s direct children (childproc's guard, once it spawned).
pub fn guards_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
            let children = s.split_whitespace().filter_map(|c| c.parse::<i32>().ok());
            out.extend(children.filter(|&c| is_guard(c)));
        }
    }
    out
}

/// Polls until `pred` holds; panics with `what` after `limit`. For states a test can see only
/// from outside (a pid in /proc, a file appearing), instead of sleeping a fixed time.
pub fn wait_until(limit: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let t = Instant::now();
    while !pred() {
        assert!(t.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` runs in the foreground of its terminal, not stopped, blocked reading its
/// stdin: from /proc/PID/stat (state, process group, the terminal's foreground group) and
/// /proc/PID/syscall (`read(0, …)`).
pub fn reading_the_terminal(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // After the command name: state, ppid, pgrp, session, tty_nr, tpgid.
    let (Some(state), Some(pgrp), Some(tpgid)) = (f.first(), f.get(2), f.get(5)) else {
        return false;
    };
    let foreground = *state != "T" && *state != "t" && pgrp == tpgid;
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    foreground && syscall.starts_with(&format!("{} 0x0 ", libc::SYS_read))
}

/// Whether `pid` is childproc's guard process.
pub fn is_guard(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim() == "childproc-guard")
}

/// Wait for a file holding a pid (written by a test's child) and return the pid.
pub fn read_pid(path: &std::path::Path, limit: Duration) -> i32 {
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        assert!(t.elapsed() < limit, "no pid written to {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Live (non-zombie) processes whose whole command line is exactly `argv`. Tests give their
/// grandchildren unique command lines (`sleep 1234.5`) so they can be found without a pid.
pub fn pids_with_cmdline(argv: &[&str]) -> Vec<i32> {
    let mut want = Vec::new();
    for a in argv {
        want.extend_from_slice(a.as_bytes());
        want.push(0);
    }
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && c == want
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// Waits until no live process has the command line `argv`; if some survive `limit`, kills them
/// (so a failing test leaves nothing behind) and panics.
pub fn assert_none_left(argv: &[&str], limit: Duration, what: &str) {
    let t = Instant::now();
    loop {
        let left = pids_with_cmdline(argv);
        if left.is_empty() {
            return;
        }
        if t.elapsed() > limit {
            for p in &left {
                signal(*p, Signal::SIGKILL);
            }
            panic!("{what}: {argv:?} still running as {left:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `pid` is gone; if it survives `limit`, kills it and panics.
pub fn assert_gone(pid: i32, limit: Duration, what: &str) {
    if !gone_within(pid, limit) {
        signal(pid, Signal::SIGKILL);
        panic!("{what}: process {pid} is still alive");
    }
}

/// Kills every process with one of these command lines when dropped: a safety net so that a test
/// that fails half-way does not leave its `sleep 1234.5` behind.
pub struct Sweep(pub Vec<Vec<String>>);

impl Sweep {
    pub fn new(cmdlines: &[&[&str]]) -> Sweep {
        Sweep(
            cmdlines
                .iter()
                .map(|c| c.iter().map(|s| s.to_string()).collect())
                .collect(),
        )
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        for c in &self.0 {
            let argv: Vec<&str> = c.iter().map(String::as_str).collect();
            for p in pids_with_cmdline(&argv) {
                signal(p, Signal::SIGKILL);
            }
        }
    }
}

/// Waits for `child` to exit; after `limit` kills it and panics.
pub fn wait_deadline(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------- runs with deadlines

/// What goes to childproc's stdin in [`run_capped`].
pub enum Feed {
    /// `/dev/null`
    Null,
    /// These bytes, then EOF.
    Bytes(Vec<u8>),
    /// This many bytes of [`pattern_byte`], generated on the fly, then EOF.
    Pattern(u64),
}

/// A finished run of childproc.
#[derive(Debug)]
pub struct Done {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From start until childproc exited.
    pub elapsed: Duration,
}

impl Done {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn out(&self) -> String {
        text(&self.stdout)
    }
    pub fn err(&self) -> String {
        text(&self.stderr)
    }
}

/// Runs `cmd` with stdout and stderr going to temporary files rather than pipes, so that nothing
/// a stray grandchild keeps open can hold the test up, and `stdin` fed from a thread (a reader
/// that goes away is fine). Panics, after killing it, if it has not exited within `limit`.
pub fn run_capped(cmd: &mut std::process::Command, stdin: Feed, limit: Duration) -> Done {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    match stdin {
        Feed::Null => cmd.stdin(Stdio::null()),
        _ => cmd.stdin(Stdio::piped()),
    };
    let t = Instant::now();
    let mut child = cmd.spawn().expect("start childproc");
    if let Some(w) = child.stdin.take() {
        std::thread::spawn(move || feed(w, stdin));
    }
    let status = wait_deadline(&mut child, limit, &format!("{cmd:?}"));
    let elapsed = t.elapsed();
    Done {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
        elapsed,
    }
}

fn feed(mut w: ChildStdin, what: Feed) {
    let _ = match what {
        Feed::Null => Ok(()),
        Feed::Bytes(b) => w.write_all(&b),
        Feed::Pattern(n) => write_pattern(&mut w, n),
    };
}

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// `childproc ARGS` through [`run_capped`].
pub fn run_args<I, S>(args: I, stdin: Feed, limit: Duration) -> Done
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_capped(cp_std().args(args), stdin, limit)
}

// ---------------------------------------------------------------- live processes

enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
    OutEof,
    ErrEof,
}

/// A running process with piped stdio whose output is read by threads, so the test can wait for a
/// line with a deadline, send signals, write to its stdin, and finish with a deadline.
pub struct Live {
    pub child: Child,
    rx: mpsc::Receiver<Chunk>,
    stdin: Option<ChildStdin>,
    /// Everything read from stdout so far.
    pub stdout: Vec<u8>,
    /// Everything read from stderr so far.
    pub stderr: Vec<u8>,
    /// How far into `stdout` lines have been consumed by `wait_for_line`.
    consumed: usize,
    out_eof: bool,
    err_eof: bool,
}

impl Live {
    /// Starts `cmd` with stdin, stdout and stderr piped.
    pub fn start(cmd: &mut std::process::Command) -> Live {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start process");
        let (tx, rx) = mpsc::channel();
        let mut so = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match so.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx2.send(Chunk::Out(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx2.send(Chunk::OutEof);
        });
        let mut se = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match se.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Chunk::Err(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(Chunk::ErrEof);
        });
        let stdin = child.stdin.take();
        Live {
            child,
            rx,
            stdin,
            stdout: Vec::new(),
            stderr: Vec::new(),
            consumed: 0,
            out_eof: false,
            err_eof: false,
        }
    }

    /// `childproc ARGS`, live.
    pub fn childproc<I, S>(args: I) -> Live
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Live::start(cp_std().args(args))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn take(&mut self, c: Chunk) {
        match c {
            Chunk::Out(b) => self.stdout.extend_from_slice(&b),
            Chunk::Err(b) => self.stderr.extend_from_slice(&b),
            Chunk::OutEof => self.out_eof = true,
            Chunk::ErrEof => self.err_eof = true,
        }
    }

    /// Reads stdout until a complete line (without `\n`, and without a trailing `\r` as a
    /// terminal adds) satisfies `pred`; returns it. Earlier lines are skipped but kept in
    /// `self.stdout`. Panics after `limit` or at EOF.
    pub fn wait_for(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            while let Some(nl) = self.stdout[self.consumed..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line = text(&self.stdout[self.consumed..self.consumed + nl]);
                self.consumed += nl + 1;
                let line = line.trim_end_matches('\r').to_owned();
                if pred(&line) {
                    return line;
                }
            }
            let left = limit.saturating_sub(t.elapsed());
            if self.out_eof || left.is_zero() {
                panic!(
                    "no matching line after {:?} (eof: {}); stdout so far: {:?}; stderr: {:?}",
                    t.elapsed(),
                    self.out_eof,
                    text(&self.stdout),
                    text(&self.stderr)
                );
            }
            if let Ok(c) = self.rx.recv_timeout(left.min(Duration::from_millis(50))) {
                self.take(c);
            }
        }
    }

    /// Reads stdout until the line `want` (exactly) appears.
    pub fn wait_for_line(&mut self, want: &str, limit: Duration) -> String {
        self.wait_for(limit, |l| l == want)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().expect("stdin still open");
        w.write_all(bytes).expect("write to stdin");
        w.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    /// Waits for exit (panics after `limit`), then collects the rest of the output for at most
    /// a few more seconds (a grandchild may hold a pipe open; that is not this helper's problem).
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<u8>, Vec<u8>) {
        self.stdin = None;
        let t = Instant::now();
        let status = loop {
            while let Ok(c) = self.rx.try_recv() {
                self.take(c);
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running after {limit:?}; stdout: {:?}; stderr: {:?}",
                    text(&self.stdout),
                    text(&self.stderr)
                );
            }
            if let Ok(c) = self.rx.recv_timeout(Duration::from_millis(10)) {
                self.take(c);
            }
        };
        let t = Instant::now();
        while !(self.out_eof && self.err_eof) && t.elapsed() < Duration::from_secs(5) {
            if let Ok(c) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.take(c);
            }
        }
        (
            status,
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        )
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the shell command line `cmd` on a fresh pseudo-terminal (`script` from util-linux), live:
/// what is written to the returned process's stdin is typed on the terminal, and the terminal's
/// output (with `\r\n` line ends) arrives on its stdout.
pub fn in_pty(cmd: &str) -> Live {
    Live::start(
        std::process::Command::new("script")
            .args(["-qfec", cmd, "/dev/null"])
            .env("SHELL", "/bin/sh"),
    )
}

/// Single-quotes `s` for /bin/sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes an executable (or not) shell script.
pub fn write_script(path: &Path, body: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn have_node() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The set-up scripts of the engines `cluster` runs on (private sshd hosts, a local Slurm).
pub fn engines() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines")
}
