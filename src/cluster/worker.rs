//! A persistent worker process spoken to over the Node IPC channel (`--task`, `--worker`):
//! one request in flight, the next user message from the worker is its answer.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::error_line;
use crate::ipc;
use crate::process::{self, Input, Output, Running, SpawnError, Spec, Status, signals};

/// What came back for one request.
#[derive(Debug)]
pub enum Reply {
    /// The worker's answer, compact JSON.
    Message(Vec<u8>),
    /// The worker exited (or closed the channel) before answering.
    Died(Option<Status>),
    /// `--job-timeout` expired; the worker has been killed.
    TimedOut,
    /// The run is being stopped (signal or `--halt now`); the worker has been killed.
    Interrupted,
}

pub struct IpcWorker {
    child: Option<Running>,
    stream: UnixStream,
    dec: ipc::LineDecoder,
    buf: Vec<u8>,
    pub pid: i32,
}

impl IpcWorker {
    /// Start `spec` with a channel on fd 3; its stdout goes to our stderr, stdin is /dev/null.
    pub fn start(mut spec: Spec) -> Result<IpcWorker, SpawnError> {
        let io_err = |what: &str, e: std::io::Error| SpawnError::Io {
            what: what.into(),
            source: e,
        };
        let (parent, child_end) =
            ipc::socketpair().map_err(|e| io_err("cannot create the IPC socketpair", e))?;
        for (k, v) in ipc::child_env() {
            spec.env.push((k.into(), v.into()));
        }
        spec.fd3 = Some(child_end);
        spec.stdin = Input::Null;
        let err = std::os::fd::AsFd::as_fd(&std::io::stderr())
            .try_clone_to_owned()
            .map_err(|e| io_err("cannot duplicate stderr", e))?;
        spec.stdout = Output::File(err.into());
        spec.stderr = Output::Inherit;
        let child = process::spawn(spec)?;
        Ok(IpcWorker {
            pid: child.pid,
            child: Some(child),
            stream: parent,
            dec: ipc::LineDecoder::new(),
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Send one message (compact JSON, no newline) and wait for the next user message back.
    pub fn request(&mut self, msg: &[u8], timeout: Option<Duration>) -> Reply {
        if !self.send(msg) {
            return Reply::Died(self.exit_status(Duration::from_millis(500)));
        }
        self.wait(timeout)
    }

    /// Write one message (compact JSON, no newline); false when the channel is gone.
    pub fn send(&mut self, msg: &[u8]) -> bool {
        let mut line = Vec::with_capacity(msg.len() + 1);
        line.extend_from_slice(msg);
        line.push(b'\n');
        self.stream.write_all(&line).is_ok()
    }

    /// Wait for the next user message from the worker (or its death, the timeout, a stop).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Reply {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(m) = self.next_message() {
                return Reply::Message(m);
            }
            let wait_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.kill();
                        return Reply::TimedOut;
                    }
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            let exit_fd = self.child.as_ref().map_or(-1, Running::exit_fd);
            let wake_fd = signals::Waker::for_thread().map_or(-1, |w| w.fd());
            let mut fds = [
                libc::pollfd {
                    fd: self.stream.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: exit_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: wake_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: three valid pollfd entries (a negative fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, wait_ms) };
            if n < 0 {
                continue; // EINTR
            }
            if fds[2].revents != 0 {
                if let Ok(w) = signals::Waker::for_thread() {
                    w.drain();
                }
                if signals::cancelled() || signals::Seen::now().first().is_some() {
                    self.kill();
                    return Reply::Interrupted;
                }
            }
            if fds[0].revents != 0 {
                match self.stream.read(&mut self.buf) {
                    Ok(0) | Err(_) => {
                        return Reply::Died(self.exit_status(Duration::from_millis(500)));
                    }
                    Ok(k) => self.dec.push(&self.buf[..k]),
                }
            } else if fds[1].revents != 0 {
                // The worker exited. What it sent before is still in the socket: take what is
                // there now (a straggler of its group may hold the socket open, so do not wait
                // for end of file), and look once more for the answer.
                let _ = self.stream.set_nonblocking(true);
                while let Ok(k) = self.stream.read(&mut self.buf) {
                    if k == 0 {
                        break;
                    }
                    self.dec.push(&self.buf[..k]);
                }
                let _ = self.stream.set_nonblocking(false);
                if let Some(m) = self.next_message() {
                    return Reply::Message(m);
                }
                return Reply::Died(self.exit_status(Duration::ZERO));
            }
        }
    }

    /// The next complete user message already received, if any.
    fn next_message(&mut self) -> Option<Vec<u8>> {
        while let Some(l) = self.dec.next_line() {
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match ipc::compact(l) {
                Ok(m) if ipc::is_internal(&m) => {}
                Ok(m) => return Some(m.into_owned()),
                Err(e) => error_line(&format!(
                    "worker {}: malformed message skipped: {e}",
                    self.pid
                )),
            }
        }
        None
    }

    /// Give the worker `grace` to exit, then kill its group; reap it.
    fn exit_status(&mut self, grace: Duration) -> Option<Status> {
        self.child.take().map(|c| c.finish(grace))
    }

    /// Kill the worker's whole process group and reap it.
    pub fn kill(&mut self) -> Option<Status> {
        self.exit_status(Duration::ZERO)
    }

    /// Orderly end: half-close the channel (the worker sees 'disconnect'), then wait a little.
    pub fn shutdown(mut self, grace: Duration) -> Option<Status> {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        self.exit_status(grace)
    }
}

impl Drop for IpcWorker {
    fn drop(&mut self) {
        self.kill();
    }
}
