//! NDJSON framing for Node's `json` serialization: a line decoder, a validating compactor, the
//! `NODE_` internal-message test and a line encoder.
//!
//! Nothing here builds a `serde_json::Value` from what a peer sent: lines are checked and
//! compacted byte by byte, so string contents — escapes included, and the unpaired surrogate
//! escapes Node's `JSON.stringify` emits — reach the other side exactly as they were written.

use std::borrow::Cow;
use std::ops::Range;

/// Why a line is not exactly one JSON value. Positions are byte offsets in the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty message")]
    Empty,
    #[error("not valid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("unexpected {what} at byte {1}", what = describe(*.0))]
    Unexpected(u8, usize),
    #[error("unexpected end of message")]
    Truncated,
    #[error("trailing data after the JSON value at byte {0}")]
    Trailing(usize),
    #[error("raw control character in a string at byte {0}")]
    Control(usize),
    #[error("invalid escape in a string at byte {0}")]
    Escape(usize),
    #[error("invalid number at byte {0}")]
    Number(usize),
}

/// `'x'` for a printable ASCII byte, `byte 0xNN` otherwise (a one-line, terminal-safe message).
fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// JSON whitespace (RFC 8259): the only bytes [`compact`] removes.
#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A line with nothing but JSON whitespace. Such lines are not messages: readers skip them
/// (Node never writes them) and writers never produce them.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| is_ws(b))
}

// ---------------------------------------------------------------------------------------------
// Line decoder
// ---------------------------------------------------------------------------------------------

/// Storage a fresh decoder starts with, and the least a reader asks for per `read(2)`.
const MIN_CHUNK: usize = 64 * 1024;
/// Storage kept after a bigger message has gone, so one 100 MB line does not pin 100 MB forever.
const KEEP: usize = 16 * 1024 * 1024;

/// Splits a byte stream into lines, with no limit on line length.
///
/// Feed it chunks split anywhere (mid-UTF-8, between `\r` and `\n`): complete lines come out
/// without their `\n` (and without a trailing `\r`). Every byte is scanned for `\n` once — the
/// decoder remembers how far it looked — and consumed bytes are reclaimed only when that costs
/// no more than what was consumed, so a 100 MB line arriving in 64 KiB pieces is linear.
/// Blank lines are returned as they are; callers skip them with [`is_blank`].
#[derive(Debug, Default)]
pub struct LineDecoder {
    /// Initialised storage; the undelivered bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` is known to hold no `\n`.
    scanned: usize,
}

impl LineDecoder {
    pub fn new() -> LineDecoder {
        LineDecoder::default()
    }

    /// Append bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.spare(n)[..n].copy_from_slice(bytes);
        self.end += n;
    }

    /// Writable space of at least `min` bytes just after the buffered data, for reading
    /// straight into the decoder without an intermediate copy; follow with [`commit`].
    ///
    /// [`commit`]: LineDecoder::commit
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        self.reserve(min);
        &mut self.buf[self.end..]
    }

    /// Declare that the first `n` bytes of [`spare`](LineDecoder::spare) now hold data.
    pub fn commit(&mut self, n: usize) {
        assert!(
            n <= self.buf.len() - self.end,
            "commit past the spare space"
        );
        self.end += n;
    }

    /// The next complete line, without `\n` and a trailing `\r`; `None` until one is complete.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let r = self.next_line_range()?;
        Some(&self.buf[r])
    }

    /// Bytes of an unfinished message are buffered (matters when the peer closes mid-message).
    pub fn has_partial(&self) -> bool {
        !is_blank(&self.buf[self.start..self.end])
    }

    /// Bytes received and not yet returned as a line.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// [`next_line`](LineDecoder::next_line) as a range of [`storage`](LineDecoder::storage):
    /// lets a reader return the line after deciding whether it must read more first.
    pub(super) fn next_line_range(&mut self) -> Option<Range<usize>> {
        let from = self.scanned.max(self.start);
        match memchr::memchr(b'\n', &self.buf[from..self.end]) {
            Some(k) => {
                let nl = from + k;
                let begin = self.start;
                let stop = if nl > begin && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                self.start = nl + 1;
                self.scanned = self.start;
                if self.start == self.end {
                    // Everything delivered: the next data goes to the front. The bytes of the
                    // line returned now stay untouched until the next `&mut self` call.
                    self.start = 0;
                    self.end = 0;
                    self.scanned = 0;
                }
                Some(begin..stop)
            }
            None => {
                self.scanned = self.end;
                None
            }
        }
    }

    pub(super) fn storage(&self) -> &[u8] {
        &self.buf
    }

    /// Make room for `min` more bytes after `end`: reuse consumed space when moving the live
    /// bytes costs no more than the bytes consumed, otherwise grow geometrically.
    fn reserve(&mut self, min: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
            if self.buf.len() > KEEP && min <= KEEP {
                self.buf.truncate(KEEP);
                self.buf.shrink_to_fit();
            }
        }
        if self.buf.len() - self.end >= min {
            return;
        }
        let live = self.end - self.start;
        if self.start > 0 && self.start >= live {
            self.buf.copy_within(self.start..self.end, 0);
            self.scanned -= self.start;
            self.start = 0;
            self.end = live;
            if self.buf.len() - self.end >= min {
                return;
            }
        }
        let want = (self.end + min).max(self.buf.len() * 2).max(MIN_CHUNK);
        self.buf.resize(want, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Validating compactor
// ---------------------------------------------------------------------------------------------

/// Check that `line` is exactly one JSON value (object, array, string, number, `true`, `false`
/// or `null`) and return its compact form: whitespace outside strings removed, everything
/// inside strings kept byte for byte. A line that is already compact is returned borrowed.
///
/// One pass over the bytes, no `Value` built. Unpaired surrogate escapes (`"\ud800"`) are
/// accepted and kept verbatim: Node emits them, and a reader that refused them would lose
/// messages Node considers valid. Rejected: empty or blank input, invalid UTF-8, raw control
/// characters in strings, bad escapes or numbers, anything after the value.
pub fn compact(line: &[u8]) -> Result<Cow<'_, [u8]>, FrameError> {
    let mut p = Parser {
        s: line,
        i: 0,
        copied: 0,
        out: None,
    };
    p.skip_ws();
    if p.i == line.len() {
        return Err(FrameError::Empty);
    }
    p.value()?;
    p.skip_ws();
    if p.i != line.len() {
        return Err(p.unexpected_at(p.i, FrameError::Trailing(p.i)));
    }
    Ok(match p.out {
        None => Cow::Borrowed(line),
        Some(mut out) => {
            out.extend_from_slice(&line[p.copied..]);
            Cow::Owned(out)
        }
    })
}

/// The state of one [`compact`] call. Whitespace runs are cut out lazily: `out` is created at
/// the first run, and `s[copied..]` is what has not been copied to it yet.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    copied: usize,
    out: Option<Vec<u8>>,
}

/// Container nesting, one bit per level (1 = object): 64 levels inline, deeper on the heap, so
/// hostile nesting can neither overflow our stack nor cost an allocation per message.
#[derive(Default)]
struct Nesting {
    depth: usize,
    low: u64,
    high: Vec<u64>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        let slot = if word == 0 {
            &mut self.low
        } else {
            if self.high.len() < word {
                self.high.push(0);
            }
            &mut self.high[word - 1]
        };
        *slot = (*slot & !(1 << bit)) | (u64::from(object) << bit);
        self.depth += 1;
    }

    /// Whether the innermost open container is an object; `None` at the top level.
    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        let word = if d < 64 {
            self.low
        } else {
            self.high[d / 64 - 1]
        };
        Some((word >> (d % 64)) & 1 == 1)
    }

    fn pop(&mut self) {
        self.depth -= 1;
    }
}

impl Parser<'_> {
    #[inline(always)]
    fn skip_ws(&mut self) {
        if self.i < self.s.len() && is_ws(self.s[self.i]) {
            self.cut_ws();
        }
    }

    /// Skip the whitespace run at `i`, copying what precedes it to `out`. Out of line: compact
    /// messages — everything Node and serde_json send — never get here.
    #[cold]
    #[inline(never)]
    fn cut_ws(&mut self) {
        let s = self.s;
        let from = self.i;
        let mut i = from + 1;
        while i < s.len() && is_ws(s[i]) {
            i += 1;
        }
        let out = self.out.get_or_insert_with(|| Vec::with_capacity(s.len()));
        out.extend_from_slice(&s[self.copied..from]);
        self.copied = i;
        self.i = i;
    }

    #[inline]
    fn peek(&self) -> Result<u8, FrameError> {
        self.s.get(self.i).copied().ok_or(FrameError::Truncated)
    }

    fn unexpected(&self) -> FrameError {
        match self.s.get(self.i) {
            None => FrameError::Truncated,
            Some(&b) => self.unexpected_at(self.i, FrameError::Unexpected(b, self.i)),
        }
    }

    /// `err`, unless the byte at `at` starts invalid UTF-8: then say that, which is the more
    /// useful reason for a line of binary garbage.
    fn unexpected_at(&self, at: usize, err: FrameError) -> FrameError {
        if self.s[at] >= 0x80 {
            let tail = &self.s[at..self.s.len().min(at + 4)];
            if let Err(e) = std::str::from_utf8(tail)
                && e.valid_up_to() == 0
            {
                return FrameError::Utf8(at);
            }
        }
        err
    }

    fn expect(&mut self, b: u8) -> Result<(), FrameError> {
        if self.peek()? == b {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), FrameError> {
        let rest = &self.s[self.i..];
        if rest.starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            let same = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
            if same == rest.len() {
                Err(FrameError::Truncated)
            } else {
                self.i += same;
                Err(self.unexpected())
            }
        }
    }

    /// A string, from its opening quote. Runs between quotes and backslashes are found with
    /// `memchr2` and checked in bulk; only runs with non-ASCII bytes get a UTF-8 check.
    fn string(&mut self) -> Result<(), FrameError> {
        let s = self.s;
        let mut i = self.i + 1;
        // Keys and short values: a plain scalar look at the first bytes beats setting up a
        // SIMD search. Anything unusual falls through to the general loop.
        let end = s.len().min(i + 16);
        while i < end {
            match s[i] {
                b'"' => {
                    self.i = i + 1;
                    return Ok(());
                }
                0x20..=0x7f if s[i] != b'\\' => i += 1,
                _ => break,
            }
        }
        loop {
            let rest = &s[i..];
            let Some(k) = memchr::memchr2(b'"', b'\\', rest) else {
                check_run(rest, i)?;
                return Err(FrameError::Truncated);
            };
            check_run(&rest[..k], i)?;
            i += k;
            if s[i] == b'"' {
                self.i = i + 1;
                return Ok(());
            }
            let at = i;
            match s.get(i + 1) {
                None => return Err(FrameError::Truncated),
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = &s[i + 2..s.len().min(i + 6)];
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(FrameError::Escape(at));
                    }
                    if hex.len() < 4 {
                        return Err(FrameError::Truncated);
                    }
                    // Any code unit, an unpaired surrogate included: kept as written.
                    i += 6;
                }
                Some(_) => return Err(FrameError::Escape(at)),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Result<(), FrameError> {
        let at = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(FrameError::Truncated),
            Some(_) => return Err(FrameError::Number(at)),
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(FrameError::Number(at));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(FrameError::Number(at));
            }
        }
        Ok(())
    }

    /// One complete value, iteratively (no recursion, whatever the nesting).
    fn value(&mut self) -> Result<(), FrameError> {
        let mut nest = Nesting::default();
        'value: loop {
            self.skip_ws();
            match self.peek()? {
                b'{' => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        nest.push(true);
                        self.member_key()?;
                        continue 'value;
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        nest.push(false);
                        continue 'value;
                    }
                }
                b'"' => self.string()?,
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return Err(self.unexpected()),
            }
            // After a value: close containers until one continues with ','.
            loop {
                self.skip_ws();
                let Some(object) = nest.top() else {
                    return Ok(());
                };
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.skip_ws();
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    b'}' if object => {
                        self.i += 1;
                        nest.pop();
                    }
                    b']' if !object => {
                        self.i += 1;
                        nest.pop();
                    }
                    _ => return Err(self.unexpected()),
                }
            }
        }
    }

    /// `"key" :` inside an object.
    fn member_key(&mut self) -> Result<(), FrameError> {
        if self.peek()? != b'"' {
            return Err(self.unexpected());
        }
        self.string()?;
        self.skip_ws();
        self.expect(b':')
    }
}

/// Check a run of string content without quotes or backslashes, starting at byte `at`: no raw
/// control characters, valid UTF-8. Plain printable ASCII — the common case — is recognised
/// 32 bytes at a time by a branch-free test the compiler vectorises; other runs get a
/// vectorised control-character test and std's (also fast) UTF-8 check.
#[inline]
fn check_run(run: &[u8], at: usize) -> Result<(), FrameError> {
    // `b - 0x20 >= 0x60` (wrapping) holds exactly for b < 0x20 and b >= 0x80.
    if !any32(run, |b| b.wrapping_sub(0x20) >= 0x60) {
        return Ok(());
    }
    if any32(run, |b| b < 0x20) {
        let k = run.iter().position(|&b| b < 0x20).unwrap_or(0);
        return Err(FrameError::Control(at + k));
    }
    std::str::from_utf8(run)
        .map(|_| ())
        .map_err(|e| FrameError::Utf8(at + e.valid_up_to()))
}

/// Whether any byte satisfies `odd`, testing 32 bytes per step without branching inside a step.
#[inline(always)]
fn any32(run: &[u8], odd: impl Fn(u8) -> bool + Copy) -> bool {
    let mut chunks = run.chunks_exact(32);
    for c in &mut chunks {
        if c.iter().fold(false, |acc, &b| acc | odd(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| odd(b))
}

// ---------------------------------------------------------------------------------------------
// Node's internal messages
// ---------------------------------------------------------------------------------------------

/// Is this valid JSON line Node's own traffic? True when it is an object whose top-level `cmd`
/// member is a string of more than 5 UTF-16 units starting with `NODE_` — the test Node applies
/// before emitting `message`. Escapes count as what they decode to, and the last `cmd` member
/// wins, as in `JSON.parse`.
///
/// Cheap for ordinary traffic: anything but an object, and an object whose text contains
/// neither `NODE_` nor a backslash (a `\u` escape could spell it), is rejected without parsing.
/// Meant for lines [`compact`] accepted; never panics on others.
pub fn is_internal(line: &[u8]) -> bool {
    let s = line;
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return false;
    }
    static NODE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"NODE_"));
    if NODE.find(s).is_none() && memchr::memchr(b'\\', s).is_none() {
        return false;
    }
    i += 1;
    let mut internal = false;
    loop {
        i = skip_ws(s, i);
        if s.get(i) != Some(&b'"') {
            return internal;
        }
        let key_end = string_end(s, i);
        let is_cmd = decodes_to(&s[i + 1..key_end.saturating_sub(1).max(i + 1)], b"cmd");
        i = skip_ws(s, key_end);
        if s.get(i) != Some(&b':') {
            return false;
        }
        i = skip_ws(s, i + 1);
        let v = i;
        i = value_end(s, i);
        if is_cmd {
            internal = s.get(v) == Some(&b'"') && node_prefixed(&s[v + 1..]);
        }
        i = skip_ws(s, i);
        if s.get(i) != Some(&b',') {
            return internal;
        }
        i += 1;
    }
}

/// The raw text of the top-level member `key` of the object `line` (escapes in the key count
/// as what they decode to; the last one wins, as in `JSON.parse`). Meant for lines [`compact`]
/// accepted; `None` for anything else or a missing key.
pub(super) fn top_member<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let s = line;
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut found = None;
    loop {
        i = skip_ws(s, i);
        if s.get(i) != Some(&b'"') {
            return found;
        }
        let key_end = string_end(s, i);
        let is_key = decodes_to(&s[i + 1..key_end.saturating_sub(1).max(i + 1)], key);
        i = skip_ws(s, key_end);
        if s.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(s, i + 1);
        let v = i;
        i = value_end(s, i);
        if is_key {
            found = Some(&s[v..i]);
        }
        i = skip_ws(s, i);
        if s.get(i) != Some(&b',') {
            return found;
        }
        i += 1;
    }
}

/// A JSON string value (quotes included) decoded; `None` for anything else.
pub(super) fn string_value(raw: &[u8]) -> Option<String> {
    if raw.first() != Some(&b'"') {
        return None;
    }
    serde_json::from_slice::<String>(raw).ok()
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// Index just past the string whose opening quote is at `i` (the end of `s` if unterminated).
fn string_end(s: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < s.len() {
        match memchr::memchr2(b'"', b'\\', &s[i..]) {
            None => break,
            Some(k) if s[i + k] == b'\\' => i += k + 2,
            Some(k) => return i + k + 1,
        }
    }
    s.len()
}

/// Index just past the value starting at `i`.
fn value_end(s: &[u8], mut i: usize) -> usize {
    match s.get(i) {
        Some(b'"') => string_end(s, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < s.len() {
                match s[i] {
                    b'"' => {
                        i = string_end(s, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            while i < s.len() && !matches!(s[i], b',' | b'}' | b']') && !is_ws(s[i]) {
                i += 1;
            }
            i
        }
    }
}

/// Decode one UTF-16 unit of string content at `s[i..]`: `(unit, next index)`. A non-ASCII
/// character yields a unit that matches nothing we look for (we only compare with ASCII).
fn unit_at(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let b = *s.get(i)?;
    if b != b'\\' {
        return Some((if b < 0x80 { u32::from(b) } else { u32::MAX }, i + 1));
    }
    let e = *s.get(i + 1)?;
    if e == b'u' {
        let hex = std::str::from_utf8(s.get(i + 2..i + 6)?).ok()?;
        return Some((u32::from_str_radix(hex, 16).ok()?, i + 6));
    }
    let unit = match e {
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => 0x0a,
        b'r' => 0x0d,
        b't' => 0x09,
        other => u32::from(other),
    };
    Some((unit, i + 2))
}

/// Does the raw string content `body` (between the quotes) decode to exactly `want`?
pub(super) fn decodes_to(body: &[u8], want: &[u8]) -> bool {
    let mut i = 0;
    for &w in want {
        match unit_at(body, i) {
            Some((u, next)) if u == u32::from(w) => i = next,
            _ => return false,
        }
    }
    i == body.len()
}

/// Does the string content starting at `s[0]` (just after the opening quote) decode to
/// `NODE_` followed by at least one more unit?
fn node_prefixed(s: &[u8]) -> bool {
    let mut i = 0;
    for &w in b"NODE_" {
        match unit_at(s, i) {
            Some((u, next)) if u == u32::from(w) => i = next,
            _ => return false,
        }
    }
    matches!(s.get(i), Some(&b) if b != b'"')
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// Append `value` as one message line (compact JSON and `\n`) to `out`.
///
/// Never an empty or invalid line: serde_json always writes a `Value` as valid, non-empty JSON
/// (its numbers are finite, its strings valid UTF-8 with control characters escaped).
pub fn encode_into(value: &serde_json::Value, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, value).expect("a JSON Value always serializes into memory");
    out.push(b'\n');
}

/// `value` as one message line, `\n` included.
pub fn encode(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(value, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// One received line, classified
// ---------------------------------------------------------------------------------------------

/// What a received line is, so every reader treats lines the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// Nothing but whitespace: not a message, ignore it.
    Blank,
    /// A user message, compact.
    Message(Cow<'a, [u8]>),
    /// Node's internal traffic (`NODE_` command), compact: never a user message.
    Internal(Cow<'a, [u8]>),
    /// Not one JSON value: report and skip, never die.
    Malformed(FrameError),
}

impl Incoming<'_> {
    /// The same, owning its bytes (to keep it past the next read).
    pub fn into_owned(self) -> Incoming<'static> {
        match self {
            Incoming::Blank => Incoming::Blank,
            Incoming::Message(m) => Incoming::Message(Cow::Owned(m.into_owned())),
            Incoming::Internal(m) => Incoming::Internal(Cow::Owned(m.into_owned())),
            Incoming::Malformed(e) => Incoming::Malformed(e),
        }
    }
}

/// [`compact`] for a line from a peer, decoded as a Node reader decodes the channel: each
/// invalid UTF-8 sequence becomes U+FFFD (maximal subparts, as WHATWG's decoder, V8's and
/// `String::from_utf8_lossy` do), then the text is validated as usual. Valid input costs
/// nothing extra; only a line that failed on its encoding is decoded again.
pub fn compact_lossy(line: &[u8]) -> Result<Cow<'_, [u8]>, FrameError> {
    match compact(line) {
        Err(FrameError::Utf8(_)) => {
            let fixed = String::from_utf8_lossy(line).into_owned().into_bytes();
            compact(&fixed).map(|c| Cow::Owned(c.into_owned()))
        }
        other => other,
    }
}

/// Validate, compact and classify one line from a peer (invalid UTF-8 replaced as Node does:
/// [`compact_lossy`]).
pub fn classify(line: &[u8]) -> Incoming<'_> {
    match compact_lossy(line) {
        Err(FrameError::Empty) => Incoming::Blank,
        Err(e) => Incoming::Malformed(e),
        Ok(m) if is_internal(&m) => Incoming::Internal(m),
        Ok(m) => Incoming::Message(m),
    }
}

/// A `--send` message: one valid JSON value, returned in its compact wire form.
pub fn parse_json_message(s: &str) -> Result<String, String> {
    match compact(s.as_bytes()) {
        Ok(c) => String::from_utf8(c.into_owned()).map_err(|_| "not UTF-8".to_string()),
        Err(e) => Err(format!("not a valid JSON message: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Result<String, FrameError> {
        compact(s.as_bytes()).map(|c| String::from_utf8(c.into_owned()).unwrap())
    }

    fn all_lines(d: &mut LineDecoder) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(l) = d.next_line() {
            v.push(l.to_vec());
        }
        v
    }

    #[test]
    fn decoder_every_split_point_of_multibyte_and_crlf_input() {
        let text = "{\"a\":\"é😀\u{2028}\"}\r\n[1]\n\n\"x\"\r\n  \n\"日本\"\n";
        let want: Vec<&[u8]> = vec![
            "{\"a\":\"é😀\u{2028}\"}".as_bytes(),
            b"[1]",
            b"",
            b"\"x\"",
            b"  ",
            "\"日本\"".as_bytes(),
        ];
        let msg = text.as_bytes();
        for cut in 0..=msg.len() {
            for cut2 in cut..=msg.len() {
                let mut d = LineDecoder::new();
                let mut got = Vec::new();
                for part in [&msg[..cut], &msg[cut..cut2], &msg[cut2..]] {
                    d.push(part);
                    got.extend(all_lines(&mut d));
                }
                assert_eq!(got, want, "cuts at {cut} and {cut2}");
                assert!(!d.has_partial());
            }
        }
        // One byte at a time, through the zero-copy interface.
        let mut d = LineDecoder::new();
        let mut got = Vec::new();
        for &b in msg {
            d.spare(1)[0] = b;
            d.commit(1);
            got.extend(all_lines(&mut d));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn decoder_cr_only_stripped_before_newline() {
        let mut d = LineDecoder::new();
        d.push(b"a\r");
        assert_eq!(d.next_line(), None);
        assert!(d.has_partial());
        d.push(b"\rb\n\r\n");
        assert_eq!(d.next_line(), Some(&b"a\r\rb"[..]));
        assert_eq!(d.next_line(), Some(&b""[..]));
        assert_eq!(d.next_line(), None);
        d.push(b" \t");
        assert!(!d.has_partial());
        assert_eq!(d.buffered(), 2);
    }

    #[test]
    fn decoder_8_mib_line() {
        let line = format!("\"{}\"", "é".repeat(4 << 20));
        let mut d = LineDecoder::new();
        for part in line.as_bytes().chunks(100_001) {
            d.push(part);
            assert!(d.next_line().is_none());
        }
        d.push(b"\r\n[2]\n");
        assert_eq!(d.next_line(), Some(line.as_bytes()));
        assert_eq!(d.next_line(), Some(&b"[2]"[..]));
        assert_eq!(d.next_line(), None);
    }

    #[test]
    fn decoder_100_mb_line_in_small_pieces_is_linear() {
        let mut d = LineDecoder::new();
        let chunk = vec![b'a'; 4096];
        let total = 100_000_000;
        let t = std::time::Instant::now();
        let mut fed = 0;
        d.push(b"[1]\n\"");
        assert_eq!(d.next_line(), Some(&b"[1]"[..]));
        while fed < total {
            let n = chunk.len().min(total - fed);
            d.push(&chunk[..n]);
            fed += n;
            assert!(d.next_line().is_none());
        }
        d.push(b"\"\n{}");
        let line = d.next_line().unwrap();
        assert_eq!(line.len(), total + 2);
        assert_eq!(line.iter().filter(|&&b| b == b'a').count(), total);
        assert_eq!(d.next_line(), None);
        assert!(d.has_partial());
        // Quadratic rescanning would take minutes here, even optimised.
        assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
        // The next message goes to reclaimed space, not past 100 MB of garbage.
        d.push(b"\n");
        assert_eq!(d.next_line(), Some(&b"{}"[..]));
        d.push(b"1\n");
        assert!(d.buf.len() <= KEEP);
    }

    #[test]
    fn decoder_100k_messages() {
        let mut stream = Vec::new();
        for i in 0..100_000 {
            stream.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        for piece in [1000, 65536, 7] {
            let mut d = LineDecoder::new();
            let mut n = 0;
            for part in stream.chunks(piece) {
                d.push(part);
                while let Some(l) = d.next_line() {
                    assert_eq!(l, format!("{{\"i\":{n}}}").as_bytes());
                    n += 1;
                }
            }
            assert_eq!(n, 100_000);
        }
    }

    #[test]
    fn every_value_kind() {
        for v in [
            "{}",
            "[]",
            "0",
            "-0",
            "-0.5e+10",
            "1E3",
            "12.25e-3",
            "123456789012345678901234567890",
            "true",
            "false",
            "null",
            "\"\"",
            "\"text\"",
            r#"{"a":[1,{"b":null}],"c":"d","e":{}}"#,
            "[[[[]]]]",
            r#"[true,false,null,0,"",{},[]]"#,
        ] {
            assert_eq!(c(v).unwrap(), v, "{v}");
            assert!(matches!(compact(v.as_bytes()), Ok(Cow::Borrowed(_))));
        }
    }

    #[test]
    fn whitespace_is_removed_outside_strings_only() {
        assert_eq!(
            c(" { \"a b\" : [ 1 , 2 ] ,\t\"c\":\r\n\"x y\" }\r").unwrap(),
            r#"{"a b":[1,2],"c":"x y"}"#
        );
        assert_eq!(c("\t\"x\\\" y\" ").unwrap(), r#""x\" y""#);
        assert_eq!(c("  true").unwrap(), "true");
        assert_eq!(c("[ ]").unwrap(), "[]");
        assert_eq!(c("{ }").unwrap(), "{}");
        assert_eq!(c("[ \"\\\\\" , \"  \" ]").unwrap(), r#"["\\","  "]"#);
    }

    #[test]
    fn strings_are_kept_verbatim() {
        for v in [
            r#""\u2028""#,
            "\"\u{2028}\u{2029}\"",
            r#""line\nbreak""#,
            "\"😀é日本\"",
            r#""\ud83d\ude00""#,
            r#""\u0000""#,
            r#""\ud800""#,
            r#""\udfff""#,
            r#""\udfff\ud800x""#,
            r#"{"\ud800":"\uDFFF"}"#,
            r#""\/\b\f\r\t\\\"""#,
            "\"\u{7f}\"",
        ] {
            assert_eq!(c(v).unwrap(), v, "{v}");
        }
        // Inside a structure with whitespace to remove, too.
        assert_eq!(
            c(r#"[ "\ud800" , "😀 \n" ]"#).unwrap(),
            r#"["\ud800","😀 \n"]"#
        );
    }

    #[test]
    fn invalid_lines_are_refused() {
        use FrameError::*;
        for (v, want) in [
            ("", Empty),
            ("  \r\t", Empty),
            ("{", Truncated),
            ("[1,]", Unexpected(b']', 3)),
            ("{\"a\"}", Unexpected(b'}', 4)),
            ("{\"a\":}", Unexpected(b'}', 5)),
            ("{a:1}", Unexpected(b'a', 1)),
            ("01", Trailing(1)),
            ("1.", Number(0)),
            ("1.e3", Number(0)),
            ("1e", Number(0)),
            ("-", Truncated),
            ("-x", Number(0)),
            ("+1", Unexpected(b'+', 0)),
            ("tru", Truncated),
            ("trux", Unexpected(b'x', 3)),
            ("nul", Truncated),
            ("\"abc", Truncated),
            ("\"ab\\", Truncated),
            ("\"\\x\"", Escape(1)),
            ("\"\\u12\"", Escape(1)),
            ("\"\\u12", Truncated),
            ("\"\\u12G4\"", Escape(1)),
            ("[1] 2", Trailing(4)),
            ("1 2", Trailing(2)),
            ("{}}", Trailing(2)),
            ("\"a\u{1}\"", Control(2)),
            ("\"a\tb\"", Control(2)),
            ("\"a\nb\"", Control(2)),
            ("'x'", Unexpected(b'\'', 0)),
            ("[1,2", Truncated),
            ("{\"a\":1,}", Unexpected(b'}', 7)),
            ("[1}", Unexpected(b'}', 2)),
            ("{\"a\":1]", Unexpected(b']', 6)),
            ("NaN", Unexpected(b'N', 0)),
            ("garbage", Unexpected(b'g', 0)),
        ] {
            assert_eq!(compact(v.as_bytes()), Err(want), "{v:?}");
        }
        assert_eq!(compact(b"\"\xff\""), Err(Utf8(1)));
        assert_eq!(compact(b"\"ab\xc3\""), Err(Utf8(3)));
        assert_eq!(compact(b"\"\xed\xa0\x80\""), Err(Utf8(1))); // a raw surrogate
        assert_eq!(compact(b"\xff"), Err(Utf8(0)));
        assert_eq!(compact(b"[1]\xff"), Err(Utf8(3)));
        assert_eq!(compact(b"[1]\x00"), Err(Trailing(3)));
        assert_eq!(compact("é".as_bytes()), Err(Unexpected(0xc3, 0)));
        // Every reason is one short line.
        assert_eq!(
            Unexpected(b'\n', 4).to_string(),
            "unexpected byte 0x0a at byte 4"
        );
    }

    #[test]
    fn every_prefix_of_a_valid_message_is_refused_without_panicking() {
        let v = r#"{"a":[1,-2.5e3,true,false,null,"x\u00e9\n"],"b":{"c":"😀"}}"#.as_bytes();
        assert!(compact(v).is_ok());
        for cut in 0..v.len() {
            assert!(compact(&v[..cut]).is_err(), "{cut}");
            let _ = is_internal(&v[..cut]);
        }
    }

    /// Differential check against serde_json on random short inputs over JSON's alphabet
    /// (no `\u` escapes, where we deliberately differ on lone surrogates). A longer run of the
    /// same check (20M inputs, `\u` escapes and `NODE_` commands included) passed in release.
    #[test]
    fn agrees_with_serde_json_on_random_inputs() {
        let alphabet: Vec<&[u8]> = vec![
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"0",
            b"1",
            b"9",
            b"-",
            b"+",
            b".",
            b"e",
            b"E",
            b" ",
            b"\t",
            b"\r",
            b"\n",
            b"\\",
            b"n",
            b"t",
            b"true",
            b"false",
            b"null",
            b"a",
            b"\\\"",
            b"\\n",
            b"\x01",
            b"\xff",
            "é".as_bytes(),
            b"\"k\":",
            b"\"s\"",
            b"/",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..60_000 {
            let len = next() % 10;
            let mut v = Vec::new();
            for _ in 0..len {
                v.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            let ours = compact(&v);
            let theirs = serde_json::from_slice::<serde_json::Value>(&v);
            if matches!(&theirs, Err(e) if e.to_string().contains("out of range")) {
                continue; // `1e999`: valid JSON (Infinity in Node), beyond serde_json's f64
            }
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{:?}",
                String::from_utf8_lossy(&v)
            );
            if let (Ok(c), Ok(t)) = (ours, theirs) {
                accepted += 1;
                assert_eq!(serde_json::from_slice::<serde_json::Value>(&c).unwrap(), t);
                // Compact means a fixed point; numbers and strings stay as written.
                assert!(matches!(compact(&c), Ok(Cow::Borrowed(_))));
                let _ = is_internal(&c);
            }
        }
        assert!(accepted > 1000, "only {accepted} valid inputs generated");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[{\"a\":".repeat(200_000) + "1" + &"}]".repeat(200_000);
        assert!(c(&deep).is_ok());
        let bad = "[{\"a\":".repeat(200_000) + "1" + &"]}".repeat(200_000);
        assert!(c(&bad).is_err());
    }

    #[test]
    fn big_messages() {
        let big = format!("{{\"s\":\"{}\"}}", "é".repeat(4 << 20)); // 8 MiB
        assert!(matches!(compact(big.as_bytes()), Ok(Cow::Borrowed(_))));
        let spaced = format!("[ \"{}\" ]", "a".repeat(100_000_000));
        let out = compact(spaced.as_bytes()).unwrap();
        assert_eq!(out.len(), 100_000_004);
        assert_eq!(&out[..3], b"[\"a");
    }

    #[test]
    fn node_internal_messages() {
        for (line, want) in [
            (r#"{"cmd":"NODE_HANDLE","type":"net.Server"}"#, true),
            (r#"{"a":1,"cmd":"NODE_HANDLE"}"#, true),
            (r#"{"a":{"b":[1,"}"]},"cmd":"NODE_CLUSTER"}"#, true),
            (r#"{"cmd":"NODE_x"}"#, true),
            (r#"{"cmd":"NODE_\""}"#, true),
            (r#"{"cmd":"NODE_😀"}"#, true),
            (r#"{"cmd":"\u004eODE_X"}"#, true),
            (r#"{"\u0063md":"NODE_X"}"#, true),
            (r#"{ "cmd" : "NODE_HANDLE" }"#, true),
            (r#"{"cmd":"NODE_"}"#, false),
            (r#"{"cmd":"NODE"}"#, false),
            (r#"{"cmd":"fooNODE_x"}"#, false),
            (r#"{"cmd":"node_handle"}"#, false),
            (r#"{"a":{"cmd":"NODE_X"}}"#, false),
            (r#"{"a":["cmd","NODE_X"]}"#, false),
            (r#"["NODE_HANDLE"]"#, false),
            (r#""NODE_HANDLE""#, false),
            (r#"{"cmd":1,"x":"NODE_HANDLE"}"#, false),
            (r#"{"cmd":["NODE_HANDLE"]}"#, false),
            (r#"{"cmd":"NODE_HANDLE","cmd":"x"}"#, false),
            (r#"{"cmd":"x","cmd":"NODE_HANDLE"}"#, true),
            (r#"{"cmdx":"NODE_HANDLE"}"#, false),
            (r#"{"cm":"NODE_HANDLE"}"#, false),
            (r#"{"x":"\\u","cmd":"NODE"}"#, false),
            ("{}", false),
        ] {
            assert!(compact(line.as_bytes()).is_ok(), "{line}");
            assert_eq!(is_internal(line.as_bytes()), want, "{line}");
        }
    }

    #[test]
    fn classify_lines() {
        assert_eq!(classify(b" \r"), Incoming::Blank);
        assert_eq!(
            classify(b"{ \"a\":1 }"),
            Incoming::Message(Cow::Owned(b"{\"a\":1}".to_vec()))
        );
        assert!(matches!(
            classify(br#"{"cmd":"NODE_HANDLE_ACK"}"#),
            Incoming::Internal(_)
        ));
        assert_eq!(classify(b"{"), Incoming::Malformed(FrameError::Truncated));
    }

    #[test]
    fn encoder_writes_one_valid_line() {
        use serde_json::json;
        for v in [
            json!(null),
            json!(""),
            json!("a\nb\u{2028}\u{0}"),
            json!({"z":1,"a":[1.5,-0.0,true]}),
            json!([]),
            json!(1e300),
        ] {
            let line = encode(&v);
            assert_eq!(line.last(), Some(&b'\n'));
            let body = &line[..line.len() - 1];
            assert!(!body.is_empty() && !body.contains(&b'\n'));
            assert!(matches!(compact(body), Ok(Cow::Borrowed(_))), "{v}");
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(body).unwrap(),
                v
            );
        }
        // Key order is kept (preserve_order).
        assert_eq!(encode(&json!({"z":1,"a":2})), b"{\"z\":1,\"a\":2}\n");
    }

    #[test]
    fn blank_means_json_whitespace_only() {
        for blank in [&b""[..], b" ", b"\t", b"\r", b"\n", b" \t\r\n "] {
            assert!(is_blank(blank), "{blank:?}");
            assert_eq!(classify(blank), Incoming::Blank);
        }
        // Form feed, vertical tab, NUL, NBSP: not JSON whitespace, so not blank but malformed.
        for not in [&b"\x0c"[..], b"\x0b", b"\0", b" \x0c ", "\u{a0}".as_bytes()] {
            assert!(!is_blank(not), "{not:?}");
            assert!(matches!(classify(not), Incoming::Malformed(_)), "{not:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_as_node_decodes_it() {
        let cases: [(&[u8], &str); 6] = [
            (b"\"a\xffb\"", "\"a\u{fffd}b\""),
            (b"[\"\xe2\x82\"]", "[\"\u{fffd}\"]"),
            (b"\"\xed\xa0\x80x\"", "\"\u{fffd}\u{fffd}\u{fffd}x\""),
            (b"\"\xf0\x9f\x98\"", "\"\u{fffd}\""),
            (b"{ \"k\xfe\" : 1 }", "{\"k\u{fffd}\":1}"),
            (b"\"ok\xc3\xa9\"", "\"ok\u{e9}\""),
        ];
        for (raw, want) in cases {
            assert_eq!(compact_lossy(raw).unwrap(), want.as_bytes(), "{raw:?}");
            assert_eq!(
                classify(raw),
                Incoming::Message(Cow::Borrowed(want.as_bytes()))
            );
        }
        // Still malformed when the replacement lands outside a string.
        assert!(compact_lossy(b"[1,\xff]").is_err());
        assert!(matches!(compact(b"\"a\xffb\""), Err(FrameError::Utf8(2))));
    }

    #[test]
    fn top_level_members_are_found_last_one_winning() {
        let line = br#"{"a":{"msg":0},"msg":[1,{"x":"}"}],"t\u0079pe":"net.Server","msg":"z"}"#;
        assert_eq!(top_member(line, b"msg"), Some(&br#""z""#[..]));
        assert_eq!(top_member(line, b"type"), Some(&br#""net.Server""#[..]));
        assert_eq!(top_member(line, b"x"), None);
        assert_eq!(top_member(b"[1]", b"msg"), None);
        assert_eq!(string_value(br#""n\u0065t""#).as_deref(), Some("net"));
        assert_eq!(string_value(b"1"), None);
    }
}
