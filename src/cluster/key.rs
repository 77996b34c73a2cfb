//! The joblog's Key: which job a row is about, by its content — never by its sequence or slot
//! number — so that `--resume` finds the same jobs again after the input list was reordered,
//! extended or had lines inserted (GNU parallel keys by sequence number and then re-runs or
//! skips the wrong jobs).
//!
//! A key reads `HOW-SET-ARGS`:
//! - `SET`: the first 16 hex digits of the SHA-256 of the command set as written on the
//!   command line: `--exec TEMPLATE`, `--shell --exec TEMPLATE`, `--task NAME` or
//!   `--worker CMD` (the option, one space, the value as given). `{#}` and `{%}` are part of
//!   the template's text, never replaced, so they do not change it.
//! - `ARGS`: the first 32 hex digits of the SHA-256 of the job's arguments (one per input
//!   source, or per column with `--colsep`), each written as `LENGTH:BYTES,` with LENGTH in
//!   decimal bytes, so `["a b"]`, `["a", "b"]`, `[]` and `[""]` all differ.
//! - `HOW`: how the row's Command column reads back: `argv` (the job's argv, shell-quoted),
//!   `sh` (the line `/bin/sh -c` ran), `task` and `worker` (Command names the command set,
//!   not the job), `lossy` (an `argv` or `sh` Command in which a tab or newline became a
//!   space). It is not part of a job's identity: two keys name the same job when their SET
//!   and ARGS agree — so two identical jobs in one input list are one job to `--resume`.
//!
//! By hand: `printf %s '--exec echo {}' | sha256sum | cut -c1-16` and
//! `printf '1:a,' | sha256sum | cut -c1-32` give the key of job `echo a`.

use sha2::{Digest, Sha256};

/// The digest of a command set (8 bytes: 16 hex digits).
pub(crate) type SetDigest = [u8; 8];

/// The digest of a job's arguments (16 bytes: 32 hex digits).
pub(crate) type ArgsDigest = [u8; 16];

/// A job's identity: its command set and its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub set: SetDigest,
    pub args: ArgsDigest,
}

/// How a row's Command column reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// The argv, shell-quoted: split back exactly.
    Argv,
    /// The line `/bin/sh -c` ran.
    Sh,
    /// `--task`: Command names the task only.
    Task,
    /// `--worker`: Command is the worker's command line.
    Worker,
    /// An `Argv` or `Sh` Command in which a tab or newline became a space.
    Lossy,
}

impl How {
    fn word(self) -> &'static str {
        match self {
            How::Argv => "argv",
            How::Sh => "sh",
            How::Task => "task",
            How::Worker => "worker",
            How::Lossy => "lossy",
        }
    }

    fn from_word(w: &str) -> Option<How> {
        Some(match w {
            "argv" => How::Argv,
            "sh" => How::Sh,
            "task" => How::Task,
            "worker" => How::Worker,
            "lossy" => How::Lossy,
            _ => return None,
        })
    }
}

/// The command set of a run: what, with each job's arguments, names a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandSet {
    /// As written: `--exec echo {}`.
    pub text: String,
    /// How this run's Commands read back.
    pub how: How,
    pub digest: SetDigest,
}

impl CommandSet {
    pub(crate) fn new(text: String, how: How) -> CommandSet {
        let mut digest = SetDigest::default();
        digest.copy_from_slice(&Sha256::digest(text.as_bytes())[..8]);
        CommandSet { text, how, digest }
    }

    /// The key of the job with these arguments.
    pub(crate) fn key(&self, args: &[Vec<u8>]) -> Key {
        Key {
            set: self.digest,
            args: args_digest(args),
        }
    }

    /// `HOW-SET`, as this run's keys start.
    pub(crate) fn prefix(&self) -> String {
        format!("{}-{}", self.how.word(), hex(&self.digest))
    }
}

/// The digest of a job's arguments, each as `LENGTH:BYTES,`.
fn args_digest(args: &[Vec<u8>]) -> ArgsDigest {
    let mut h = Sha256::new();
    let mut len = [0u8; 20];
    for a in args {
        h.update(decimal(&mut len, a.len()));
        h.update(b":");
        h.update(a);
        h.update(b",");
    }
    let mut out = ArgsDigest::default();
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(buf: &mut [u8; 20], mut n: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

impl Key {
    /// The key as the joblog writes it.
    pub(crate) fn write(&self, how: How, out: &mut Vec<u8>) {
        out.extend_from_slice(how.word().as_bytes());
        out.push(b'-');
        hex_into(out, &self.set);
        out.push(b'-');
        hex_into(out, &self.args);
    }

    /// `HOW-SET`, as the key starts.
    pub(crate) fn prefix(&self, how: How) -> String {
        format!("{}-{}", how.word(), hex(&self.set))
    }

    /// A key as the joblog wrote it; `None` if it is not one.
    pub(crate) fn parse(s: &[u8]) -> Option<(How, Key)> {
        let s = std::str::from_utf8(s).ok()?;
        let mut parts = s.split('-');
        let how = How::from_word(parts.next()?)?;
        let set = unhex(parts.next()?)?;
        let args = unhex(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some((how, Key { set, args }))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    hex_into(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

/// Exactly `N` bytes in lower-case hex.
fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| HEX.iter().position(|&h| h == c).map(|d| d as u8);
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn arguments_are_length_prefixed() {
        let d = |a: &[&str]| args_digest(&args(a));
        assert_ne!(d(&["a b"]), d(&["a", "b"]));
        assert_ne!(d(&[]), d(&[""]));
        assert_ne!(d(&["ab", ""]), d(&["a", "b"]));
        assert_eq!(d(&["x"]), d(&["x"]));
    }

    #[test]
    fn keys_are_what_sha256sum_gives() {
        // printf %s '--exec echo {}' | sha256sum; printf '1:a,' | sha256sum
        let set = CommandSet::new("--exec echo {}".into(), How::Argv);
        let mut out = Vec::new();
        set.key(&args(&["a"])).write(set.how, &mut out);
        let set_hex = hex(&Sha256::digest(b"--exec echo {}")[..8]);
        let args_hex = hex(&Sha256::digest(b"1:a,")[..16]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("argv-{set_hex}-{args_hex}")
        );
        let long = vec![b'x'; 1234];
        let mut want = b"1234:".to_vec();
        want.extend_from_slice(&long);
        want.push(b',');
        assert_eq!(
            args_digest(&[long])[..],
            Sha256::digest(&want)[..16],
            "multi-digit lengths"
        );
        assert_eq!(set.prefix(), format!("argv-{set_hex}"));
    }

    #[test]
    fn keys_read_back() {
        let set = CommandSet::new("--task fib".into(), How::Task);
        let k = set.key(&args(&["30"]));
        for how in [How::Argv, How::Sh, How::Task, How::Worker, How::Lossy] {
            let mut out = Vec::new();
            k.write(how, &mut out);
            assert_eq!(Key::parse(&out), Some((how, k)));
        }
        for bad in [
            &b""[..],
            b"argv-00-00",
            b"nope-0011223344556677-00112233445566778899aabbccddeeff",
            b"argv-0011223344556677-00112233445566778899aabbccddeeff-1",
            b"argv-0011223344556677-00112233445566778899AABBCCDDEEFF",
        ] {
            assert_eq!(Key::parse(bad), None, "{bad:?}");
        }
    }
}
