//! `SIGUSR2`: a status table on stderr — every worker with its pid, state, uptime, its slot's
//! restarts and the connections handed to it (round-robin mode).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::pool::Pool;
use super::worker::Phase;

/// The read end of a socket the `SIGUSR2` handler writes a byte to.
pub struct StatusSignal {
    read: UnixStream,
}

impl StatusSignal {
    /// Register the handler; `None` (no status table) when that fails.
    pub fn install() -> Option<StatusSignal> {
        let (read, write) = UnixStream::pair().ok()?;
        read.set_nonblocking(true).ok()?;
        signal_hook::low_level::pipe::register(libc::SIGUSR2, write).ok()?;
        Some(StatusSignal { read })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

impl Pool {
    /// Print the table, one write so it is not interleaved with worker output.
    pub(super) fn print_status(&self) {
        let mut out = format!(
            "childproc: status: {} worker(s), {} slot(s) given up\n  {:<5} {:<5} {:<8} {:<9} {:<10} {:<9} {}\n",
            self.workers.len(),
            self.given_up(),
            "slot",
            "id",
            "pid",
            "state",
            "uptime",
            "restarts",
            "handed"
        );
        for w in &self.workers {
            let state = match w.phase {
                Phase::Starting { .. } => "starting",
                Phase::Ready => "ready",
                Phase::Stopping { .. } => "stopping",
            };
            out.push_str(&format!(
                "  {:<5} {:<5} {:<8} {:<9} {:<10} {:<9} {}\n",
                w.who.slot,
                w.who.id,
                w.who.pid,
                state,
                short(w.started.elapsed()),
                self.restarts(w.who.slot),
                w.handed
            ));
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}
