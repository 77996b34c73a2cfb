//! A single-pass JSON validator and compactor over bytes, and the `NODE_` internal-message test.
//!
//! It never decodes string contents, so what a peer wrote inside a string — escapes, and the
//! unpaired surrogate escapes Node emits — is carried through verbatim. Nesting is tracked on
//! a heap stack, so deeply nested input cannot overflow ours.

use std::borrow::Cow;

/// Why a line is not one JSON value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty message")]
    Empty,
    #[error("not valid UTF-8")]
    Utf8,
    #[error("unexpected {0} at byte {1}")]
    Unexpected(String, usize),
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

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    ws: bool,
}

impl P<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && is_ws(self.s[self.i]) {
            self.i += 1;
            self.ws = true;
        }
    }

    fn peek(&self) -> Result<u8, FrameError> {
        self.s.get(self.i).copied().ok_or(FrameError::Truncated)
    }

    fn unexpected(&self) -> FrameError {
        match self.s.get(self.i) {
            None => FrameError::Truncated,
            Some(&b) if b.is_ascii_graphic() => {
                FrameError::Unexpected(format!("'{}'", b as char), self.i)
            }
            Some(&b) => FrameError::Unexpected(format!("byte 0x{b:02x}"), self.i),
        }
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
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else if word.starts_with(&self.s[self.i..]) {
            Err(FrameError::Truncated)
        } else {
            Err(self.unexpected())
        }
    }

    fn string(&mut self) -> Result<(), FrameError> {
        self.expect(b'"')?;
        loop {
            // Jump to the next quote or backslash; check the span for raw control characters.
            let rest = &self.s[self.i..];
            let Some(k) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(FrameError::Truncated);
            };
            if let Some(c) = rest[..k].iter().position(|&b| b < 0x20) {
                return Err(FrameError::Control(self.i + c));
            }
            self.i += k;
            if self.s[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            // A backslash escape.
            let at = self.i;
            self.i += 1;
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                b'u' => {
                    self.i += 1;
                    let hex = self
                        .s
                        .get(self.i..self.i + 4)
                        .ok_or(FrameError::Truncated)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(FrameError::Escape(at));
                    }
                    // Unpaired surrogates are accepted on purpose (Node emits them).
                    self.i += 4;
                }
                _ => return Err(FrameError::Escape(at)),
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
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return Err(FrameError::Number(at)),
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

    /// Validate one complete value, iteratively.
    fn value(&mut self) -> Result<(), FrameError> {
        let mut stack: Vec<u8> = Vec::new();
        'value: loop {
            self.skip_ws();
            match self.peek()? {
                b'{' => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        stack.push(b'{');
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
                        stack.push(b'[');
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
            // After a value: close containers or move to the next element.
            loop {
                self.skip_ws();
                let Some(&top) = stack.last() else {
                    return Ok(());
                };
                let close = if top == b'[' { b']' } else { b'}' };
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        if top == b'{' {
                            self.skip_ws();
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    b if b == close => {
                        self.i += 1;
                        stack.pop();
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

/// Check that `line` is exactly one JSON value and return its compact form (whitespace outside
/// strings removed; everything inside strings kept byte for byte).
pub fn compact(line: &[u8]) -> Result<Cow<'_, [u8]>, FrameError> {
    if line.iter().all(|&b| is_ws(b)) {
        return Err(FrameError::Empty);
    }
    if std::str::from_utf8(line).is_err() {
        return Err(FrameError::Utf8);
    }
    let mut p = P {
        s: line,
        i: 0,
        ws: false,
    };
    p.value()?;
    p.skip_ws();
    if p.i != line.len() {
        return Err(FrameError::Trailing(p.i));
    }
    if !p.ws {
        return Ok(Cow::Borrowed(line));
    }
    let mut out = Vec::with_capacity(line.len());
    let mut in_str = false;
    let mut escaped = false;
    for &b in line {
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if !is_ws(b) {
            if b == b'"' {
                in_str = true;
            }
            out.push(b);
        }
    }
    Ok(Cow::Owned(out))
}

/// Is this compact, valid message Node's internal traffic (top-level `cmd` string longer than
/// 5 characters starting with `NODE_`)? The last `cmd` member wins, as in `JSON.parse`.
pub fn is_internal(line: &[u8]) -> bool {
    if line.first() != Some(&b'{') || memchr::memmem::find(line, b"NODE_").is_none() {
        return false;
    }
    let mut i = 1;
    let mut internal = false;
    while i < line.len() && line[i] == b'"' {
        let key_end = string_end(line, i);
        let key = &line[i + 1..key_end - 1];
        i = key_end + 1; // past ':'
        let v_start = i;
        i = value_end(line, i);
        if key == b"cmd" {
            let v = &line[v_start..i];
            internal = v.len() >= 2
                && v[0] == b'"'
                && v[1..].starts_with(b"NODE_")
                && char_count(&v[1..v.len() - 1]) > 5;
        }
        if line.get(i) == Some(&b',') {
            i += 1;
        } else {
            break;
        }
    }
    internal
}

/// Characters of a raw string body, counting an escape as one character.
fn char_count(body: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        i += if b == b'\\' {
            if body.get(i + 1) == Some(&b'u') { 6 } else { 2 }
        } else if b < 0x80 {
            1
        } else if b >= 0xF0 {
            n += 1; // outside the BMP: two UTF-16 units, as JavaScript counts length
            4
        } else if b >= 0xE0 {
            3
        } else {
            2
        };
        n += 1;
    }
    n
}

/// Index just past the string starting at `i` (which is a quote), in a valid compact line.
fn string_end(s: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// Index just past the value starting at `i`, in a valid compact line.
fn value_end(s: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i = string_end(s, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Result<String, FrameError> {
        compact(s.as_bytes()).map(|c| String::from_utf8(c.into_owned()).unwrap())
    }

    #[test]
    fn every_value_kind() {
        for v in [
            "{}",
            "[]",
            "0",
            "-0.5e+10",
            "1E3",
            "true",
            "false",
            "null",
            "\"\"",
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            "[[[[]]]]",
        ] {
            assert_eq!(c(v).unwrap(), v, "{v}");
        }
    }

    #[test]
    fn whitespace_is_removed_outside_strings_only() {
        assert_eq!(c(" { \"a b\" : [ 1 , 2 ] }\r").unwrap(), r#"{"a b":[1,2]}"#);
        assert_eq!(c("\t\"x\\\" y\" ").unwrap(), r#""x\" y""#);
    }

    #[test]
    fn strings_are_kept_verbatim() {
        for v in [
            r#""\u2028""#,
            r#""line\nbreak""#,
            "\"😀é\"",
            r#""\u0000""#,
            r#""\ud800""#,
            r#""\udfff\ud800x""#,
            r#""\/\b\f\r\t\\""#,
        ] {
            assert_eq!(c(v).unwrap(), v, "{v}");
        }
    }

    #[test]
    fn invalid_lines_are_refused() {
        for v in [
            "",
            "  ",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "01",
            "1.",
            "1e",
            "-",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "[1] 2",
            "1 2",
            "{}}",
            "\"a\u{1}\"",
            "'x'",
            "[1,2",
            "{\"a\":1,}",
        ] {
            assert!(c(v).is_err(), "{v:?} should be refused");
        }
        assert_eq!(compact(b"\"\xff\""), Err(FrameError::Utf8));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert!(c(&deep).is_ok());
    }

    #[test]
    fn big_messages() {
        let big = format!("{{\"s\":\"{}\"}}", "é".repeat(4 << 20));
        assert_eq!(compact(big.as_bytes()).unwrap().len(), big.len());
    }

    #[test]
    fn node_internal_messages() {
        assert!(is_internal(br#"{"cmd":"NODE_HANDLE","type":"net.Server"}"#));
        assert!(is_internal(br#"{"a":{"b":[1,"}"]},"cmd":"NODE_CLUSTER"}"#));
        assert!(!is_internal(br#"{"cmd":"NODE_"}"#));
        assert!(!is_internal(br#"{"cmd":"fooNODE_x"}"#));
        assert!(!is_internal(br#"{"a":{"cmd":"NODE_X"}}"#));
        assert!(!is_internal(br#"["NODE_HANDLE"]"#));
        assert!(!is_internal(br#"{"cmd":1,"x":"NODE_HANDLE"}"#));
        assert!(!is_internal(br#"{"cmd":"NODE_HANDLE","cmd":"x"}"#));
    }
}
