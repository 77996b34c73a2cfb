//! Where an `--exec` job's output goes, GNU parallel's four ways: grouped (kept whole and
//! printed by the reporter when the job is reported — the default), line by line as it
//! arrives (`--line-buffer`, through the run's one [`Live`] writer), straight through
//! (`--ungroup`), or into the job's `--results` files. `--tag`/`--tagstring` prefix every line
//! on the way (grouped or line by line).
//!
//! One [`JobOut`] takes one try's output, from the local engine (it is the supervisor's sink)
//! or from a remote reply, and hands the reporter what it is to print.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard};

use super::job::{Job, Output};
use super::results::{JobFiles, Results};
use super::template::Pattern;
use crate::process::{self, Sink, SinkResult, Stream};

/// A line longer than this goes out in pieces, so memory stays bounded (`--line-buffer`).
pub(crate) const MAX_LINE: usize = 1 << 20;

/// How the jobs' output reaches our stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// Each job's stdout, then its stderr, in one piece when it is reported.
    Grouped,
    /// `--line-buffer`: whole lines as they arrive.
    Lines,
    /// `--ungroup`: as written, the jobs' own stdout and stderr.
    Ungrouped,
}

/// What each output line is prefixed with (and a TAB).
#[derive(Debug)]
pub(crate) enum Tag {
    /// `--tag`: the job's arguments joined by spaces.
    Args,
    /// `--tagstring STR`.
    Text(Pattern),
}

impl Tag {
    /// The prefix of `job`'s lines, TAB included; `Err` when STR cannot be built for it.
    fn prefix(&self, job: &Job, slot: usize) -> Result<Vec<u8>, String> {
        let mut p = match self {
            Tag::Args => job.input().into_owned(),
            Tag::Text(pattern) => pattern.render(job, slot)?,
        };
        p.push(b'\t');
        Ok(p)
    }
}

/// The output options of an `--exec` run.
#[derive(Debug)]
pub(crate) struct OutputPlan {
    pub grouping: Grouping,
    pub tag: Option<Tag>,
    pub results: Option<Results>,
}

impl Default for OutputPlan {
    fn default() -> OutputPlan {
        OutputPlan {
            grouping: Grouping::Grouped,
            tag: None,
            results: None,
        }
    }
}

impl OutputPlan {
    /// Whether a remote job sends its output as it arrives (output notes), rather than in its
    /// reply: everything but grouped output needs it before the job ends.
    pub(crate) fn streams(&self) -> bool {
        self.results.is_some() || self.grouping != Grouping::Grouped
    }

    /// Whether the reporter prints the jobs' output (it was neither streamed nor saved).
    pub(crate) fn printed_by_reporter(&self) -> bool {
        self.results.is_none() && self.grouping == Grouping::Grouped
    }

    /// The sink for one try of `job` in slot `slot`; `Err` fails the job before it starts
    /// (its tag cannot be built, its `--results` files cannot be created).
    pub(crate) fn for_job<'a>(
        &self,
        job: &Job,
        slot: usize,
        live: &'a Live,
    ) -> Result<JobOut<'a>, String> {
        let kind = if let Some(r) = &self.results {
            Kind::Files(r.open(job, slot)?)
        } else {
            let tag = match &self.tag {
                Some(t) => Some(Tagger::new(
                    t.prefix(job, slot)
                        .map_err(|e| format!("cannot build the tag: {e}"))?,
                )),
                None => None,
            };
            match self.grouping {
                Grouping::Grouped => Kind::Grouped {
                    bufs: [Vec::new(), Vec::new()],
                    tag,
                },
                Grouping::Lines => Kind::Lines(LineOut {
                    live,
                    // The -k turn goes by position among the jobs taken (a resumed run
                    // skips sequence numbers).
                    seq: job.nth,
                    tag,
                    partial: [Vec::new(), Vec::new()],
                    scratch: Vec::new(),
                }),
                Grouping::Ungrouped => Kind::Through(live),
            }
        };
        Ok(JobOut { kind, received: 0 })
    }
}

/// Inserts a prefix before every line of two streams as they flow: before the first byte,
/// and after every `\n` or `\r` that more bytes follow (GNU parallel tags after a carriage
/// return too, so a progress line that redraws itself stays tagged).
#[derive(Debug)]
struct Tagger {
    prefix: Vec<u8>,
    /// Per stream: the next byte begins a line.
    at_start: [bool; 2],
}

impl Tagger {
    fn new(prefix: Vec<u8>) -> Tagger {
        Tagger {
            prefix,
            at_start: [true, true],
        }
    }

    fn apply(&mut self, stream: Stream, mut data: &[u8], out: &mut Vec<u8>) {
        let at_start = &mut self.at_start[stream as usize];
        out.reserve(data.len() + self.prefix.len());
        while !data.is_empty() {
            if *at_start {
                out.extend_from_slice(&self.prefix);
            }
            match memchr::memchr2(b'\n', b'\r', data) {
                Some(i) => {
                    out.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    *at_start = true;
                }
                None => {
                    out.extend_from_slice(data);
                    *at_start = false;
                    return;
                }
            }
        }
    }
}

/// One try's output on its way.
pub(crate) struct JobOut<'a> {
    kind: Kind<'a>,
    /// Bytes the job wrote on its stdout, where we see them (the joblog's Receive).
    received: u64,
}

enum Kind<'a> {
    /// Kept whole (tagged as it comes) for the reporter.
    Grouped {
        bufs: [Vec<u8>; 2],
        tag: Option<Tagger>,
    },
    Lines(LineOut<'a>),
    /// `--ungroup` of a remote job: written through as it arrives. (A local one writes to
    /// our stdout and stderr itself.)
    Through(&'a Live),
    /// `--results`: a local job writes into the files itself, a remote one's output is
    /// written into them as it arrives.
    Files(JobFiles),
}

/// What a try's output left for the report.
pub(crate) struct Kept {
    pub stdout: Output,
    pub stderr: Vec<u8>,
    /// `--results`: the job's files, finished once the job is reported.
    pub files: Option<JobFiles>,
}

impl Kept {
    /// A job that never got as far as its output.
    pub(crate) fn nothing() -> Kept {
        Kept {
            stdout: Output::default(),
            stderr: Vec::new(),
            files: None,
        }
    }
}

impl JobOut<'_> {
    /// Where a job run here writes its stdout and stderr: pipes to us, ours (`--ungroup`), or
    /// its `--results` files.
    pub(crate) fn stdio(&self) -> io::Result<[process::Output; 2]> {
        Ok(match &self.kind {
            Kind::Through(_) => [process::Output::Inherit, process::Output::Inherit],
            Kind::Files(f) => {
                let [o, e] = f.for_child()?;
                [process::Output::File(o), process::Output::File(e)]
            }
            Kind::Grouped { .. } | Kind::Lines(_) => [process::Output::Pipe, process::Output::Pipe],
        })
    }

    /// A stream's whole output at once (a remote reply): moved, not copied, when nothing
    /// needs to be done to it.
    pub(crate) fn whole(&mut self, stream: Stream, bytes: Vec<u8>) -> SinkResult {
        if bytes.is_empty() {
            return SinkResult::Continue;
        }
        if let Kind::Grouped { bufs, tag: None } = &mut self.kind
            && bufs[stream as usize].is_empty()
        {
            if stream == Stream::Stdout {
                self.received += bytes.len() as u64;
            }
            bufs[stream as usize] = bytes;
            return SinkResult::Continue;
        }
        self.data(stream, &bytes)
    }

    /// The try is over: an unfinished last line goes out as it is (no newline added, as GNU
    /// parallel), so it is out before the job is reported.
    pub(crate) fn end(&mut self) {
        if let Kind::Lines(l) = &mut self.kind {
            l.end(Stream::Stdout);
            l.end(Stream::Stderr);
        }
    }

    /// What is left for the report.
    pub(crate) fn finish(mut self) -> Kept {
        self.end();
        match self.kind {
            Kind::Grouped { bufs, .. } => {
                let [out, err] = bufs;
                Kept {
                    stdout: Output::new(out, self.received),
                    stderr: err,
                    files: None,
                }
            }
            Kind::Files(f) => Kept {
                stdout: Output::new(Vec::new(), f.received()),
                stderr: Vec::new(),
                files: Some(f),
            },
            Kind::Lines(_) | Kind::Through(_) => Kept {
                stdout: Output::new(Vec::new(), self.received),
                stderr: Vec::new(),
                files: None,
            },
        }
    }
}

impl Sink for JobOut<'_> {
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> SinkResult {
        match &mut self.kind {
            Kind::Grouped { bufs, tag } => {
                let buf = &mut bufs[stream as usize];
                match tag {
                    Some(t) => t.apply(stream, bytes, buf),
                    None => buf.extend_from_slice(bytes),
                }
            }
            Kind::Lines(l) => {
                if !l.data(stream, bytes) {
                    return SinkResult::Closed;
                }
            }
            // GNU parallel's joblog says 0 for what it never saw; so does ours.
            Kind::Through(live) => {
                return if live.pass(stream, bytes) {
                    SinkResult::Continue
                } else {
                    SinkResult::Closed
                };
            }
            Kind::Files(f) => f.write(stream, bytes),
        }
        if stream == Stream::Stdout {
            self.received += bytes.len() as u64;
        }
        SinkResult::Continue
    }

    fn eof(&mut self, stream: Stream) -> SinkResult {
        if let Kind::Lines(l) = &mut self.kind {
            l.end(stream);
        }
        SinkResult::Continue
    }
}

/// `--line-buffer` for one try: complete lines go to [`Live`], the unfinished rest waits.
struct LineOut<'a> {
    live: &'a Live,
    seq: u64,
    tag: Option<Tagger>,
    partial: [Vec<u8>; 2],
    /// Where tagged lines are put together (kept for its capacity).
    scratch: Vec<u8>,
}

impl LineOut<'_> {
    /// Take bytes; false when our stdout is gone.
    fn data(&mut self, stream: Stream, bytes: &[u8]) -> bool {
        let i = stream as usize;
        let Some(nl) = memchr::memrchr(b'\n', bytes) else {
            self.partial[i].extend_from_slice(bytes);
            return self.partial[i].len() < MAX_LINE || self.commit_partial(stream);
        };
        let (lines, rest) = bytes.split_at(nl + 1);
        let ok = if self.partial[i].is_empty() {
            self.commit(stream, lines)
        } else {
            self.partial[i].extend_from_slice(lines);
            self.commit_partial(stream)
        };
        self.partial[i].extend_from_slice(rest);
        ok && (self.partial[i].len() < MAX_LINE || self.commit_partial(stream))
    }

    /// The stream ended: what is left goes out as it is.
    fn end(&mut self, stream: Stream) {
        if !self.partial[stream as usize].is_empty() {
            self.commit_partial(stream);
        }
    }

    fn commit_partial(&mut self, stream: Stream) -> bool {
        let i = stream as usize;
        let bytes = std::mem::take(&mut self.partial[i]);
        let ok = self.commit(stream, &bytes);
        self.partial[i] = bytes;
        self.partial[i].clear();
        ok
    }

    /// Write whole lines (tagged when tagging) in one piece.
    fn commit(&mut self, stream: Stream, lines: &[u8]) -> bool {
        match &mut self.tag {
            None => self.live.write(self.seq, stream, lines),
            Some(t) => {
                self.scratch.clear();
                t.apply(stream, lines, &mut self.scratch);
                self.live.write(self.seq, stream, &self.scratch)
            }
        }
    }
}

/// The run's writer of live job output (`--line-buffer`, remote `--ungroup`): each write
/// reaches our stdout or stderr whole, never inside another job's. With `-k` only the job
/// whose turn it is writes; the others' lines are held until the reporter reaches them.
pub(crate) struct Live {
    keep_order: bool,
    state: Mutex<LiveState>,
}

struct LiveState {
    /// Where stdout and stderr bytes go (ours; a pipe in unit tests).
    fds: [i32; 2],
    /// `-k`: the job that writes live.
    next: u64,
    /// `-k`: what later jobs wrote so far (stdout, stderr).
    held: BTreeMap<u64, [Vec<u8>; 2]>,
    /// Our stdout failed: why (the reporter ends the run with it).
    error: Option<io::Error>,
}

impl Live {
    pub(crate) fn new(keep_order: bool) -> Live {
        Live::to_fds(keep_order, [1, 2])
    }

    fn to_fds(keep_order: bool, fds: [i32; 2]) -> Live {
        Live {
            keep_order,
            state: Mutex::new(LiveState {
                fds,
                next: 1,
                held: BTreeMap::new(),
                error: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `seq`'s complete lines; false when our stdout is gone.
    pub(crate) fn write(&self, seq: u64, stream: Stream, bytes: &[u8]) -> bool {
        let mut s = self.lock();
        if self.keep_order && seq != s.next {
            s.held.entry(seq).or_default()[stream as usize].extend_from_slice(bytes);
            return s.error.is_none();
        }
        s.put(stream, bytes)
    }

    /// Bytes that go through at once, in no order (`--ungroup`).
    pub(crate) fn pass(&self, stream: Stream, bytes: &[u8]) -> bool {
        self.lock().put(stream, bytes)
    }

    /// The reporter reached job `seq` (with `-k`, in input order): what it still holds goes
    /// out, and the next job writes live from now on, starting with what it holds.
    pub(crate) fn done(&self, seq: u64) {
        if !self.keep_order {
            return;
        }
        let mut s = self.lock();
        if seq < s.next {
            return;
        }
        if let Some(h) = s.held.remove(&seq) {
            s.put_both(h);
        }
        s.next = seq + 1;
        let next = s.next;
        if let Some(h) = s.held.remove(&next) {
            s.put_both(h);
        }
    }

    /// End of the run: whatever is still held (jobs never reported in turn), in input order.
    pub(crate) fn finish(&self) {
        let mut s = self.lock();
        for (_, h) in std::mem::take(&mut s.held) {
            s.put_both(h);
        }
    }

    /// Our stdout failed.
    pub(crate) fn broken(&self) -> bool {
        self.lock().error.is_some()
    }

    /// Why our stdout failed, once.
    pub(crate) fn take_error(&self) -> Option<io::Error> {
        self.lock().error.take()
    }
}

impl LiveState {
    fn put_both(&mut self, [out, err]: [Vec<u8>; 2]) {
        self.put(Stream::Stdout, &out);
        self.put(Stream::Stderr, &err);
    }

    /// One write of `bytes` to our stdout or stderr; false when stdout is gone. A failing
    /// stderr is no reason to stop the jobs.
    fn put(&mut self, stream: Stream, bytes: &[u8]) -> bool {
        if stream == Stream::Stdout && self.error.is_some() {
            return false;
        }
        if bytes.is_empty() {
            return true;
        }
        match (write_fd(self.fds[stream as usize], bytes), stream) {
            (Ok(()), _) | (Err(_), Stream::Stderr) => true,
            (Err(e), Stream::Stdout) => {
                self.error = Some(e);
                false
            }
        }
    }
}

/// write(2) until done, retrying on EINTR.
fn write_fd(fd: i32, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match process::sys::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn tagged(chunks: &[&[u8]]) -> Vec<u8> {
        let mut t = Tagger::new(b"T\t".to_vec());
        let mut out = Vec::new();
        for c in chunks {
            t.apply(Stream::Stdout, c, &mut out);
        }
        out
    }

    #[test]
    fn tags_go_before_every_line_as_in_gnu_parallel() {
        assert_eq!(tagged(&[b"x\ny"]), b"T\tx\nT\ty");
        assert_eq!(tagged(&[b"x\n\n"]), b"T\tx\nT\t\n");
        assert_eq!(tagged(&[b"a\rb\n"]), b"T\ta\rT\tb\n");
        // A line ending at a chunk's end: the next line's tag waits for its first byte.
        assert_eq!(tagged(&[b"a\n", b"", b"b", b"c\n"]), b"T\ta\nT\tbc\n");
        assert_eq!(tagged(&[]), b"");
    }

    /// A [`Live`] writing into a pipe, and a way to read what it wrote so far.
    fn piped(keep_order: bool) -> (Live, impl FnMut() -> String) {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::fcntl::fcntl(
            &r,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        let live = Live::to_fds(keep_order, [w.as_raw_fd(), w.as_raw_fd()]);
        let read = move || {
            let _writer_open = &w;
            let mut buf = [0u8; 4096];
            let n = nix::unistd::read(&r, &mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        (live, read)
    }

    #[test]
    fn live_holds_later_jobs_until_their_turn() {
        let (live, mut read) = piped(true);
        assert!(live.write(2, Stream::Stdout, b"two\n"));
        assert!(live.write(3, Stream::Stderr, b"three\n"));
        assert!(live.write(1, Stream::Stdout, b"one\n"));
        assert_eq!(read(), "one\n");
        live.done(1);
        // Job 2 writes live now, starting with what it held; job 3 still waits.
        assert_eq!(read(), "two\n");
        assert!(live.write(2, Stream::Stdout, b"more\n"));
        assert!(live.write(3, Stream::Stdout, b"3 again\n"));
        assert_eq!(read(), "more\n");
        live.done(2);
        assert_eq!(read(), "3 again\nthree\n");
        live.done(3);
        assert!(live.write(9, Stream::Stdout, b"nine\n"));
        live.finish();
        assert_eq!(read(), "nine\n");
    }

    #[test]
    fn lines_are_never_cut_and_the_rest_waits_for_the_end() {
        let (live, mut read) = piped(false);
        let mut l = LineOut {
            live: &live,
            seq: 1,
            tag: Some(Tagger::new(b"t\t".to_vec())),
            partial: [Vec::new(), Vec::new()],
            scratch: Vec::new(),
        };
        assert!(l.data(Stream::Stdout, b"ab"));
        assert_eq!(read(), "");
        assert!(l.data(Stream::Stdout, b"c\nde\nf"));
        assert_eq!(read(), "t\tabc\nt\tde\n");
        l.end(Stream::Stdout);
        assert_eq!(read(), "t\tf");
    }
}
