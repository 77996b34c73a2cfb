//! Writing to childproc's own stdout/stderr, and the sinks that turn a child's piped output into
//! what the subcommands print: bounded capture (`exec`, `execfile`) and line re-emission
//! (`spawn --prefix` / `--json`).

use std::io::{self, Write};

use crate::process::{Sink, SinkResult, Stream};

/// A line longer than this is emitted in pieces, so memory stays bounded.
pub const MAX_LINE: usize = 64 * 1024;

/// True for the error a closed reader gives us; such an end is quiet.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Keeps at most `cap` bytes of each stream, byte-exact, and reports the first overflow.
pub struct Capture {
    cap: usize,
    pub bufs: [Vec<u8>; 2],
}

impl Capture {
    pub fn new(cap: u64) -> Capture {
        Capture {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            bufs: [Vec::new(), Vec::new()],
        }
    }
}

impl Sink for Capture {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        let buf = &mut self.bufs[stream as usize];
        let room = self.cap - buf.len();
        if bytes.len() > room {
            buf.extend_from_slice(&bytes[..room]);
            return SinkResult::Overflow;
        }
        buf.extend_from_slice(bytes);
        SinkResult::Continue
    }
}

/// How `spawn` re-emits each line.
pub enum LineFormat {
    /// `PREFIX` + line + `\n`; stdout lines to stdout, stderr lines to stderr.
    Prefix(Vec<u8>),
    /// `{"event":"stdout"|"stderr","line":"…"}` on stdout.
    Json,
}

/// Splits each stream into lines and re-emits them whole (or in [`MAX_LINE`] pieces).
pub struct Lines {
    format: LineFormat,
    partial: [Vec<u8>; 2],
    out: io::BufWriter<io::Stdout>,
    err: io::BufWriter<io::Stderr>,
    closed: bool,
}

impl Lines {
    pub fn new(format: LineFormat) -> Lines {
        Lines {
            format,
            partial: [Vec::new(), Vec::new()],
            out: io::BufWriter::with_capacity(256 * 1024, io::stdout()),
            err: io::BufWriter::with_capacity(64 * 1024, io::stderr()),
            closed: false,
        }
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        match &self.format {
            LineFormat::Prefix(p) => {
                let w: &mut dyn Write = match stream {
                    Stream::Stdout => &mut self.out,
                    Stream::Stderr => &mut self.err,
                };
                w.write_all(p)?;
                w.write_all(line)?;
                w.write_all(b"\n")
            }
            LineFormat::Json => {
                self.out.write_all(match stream {
                    Stream::Stdout => b"{\"event\":\"stdout\",\"line\":",
                    Stream::Stderr => b"{\"event\":\"stderr\",\"line\":",
                })?;
                let text = String::from_utf8_lossy(line);
                serde_json::to_writer(&mut self.out, text.as_ref()).map_err(io::Error::other)?;
                self.out.write_all(b"}\n")
            }
        }
    }

    /// Emit every complete line of `data` and keep the rest; overlong rests go out in pieces.
    fn feed(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let i = stream as usize;
        if !self.partial[i].is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(nl) => {
                    let mut line = std::mem::take(&mut self.partial[i]);
                    line.extend_from_slice(&data[..nl]);
                    self.emit_long(stream, &line)?;
                    line.clear();
                    self.partial[i] = line;
                    data = &data[nl + 1..];
                }
                None => {
                    self.partial[i].extend_from_slice(data);
                    return self.flush_pieces(stream);
                }
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', data) {
            self.emit_long(stream, &data[..nl])?;
            data = &data[nl + 1..];
        }
        self.partial[i].extend_from_slice(data);
        self.flush_pieces(stream)
    }

    /// A complete line, cut into pieces when it is longer than [`MAX_LINE`].
    fn emit_long(&mut self, stream: Stream, mut line: &[u8]) -> io::Result<()> {
        while line.len() > MAX_LINE {
            let cut = piece_end(line);
            self.emit(stream, &line[..cut])?;
            line = &line[cut..];
        }
        self.emit(stream, line)
    }

    /// An unfinished line that has grown past [`MAX_LINE`] is emitted in pieces now.
    fn flush_pieces(&mut self, stream: Stream) -> io::Result<()> {
        let i = stream as usize;
        if self.partial[i].len() <= MAX_LINE {
            return Ok(());
        }
        let mut rest = std::mem::take(&mut self.partial[i]);
        let mut start = 0;
        while rest.len() - start > MAX_LINE {
            let cut = piece_end(&rest[start..]);
            self.emit(stream, &rest[start..start + cut])?;
            start += cut;
        }
        rest.drain(..start);
        self.partial[i] = rest;
        Ok(())
    }

    fn result(&mut self, r: io::Result<()>) -> SinkResult {
        match r {
            Ok(()) => SinkResult::Continue,
            Err(_) => {
                self.closed = true;
                SinkResult::Closed
            }
        }
    }

    /// Flush and hand back stdout for the final event.
    pub fn finish(&mut self) -> io::Result<()> {
        self.err.flush().ok();
        self.out.flush()
    }

    pub fn stdout(&mut self) -> &mut io::BufWriter<io::Stdout> {
        &mut self.out
    }
}

/// Where to cut a piece: at most [`MAX_LINE`] bytes, backing off up to 3 bytes so a UTF-8
/// character is not split when the data is UTF-8.
fn piece_end(data: &[u8]) -> usize {
    let mut cut = MAX_LINE.min(data.len());
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < data.len() && (data[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if cut == floor && cut < data.len() && (data[cut] & 0xC0) == 0x80 {
        MAX_LINE.min(data.len())
    } else {
        cut
    }
}

impl Sink for Lines {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        let r = self.feed(stream, bytes);
        // Our stderr going away is not a reason to stop the child; only stdout counts.
        if r.is_err() && stream == Stream::Stderr && matches!(self.format, LineFormat::Prefix(_)) {
            return SinkResult::Continue;
        }
        self.result(r)
    }

    fn eof(&mut self, stream: Stream) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        let i = stream as usize;
        if self.partial[i].is_empty() {
            return SinkResult::Continue;
        }
        let rest = std::mem::take(&mut self.partial[i]);
        let r = self.emit(stream, &rest);
        self.result(r)
    }

    fn flush(&mut self) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        let _ = self.err.flush();
        let r = self.out.flush();
        self.result(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_is_byte_exact() {
        let mut c = Capture::new(5);
        assert_eq!(c.data(Stream::Stdout, b"abc"), SinkResult::Continue);
        assert_eq!(c.data(Stream::Stdout, b"de"), SinkResult::Continue);
        assert_eq!(c.data(Stream::Stdout, b"f"), SinkResult::Overflow);
        assert_eq!(c.bufs[0], b"abcde");
        assert_eq!(c.data(Stream::Stderr, b"12345"), SinkResult::Continue);
        let mut z = Capture::new(0);
        assert_eq!(z.data(Stream::Stdout, b"x"), SinkResult::Overflow);
        assert!(z.bufs[0].is_empty());
    }

    #[test]
    fn pieces_respect_utf8() {
        let mut v = vec![b'a'; MAX_LINE - 1];
        v.extend_from_slice("é".as_bytes());
        v.extend_from_slice(b"tail");
        assert_eq!(piece_end(&v), MAX_LINE - 1);
        let zeros = vec![0u8; MAX_LINE * 2];
        assert_eq!(piece_end(&zeros), MAX_LINE);
    }
}
