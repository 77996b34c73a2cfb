//! Where jobs come from: the arguments, or stdin lines read on demand by whichever slot is
//! idle (streamed, so a million inputs are never held in memory, and no feeder thread has to
//! be woken per job).

use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;

use super::job::Job;

enum Source {
    Args(std::vec::IntoIter<OsString>),
    Stdin(std::io::BufReader<std::io::Stdin>),
}

/// The inputs not yet taken, numbered in order.
pub(crate) struct Inputs {
    source: Source,
    seq: u64,
    done: bool,
}

impl Inputs {
    /// These inputs, or (when there are none) the lines of stdin.
    pub(crate) fn new(args: Vec<OsString>) -> Inputs {
        let source = if args.is_empty() {
            Source::Stdin(std::io::BufReader::with_capacity(
                64 * 1024,
                std::io::stdin(),
            ))
        } else {
            Source::Args(args.into_iter())
        };
        Inputs {
            source,
            seq: 0,
            done: false,
        }
    }

    /// The next job, `None` once the inputs are exhausted.
    pub(crate) fn next(&mut self) -> Option<Job> {
        if self.done {
            return None;
        }
        let input = match &mut self.source {
            Source::Args(it) => it.next().map(OsString::into_vec),
            Source::Stdin(r) => read_line(r),
        };
        let Some(input) = input else {
            self.done = true;
            return None;
        };
        self.seq += 1;
        Some(Job {
            seq: self.seq,
            input,
        })
    }
}

/// One input line without its `\n` (and a `\r` before it); `None` at the end or on an error.
fn read_line(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            Some(line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_line_end_only() {
        let mut r = &b"a\r\nb\n\nc"[..];
        let lines: Vec<_> = std::iter::from_fn(|| read_line(&mut r)).collect();
        assert_eq!(lines, [&b"a"[..], b"b", b"", b"c"]);
    }

    #[test]
    fn arguments_are_numbered_from_one() {
        let mut q = Inputs::new(vec!["x".into(), "y".into()]);
        assert_eq!(q.next().map(|j| j.seq), Some(1));
        assert_eq!(q.next().map(|j| (j.seq, j.input)), Some((2, b"y".to_vec())));
        assert!(q.next().is_none());
        assert!(q.next().is_none());
    }
}
