//! `--results DIR`: each `--exec` job's output in files instead of on our stdout.
//!
//! GNU parallel's layout (checked against GNU parallel 20221122): `DIR/1/<arg 1>/2/<arg 2>/…`
//! holds `seq` (the sequence number, no newline), `stdout` and `stderr`; in a value `/` is
//! written `\_` and `\` as `\\`. When DIR has replacement strings, the name it renders to is
//! the stdout file, with `.err` and `.seq` beside it, and a name ending in `/` is a directory
//! holding `stdout`, `stderr` and `seq`; the values are used as they are there (as GNU
//! parallel: `/` in a value makes directories, the name is the user's). Ours besides GNU's: `exitcode` (`.exitcode`) and
//! `job.json` (`.job.json`), see [`JobFiles::finish`].
//!
//! Where GNU parallel's names are unsafe we differ: it writes the values `.`, `..` and the
//! empty string as they are, so `1/.` and `1/` are the `1` directory itself and `1/..` is
//! DIR — their files land among, or on, other jobs' files. Here they are `\.`, `\.\.` and
//! `\e` (no escaped value can take those forms: every other `\` is doubled). GNU also cuts a
//! value's name at 255 bytes (NAME_MAX), which can cut an escape in half and gives two long
//! values that share their first 255 bytes one directory; here a long name keeps its start
//! and ends in `\h` and a hash of the whole value.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::job::{Job, JobOutcome, JobReport};
use super::template::Pattern;
use crate::process::{Status, Stream};
use crate::usage::UsageError;

/// The longest file name (one path component) Linux takes.
const NAME_MAX: usize = 255;

/// Where the jobs' files go.
#[derive(Debug)]
pub(crate) enum Results {
    /// GNU parallel's tree under this directory.
    Tree(PathBuf),
    /// DIR with replacement strings: each job's name.
    Named(Pattern),
}

impl Results {
    /// `--results TEXT`, for jobs of `arity` arguments when that is known up front.
    pub(crate) fn parse(text: &str, arity: Option<usize>) -> Result<Results, UsageError> {
        let err = |e: &dyn std::fmt::Display| UsageError(format!("--results '{text}': {e}"));
        if text.is_empty() {
            return Err(UsageError("--results needs a directory".into()));
        }
        let pattern = Pattern::parse(text).map_err(|e| err(&e))?;
        match literal_prefix(&pattern, arity) {
            Ok(None) => {
                if [".csv", ".tsv", ".json"].iter().any(|x| text.ends_with(x)) {
                    return Err(err(
                        &"GNU parallel's one-file formats (.csv, .tsv, .json) are not supported; name a directory",
                    ));
                }
                Ok(Results::Tree(PathBuf::from(text)))
            }
            Ok(Some(_)) => Ok(Results::Named(pattern)),
            Err(e) if arity.is_some() => Err(err(&e)),
            Err(_) => Ok(Results::Named(pattern)),
        }
    }

    /// Before anything runs: the part of DIR every job shares exists and is ours to write,
    /// or the run fails (125) with the reason.
    pub(crate) fn prepare(&self) -> anyhow::Result<()> {
        let dir = match self {
            Results::Tree(d) => d.clone(),
            Results::Named(p) => match literal_prefix(p, None) {
                Ok(Some(prefix)) => match prefix.iter().rposition(|&b| b == b'/') {
                    Some(i) => PathBuf::from(OsStr::from_bytes(&prefix[..=i])),
                    None => return Ok(()),
                },
                _ => return Ok(()),
            },
        };
        let shown = dir.display();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("--results {shown}: cannot create the directory: {e}"))?;
        nix::unistd::access(
            &dir,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        )
        .map_err(|e| anyhow::anyhow!("--results {shown}: cannot write in it: {}", e.desc()))?;
        Ok(())
    }

    /// Where `job`'s files go.
    fn paths(&self, job: &Job, slot: usize) -> Result<Paths, String> {
        match self {
            Results::Tree(base) => {
                let mut dir = base.clone();
                for (i, a) in job.args.iter().enumerate() {
                    dir.push((i + 1).to_string());
                    dir.push(OsStr::from_bytes(&component(a)));
                }
                Ok(Paths::inside(dir))
            }
            Results::Named(p) => {
                let name = p.render(job, slot)?;
                if name.is_empty() {
                    return Err("the name is empty".into());
                }
                let path = PathBuf::from(OsStr::from_bytes(&name));
                Ok(if name.ends_with(b"/") {
                    Paths::inside(path)
                } else {
                    Paths::beside(path)
                })
            }
        }
    }

    /// Create one try's files (an earlier try's are emptied): the job's directory, `stdout`,
    /// `stderr` and `seq`. `Err` fails the job before it starts.
    pub(crate) fn open(&self, job: &Job, slot: usize) -> Result<JobFiles, String> {
        let paths = self
            .paths(job, slot)
            .map_err(|e| format!("--results: cannot name the job's files: {e}"))?;
        let fail = |what: &Path, e: io::Error| format!("--results: {}: {e}", what.display());
        if let Some(dir) = &paths.dir {
            std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
        }
        let create = |p: &Path| {
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
                .map_err(|e| fail(p, e))
        };
        let stdout = create(&paths.stdout)?;
        let stderr = create(&paths.stderr)?;
        std::fs::write(&paths.seq, job.seq.to_string()).map_err(|e| fail(&paths.seq, e))?;
        Ok(JobFiles {
            paths,
            stdout,
            stderr,
            error: None,
        })
    }
}

/// The render of `p` for two made-up jobs of `arity` arguments that share no character in
/// any position (values, base names, directories, extensions, `{#}`, `{%}`): `None` when they
/// are the same (no replacement string in `p`), else what they begin with — the text before
/// the first replacement string. `Err` when `p` cannot be built for such a job.
pub(crate) fn literal_prefix(p: &Pattern, arity: Option<usize>) -> Result<Option<Vec<u8>>, String> {
    let a = p.render(&made_up_job(arity, 1, b"a"), 1)?;
    let b = p.render(&made_up_job(arity, 2, b"b/c.d"), 2)?;
    if a == b {
        return Ok(None);
    }
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    Ok(Some(a[..common].to_vec()))
}

/// A job of `arity` arguments (many when not known) all equal to `value`.
pub(crate) fn made_up_job(arity: Option<usize>, seq: u64, value: &[u8]) -> Job {
    Job {
        seq,
        nth: seq,
        args: vec![value.to_vec(); arity.unwrap_or(64)],
        key: None,
    }
}

/// One value as a directory name (see the module's documentation).
fn component(value: &[u8]) -> Vec<u8> {
    match value {
        b"" => return b"\\e".to_vec(),
        b"." => return b"\\.".to_vec(),
        b".." => return b"\\.\\.".to_vec(),
        _ => {}
    }
    let mut out = Vec::with_capacity(value.len() + 8);
    for &b in value {
        match b {
            b'/' => out.extend_from_slice(b"\\_"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
    if out.len() > NAME_MAX {
        // Room for `\h` and 16 hex digits; never cut inside an escape or a UTF-8 character.
        let mut cut = NAME_MAX - 18;
        while cut > 0 && (out[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        let backslashes = out[..cut].iter().rev().take_while(|&&b| b == b'\\').count();
        cut -= backslashes % 2;
        out.truncate(cut);
        out.extend_from_slice(format!("\\h{:016x}", fnv1a(value)).as_bytes());
    }
    out
}

/// FNV-1a, 64 bits: stable across builds and machines (a name must not change between runs).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The files of one job.
#[derive(Debug)]
struct Paths {
    /// To be created first (`None`: the current directory).
    dir: Option<PathBuf>,
    stdout: PathBuf,
    stderr: PathBuf,
    seq: PathBuf,
    exitcode: PathBuf,
    json: PathBuf,
}

impl Paths {
    /// `stdout`, `stderr`, … inside `dir`.
    fn inside(dir: PathBuf) -> Paths {
        Paths {
            stdout: dir.join("stdout"),
            stderr: dir.join("stderr"),
            seq: dir.join("seq"),
            exitcode: dir.join("exitcode"),
            json: dir.join("job.json"),
            dir: Some(dir),
        }
    }

    /// `NAME` for stdout, `NAME.err`, `NAME.seq`, … beside it.
    fn beside(name: PathBuf) -> Paths {
        let with = |ext: &str| {
            let mut s = name.clone().into_os_string();
            s.push(ext);
            PathBuf::from(s)
        };
        Paths {
            dir: name
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(Path::to_path_buf),
            stderr: with(".err"),
            seq: with(".seq"),
            exitcode: with(".exitcode"),
            json: with(".job.json"),
            stdout: name,
        }
    }
}

/// One job's open files.
#[derive(Debug)]
pub(crate) struct JobFiles {
    paths: Paths,
    stdout: File,
    stderr: File,
    /// Writing a remote job's output failed: why.
    error: Option<String>,
}

impl JobFiles {
    /// The job's stdout and stderr, for a job run here to write itself.
    pub(crate) fn for_child(&self) -> io::Result<[File; 2]> {
        Ok([self.stdout.try_clone()?, self.stderr.try_clone()?])
    }

    /// Output of a remote job, as it arrives.
    pub(crate) fn write(&mut self, stream: Stream, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let (mut f, p) = match stream {
            Stream::Stdout => (&self.stdout, &self.paths.stdout),
            Stream::Stderr => (&self.stderr, &self.paths.stderr),
        };
        if let Err(e) = f.write_all(bytes) {
            self.error = Some(format!("--results: {}: {e}", p.display()));
        }
    }

    /// The size of the job's stdout (the joblog's Receive).
    pub(crate) fn received(&self) -> u64 {
        self.stdout.metadata().map_or(0, |m| m.len())
    }

    /// The job has been reported as `r`: write `exitcode` (the status as a shell's `$?` shows
    /// it: the exit code, 128+N for signal N, 126/127 for a command that could not be run)
    /// and `job.json` (the job's `--json` record, one line, its output read back from the
    /// stdout file a piece at a time). `Err`: a file could not be written.
    pub(crate) fn finish(mut self, r: &JobReport, remote: bool) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let fail = |p: &Path, e: io::Error| format!("--results: {}: {e}", p.display());
        let code = shell_status(&r.outcome).to_string();
        std::fs::write(&self.paths.exitcode, code).map_err(|e| fail(&self.paths.exitcode, e))?;
        // The record's output is the stdout file's (read only when there is something in it).
        let mut empty = io::empty();
        let stdout: &mut dyn io::Read = if r.output.len() == 0 {
            &mut empty
        } else {
            self.stdout
                .rewind()
                .map_err(|e| fail(&self.paths.stdout, e))?;
            &mut self.stdout
        };
        let json = File::create(&self.paths.json).map_err(|e| fail(&self.paths.json, e))?;
        let mut w = io::BufWriter::new(json);
        super::report::write_exec_record(r, remote, stdout, &mut w)
            .and_then(|()| w.write_all(b"\n"))
            .and_then(|()| w.flush())
            .map_err(|e| fail(&self.paths.json, e))
    }
}

/// A job's status as a shell would show it in `$?`.
fn shell_status(o: &JobOutcome) -> i32 {
    match o {
        JobOutcome::Exited { status, .. } | JobOutcome::Unsaved { status, .. } => match status {
            Status::Exited(c) => *c,
            Status::Signaled(n) => 128 + n,
        },
        JobOutcome::NotStarted { code, .. } => *code,
        _ => i32::from(crate::exit::Exit::FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_names_as_in_gnu_parallel() {
        assert_eq!(component(b"a/b"), b"a\\_b");
        assert_eq!(component(b"c d"), b"c d");
        assert_eq!(component(b"a\\b"), b"a\\\\b");
        assert_eq!(component(b"x\\_y"), b"x\\\\_y");
    }

    #[test]
    fn names_gnu_parallel_gets_wrong_are_safe_and_distinct() {
        let odd = [&b""[..], b".", b"..", b"\\e", b"\\.", b"\\.\\."];
        let names: Vec<Vec<u8>> = odd.iter().map(|v| component(v)).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(n != b"." && n != b".." && !n.is_empty(), "{n:?}");
            for m in &names[i + 1..] {
                assert_ne!(n, m);
            }
        }
    }

    #[test]
    fn long_names_fit_and_stay_distinct() {
        let a = vec![b'a'; 300];
        let mut b = a.clone();
        b[299] = b'b';
        let (na, nb) = (component(&a), component(&b));
        assert!(na.len() <= NAME_MAX && nb.len() <= NAME_MAX);
        assert_ne!(na, nb);
        assert_eq!(component(&a), na, "stable");
        // Never cut inside an escape.
        let slashes = vec![b'/'; 200];
        let n = component(&slashes);
        assert!(n.len() <= NAME_MAX);
        let head = &n[..n.len() - 18];
        assert_eq!(head.len() % 2, 0);
        assert!(
            head.chunks(2).all(|c| c == b"\\_"),
            "{:?}",
            String::from_utf8_lossy(&n)
        );
        let e = "é".repeat(200);
        let n = component(e.as_bytes());
        assert!(std::str::from_utf8(&n).is_ok());
    }

    #[test]
    fn dir_with_replacement_strings_names_files() {
        let r = Results::parse("r/{1}-{2}.out", Some(2)).unwrap();
        let job = Job {
            seq: 3,
            nth: 3,
            args: vec![b"a".to_vec(), b"1".to_vec()],
            key: None,
        };
        let p = r.paths(&job, 1).unwrap();
        assert_eq!(p.stdout, Path::new("r/a-1.out"));
        assert_eq!(p.stderr, Path::new("r/a-1.out.err"));
        assert_eq!(p.seq, Path::new("r/a-1.out.seq"));
        assert_eq!(p.dir.as_deref(), Some(Path::new("r")));
        let r = Results::parse("r/{1}/", Some(2)).unwrap();
        let p = r.paths(&job, 1).unwrap();
        assert_eq!(p.stdout, Path::new("r/a/stdout"));
        assert!(matches!(Results::parse("res", None), Ok(Results::Tree(_))));
        assert!(Results::parse("r/{3}", Some(2)).is_err());
        assert!(Results::parse("out.json", Some(1)).is_err());
        assert!(Results::parse("", Some(1)).is_err());
        let p = Pattern::parse("a/b{2}c/{1}").unwrap();
        assert_eq!(literal_prefix(&p, Some(2)).unwrap(), Some(b"a/b".to_vec()));
    }

    #[test]
    fn shell_statuses() {
        let ran = |status| JobOutcome::Exited { status, stop: None };
        assert_eq!(shell_status(&ran(Status::Exited(3))), 3);
        assert_eq!(shell_status(&ran(Status::Signaled(9))), 137);
        let ns = JobOutcome::NotStarted {
            error: "x".into(),
            code: 127,
        };
        assert_eq!(shell_status(&ns), 127);
    }
}
