//! `$NOTIFY_SOCKET` (sd_notify): one datagram socket per worker, so whatever arrives on it is
//! from that worker or its descendants (a `systemd-notify` helper included) and no sender
//! credentials need checking.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// A private directory holding the workers' notify sockets; removed with the run.
pub struct NotifyDir {
    dir: tempfile::TempDir,
}

impl NotifyDir {
    pub fn new() -> io::Result<NotifyDir> {
        let dir = tempfile::Builder::new()
            .prefix("childproc-serve-")
            .tempdir()?;
        Ok(NotifyDir { dir })
    }

    /// A fresh socket for worker `id`: the worker's `NOTIFY_SOCKET` is the returned path.
    pub fn socket(&self, id: u32) -> io::Result<NotifySocket> {
        let path = self.dir.path().join(format!("notify-{id}"));
        let sock = UnixDatagram::bind(&path)?;
        sock.set_nonblocking(true)?;
        Ok(NotifySocket { sock, path })
    }
}

/// One worker's notify socket; its file goes away with it.
pub struct NotifySocket {
    pub sock: UnixDatagram,
    pub path: PathBuf,
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl NotifySocket {
    /// Read every waiting datagram; true if one of them says `READY=1`.
    pub fn take_ready(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut ready = false;
        while let Ok(n) = self.sock.recv(&mut buf) {
            ready |= says_ready(&buf[..n]);
        }
        ready
    }
}

/// sd_notify's format: newline-separated `KEY=VALUE` assignments.
fn says_ready(datagram: &[u8]) -> bool {
    datagram
        .split(|&b| b == b'\n')
        .any(|l| l.strip_suffix(b"\r").unwrap_or(l) == b"READY=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_among_other_assignments() {
        let dir = NotifyDir::new().unwrap();
        let s = dir.socket(1).unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        tx.send_to(b"STATUS=warming up", &s.path).unwrap();
        assert!(!s.take_ready());
        tx.send_to(b"STATUS=ok\nREADY=1\n", &s.path).unwrap();
        assert!(s.take_ready());
        let path = s.path.clone();
        drop(s);
        assert!(!path.exists());
    }
}
