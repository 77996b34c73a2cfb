//! Writing to childproc's own stdout/stderr, and the sinks that turn a child's piped output into
//! what the subcommands print: bounded capture (`exec`, `execfile`) and line re-emission
//! (`spawn --prefix` / `--json`).

use std::io;

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

/// Output collected before it is written in one system call.
const WRITE_AT: usize = 64 * 1024;

/// Splits each stream into lines and re-emits them whole (or in [`MAX_LINE`] pieces).
///
/// Lines are formatted straight from the bytes read into one output buffer per destination
/// (no per-line allocation, no copy into a line buffer unless a line straddles two reads) and
/// written with plain write(2) once enough has gathered or before the supervisor waits.
pub struct Lines {
    format: LineFormat,
    partial: [Vec<u8>; 2],
    /// Pending bytes for our fd 1 and fd 2.
    pending: [Vec<u8>; 2],
    closed: bool,
    /// Why writing our stdout failed, unless it was a closed reader (a quiet end).
    pub write_error: Option<io::Error>,
}

impl Lines {
    pub fn new(format: LineFormat) -> Lines {
        Lines {
            format,
            partial: [Vec::new(), Vec::new()],
            pending: [Vec::with_capacity(WRITE_AT * 2), Vec::new()],
            closed: false,
            write_error: None,
        }
    }

    /// Index of the buffer a stream's lines go to (JSON events all go to stdout).
    fn dest(&self, stream: Stream) -> usize {
        match self.format {
            LineFormat::Json => 0,
            LineFormat::Prefix(_) => stream as usize,
        }
    }

    /// Format one line (without its newline) into the destination buffer.
    fn emit(&mut self, stream: Stream, line: &[u8]) {
        let d = self.dest(stream);
        let out = &mut self.pending[d];
        match &self.format {
            LineFormat::Prefix(p) => {
                out.reserve(p.len() + line.len() + 1);
                out.extend_from_slice(p);
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            LineFormat::Json => {
                out.extend_from_slice(match stream {
                    Stream::Stdout => b"{\"event\":\"stdout\",\"line\":\"",
                    Stream::Stderr => b"{\"event\":\"stderr\",\"line\":\"",
                });
                json_escape_into(out, line);
                out.extend_from_slice(b"\"}\n");
            }
        }
    }

    /// A complete line, cut into pieces when it is longer than [`MAX_LINE`].
    fn emit_long(&mut self, stream: Stream, mut line: &[u8]) {
        while line.len() > MAX_LINE {
            let cut = piece_end(line);
            self.emit(stream, &line[..cut]);
            line = &line[cut..];
        }
        self.emit(stream, line);
    }

    /// Emit every complete line of `data`; keep the unfinished rest (at most [`MAX_LINE`]).
    fn feed(&mut self, stream: Stream, mut data: &[u8]) {
        let i = stream as usize;
        if !self.partial[i].is_empty() {
            // Finish the line begun in an earlier read, copying no more than one piece's worth.
            let room = MAX_LINE - self.partial[i].len().min(MAX_LINE);
            match memchr::memchr(b'\n', &data[..room.min(data.len())]) {
                Some(nl) => {
                    let mut line = std::mem::take(&mut self.partial[i]);
                    line.extend_from_slice(&data[..nl]);
                    self.emit(stream, &line);
                    line.clear();
                    self.partial[i] = line;
                    data = &data[nl + 1..];
                }
                None if data.len() <= room => {
                    self.partial[i].extend_from_slice(data);
                    return;
                }
                None => {
                    // Longer than a piece: the buffered part plus the top-up goes out now.
                    let mut line = std::mem::take(&mut self.partial[i]);
                    let cut = utf8_cut(data, room);
                    line.extend_from_slice(&data[..cut]);
                    self.emit(stream, &line);
                    line.clear();
                    self.partial[i] = line;
                    data = &data[cut..];
                }
            }
        }
        let mut start = 0;
        if let LineFormat::Prefix(p) = &self.format {
            // The common case, kept tight: prefix and line (newline included) in two copies.
            let out = &mut self.pending[i];
            out.reserve(data.len() + data.len() / 8 * p.len());
            for nl in memchr::memchr_iter(b'\n', data) {
                if nl - start > MAX_LINE {
                    break;
                }
                out.extend_from_slice(p);
                out.extend_from_slice(&data[start..=nl]);
                start = nl + 1;
            }
        }
        let base = start;
        for nl in memchr::memchr_iter(b'\n', &data[base..]) {
            self.emit_long(stream, &data[start..base + nl]);
            start = base + nl + 1;
        }
        let mut rest = &data[start..];
        while rest.len() > MAX_LINE {
            let cut = piece_end(rest);
            self.emit(stream, &rest[..cut]);
            rest = &rest[cut..];
        }
        self.partial[i].extend_from_slice(rest);
    }

    /// Write out a destination buffer; false when our stdout is gone.
    fn write_out(&mut self, d: usize) -> bool {
        if self.pending[d].is_empty() {
            return true;
        }
        let written = write_fd(d as i32 + 1, &self.pending[d]);
        self.pending[d].clear();
        // Our stderr going away is no reason to stop the child; only stdout counts.
        match written {
            Ok(()) => true,
            Err(_) if d == 1 => true,
            Err(e) => {
                if !is_broken_pipe(&e) && self.write_error.is_none() {
                    self.write_error = Some(e);
                }
                false
            }
        }
    }

    fn write_all(&mut self) -> SinkResult {
        let ok_err = self.write_out(1);
        let ok_out = self.write_out(0);
        if ok_out && ok_err {
            SinkResult::Continue
        } else {
            self.closed = true;
            SinkResult::Closed
        }
    }

    /// Queue one complete line of our own (the `spawn` and `exit` events) for stdout.
    pub fn own_line(&mut self, line: &str) {
        self.pending[0].extend_from_slice(line.as_bytes());
        self.pending[0].push(b'\n');
    }

    /// Write everything still pending.
    pub fn finish(&mut self) {
        if !self.closed {
            let _ = self.write_all();
        }
    }
}

/// write(2) until done, retrying on EINTR.
fn write_fd(fd: i32, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match crate::process::sys::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// 0: copy as is; b'u': `\u00XX`; otherwise the character that follows a backslash.
static ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// True when none of the 8 bytes needs attention in a JSON string: all are printable ASCII
/// (0x20..0x7f) other than `"` and `\\`.
#[inline]
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = (w ^ (ONES * b'"' as u64)).wrapping_sub(ONES) & !(w ^ (ONES * b'"' as u64));
    let backslash = (w ^ (ONES * b'\\' as u64)).wrapping_sub(ONES) & !(w ^ (ONES * b'\\' as u64));
    (below_space | quote | backslash | w) & HIGH == 0
}

/// The bytes as the contents of a JSON string: UTF-8 (invalid sequences become U+FFFD, as in
/// `from_utf8_lossy`), with quotes, backslashes and control characters escaped.
pub fn json_escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fast path: plain printable ASCII, checked eight bytes at a time, is copied as it is.
    let mut k = 0;
    while k + 8 <= bytes.len() {
        let w = u64::from_le_bytes(bytes[k..k + 8].try_into().unwrap_or([0; 8]));
        if !plain_word(w) {
            break;
        }
        k += 8;
    }
    if bytes[k..]
        .iter()
        .all(|&c| ESCAPES[c as usize] == 0 && c < 0x80)
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.extend_from_slice(&bytes[..k]);
    let bytes = &bytes[k..];
    let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let b = text.as_bytes();
    out.reserve(b.len() + 2);
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc = ESCAPES[c as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hi = HEX[(c >> 4) as usize];
            let lo = HEX[(c & 15) as usize];
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// Where to cut a piece: at most [`MAX_LINE`] bytes, backing off up to 3 bytes so a UTF-8
/// character is not split when the data is UTF-8.
fn piece_end(data: &[u8]) -> usize {
    utf8_cut(data, MAX_LINE)
}

/// At most `max` bytes of `data`, backing off up to 3 bytes to a UTF-8 character boundary.
fn utf8_cut(data: &[u8], max: usize) -> usize {
    let mut cut = max.min(data.len());
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < data.len() && (data[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if cut == floor && cut < data.len() && (data[cut] & 0xC0) == 0x80 {
        max.min(data.len())
    } else {
        cut
    }
}

impl Sink for Lines {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        self.feed(stream, bytes);
        if self.pending[0].len() >= WRITE_AT || self.pending[1].len() >= WRITE_AT {
            return self.write_all();
        }
        SinkResult::Continue
    }

    fn eof(&mut self, stream: Stream) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        let i = stream as usize;
        if !self.partial[i].is_empty() {
            let rest = std::mem::take(&mut self.partial[i]);
            self.emit(stream, &rest);
        }
        SinkResult::Continue
    }

    fn flush(&mut self) -> SinkResult {
        if self.closed {
            return SinkResult::Continue;
        }
        self.write_all()
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
    fn json_escaping() {
        let mut v = Vec::new();
        json_escape_into(&mut v, b"a\"b\\c\n\x00\x1f\xff\xc3\xa9");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a\\\"b\\\\c\\n\\u0000\\u001f\u{fffd}é"
        );
    }

    #[test]
    fn lines_are_split_and_pieced() {
        let mut l = Lines::new(LineFormat::Prefix(b"> ".to_vec()));
        l.feed(Stream::Stdout, b"ab\ncd");
        l.feed(Stream::Stdout, b"ef\n");
        assert_eq!(l.pending[0], b"> ab\n> cdef\n");
        l.pending[0].clear();
        l.feed(Stream::Stdout, &vec![b'x'; MAX_LINE * 2 + 10]);
        assert_eq!(l.pending[0].len(), 2 * (MAX_LINE + 3));
        assert_eq!(l.partial[0].len(), 10);
        l.feed(Stream::Stdout, &vec![b'y'; MAX_LINE]);
        assert_eq!(
            l.partial[0].len(),
            10 + MAX_LINE - MAX_LINE,
            "a full piece went out"
        );
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
