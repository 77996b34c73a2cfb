//! The exit-code table (the README's "Exit codes"). Every subcommand turns its outcome into an [`Exit`] and
//! this is the only place that knows the numbers.

use std::process::ExitCode;

/// Why childproc ends, in the terms of the exit-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The child's own exit code (0-255, passed through).
    Child(u8),
    /// `--timeout` expired and the kill signal ended the child.
    Timeout,
    /// `--timeout` expired and the child had to be SIGKILLed after `--kill-after`, as
    /// `timeout(1)` reports it (128 + 9).
    TimeoutKilled,
    /// childproc itself failed or stopped the run (usage, bad --cwd, --max-buffer, IPC input).
    Failure,
    /// PROGRAM was found but cannot be executed.
    NotExecutable,
    /// PROGRAM was not found.
    NotFound,
    /// The child (or childproc itself) was killed by this signal.
    Signal(i32),
    /// `--help` / `--version`.
    Success,
    /// `serve`: every worker stopped within the grace period (a stop is a server's normal end).
    Stopped,
}

impl Exit {
    pub const TIMEOUT: u8 = 124;
    pub const FAILURE: u8 = 125;
    pub const NOT_EXECUTABLE: u8 = 126;
    pub const NOT_FOUND: u8 = 127;
    pub const SIGNAL_BASE: u8 = 128;
    /// `cluster`: the most failed jobs an exit code counts (GNU parallel's rule: 101 or more
    /// failures all exit 101).
    pub const FAILED_JOBS_MAX: u8 = 101;
    /// What an `ssh` client exits with when it could not connect or lost the connection
    /// (ssh(1)); `cluster` tells that apart from a remote side that failed.
    pub const SSH_FAILED: u8 = 255;

    /// `cluster`'s exit for `failed` failed jobs: the count, at most [`Exit::FAILED_JOBS_MAX`].
    pub fn failed_jobs(failed: u64) -> Exit {
        Exit::Child(failed.min(u64::from(Self::FAILED_JOBS_MAX)) as u8)
    }

    pub fn code(self) -> u8 {
        match self {
            Exit::Child(c) => c,
            Exit::Timeout => Self::TIMEOUT,
            Exit::TimeoutKilled => Self::SIGNAL_BASE + libc::SIGKILL as u8,
            Exit::Failure => Self::FAILURE,
            Exit::NotExecutable => Self::NOT_EXECUTABLE,
            Exit::NotFound => Self::NOT_FOUND,
            Exit::Signal(n) => Self::SIGNAL_BASE.saturating_add(n.clamp(0, 127) as u8),
            Exit::Success | Exit::Stopped => 0,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(Exit::Child(3).code(), 3);
        assert_eq!(Exit::Timeout.code(), 124);
        assert_eq!(Exit::TimeoutKilled.code(), 137);
        assert_eq!(Exit::Failure.code(), 125);
        assert_eq!(Exit::NotExecutable.code(), 126);
        assert_eq!(Exit::NotFound.code(), 127);
        assert_eq!(Exit::Signal(9).code(), 137);
        assert_eq!(Exit::Signal(15).code(), 143);
        assert_eq!(Exit::failed_jobs(0).code(), 0);
        assert_eq!(Exit::failed_jobs(7).code(), 7);
        assert_eq!(Exit::failed_jobs(101).code(), 101);
        assert_eq!(Exit::failed_jobs(5000).code(), 101);
    }
}
