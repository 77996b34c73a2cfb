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

mod guard;
mod launch;
pub mod resolve;
pub mod signals;
mod supervise;

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
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
    /// More descriptors for the child, placed in order on the numbers after `fd3` (from 3 when
    /// there is no `fd3`): socket activation's listening sockets, then an IPC channel.
    pub fds: Vec<OwnedFd>,
    /// Set `LISTEN_PID` to the child's own pid, between fork and exec (socket activation: a
    /// server only takes `LISTEN_FDS` meant for its own pid).
    pub listen_pid: bool,
    /// The signal the child gets when we die (PR_SET_PDEATHSIG), and whether the guard kills
    /// its whole group then. A program that must clean up after itself when we are gone (srun
    /// cancels its job step on SIGTERM; SIGKILLed, it leaves the step running) gets SIGTERM
    /// and no guard.
    pub death_signal: i32,
    pub guarded: bool,
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
            fds: Vec::new(),
            listen_pid: false,
            death_signal: libc::SIGKILL,
            guarded: true,
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
    /// The child's entry in the guard's table, released once its group is gone.
    guard: Option<guard::Slot>,
    /// Supervision also lasts until this descriptor reaches end of file ([`Running::hold_until_eof`]).
    hold: Option<OwnedFd>,
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

    /// Make [`supervise`] wait, once the child has exited, until `fd` (the read end of a
    /// pipe, say) reaches end of file too, exactly as for an output pipe a grandchild holds
    /// open: the timeout, signals and kill-after still apply to the group meanwhile. Anything
    /// read from `fd` is discarded. `fork` passes a pipe whose write end its channel reader
    /// drops when the IPC channel closes, so a descendant that keeps writing on the channel
    /// is supervised like one that keeps a stdout pipe open.
    pub fn hold_until_eof(&mut self, fd: OwnedFd) {
        self.hold = Some(fd);
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
    /// Stopped because the whole run was cancelled ([`signals::cancel_all`]).
    pub cancelled: bool,
    /// The first forwarded signal came after the child itself had exited (only something
    /// held with [`Running::hold_until_eof`] or a descendant's pipe kept the run going).
    pub interrupted_after_exit: bool,
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
            // timeout(1): 137 when the escalation, not the kill signal, ended the child.
            return if self.escalated && self.status == Status::Signaled(libc::SIGKILL) {
                Exit::TimeoutKilled
            } else {
                Exit::Timeout
            };
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
        let we_killed = self.timed_out
            || self.limit_hit.is_some()
            || self.interrupted.is_some()
            || self.cancelled;
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

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Is stdin a terminal whose foreground group is ours (so the child may take it over)?
fn own_foreground_tty() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Give the terminal on fd 0 to `pgid`. SIGTTOU is blocked around the call because a background
/// group (which we are when taking the terminal back) would otherwise be stopped by it.
pub(crate) fn give_tty(pgid: i32) {
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
/// *thread* that spawned it exits, not only the process.
pub fn spawn(mut spec: Spec) -> Result<Running, SpawnError> {
    let cwd = resolve::working_dir(spec.cwd.as_deref())?;
    let path_var = spec.child_path();
    let exe = resolve::program(&spec.program, path_var.as_deref(), &cwd)?;
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| SpawnError::Io { what, source: e }
    };

    // Descriptors the child gets; ours to close once it has started.
    let mut keep: Vec<OwnedFd> = Vec::new();
    let slot = |fd: OwnedFd, keep: &mut Vec<OwnedFd>| -> RawFd {
        let raw = fd.as_raw_fd();
        keep.push(fd);
        raw
    };
    let null = |write: bool| -> Result<OwnedFd, SpawnError> {
        let f = File::options()
            .read(!write)
            .write(write)
            .open("/dev/null")
            .map_err(io("/dev/null"))?;
        Ok(OwnedFd::from(f))
    };

    let take_tty = matches!(spec.stdin, Input::Inherit) && own_foreground_tty();
    let mut stdin_feed = None;
    let stdin = match std::mem::replace(&mut spec.stdin, Input::Null) {
        Input::Inherit => None,
        Input::Null => Some(slot(null(false)?, &mut keep)),
        Input::File(f) => Some(slot(f.into(), &mut keep)),
        Input::Bytes(b) => {
            let (r, w) = pipe()?;
            stdin_feed = Some((w, b));
            Some(slot(r, &mut keep))
        }
    };
    let mut stdout_pipe = None;
    let stdout = match std::mem::replace(&mut spec.stdout, Output::Null) {
        Output::Inherit => None,
        Output::Null | Output::SameAsStdout => Some(slot(null(true)?, &mut keep)),
        Output::File(f) => Some(slot(f.into(), &mut keep)),
        Output::Pipe => {
            let (r, w) = pipe()?;
            stdout_pipe = Some(r);
            Some(slot(w, &mut keep))
        }
    };
    let mut stderr_pipe = None;
    let stderr = match std::mem::replace(&mut spec.stderr, Output::Null) {
        Output::Inherit => None,
        Output::Null => Some(slot(null(true)?, &mut keep)),
        Output::File(f) => Some(slot(f.into(), &mut keep)),
        // Installed after fd 1, so fd 1 already is the child's stdout.
        Output::SameAsStdout => Some(1),
        Output::Pipe => {
            let (r, w) = pipe()?;
            stderr_pipe = Some(r);
            Some(slot(w, &mut keep))
        }
    };
    let fds = child_fds(
        spec.fd3.take().into_iter().chain(spec.fds.drain(..)),
        &mut keep,
    )?;

    let cstr = |b: &[u8], what: &str| {
        CString::new(b).map_err(|_| SpawnError::Io {
            what: format!("{what} contains a NUL byte"),
            source: std::io::ErrorKind::InvalidInput.into(),
        })
    };
    let mut args = Vec::with_capacity(spec.args.len() + 1);
    args.push(cstr(spec.program.as_bytes(), "the program name")?);
    for a in &spec.args {
        args.push(cstr(a.as_bytes(), "an argument")?);
    }
    let env = child_environment(&spec)
        .into_iter()
        .map(|kv| cstr(&kv, "an environment entry"))
        .collect::<Result<Vec<_>, _>>()?;
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    let listen_env = spec.listen_pid.then(launch::ListenPid::new);
    let mut envp = ptrs(&env);
    if let Some(l) = &listen_env {
        envp.insert(0, l.entry());
    }
    let guard_slot = if spec.guarded { guard::reserve() } else { None };
    let path = cstr(exe.as_os_str().as_bytes(), "the program path")?;
    let sh_argv: Vec<*const libc::c_char> = [launch::SHELL.as_ptr(), path.as_ptr()]
        .into_iter()
        .chain(args[1..].iter().map(|c| c.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let plan = launch::Plan {
        path,
        sh_argv,
        argv: ptrs(&args),
        envp,
        listen_pid: listen_env,
        cwd: match spec.cwd {
            Some(_) => Some(cstr(cwd.as_os_str().as_bytes(), "the working directory")?),
            None => None,
        },
        stdio: [stdin, stdout, stderr],
        fds,
        take_tty,
        // SAFETY: getpid is always safe.
        parent: unsafe { libc::getpid() },
        // Its group (pgid = pid) dies with us even if we are SIGKILLed.
        guard: guard_slot
            .as_ref()
            .map_or(std::ptr::null(), guard::Slot::cell),
        death_signal: spec.death_signal,
        _args: args,
        _env: env,
    };

    // Handlers first, so a signal that arrives while the child starts is counted, not fatal.
    let _ = signals::Waker::for_thread();
    let started = Instant::now();
    let (pid, pidfd) = match launch::launch(&plan) {
        Ok(ok) => ok,
        Err((e, step)) => {
            if let Some(slot) = guard_slot {
                guard::release(slot);
            }
            return Err(launch_error(&spec.program, e, step));
        }
    };
    drop(keep); // our copies of the child's ends: EOF on the pipes depends on closing them
    if take_tty {
        give_tty(pid);
    }
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
        guard: guard_slot,
        hold: None,
    })
}

/// The descriptors the child gets on 3, 4, …, as raw numbers (kept open in `keep` until it has
/// started). A source whose number lies inside that range, and is not its own target, is first
/// moved above it, so installing one never overwrites another that is still to come.
fn child_fds(
    fds: impl Iterator<Item = OwnedFd>,
    keep: &mut Vec<OwnedFd>,
) -> Result<Vec<RawFd>, SpawnError> {
    let fds: Vec<OwnedFd> = fds.collect();
    let top = 3 + fds.len() as RawFd;
    let mut raw = Vec::with_capacity(fds.len());
    for (i, fd) in fds.into_iter().enumerate() {
        let n = fd.as_raw_fd();
        let fd = if n < top && n != 3 + i as RawFd {
            let moved = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(top))
                .map_err(|e| SpawnError::Io {
                    what: "cannot move a descriptor for the child".into(),
                    source: e.into(),
                })?;
            keep.push(fd);
            // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor that we own.
            unsafe { OwnedFd::from_raw_fd(moved) }
        } else {
            fd
        };
        raw.push(fd.as_raw_fd());
        keep.push(fd);
    }
    Ok(raw)
}

/// `KEY=VALUE` entries of the child's environment: ours (unless cleared), then `--env`.
fn child_environment(spec: &Spec) -> Vec<Vec<u8>> {
    let mut vars: Vec<(OsString, OsString)> = if spec.env_clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for (k, v) in &spec.env {
        match vars.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => vars.push((k.clone(), v.clone())),
        }
    }
    if spec.listen_pid {
        vars.retain(|(k, _)| k != "LISTEN_PID");
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        })
        .collect()
}

fn launch_error(program: &OsString, e: std::io::Error, step: &str) -> SpawnError {
    if step == "execve" {
        return exec_error(program, e);
    }
    SpawnError::Io {
        what: format!("cannot start {} ({step})", program.to_string_lossy()),
        source: e,
    }
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

impl SpawnError {
    /// The errno name Node puts in `error.code` for this failure (`ENOENT`, `EACCES`, …).
    pub fn errno_name(&self) -> String {
        let errno = match self {
            SpawnError::NotFound(_) | SpawnError::CwdMissing(_) => libc::ENOENT,
            SpawnError::NotExecutable(_) | SpawnError::IsDirectory(_) => libc::EACCES,
            SpawnError::ExecFormat(_) => libc::ENOEXEC,
            SpawnError::CwdNotDir(_) => libc::ENOTDIR,
            SpawnError::CwdOther { source, .. } | SpawnError::Io { source, .. } => {
                source.raw_os_error().unwrap_or(libc::EIO)
            }
        };
        format!("{:?}", nix::errno::Errno::from_raw(errno))
    }

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

impl Running {
    /// The group is gone (its leader reaped): the guard need not kill it any more.
    fn release_guard(&mut self) {
        if let Some(slot) = self.guard.take() {
            guard::release(slot);
        }
    }
}

/// For children that are driven by someone else's loop (cluster's persistent workers): the
/// same race-free rules, without [`supervise`].
impl Running {
    /// Readable once the child has exited.
    pub fn exit_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    /// The exit status if the child has exited, leaving it unreaped (its PGID stays reserved).
    pub fn exited(&self) -> Option<Status> {
        supervise::reap(self.pid, false)
    }

    /// Stop the child as `--kill-signal`/`--kill-after` say: `sig` to its group, up to
    /// `kill_after` for it to exit (`None`: as long as it takes, never SIGKILL), then SIGKILL;
    /// reap it. (Cluster workers are stopped this way; supervised children by [`supervise`].)
    pub fn stop(self, sig: i32, kill_after: Option<Duration>) -> Status {
        self.signal_group(sig);
        // "Never" as a deadline `finish` can hold: about 136 years.
        self.finish(kill_after.unwrap_or(Duration::from_secs(u64::from(u32::MAX))))
    }

    /// Wait up to `grace` for the child to exit on its own, then SIGKILL its group; reap it.
    pub fn finish(mut self, grace: Duration) -> Status {
        let now = Instant::now();
        let deadline = now.checked_add(grace).unwrap_or(now);
        let mut killed = false;
        loop {
            if let Some(st) = self.exited() {
                // Take any stragglers of the group down with it before the PGID is freed.
                self.signal_group(libc::SIGKILL);
                let st = supervise::reap(self.pid, true).unwrap_or(st);
                self.release_guard();
                return st;
            }
            let now = Instant::now();
            if now >= deadline && !killed {
                self.signal_group(libc::SIGKILL);
                killed = true;
            }
            let left = if killed {
                100
            } else {
                deadline
                    .saturating_duration_since(now)
                    .as_millis()
                    .clamp(1, 100) as i32
            };
            let mut pfd = libc::pollfd {
                fd: self.exit_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, left) };
        }
    }
}

/// User + system CPU time of every child this process has reaped (summaries, remote reports).
pub fn children_cpu() -> Duration {
    // SAFETY: getrusage fills a zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Capture;

    /// Run `script` under sh with `spec` tweaks; its stdout.
    fn run_sh(script: &str, tweak: impl FnOnce(&mut Spec)) -> String {
        let mut spec = Spec::new("/bin/sh", vec!["-c".into(), script.into()]);
        spec.stdout = Output::Pipe;
        tweak(&mut spec);
        let child = spawn(spec).expect("spawn");
        let mut cap = Capture::new(1 << 20);
        supervise(child, &Limits::default(), &mut cap);
        String::from_utf8_lossy(&cap.bufs[0]).into_owned()
    }

    #[test]
    fn descriptors_land_on_3_and_up_in_order_and_listen_pid_is_the_childs_pid() {
        // Three pipes' read ends, passed in order; the child names what it finds on 3, 4, 5
        // by reading one byte from each.
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for b in [b'a', b'b', b'c'] {
            let (r, w) = nix::unistd::pipe().unwrap();
            nix::unistd::write(&w, &[b]).unwrap();
            writers.push(w);
            readers.push(r);
        }
        let out = run_sh(
            "echo $LISTEN_PID $$; for fd in 3 4 5; do head -c1 <&$fd; done; echo",
            |spec| {
                spec.fds = readers;
                spec.listen_pid = true;
                spec.env.push(("LISTEN_PID".into(), "999".into()));
            },
        );
        let mut lines = out.lines();
        let pids: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(pids[0], pids[1], "LISTEN_PID is the child's own pid: {out}");
        assert_eq!(lines.next(), Some("abc"), "{out}");
    }

    #[test]
    fn descriptors_are_installed_in_order_whatever_their_numbers() {
        // The later-numbered pipe goes first: a naive dup2 sequence could overwrite a source
        // that is still to be installed when their numbers fall in the target range.
        let (r1, w1) = nix::unistd::pipe().unwrap();
        let (r2, w2) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w1, b"1").unwrap();
        nix::unistd::write(&w2, b"2").unwrap();
        let out = run_sh("head -c1 <&3; head -c1 <&4; echo", |spec| {
            spec.fds = vec![r2, r1];
        });
        assert_eq!(out, "21\n");
    }
}
