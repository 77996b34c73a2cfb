//! Reporting for `cluster`: results in completion or input order, `--json` records, the joblog,
//! the progress bar and the closing summary line.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use std::sync::Arc;

use serde::Serialize;

use super::dispatch::{Delivered, Sink, Summary, Undelivered};
use super::job::JobReport;
use super::joblog::Joblog;
use super::output::Live;
use super::plan::{Progress, ReportPlan};
use crate::error_line;

pub(crate) struct Reporter {
    keep_order: bool,
    json: bool,
    exec_mode: bool,
    /// `--exec` output comes through here (grouped, no `--results`).
    prints_output: bool,
    /// The run's live writer: with `-k --line-buffer` it learns whose turn it is from here.
    live: Arc<Live>,
    next_seq: u64,
    pending: BTreeMap<u64, JobReport>,
    out: BufWriter<std::io::Stdout>,
    out_ok: bool,
    /// Why our stdout stopped working, if it did (the run is then stopped).
    out_error: Option<std::io::Error>,
    joblog: Option<Joblog>,
    /// Why the joblog could not be written (the run is then stopped, and ends with 125).
    joblog_error: Option<String>,
    progress: Option<indicatif::ProgressBar>,
    /// `--progress` asked for while stderr is not a terminal (a log, a CI console): a bar
    /// cannot be redrawn there, so a plain line is printed every [`TEXT_PROGRESS_EVERY`].
    text_progress: Option<TextProgress>,
    last_flush: Instant,
    done: u64,
    failed: u64,
    /// Other machines take part: records name the host, the summary counts per host.
    remote: bool,
    /// Jobs and failures per host.
    per_host: BTreeMap<std::sync::Arc<str>, (u64, u64)>,
}

impl Reporter {
    /// `joblog`: the run's joblog, already open (`joblog` decides how).
    pub(crate) fn new(a: &ReportPlan, joblog: Option<Joblog>, live: Arc<Live>) -> Reporter {
        let tty = std::io::stderr().is_terminal();
        let show = match a.progress {
            Progress::Auto => tty,
            Progress::Always => true,
            Progress::Never => false,
        };
        let text_progress = (show && !tty).then(|| TextProgress {
            started: Instant::now(),
            last: Instant::now(),
            total: None,
        });
        let mut r = Reporter {
            keep_order: a.keep_order,
            json: a.json,
            exec_mode: a.exec,
            prints_output: a.prints_output,
            live,
            next_seq: 1,
            pending: BTreeMap::new(),
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            out_ok: true,
            out_error: None,
            joblog,
            joblog_error: None,
            progress: (show && tty).then(indicatif::ProgressBar::hidden),
            text_progress,
            last_flush: Instant::now(),
            done: 0,
            failed: 0,
            remote: a.remote,
            per_host: BTreeMap::new(),
        };
        r.set_total(a.total);
        r
    }

    fn set_total(&mut self, total: Option<u64>) {
        if let Some(t) = &mut self.text_progress {
            t.total = total;
        }
        let Some(old) = self.progress.take() else {
            return;
        };
        drop(old);
        let target = indicatif::ProgressDrawTarget::stderr_with_hz(10);
        let pb = match total {
            Some(n) => {
                let pb = indicatif::ProgressBar::with_draw_target(Some(n), target);
                let style = indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} jobs, {msg} [{elapsed_precise}, eta {eta}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                pb.set_style(style);
                pb
            }
            None => {
                let pb = indicatif::ProgressBar::with_draw_target(None, target);
                let style = indicatif::ProgressStyle::with_template(
                    "{spinner} {pos} jobs, {msg} [{elapsed_precise}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
                pb.set_style(style);
                pb
            }
        };
        pb.set_message("0 failed");
        self.progress = Some(pb);
    }

    /// Our stdout failed (a closed pipe, a full disk): results have nowhere to go.
    fn out_failed(&mut self, e: std::io::Error) {
        self.out_ok = false;
        if self.out_error.is_none() {
            self.out_error = Some(e);
        }
    }

    /// Take one finished job (exactly once per job).
    fn take(&mut self, r: JobReport) {
        let ok = r.outcome.ok();
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        if self.remote
            && let Some(host) = &r.host
        {
            let e = self.per_host.entry(Arc::clone(host)).or_default();
            e.0 += 1;
            e.1 += u64::from(!ok);
        }
        self.log(&r);
        if let Some(pb) = &self.progress {
            pb.inc(1);
            pb.set_message(format!("{} failed", self.failed));
        }
        if self.keep_order {
            self.pending.insert(r.job.nth, r);
            while let Some(r) = self.pending.remove(&self.next_seq) {
                self.next_seq += 1;
                self.emit(&r);
            }
        } else {
            self.emit(&r);
        }
        if self.last_flush.elapsed() >= Duration::from_millis(100) {
            self.flush();
        }
    }

    /// Periodic: make output visible.
    fn flush(&mut self) {
        if let Some(t) = &mut self.text_progress
            && t.last.elapsed() >= TEXT_PROGRESS_EVERY
        {
            t.last = Instant::now();
            let of = t.total.map_or(String::new(), |n| format!("/{n}"));
            error_line(&format!(
                "cluster: {}{of} jobs done, {} failed, {:.0}s",
                self.done,
                self.failed,
                t.started.elapsed().as_secs_f64()
            ));
        }
        if self.out_ok
            && let Err(e) = self.out.flush()
        {
            self.out_failed(e);
        }
        self.joblog_do(Joblog::tick);
        self.last_flush = Instant::now();
    }

    fn emit(&mut self, r: &JobReport) {
        let input = r.job.input();
        let input = String::from_utf8_lossy(&input);
        let error = r.outcome.error();
        if self.json {
            let rec = Record::of(r, &input, error.as_deref(), self.exec_mode, self.remote);
            let line = serde_json::to_vec(&rec).unwrap_or_default();
            self.write(&line, true);
        } else if self.exec_mode {
            if self.prints_output {
                self.write(r.output.bytes(), false);
            }
        } else if error.is_none() {
            self.write(r.output.bytes(), true);
        }
        if self.exec_mode {
            // `-k --line-buffer`: the next job's turn to write live.
            self.live.done(r.job.nth);
        }
        if self.exec_mode && !r.stderr.is_empty() {
            // Grouped: the job's stderr in one piece, right after its stdout.
            let _ = self.out.flush();
            let _ = std::io::stderr().lock().write_all(&r.stderr);
        }
        // Once stdout is gone the run is being stopped: the jobs it kills are not news.
        if let Some(e) = &error
            && self.out_error.is_none()
            && !self.live.broken()
        {
            let line = format!("job {} ({}) failed: {e}", r.job.seq, shorten(&input));
            match &self.progress {
                Some(pb) => pb.suspend(|| error_line(&line)),
                None => error_line(&line),
            }
        }
    }

    fn write(&mut self, bytes: &[u8], newline: bool) {
        if !self.out_ok {
            return;
        }
        let r = self.out.write_all(bytes).and_then(|()| {
            if newline {
                self.out.write_all(b"\n")
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            self.out_failed(e);
        }
    }

    fn log(&mut self, r: &JobReport) {
        self.joblog_do(|j| j.row(r));
    }

    /// One joblog step; its first error stops the run (and ends it with 125).
    fn joblog_do(&mut self, step: impl FnOnce(&mut Joblog) -> Result<(), String>) {
        let Some(j) = &mut self.joblog else { return };
        if let Err(e) = step(j) {
            self.joblog_error = Some(e);
            self.joblog = None;
        }
    }

    /// Flush everything and print the summary line on stderr.
    fn summarise(&mut self, end: &Summary) {
        // Jobs still waiting for an earlier one (only when that one never finished).
        let rest: Vec<JobReport> = std::mem::take(&mut self.pending).into_values().collect();
        for r in &rest {
            self.emit(r);
        }
        self.live.finish();
        self.flush();
        self.joblog_do(Joblog::close);
        if let Some(pb) = self.progress.take() {
            pb.finish_and_clear();
        }
        let cpu = crate::process::children_cpu() + end.remote_cpu;
        let wall = end.wall.as_secs_f64();
        let speedup = if wall > 0.0 {
            cpu.as_secs_f64() / wall
        } else {
            0.0
        };
        let stopped = match end.interrupted {
            Some(sig) => format!(
                ", interrupted by {}",
                crate::values::Signal::name_of(sig).unwrap_or("a signal")
            ),
            None => String::new(),
        };
        error_line(&format!(
            "cluster: {} jobs, {} failed, wall {wall:.3}s, cpu {:.3}s, speedup {speedup:.2}x on {} workers{stopped}",
            self.done,
            self.failed,
            cpu.as_secs_f64(),
            end.workers,
        ));
        if self.remote {
            self.summarise_hosts(&end.hosts);
        }
    }

    /// One line per host: those named up front, then those met on the way (Slurm nodes).
    fn summarise_hosts(&self, hosts: &[(String, bool)]) {
        for (label, down) in hosts {
            let (jobs, failed) = self
                .per_host
                .get(label.as_str())
                .copied()
                .unwrap_or_default();
            let name = if label == ":" {
                "this machine (:)".to_string()
            } else {
                format!("host {label}")
            };
            error_line(&format!(
                "cluster: {name}: {jobs} jobs, {failed} failed{}",
                if *down { ", down" } else { "" }
            ));
        }
        for (label, (jobs, failed)) in &self.per_host {
            if !hosts.iter().any(|(l, _)| l.as_str() == &**label) {
                error_line(&format!(
                    "cluster: host {label}: {jobs} jobs, {failed} failed"
                ));
            }
        }
    }
}

impl Sink for Reporter {
    fn job(&mut self, r: JobReport) {
        self.take(r);
    }

    fn broken(&self) -> bool {
        self.out_error.is_some() || self.joblog_error.is_some() || self.live.broken()
    }

    fn tick(&mut self) {
        self.flush();
    }

    fn finish(&mut self, end: &Summary) -> Delivered {
        self.summarise(end);
        let out_error = self.out_error.take().or_else(|| self.live.take_error());
        let undelivered = match (out_error, self.joblog_error.take()) {
            (Some(e), _) => Some(Undelivered::Stdout(e)),
            (None, Some(e)) => Some(Undelivered::Joblog(e)),
            (None, None) => None,
        };
        Delivered {
            failed: self.failed,
            undelivered,
        }
    }
}

/// One `--json` record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    seq: u64,
    input: &'a str,
    ok: bool,
    /// A worker's answer as JSON, an `--exec` job's stdout as a string, null on failure.
    output: serde_json::Value,
    error: Option<&'a str>,
    worker: usize,
    pid: Option<i32>,
    attempts: u32,
    duration_ms: f64,
    /// Only when other machines take part.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

impl<'a> Record<'a> {
    fn of(
        r: &'a JobReport,
        input: &'a str,
        error: Option<&'a str>,
        exec: bool,
        remote: bool,
    ) -> Record<'a> {
        let text =
            || serde_json::Value::String(String::from_utf8_lossy(r.output.bytes()).into_owned());
        let output = if exec {
            text()
        } else if error.is_some() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(r.output.bytes()).unwrap_or_else(|_| text())
        };
        Record {
            seq: r.job.seq,
            input,
            ok: error.is_none(),
            output,
            error,
            worker: r.slot,
            pid: r.pid,
            attempts: r.attempts,
            duration_ms: (r.duration.as_micros() as f64) / 1000.0,
            host: remote.then(|| r.host_name()),
        }
    }
}

/// An `--exec` job's `--json` record (one line, no newline) with its output read from
/// `stdout` a piece at a time (its `--results` file), so a large output is never held whole:
/// the same bytes as the record of the job with that output kept.
pub(crate) fn write_exec_record(
    r: &JobReport,
    remote: bool,
    stdout: &mut dyn Read,
    to: &mut dyn Write,
) -> std::io::Result<()> {
    const KEY: &[u8] = b"\"output\":null";
    let input = r.job.input();
    let input = String::from_utf8_lossy(&input);
    let error = r.outcome.error();
    let mut rec = Record::of(r, &input, error.as_deref(), true, remote);
    rec.output = serde_json::Value::Null;
    let line = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    // The key's quotes are escaped inside any string before it, so this is the key.
    let at = memchr::memmem::find(&line, KEY).ok_or_else(|| std::io::Error::other("no output"))?;
    to.write_all(&line[..at + KEY.len() - 4])?;
    to.write_all(b"\"")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut escaped = Vec::new();
    let mut carry = 0;
    loop {
        let n = match stdout.read(&mut buf[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = carry + n;
        // A character cut at the end of this piece waits for the rest of it.
        let whole = if n == 0 {
            end
        } else {
            end - cut_char(&buf[..end])
        };
        escaped.clear();
        crate::output::json_escape_into(&mut escaped, &buf[..whole]);
        to.write_all(&escaped)?;
        buf.copy_within(whole..end, 0);
        carry = end - whole;
        if n == 0 {
            break;
        }
    }
    to.write_all(b"\"")?;
    to.write_all(&line[at + KEY.len()..])
}

/// How many bytes at the end of `b` begin a UTF-8 character that is not complete yet.
fn cut_char(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// An input as it is named in a message: long ones are cut (the joblog and `--json` keep it).
fn shorten(input: &str) -> String {
    const MAX: usize = 80;
    match input.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &input[..i]),
        None => input.to_string(),
    }
}

/// How often the plain-text progress line is printed.
const TEXT_PROGRESS_EVERY: Duration = Duration::from_secs(1);

struct TextProgress {
    started: Instant,
    last: Instant,
    total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::job::{Job, JobOutcome};
    use crate::process::Status;

    fn report(output: &[u8]) -> JobReport {
        JobReport {
            job: Job {
                seq: 4,
                nth: 4,
                args: vec![b"a \"output\":null b".to_vec()],
                key: None,
            },
            outcome: JobOutcome::Exited {
                status: Status::Exited(0),
                stop: None,
            },
            output: output.to_vec().into(),
            stderr: Vec::new(),
            slot: 2,
            pid: Some(9),
            attempts: 1,
            started: std::time::SystemTime::now(),
            duration: Duration::from_millis(3),
            command: Vec::new(),
            host: Some(":".into()),
        }
    }

    /// Reads `data` `n` bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_streamed_record_is_the_record() {
        let output = "é€😀 \"q\" \\ \n\t\u{1}x".as_bytes().to_vec();
        let mut bad = output.clone();
        bad.extend_from_slice(&[0xff, b'y', 0xe2, 0x82]);
        for out in [output, bad, Vec::new()] {
            let r = report(&out);
            let input = String::from_utf8_lossy(&r.job.input()).into_owned();
            let want = serde_json::to_vec(&Record::of(&r, &input, None, true, true)).unwrap();
            for piece in [1, 2, 3, 5, 64 * 1024] {
                let mut got = Vec::new();
                write_exec_record(&r, true, &mut Trickle(&out, piece), &mut got).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
            }
        }
    }
}
