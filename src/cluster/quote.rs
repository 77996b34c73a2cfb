//! Shell quoting on bytes: inputs reach `--shell` jobs byte for byte (no UTF-8 round trip), and
//! the joblog's `Command` is written the way GNU parallel writes it, so tools comparing the two
//! logs agree.

/// Bytes no shell treats specially: a word made only of these needs no quotes.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+' | b'/')
}

/// Append `word` to `out` as exactly one shell word. Single quotes keep every byte literal
/// (including non-UTF-8 ones); a `'` itself is written as `"'"` between quoted pieces.
pub fn quote_into(out: &mut Vec<u8>, word: &[u8]) {
    if !word.is_empty() && word.iter().all(|&b| plain(b)) {
        out.extend_from_slice(word);
        return;
    }
    let begin = out.len();
    out.push(b'\'');
    for piece in word.split_inclusive(|&b| b != b'\'') {
        // `piece` is a run of quotes followed by one other byte (or only quotes, at the end).
        let quotes = piece.iter().take_while(|&&b| b == b'\'').count();
        if quotes > 0 {
            out.extend_from_slice(b"'\"");
            out.extend_from_slice(&piece[..quotes]);
            out.extend_from_slice(b"\"'");
        }
        out.extend_from_slice(&piece[quotes..]);
    }
    out.push(b'\'');
    // `''"'"''` is just `"'"`: drop empty quote pairs at either end (never the whole word).
    if out.len() - begin > 2 && out[begin..].starts_with(b"''") {
        out.drain(begin..begin + 2);
    }
    if out.len() - begin > 2 && out.ends_with(b"''") {
        out.truncate(out.len() - 2);
    }
}

/// `word` as one shell word.
#[cfg(test)]
pub fn quote(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len() + 2);
    quote_into(&mut out, word);
    out
}

/// A command line a shell splits back into exactly `argv`.
pub fn join<'a>(argv: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in argv.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        quote_into(&mut out, a);
    }
    out
}

/// The argv `join` made this line from; `None` when `join` would not have written it so
/// (then it is not a line of ours, and reading it as a shell would could differ).
pub fn split(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut argv = Vec::new();
    let mut word = Vec::new();
    let mut rest = line;
    while let Some(&b) = rest.first() {
        match b {
            b' ' => {
                argv.push(std::mem::take(&mut word));
                rest = &rest[1..];
            }
            // `'…'`, and `"'…"` (only quotes inside, as `quote_into` writes them).
            b'\'' | b'"' => {
                let close = rest[1..].iter().position(|&c| c == b)? + 1;
                word.extend_from_slice(&rest[1..close]);
                rest = &rest[close + 1..];
            }
            _ if plain(b) => {
                word.push(b);
                rest = &rest[1..];
            }
            _ => return None,
        }
    }
    argv.push(word);
    (join(argv.iter().map(Vec::as_slice)) == line).then_some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &[u8]) -> String {
        String::from_utf8_lossy(&quote(s)).into_owned()
    }

    #[test]
    fn quotes_like_gnu_parallel() {
        assert_eq!(q(b"x"), "x");
        assert_eq!(q(b"A_Z-9.+/"), "A_Z-9.+/");
        assert_eq!(q(b""), "''");
        assert_eq!(q(b"a b"), "'a b'");
        assert_eq!(q(b"a=b"), "'a=b'");
        assert_eq!(q(b"it's"), r#"'it'"'"'s'"#);
        assert_eq!(q(b"'"), r#""'""#);
        assert_eq!(q(b"''"), r#""''""#);
        assert_eq!(q(b"a'"), r#"'a'"'""#);
        assert_eq!(q(b"'a"), r#""'"'a'"#);
        assert_eq!(quote(b"\xff\xfeA"), b"'\xff\xfeA'");
    }

    #[test]
    fn the_shell_reads_back_every_word() {
        let words: [&[u8]; 7] = [
            b"it's",
            b"'",
            b"''x''",
            b"$(touch x)",
            b"",
            b"\\\"",
            b"a\nb",
        ];
        let line = join(words.iter().copied());
        // The shell prints the words back, NUL-terminated.
        let script = [b"printf '%s\\0' ".as_slice(), &line].concat();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(std::str::from_utf8(&script).unwrap())
            .output()
            .unwrap();
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        assert_eq!(&got[..words.len()], &words[..]);
    }

    #[test]
    fn split_reads_back_exactly_what_join_wrote() {
        let words: [&[u8]; 9] = [
            b"it's",
            b"'",
            b"''x''",
            b"$(touch x)",
            b"",
            b"\\\"",
            b"a\nb",
            b"a b",
            b"\xff",
        ];
        let line = join(words.iter().copied());
        assert_eq!(split(&line).unwrap(), words.map(<[u8]>::to_vec));
        assert_eq!(split(b"echo").unwrap(), [b"echo".to_vec()]);
        // Lines join would not write: a shell could read them otherwise.
        for other in [
            &b"echo  x"[..],
            b"echo $HOME",
            b"a=b",
            b"'x'",
            b"echo 'unclosed",
            b"echo \"$x\"",
            b"",
            b" echo",
        ] {
            assert_eq!(split(other), None, "{:?}", String::from_utf8_lossy(other));
        }
    }
}
