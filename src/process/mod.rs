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
//!
//! Layout: `start` (spawn in steps) → `launch` (clone + the child's side) → `running` (the
//! started child) → `supervise` (the loop) → `outcome` (why it ended, the exit code). The
//! parent-side system calls go through the safe wrappers of `sys`; only `sys`, `launch` and
//! `guard` may use `unsafe`.

#![deny(unsafe_code)]

mod guard;
mod launch;
mod outcome;
pub mod resolve;
mod running;
pub mod signals;
mod start;
mod supervise;
pub(crate) mod sys;

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

pub use outcome::{Outcome, Status, StopCause, StopCauses};
pub use running::Running;
pub use start::spawn;
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

/// User + system CPU time of every child this process has reaped (summaries, remote reports).
pub fn children_cpu() -> Duration {
    sys::children_cpu()
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
