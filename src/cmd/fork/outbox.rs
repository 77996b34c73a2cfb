//! The channel's write side, shared by the writer thread (our messages) and the reader thread
//! (answers to the child's handle messages): every locked write is whole messages (lines, or
//! frames in `advanced` mode), so an answer never lands inside a message, and the reader never
//! waits for a long write to finish.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(super) struct Outbox {
    pub stream: UnixStream,
    /// Held for every write to the socket, which is always whole lines.
    lock: Mutex<()>,
    /// Control lines waiting for the writer to finish its current write.
    pending: Mutex<Vec<u8>>,
}

fn take<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outbox {
    pub fn new(stream: UnixStream) -> Outbox {
        Outbox {
            stream,
            lock: Mutex::new(()),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Write `lines` then `tail` (whole lines together) in one locked run; then any control
    /// line that came meanwhile.
    pub fn write_lines(&self, lines: &[u8], tail: &[u8]) -> io::Result<()> {
        {
            let _g = take(&self.lock);
            (&self.stream).write_all(lines)?;
            (&self.stream).write_all(tail)?;
        }
        self.write_pending();
        Ok(())
    }

    /// Write one whole message with `fd` attached (a handle: `NODE_HANDLE` envelope and its
    /// descriptor on one `sendmsg`), between other whole messages.
    pub fn write_with_fd(&self, message: &[u8], fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        {
            let _g = take(&self.lock);
            crate::ipc::send_with_fd(&self.stream, message, fd)?;
        }
        self.write_pending();
        Ok(())
    }

    /// Send one control message (whole: a line with its `\n`, or a frame) as soon as no
    /// message is being written: at once if the socket is free, otherwise right after the
    /// current write. Never blocks on the writer. Errors are ignored: the child has gone,
    /// nobody waits for the answer.
    pub fn control(&self, message: &[u8]) {
        take(&self.pending).extend_from_slice(message);
        self.write_pending();
    }

    /// Write queued control lines if the socket is free (the writer calls this after each of
    /// its writes, so a line queued while it was busy goes out right after).
    fn write_pending(&self) {
        if take(&self.pending).is_empty() {
            return;
        }
        let Ok(_g) = self.lock.try_lock() else {
            return;
        };
        let bytes = std::mem::take(&mut *take(&self.pending));
        let _ = send_all(&self.stream, &bytes);
    }

    /// Half-close between whole lines.
    pub fn shutdown_write(&self) {
        let _g = take(&self.lock);
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}

/// `write_all` without SIGPIPE (the child may be gone when we answer it).
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match crate::process::sys::send_nosignal(stream.as_raw_fd(), bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The writer's buffer: whole lines only, flushed through the [`Outbox`]; a line bigger than
/// the buffer goes out directly from the caller's memory (no copy).
pub(super) struct LineBuf<'a> {
    outbox: &'a Outbox,
    buf: Vec<u8>,
    cap: usize,
}

impl<'a> LineBuf<'a> {
    pub fn new(outbox: &'a Outbox, cap: usize) -> LineBuf<'a> {
        LineBuf {
            outbox,
            buf: Vec::with_capacity(cap),
            cap,
        }
    }

    /// Queue one message (compact JSON, no `\n`).
    pub fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if self.buf.len() + msg.len() + 1 > self.cap {
            self.flush()?;
            if msg.len() >= self.cap {
                return self.outbox.write_lines(msg, b"\n");
            }
        }
        self.buf.extend_from_slice(msg);
        self.buf.push(b'\n');
        Ok(())
    }

    /// Queue one whole, already framed message (`advanced`: length and payload).
    pub fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        if self.buf.len() + frame.len() > self.cap {
            self.flush()?;
            if frame.len() >= self.cap {
                return self.outbox.write_lines(frame, b"");
            }
        }
        self.buf.extend_from_slice(frame);
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.outbox.write_lines(&self.buf, b"");
        self.buf.clear();
        r
    }
}
