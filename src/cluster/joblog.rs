//! The joblog: GNU parallel's nine TSV columns, then the job's Key (`key.rs`), one row per
//! job that ran to an end — and the reading of an existing one for `--resume`,
//! `--resume-failed` and `--retry-failed`.
//!
//! Which jobs get a row: every job that ran to an end, whatever the end — success, failure,
//! a signal, `--job-timeout`, not startable (127), a command that could not be built. A job
//! that did not finish gets none, so that `--resume` runs it again: one killed because the
//! run was stopped (Ctrl-C, SIGTERM, `--halt now`, undeliverable results), and one never run
//! (all hosts down, no worker left).
//!
//! Durability: each row is written with one `write(2)` the moment its job is reported, so a
//! SIGKILL of childproc loses no finished job's row and can tear a row only at the very end
//! of the file (a torn last line is ignored, and cut off before appending, by the next
//! `--resume`). The file is `fdatasync`ed at most once a second, from the reporter's tick (by
//! a thread of its own, so a slow disk never holds up the jobs reporting meanwhile), and at
//! the end of the run: a power loss can lose the rows of about the last second, whose jobs
//! `--resume` then simply runs again.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context;

use super::job::{Job, JobOutcome, JobReport, Stop};
use super::key::{ArgsDigest, CommandSet, How, Key};
use super::plan::{JoblogPlan, Resume};
use super::quote;
use crate::usage::UsageError;

/// GNU parallel's nine columns.
const GNU_HEADER: &[u8] =
    b"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// Ours: GNU's nine, then the Key.
const HEADER: &[u8] =
    b"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tKey";

/// How often at most the joblog is made durable.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// An open joblog, written row by row.
pub(crate) struct Joblog {
    file: File,
    /// How this run's Commands read back (the HOW of its keys).
    how: How,
    /// Keys for a job that came without one.
    set: Option<CommandSet>,
    /// One row, built before its single write.
    line: Vec<u8>,
    /// Rows written since the last sync.
    unsynced: bool,
    last_sync: Instant,
    /// The thread that syncs in the background (`None` if it could not be started: then
    /// the tick syncs itself).
    syncer: Option<Syncer>,
}

/// A thread that `fdatasync`s the joblog when asked, and keeps the first error.
struct Syncer {
    ask: std::sync::mpsc::SyncSender<()>,
    error: Arc<Mutex<Option<String>>>,
}

impl Syncer {
    fn start(file: &File) -> Option<Syncer> {
        let file = file.try_clone().ok()?;
        // One request may wait: a tick while a sync runs asks for the next one.
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let error = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&error);
        std::thread::Builder::new()
            .name("joblog-sync".into())
            .spawn(move || {
                for () in asked {
                    if let Err(e) = sync_data(&file) {
                        if let Ok(mut slot) = seen.lock() {
                            *slot = Some(sync_error(&e));
                        }
                        return;
                    }
                }
            })
            .ok()?;
        Some(Syncer { ask, error })
    }

    /// Ask for a sync; the error of an earlier one, if any.
    fn ask(&self) -> Result<(), String> {
        self.failed()?;
        // Full: a sync is already asked for, and it will cover these rows too.
        let _ = self.ask.try_send(());
        Ok(())
    }

    /// The error of an earlier sync, if any.
    fn failed(&self) -> Result<(), String> {
        match self.error.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `fdatasync`; a file that cannot be synced (`/dev/null`, a pipe) has nothing to lose.
fn sync_data(f: &File) -> std::io::Result<()> {
    match f.sync_data() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => Ok(()),
        r => r,
    }
}

fn sync_error(e: &std::io::Error) -> String {
    format!("--joblog: cannot sync it to disk: {e}")
}

/// What an existing joblog said, for the jobs of this run.
#[derive(Default)]
pub(crate) struct Prior {
    /// `--resume`, `--resume-failed`: the arguments of the jobs to skip.
    pub skip: std::collections::HashSet<ArgsDigest>,
    /// `--retry-failed`: the failed jobs, in Seq order, and whether a shell runs them.
    pub replay: Vec<Job>,
    pub shell: bool,
}

impl Joblog {
    /// Open the joblog as the plan says: a new one with its header, or (resuming) the one
    /// there, read first and appended to. A joblog that cannot be written, or read when it
    /// must be, fails the run before any job starts.
    pub(crate) fn open(jp: &JoblogPlan) -> anyhow::Result<(Joblog, Prior)> {
        let p = &jp.path;
        let named = || format!("--joblog {}", p.display());
        let (file, prior) = if jp.resume == Resume::No {
            (create(p).with_context(named)?, Prior::default())
        } else {
            resume(jp)?
        };
        let how = jp.set.as_ref().map_or(How::Argv, |s| s.how);
        let log = Joblog {
            syncer: Syncer::start(&file),
            file,
            how: if prior.shell { How::Sh } else { how },
            set: jp.set.clone(),
            line: Vec::with_capacity(256),
            unsynced: true,
            last_sync: Instant::now(),
        };
        Ok((log, prior))
    }

    /// Write one job's row, if it has one (see the module's doc), in one `write(2)`.
    pub(crate) fn row(&mut self, r: &JobReport) -> Result<(), String> {
        if !finished(&r.outcome) {
            return Ok(());
        }
        self.line.clear();
        let key = r
            .job
            .key
            .or_else(|| self.set.as_ref().map(|s| s.key(&r.job.args)));
        format_row(&mut self.line, r, key, self.how);
        self.file
            .write_all(&self.line)
            .map_err(|e| format!("--joblog: cannot write job {}'s row: {e}", r.job.seq))?;
        self.unsynced = true;
        Ok(())
    }

    /// Periodic, from the reporter's tick: make the rows durable, at most once a second.
    pub(crate) fn tick(&mut self) -> Result<(), String> {
        if !self.unsynced || self.last_sync.elapsed() < SYNC_EVERY {
            return Ok(());
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        match &self.syncer {
            Some(s) => s.ask(),
            None => self.sync(),
        }
    }

    /// The end of the run: every row durable (here, waiting for it).
    pub(crate) fn close(&mut self) -> Result<(), String> {
        if let Some(s) = self.syncer.take() {
            s.failed()?;
        }
        self.sync()
    }

    fn sync(&mut self) -> Result<(), String> {
        sync_data(&self.file).map_err(|e| sync_error(&e))?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }
}

/// Whether a job ran to an end (and so gets a row): not one the run's stop killed, not one
/// never run.
fn finished(o: &JobOutcome) -> bool {
    !matches!(
        o,
        JobOutcome::NotRun(_)
            | JobOutcome::WorkerStopped {
                stop: Stop::Cancelled,
                ..
            }
            | JobOutcome::Exited {
                stop: Some(Stop::Cancelled),
                ..
            }
    )
}

/// A new joblog with its header (an existing file is replaced), its directory entry
/// made durable too.
fn create(p: &Path) -> std::io::Result<File> {
    let mut f = File::create(p)?;
    f.write_all(&[HEADER, b"\n"].concat())?;
    sync_dir(p);
    Ok(f)
}

/// Best effort: a file system that cannot sync a directory still has the file.
fn sync_dir(p: &Path) {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// One row: GNU parallel's columns and formats, then the Key. Send is 0 (jobs get no stdin);
/// Receive counts stdout bytes only. Tabs and newlines in Host and Command become spaces, so
/// a row is always one line of ten columns.
fn format_row(out: &mut Vec<u8>, r: &JobReport, key: Option<Key>, how: How) {
    let start = r
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let ended = r.outcome.ended();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{}\t{}\t{:.3}\t{:10.3}\t0\t{}\t{}\t{}\t",
        r.job.seq,
        r.host_name().replace(['\t', '\n'], " "),
        start,
        r.duration.as_secs_f64(),
        r.output.len(),
        ended.exit,
        ended.signal,
    );
    let mut lossy = false;
    out.extend(r.command.iter().map(|&b| {
        if b == b'\t' || b == b'\n' {
            lossy = true;
            b' '
        } else {
            b
        }
    }));
    out.push(b'\t');
    let how = match how {
        How::Argv | How::Sh if lossy => How::Lossy,
        h => h,
    };
    match key {
        Some(k) => k.write(how, out),
        None => out.push(b'-'),
    }
    out.push(b'\n');
}

/// One row read back.
struct Row<'a> {
    seq: u64,
    ok: bool,
    command: &'a [u8],
    how: How,
    key: Key,
}

/// Why a line is not a row of ours.
enum Bad {
    /// Not a joblog row at all.
    NotARow,
    /// A GNU row: no Key.
    NoKey,
}

impl<'a> Row<'a> {
    fn parse(line: &'a [u8]) -> Result<Row<'a>, Bad> {
        let mut cols = line.splitn(9, |&b| b == b'\t');
        let mut col = || cols.next().ok_or(Bad::NotARow);
        let seq = number::<u64>(col()?)?;
        let _host = col()?;
        for _ in 0..4 {
            col()?; // Starttime, JobRuntime, Send, Receive
        }
        let exit = number::<i32>(col()?)?;
        let signal = number::<i32>(col()?)?;
        let rest = col()?; // Command, then the Key
        let (command, key) = match rest.iter().rposition(|&b| b == b'\t') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => return Err(Bad::NoKey),
        };
        let (how, key) = Key::parse(key).ok_or(Bad::NoKey)?;
        Ok(Row {
            seq,
            ok: exit == 0 && signal == 0,
            command,
            how,
            key,
        })
    }
}

fn number<T: std::str::FromStr>(b: &[u8]) -> Result<T, Bad> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Bad::NotARow)
}

/// Read the joblog that is there and open it for appending. None there (or an empty file):
/// a new one.
fn resume(jp: &JoblogPlan) -> anyhow::Result<(File, Prior)> {
    let p = &jp.path;
    let named = || format!("--joblog {}", p.display());
    let mut file = match OpenOptions::new().read(true).append(true).open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((create(p).with_context(named)?, Prior::default()));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(named())),
    };
    let mut reader = Reader::new(jp);
    let whole = reader.read(BufReader::new(&file))?;
    let len = file.seek(std::io::SeekFrom::End(0)).with_context(named)?;
    if whole < len {
        // A torn last line: cut it off, so the rows appended stay whole.
        file.set_len(whole).with_context(named)?;
    }
    if whole == 0 {
        file.write_all(&[HEADER, b"\n"].concat())
            .with_context(named)?;
    }
    Ok((file, reader.finish()?))
}

/// What a job's rows said (`--resume-failed`, `--retry-failed`): as for GNU parallel, a job
/// that succeeded once is done; a failed one is run again as its last row says.
struct Last {
    seq: u64,
    ok: bool,
    how: How,
    /// Only for failed rows, and only with `--retry-failed`.
    command: Option<Vec<u8>>,
}

/// Reads an existing joblog line by line.
struct Reader<'a> {
    jp: &'a JoblogPlan,
    path: &'a Path,
    line_no: u64,
    prior: Prior,
    last: HashMap<Key, Last>,
}

impl<'a> Reader<'a> {
    fn new(jp: &'a JoblogPlan) -> Reader<'a> {
        Reader {
            jp,
            path: &jp.path,
            line_no: 0,
            prior: Prior::default(),
            last: HashMap::new(),
        }
    }

    /// Read every whole line; the length of the file up to the end of its last whole line.
    fn read(&mut self, mut r: impl BufRead) -> anyhow::Result<u64> {
        let mut whole = 0u64;
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .with_context(|| format!("--joblog {}", self.path.display()))?;
            if n == 0 {
                return Ok(whole);
            }
            if line.last() != Some(&b'\n') {
                // A torn last line (power loss, SIGKILL mid-write): ignored. A first line
                // that is not even the start of a header is not a joblog of ours to cut.
                if whole == 0 && !HEADER.starts_with(&line) {
                    return Err(self.not_ours(&line).into());
                }
                return Ok(whole);
            }
            line.pop();
            self.line_no += 1;
            self.take(&line)?;
            whole += n as u64;
        }
    }

    fn take(&mut self, line: &[u8]) -> Result<(), UsageError> {
        if self.line_no == 1 {
            return match line {
                HEADER => Ok(()),
                _ => Err(self.not_ours(line)),
            };
        }
        let row = Row::parse(line).map_err(|b| self.bad_row(b))?;
        self.check_set(&row)?;
        match self.jp.resume {
            Resume::Finished => {
                self.prior.skip.insert(row.key.args);
            }
            Resume::Succeeded | Resume::RetryFailed => self.remember(&row),
            Resume::No => {}
        }
        Ok(())
    }

    /// Resuming another command set's joblog would skip or rerun jobs by accident.
    fn check_set(&self, row: &Row) -> Result<(), UsageError> {
        let Some(set) = &self.jp.set else {
            return Ok(());
        };
        if row.key.set == set.digest {
            return Ok(());
        }
        Err(UsageError(format!(
            "{}: the joblog {} was written for another command set: its line {} has key {}-… \
             (Command: {}), this run's {} has {}-…; resume with the same command set, or use \
             another --joblog",
            self.option(),
            self.path.display(),
            self.line_no,
            row.key.prefix(row.how),
            shorten(row.command),
            set.text,
            set.prefix(),
        )))
    }

    fn remember(&mut self, row: &Row) {
        let command =
            (!row.ok && self.jp.resume == Resume::RetryFailed).then(|| row.command.to_vec());
        let last = Last {
            seq: row.seq,
            ok: row.ok,
            how: row.how,
            command,
        };
        match self.last.entry(row.key) {
            Entry::Occupied(e) if e.get().ok => {}
            Entry::Occupied(mut e) => *e.get_mut() = last,
            Entry::Vacant(e) => {
                e.insert(last);
            }
        }
    }

    fn finish(mut self) -> Result<Prior, UsageError> {
        match self.jp.resume {
            Resume::Succeeded => {
                let done = self.last.iter().filter(|(_, l)| l.ok).map(|(k, _)| k.args);
                self.prior.skip = done.collect();
            }
            Resume::RetryFailed => self.replay()?,
            Resume::Finished | Resume::No => {}
        }
        Ok(self.prior)
    }

    /// `--retry-failed`: each failed job once, as its Command says, in Seq order.
    fn replay(&mut self) -> Result<(), UsageError> {
        let mut failed: Vec<(Key, Last)> = self.last.drain().filter(|(_, l)| !l.ok).collect();
        failed.sort_by_key(|(_, l)| l.seq);
        let shell = failed.first().is_some_and(|(_, l)| l.how == How::Sh);
        let mut jobs = Vec::with_capacity(failed.len());
        for (key, last) in failed {
            let command = last.command.unwrap_or_default();
            let args = match (last.how, shell) {
                (How::Sh, true) => Some(vec![command]),
                (How::Argv, false) => quote::split(&command),
                _ => None,
            };
            let Some(args) = args else {
                return Err(self.not_replayable(&last.how, shell, last.seq));
            };
            jobs.push(Job {
                seq: last.seq,
                nth: 0,
                args,
                key: Some(key),
            });
        }
        self.prior.replay = jobs;
        self.prior.shell = shell;
        Ok(())
    }

    fn not_replayable(&self, how: &How, shell: bool, seq: u64) -> UsageError {
        let why = match how {
            How::Task | How::Worker => {
                "it is a --task or --worker job, whose Command does not carry its input"
            }
            How::Lossy => "a tab or newline in its Command was written as a space",
            How::Sh | How::Argv if shell != (*how == How::Sh) => {
                "the failed jobs mix --shell and plain --exec ones"
            }
            _ => "it is empty or not a command line childproc wrote",
        };
        UsageError(format!(
            "--retry-failed: job {seq} in {} cannot be run again from its Command ({why}); \
             run its command line again with --resume-failed instead",
            self.path.display()
        ))
    }

    fn option(&self) -> &'static str {
        match self.jp.resume {
            Resume::Finished => "--resume",
            Resume::Succeeded => "--resume-failed",
            Resume::RetryFailed => "--retry-failed",
            Resume::No => "--joblog",
        }
    }

    fn not_ours(&self, first: &[u8]) -> UsageError {
        let first = first.strip_suffix(b"\n").unwrap_or(first);
        if first == GNU_HEADER {
            return self.gnu();
        }
        UsageError(format!(
            "{}: {} is not a joblog (its first line is not the joblog header); \
             name another --joblog file",
            self.option(),
            self.path.display()
        ))
    }

    fn bad_row(&self, b: Bad) -> UsageError {
        match b {
            Bad::NoKey => self.gnu(),
            Bad::NotARow => UsageError(format!(
                "{}: line {} of the joblog {} is not a joblog row",
                self.option(),
                self.line_no,
                self.path.display()
            )),
        }
    }

    /// GNU parallel's joblog (or rows without a Key): nothing to match jobs by content.
    fn gnu(&self) -> UsageError {
        UsageError(format!(
            "{}: the joblog {} has no Key column (GNU parallel wrote it?), so its jobs cannot \
             be matched by content; resume it with GNU parallel, or start a new joblog",
            self.option(),
            self.path.display()
        ))
    }
}

/// A Command as a message shows it.
fn shorten(command: &[u8]) -> String {
    let s = String::from_utf8_lossy(command);
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Status;

    const KEY: &str = "argv-0011223344556677-00112233445566778899aabbccddeeff";

    #[test]
    fn rows_read_back() {
        let line = format!("7\t:\t1.0\t     0.001\t0\t2\t3\t0\techo a\tb\t{KEY}");
        let Ok(r) = Row::parse(line.as_bytes()) else {
            panic!("not read back: {line}");
        };
        assert_eq!((r.seq, r.ok, r.how), (7, false, How::Argv));
        assert_eq!(r.command, b"echo a\tb", "the Key is the last column");
        let gnu = b"1\t:\t1.0\t     0.001\t0\t2\t0\t0\techo a";
        assert!(matches!(Row::parse(gnu), Err(Bad::NoKey)));
        let junk = format!("x\t:\t1.0\t     0.001\t0\t2\t0\t0\techo a\t{KEY}");
        assert!(matches!(Row::parse(junk.as_bytes()), Err(Bad::NotARow)));
        assert!(matches!(Row::parse(b"1\t:"), Err(Bad::NotARow)));
    }

    #[test]
    fn only_jobs_that_ran_to_an_end_have_rows() {
        let exited = |stop| JobOutcome::Exited {
            status: Status::Exited(0),
            stop,
        };
        assert!(finished(&exited(None)));
        assert!(finished(&exited(Some(Stop::TimedOut(
            crate::cluster::job::Timeout::fixed(Duration::from_secs(1))
        )))));
        assert!(!finished(&exited(Some(Stop::Cancelled))));
        assert!(!finished(&JobOutcome::NotRun("all hosts down".into())));
        assert!(!finished(&JobOutcome::WorkerStopped {
            stop: Stop::Cancelled,
            signal: 15
        }));
        assert!(finished(&JobOutcome::NotStarted {
            error: "not found".into(),
            code: 127
        }));
    }

    fn read(resume: Resume, rows: &[(&str, &str, &str)]) -> Prior {
        let jp = JoblogPlan {
            path: "jl".into(),
            resume,
            set: Some(CommandSet::new("--exec echo".into(), How::Argv)),
        };
        let set = jp.set.clone().unwrap();
        let mut text = [HEADER, b"\n"].concat();
        for (seq, exit, arg) in rows {
            let mut key = Vec::new();
            set.key(&[arg.as_bytes().to_vec()])
                .write(How::Argv, &mut key);
            let key = String::from_utf8(key).unwrap();
            let line = format!("{seq}\t:\t1.0\t     0.001\t0\t0\t{exit}\t0\techo {arg}\t{key}\n");
            text.extend_from_slice(line.as_bytes());
        }
        let mut r = Reader::new(&jp);
        assert_eq!(r.read(&text[..]).unwrap(), text.len() as u64);
        r.finish().ok().unwrap()
    }

    #[test]
    fn a_job_that_succeeded_once_is_done() {
        let set = CommandSet::new("--exec echo".into(), How::Argv);
        let args = |a: &str| set.key(&[a.as_bytes().to_vec()]).args;
        let rows = [
            ("1", "1", "a"),
            ("2", "0", "b"),
            ("3", "1", "c"),
            ("1", "0", "a"),
            ("2", "1", "b"),
        ];
        let p = read(Resume::Succeeded, &rows);
        assert_eq!(p.skip, [args("a"), args("b")].into());
        let p = read(Resume::RetryFailed, &rows);
        let again: Vec<(u64, Vec<Vec<u8>>)> =
            p.replay.into_iter().map(|j| (j.seq, j.args)).collect();
        assert_eq!(again, [(3, vec![b"echo".to_vec(), b"c".to_vec()])]);
        let p = read(Resume::Finished, &rows);
        assert_eq!(p.skip.len(), 3);
    }
}
