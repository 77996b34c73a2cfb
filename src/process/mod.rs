//! The process engine shared by every subcommand.
//!
//! One child at a time is described by a [`Spec`], started by [`spawn`] into its own process
//! group, and watched by [`supervise`]: a single `poll(2)` loop over the child's pidfd, its output
//! pipes, an optional stdin feed and childproc's own signals, with the timeout and kill-after
//! deadlines as the poll timeout. No threads are needed to capture both streams concurrently.
//!
//! Why std + libc rather than duct: duct's `Handle` avoids PID-reuse races by waiting on a
//! helper thread with `waitid(WNOWAIT)`, but it has no notion of process groups, bounded capture
//! with an early kill, or multiplexing signals and deadlines with the output. We get the same
//! race-freedom from a pidfd plus `waitid(WNOWAIT)`: the leader stays an unreaped zombie until
//! we are completely done, so its PID — which is also the process-group ID — cannot be reused
//! while we might still signal the group.

pub mod resolve;
pub mod signals;
mod supervise;

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use supervise::{NoOutput, Sink, SinkResult, Stream, supervise};

use crate::values::Signal;

/// Everything that went wrong before the child could run.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: permission denied (not executable)")]
    NotExecutable(String),
    #[error("{0}: is a directory")]
    IsDirectory(String),
    #[error("{0}: exec format error (not a binary and no #! line)")]
    ExecFormat(String),
    #[error("--cwd {}: no such directory", .0.display())]
    CwdMissing(PathBuf),
    #[error("--cwd {}: not a directory", .0.display())]
    CwdNotDir(PathBuf),
    #[error("--cwd {}: {}", .dir.display(), .source)]
    CwdOther {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// How one of the child's output streams is connected.
#[derive(Debug)]
pub enum Output {
    /// Shares childproc's own stream (zero copy).
    Inherit,
    /// Discarded.
    Null,
    /// Written straight into this file by the child.
    File(File),
    /// Piped to childproc and handed to the supervisor's [`Sink`].
    Pipe,
    /// stderr only: the same pipe or file as stdout (2>&1).
    SameAsStdout,
}

/// Where the child's stdin comes from.
#[derive(Debug)]
pub enum Input {
    Inherit,
    Null,
    File(File),
    /// Written by the supervisor through a pipe; the pipe is closed at the end (EOF).
    Bytes(Vec<u8>),
}

/// What to run and how.
#[derive(Debug)]
pub struct Spec {
    /// The program as the user gave it; it is also the child's `argv[0]`.
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env_clear: bool,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    /// A descriptor to place on fd 3 in the child (the IPC channel of `fork`).
    pub fd3: Option<OwnedFd>,
}

impl Spec {
    pub fn new(program: impl Into<OsString>, args: Vec<OsString>) -> Spec {
        Spec {
            program: program.into(),
            args,
            cwd: None,
            env_clear: false,
            env: Vec::new(),
            stdin: Input::Inherit,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            fd3: None,
        }
    }

    /// The PATH the child will see.
    fn child_path(&self) -> Option<OsString> {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == "PATH") {
            return Some(v.clone());
        }
        if self.env_clear {
            None
        } else {
            std::env::var_os("PATH")
        }
    }
}

/// How to stop the child when a limit is reached.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub kill_signal: Signal,
    /// `None`: never escalate to SIGKILL.
    pub kill_after: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: None,
            kill_signal: Signal::TERM,
            kill_after: Some(Duration::from_secs(2)),
        }
    }
}

/// A started child: its group leader is not reaped until [`supervise`] is done with it.
#[derive(Debug)]
pub struct Running {
    pub pid: i32,
    pub started: Instant,
    pidfd: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    stdin: Option<(OwnedFd, Vec<u8>)>,
    /// The terminal was handed to the child's group and must be taken back.
    took_tty: bool,
}

impl Running {
    /// Send `sig` to the child's whole process group.
    ///
    /// Safe against PID reuse because the leader is never reaped before we stop signalling.
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: plain syscall; an already-empty group just yields ESRCH.
        unsafe {
            libc::kill(-self.pid, sig);
        }
    }
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

/// Everything the subcommands report: exit code, `--json` fields and diagnostics derive from it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub pid: i32,
    pub status: Status,
    pub timed_out: bool,
    /// The stream whose `--max-buffer` was exceeded.
    pub limit_hit: Option<Stream>,
    /// The first signal childproc received and forwarded.
    pub interrupted: Option<i32>,
    /// childproc's own stdout was closed by its reader.
    pub output_closed: bool,
    /// The child had to be killed with SIGKILL after the grace period.
    pub escalated: bool,
    pub duration: Duration,
}

impl Outcome {
    /// The one mapping from an outcome to the exit-code table (DESIGN.md §2).
    pub fn exit(&self, preserve_status: bool) -> crate::exit::Exit {
        use crate::exit::Exit;
        if self.limit_hit.is_some() {
            return Exit::Failure;
        }
        if self.output_closed {
            return Exit::Signal(libc::SIGPIPE);
        }
        if self.timed_out && !preserve_status {
            return Exit::Timeout;
        }
        match self.status {
            Status::Exited(c) => Exit::Child(c.clamp(0, 255) as u8),
            Status::Signaled(n) => Exit::Signal(n),
        }
    }

    /// Exit code and signal name in Node's shape (`code` null when killed by a signal).
    pub fn code_and_signal(&self) -> (Option<i32>, Option<String>) {
        match self.status {
            Status::Exited(c) => (Some(c), None),
            Status::Signaled(n) => (
                None,
                Some(Signal::name_of(n).map_or_else(|| format!("SIG{n}"), str::to_owned)),
            ),
        }
    }

    /// The one-line diagnostics childproc prints about this outcome (none when all went well).
    pub fn diagnostics(
        &self,
        program: &str,
        limits: &Limits,
        max_buffer: Option<u64>,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(stream) = self.limit_hit {
            lines.push(format!(
                "{program}: {} exceeded --max-buffer of {} bytes; sent {} to the process group",
                stream.name(),
                max_buffer.unwrap_or(0),
                limits.kill_signal
            ));
        }
        if self.timed_out {
            let t = limits.timeout.unwrap_or_default();
            lines.push(format!(
                "{program}: timed out after {}; sent {} to the process group{}",
                humantime::format_duration(t),
                limits.kill_signal,
                if self.escalated { ", then SIGKILL" } else { "" }
            ));
        }
        if let Some(sig) = self.interrupted {
            lines.push(format!(
                "{program}: childproc received {}; forwarded it to the process group",
                Signal::name_of(sig).unwrap_or("a signal")
            ));
        }
        let we_killed = self.timed_out || self.limit_hit.is_some() || self.interrupted.is_some();
        if let Status::Signaled(n) = self.status
            && n != libc::SIGPIPE
            && !self.output_closed
            && !we_killed
        {
            let name = Signal::name_of(n).map_or_else(|| format!("signal {n}"), str::to_owned);
            lines.push(format!("{program}: killed by {name}"));
        }
        lines
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Io {
        what: "cannot create a pipe".into(),
        source: e.into(),
    })
}

fn dup_fd(fd: &impl AsRawFd) -> Result<OwnedFd, SpawnError> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own, or -1.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(SpawnError::Io {
            what: "cannot duplicate a descriptor".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: n is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// A bigger pipe buffer means fewer wake-ups when a child writes a lot.
fn grow_pipe(fd: &OwnedFd) {
    // SAFETY: fcntl on our own descriptor; failure is harmless.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new close-on-exec descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Is stdin a terminal whose foreground group is ours (so the child may take it over)?
fn own_foreground_tty() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Give the terminal on fd 0 to `pgid`. SIGTTOU is blocked around the call because a background
/// group (which we are when taking the terminal back) would otherwise be stopped by it.
fn give_tty(pgid: i32) {
    // SAFETY: signal-mask juggling and tcsetpgrp with valid arguments.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        libc::tcsetpgrp(0, pgid);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Start the child described by `spec` in a new process group.
///
/// Must be called from a thread that outlives the child: `PR_SET_PDEATHSIG` fires when the
/// *thread* that forked exits, not only the process.
pub fn spawn(mut spec: Spec) -> Result<Running, SpawnError> {
    let cwd = resolve::working_dir(spec.cwd.as_deref())?;
    let path_var = spec.child_path();
    let exe = resolve::program(&spec.program, path_var.as_deref(), &cwd)?;

    let mut cmd = Command::new(&exe);
    cmd.arg0(&spec.program).args(&spec.args).current_dir(&cwd);
    if spec.env_clear {
        cmd.env_clear();
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.process_group(0);

    let take_tty = matches!(spec.stdin, Input::Inherit) && own_foreground_tty();
    let mut stdin_feed = None;
    match std::mem::replace(&mut spec.stdin, Input::Null) {
        Input::Inherit => cmd.stdin(Stdio::inherit()),
        Input::Null => cmd.stdin(Stdio::null()),
        Input::File(f) => cmd.stdin(Stdio::from(f)),
        Input::Bytes(b) => {
            let (r, w) = pipe()?;
            stdin_feed = Some((w, b));
            cmd.stdin(Stdio::from(r))
        }
    };
    let mut stdout_pipe = None;
    let mut stdout_for_stderr: Option<OwnedFd> = None;
    match std::mem::replace(&mut spec.stdout, Output::Null) {
        Output::Inherit => {
            if matches!(spec.stderr, Output::SameAsStdout) {
                stdout_for_stderr = Some(dup_fd(&std::io::stdout())?);
            }
            cmd.stdout(Stdio::inherit())
        }
        Output::Null | Output::SameAsStdout => {
            if matches!(spec.stderr, Output::SameAsStdout) {
                let null = File::options().write(true).open("/dev/null");
                let null = null.map_err(|e| SpawnError::Io {
                    what: "/dev/null".into(),
                    source: e,
                })?;
                stdout_for_stderr = Some(OwnedFd::from(null));
            }
            cmd.stdout(Stdio::null())
        }
        Output::File(f) => {
            if matches!(spec.stderr, Output::SameAsStdout) {
                stdout_for_stderr = Some(dup_fd(&f)?);
            }
            cmd.stdout(Stdio::from(f))
        }
        Output::Pipe => {
            let (r, w) = pipe()?;
            grow_pipe(&r);
            if matches!(spec.stderr, Output::SameAsStdout) {
                stdout_for_stderr = Some(dup_fd(&w)?);
            }
            stdout_pipe = Some(r);
            cmd.stdout(Stdio::from(w))
        }
    };
    let mut stderr_pipe = None;
    match std::mem::replace(&mut spec.stderr, Output::Null) {
        Output::Inherit => cmd.stderr(Stdio::inherit()),
        Output::Null => cmd.stderr(Stdio::null()),
        Output::File(f) => cmd.stderr(Stdio::from(f)),
        Output::SameAsStdout => match stdout_for_stderr.take() {
            Some(fd) => cmd.stderr(Stdio::from(fd)),
            None => cmd.stderr(Stdio::null()),
        },
        Output::Pipe => {
            let (r, w) = pipe()?;
            grow_pipe(&r);
            stderr_pipe = Some(r);
            cmd.stderr(Stdio::from(w))
        }
    };

    let fd3 = spec.fd3.take();
    let fd3_raw = fd3.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || child_setup(parent, fd3_raw, take_tty));
    }

    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| exec_error(&spec.program, e))?;
    drop(cmd); // closes our copies of the child's pipe ends, so EOF can be seen
    drop(fd3);
    let pid = child.id() as i32;
    if take_tty {
        give_tty(pid);
    }
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: kill the group we just created; we cannot supervise it.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = std::process::Child::wait(&mut { child });
            return Err(SpawnError::Io {
                what: "pidfd_open (Linux 5.3 or newer is required)".into(),
                source: e,
            });
        }
    };
    // The std handle is not needed: we reap through the pidfd. Dropping it does not wait.
    drop(child);
    for fd in [&stdout_pipe, &stderr_pipe].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    if let Some((w, _)) = &stdin_feed {
        set_nonblocking(w.as_raw_fd());
    }
    Ok(Running {
        pid,
        started,
        pidfd,
        stdout: stdout_pipe,
        stderr: stderr_pipe,
        stdin: stdin_feed,
        took_tty: take_tty,
    })
}

fn exec_error(program: &OsString, e: std::io::Error) -> SpawnError {
    let shown = program.to_string_lossy().into_owned();
    match e.raw_os_error() {
        Some(libc::ENOENT) => SpawnError::NotFound(format!("{shown} (or its #! interpreter)")),
        Some(libc::EACCES) | Some(libc::EPERM) => SpawnError::NotExecutable(shown),
        Some(libc::ENOEXEC) => SpawnError::ExecFormat(shown),
        Some(libc::EISDIR) => SpawnError::IsDirectory(shown),
        _ => SpawnError::Io {
            what: format!("cannot run {shown}"),
            source: e,
        },
    }
}

/// Runs in the forked child before exec: only async-signal-safe calls.
fn child_setup(parent: i32, fd3: Option<RawFd>, take_tty: bool) -> std::io::Result<()> {
    // SAFETY: every call below is async-signal-safe and gets valid arguments.
    unsafe {
        // Die with childproc, even if it is SIGKILLed. The parent may already be gone.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            libc::_exit(125);
        }
        // Nothing but 0, 1, 2 (and fd 3 for fork) reaches the program: inherited descriptors
        // without close-on-exec (a parent's jobserver pipe, say) are marked now.
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            for fd in 3..1024 {
                let fl = libc::fcntl(fd, libc::F_GETFD);
                if fl >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, fl | libc::FD_CLOEXEC);
                }
            }
        }
        if let Some(fd) = fd3 {
            if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if take_tty {
            // Take the terminal ourselves too, so a read right after exec cannot race the
            // parent's tcsetpgrp and get SIGTTIN.
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(0, libc::getpid());
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
        }
    }
    Ok(())
}

impl SpawnError {
    /// Where a failure to start lands in the exit-code table.
    pub fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            SpawnError::NotFound(_) => Exit::NotFound,
            SpawnError::NotExecutable(_)
            | SpawnError::IsDirectory(_)
            | SpawnError::ExecFormat(_) => Exit::NotExecutable,
            _ => Exit::Failure,
        }
    }
}
