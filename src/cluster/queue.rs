//! Where jobs come from at run time: the sources of an [`InputSpec`] opened, read on demand by
//! whichever slot is idle, and combined as GNU parallel combines them — the cartesian product
//! of the source groups, the last varying fastest, and linked sources read in step (stopping
//! at the shortest). The first group is streamed, so a million lines on stdin are never held
//! in memory and no feeder thread has to be woken per job; the other groups are read whole
//! before the first job (a product needs them again and again).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::inputs::{InputSpec, Origin, Source};
use super::job::Job;
use super::key::{ArgsDigest, CommandSet};
use crate::usage::UsageError;

/// One job's arguments: one per source, or one per column with `--colsep`.
type Row = Vec<Vec<u8>>;

/// One source being read.
enum Reader {
    Args(std::vec::IntoIter<Vec<u8>>),
    Stream(Box<dyn BufRead + Send>),
}

impl Reader {
    fn open(s: &Source) -> Result<Reader, UsageError> {
        Ok(match &s.origin {
            Origin::Args(items) => Reader::Args(items.clone().into_iter()),
            Origin::Stdin => Reader::Stream(Box::new(BufReader::with_capacity(
                64 * 1024,
                std::io::stdin(),
            ))),
            Origin::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| UsageError(format!("input file {}: {e}", p.display())))?;
                Reader::Stream(Box::new(BufReader::with_capacity(64 * 1024, f)))
            }
        })
    }

    fn next(&mut self, end: u8) -> Option<Vec<u8>> {
        match self {
            Reader::Args(it) => it.next(),
            Reader::Stream(r) => read_item(r, end),
        }
    }
}

/// A source and those linked to it, read in step.
struct Group {
    readers: Vec<Reader>,
}

impl Group {
    /// The next row: one item from each source, split into columns; `None` when any of
    /// them has ended.
    fn next(&mut self, spec: &Cut) -> Option<Row> {
        let mut row = Row::with_capacity(self.readers.len());
        for r in &mut self.readers {
            spec.push(&mut row, r.next(spec.end)?);
        }
        Some(row)
    }
}

/// How items are ended and cut into columns.
struct Cut {
    end: u8,
    colsep: Option<regex::bytes::Regex>,
}

impl Cut {
    fn push(&self, row: &mut Row, item: Vec<u8>) {
        match &self.colsep {
            None => row.push(item),
            Some(re) => row.extend(re.split(&item).map(<[u8]>::to_vec)),
        }
    }
}

/// The inputs not yet taken, numbered in order.
pub(crate) struct Inputs {
    cut: Cut,
    /// The first group, streamed.
    first: Group,
    /// The other groups' rows, read whole.
    rest: Vec<Vec<Row>>,
    /// The current row of the first group and the position in each other group.
    head: Option<Row>,
    at: Vec<usize>,
    /// The number of sources in the first group.
    first_width: usize,
    /// The first group has given a row (or stood in for one).
    first_seen: bool,
    /// Some other group has items of its own (not only a stand-in empty row).
    rest_has_items: bool,
    seq: u64,
    done: bool,
    /// How keys are made (with `--joblog`) and which jobs are skipped.
    keys: Option<Keys>,
    /// Jobs this run takes (not skipped).
    nth: u64,
    /// `--retry-failed`: the jobs, read from the joblog, instead of the sources.
    replay: Option<std::vec::IntoIter<Job>>,
}

/// Each job's key, made as it is read, and the keys of the jobs to skip (they are never
/// taken: the dispatcher's exactly-once accounting never sees them).
pub(crate) struct Keys {
    pub set: CommandSet,
    pub skip: HashSet<ArgsDigest>,
    /// How many were skipped (read at the end of the run, when a slot may still hold the
    /// inputs, blocked reading a terminal).
    pub skipped: Arc<AtomicU64>,
}

impl Inputs {
    /// Open every source (an unreadable file is a usage error before anything runs) and
    /// read the groups after the first.
    pub(crate) fn open(spec: InputSpec) -> Result<Inputs, UsageError> {
        let cut = Cut {
            end: spec.end,
            colsep: spec.colsep.clone(),
        };
        let mut groups = spec
            .groups()
            .into_iter()
            .map(|g| {
                let readers = g.iter().map(Reader::open).collect::<Result<_, _>>()?;
                Ok(Group { readers })
            })
            .collect::<Result<Vec<Group>, UsageError>>()?;
        let first = groups.remove(0);
        let mut rest: Vec<Vec<Row>> = groups
            .into_iter()
            .map(|mut g| std::iter::from_fn(|| g.next(&cut)).collect())
            .collect();
        let rest_has_items = rest.iter().any(|g| !g.is_empty());
        // As in GNU parallel, an empty source beside others gives one empty argument
        // (`::: a :::` runs `a ''`); only when every source is empty is there no job.
        let widths: Vec<usize> = spec.groups().iter().map(|g| g.len()).collect();
        for (g, &w) in rest.iter_mut().zip(&widths[1..]) {
            if g.is_empty() {
                g.push(vec![Vec::new(); w]);
            }
        }
        Ok(Inputs {
            cut,
            first,
            at: vec![0; rest.len()],
            rest,
            head: None,
            first_width: widths[0],
            first_seen: false,
            rest_has_items,
            seq: 0,
            done: false,
            keys: None,
            nth: 0,
            replay: None,
        })
    }

    /// Key every job (and skip those `keys` says are done).
    pub(crate) fn keyed(mut self, keys: Keys) -> Inputs {
        self.keys = Some(keys);
        self
    }

    /// These jobs instead of the sources (`--retry-failed`; their keys are set).
    pub(crate) fn replaying(mut self, jobs: Vec<Job>) -> Inputs {
        self.replay = Some(jobs.into_iter());
        self
    }

    /// These arguments as the only source (each one a job).
    #[cfg(test)]
    pub(crate) fn new(args: Vec<std::ffi::OsString>) -> Inputs {
        let spec = InputSpec::parse(args, &[], false, None);
        match spec.and_then(Inputs::open) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    /// The next job, `None` once the inputs are exhausted.
    pub(crate) fn next(&mut self) -> Option<Job> {
        if let Some(jobs) = &mut self.replay {
            let mut job = jobs.next()?;
            self.nth += 1;
            job.nth = self.nth;
            return Some(job);
        }
        loop {
            if self.done {
                return None;
            }
            let Some(args) = self.next_row() else {
                self.done = true;
                return None;
            };
            self.seq += 1;
            let key = self.keys.as_ref().map(|k| k.set.key(&args));
            if let (Some(k), Some(keys)) = (&key, &self.keys)
                && !keys.skip.is_empty()
                && keys.skip.contains(&k.args)
            {
                keys.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.nth += 1;
            return Some(Job {
                seq: self.seq,
                nth: self.nth,
                args,
                key,
            });
        }
    }

    fn next_row(&mut self) -> Option<Row> {
        if self.rest.is_empty() {
            return self.first.next(&self.cut);
        }
        if self.head.is_none() {
            let row = match self.first.next(&self.cut) {
                Some(row) => row,
                // An empty first source beside others: one empty argument, once.
                None if !self.first_seen && self.rest_has_items => {
                    vec![Vec::new(); self.first_width]
                }
                None => return None,
            };
            self.first_seen = true;
            self.head = Some(row);
        }
        let mut row = self.head.clone().unwrap_or_default();
        for (g, &i) in self.rest.iter().zip(&self.at) {
            row.extend(g[i].iter().cloned());
        }
        self.advance();
        Some(row)
    }

    /// Step the odometer: the last group fastest; past the end, the first group's next row.
    fn advance(&mut self) {
        for k in (0..self.at.len()).rev() {
            self.at[k] += 1;
            if self.at[k] < self.rest[k].len() {
                return;
            }
            self.at[k] = 0;
        }
        self.head = None;
    }
}

/// One item without its terminator (and, for lines, a `\r` before it); `None` at the end or
/// on an error.
fn read_item(r: &mut impl BufRead, end: u8) -> Option<Vec<u8>> {
    let mut item = Vec::new();
    match r.read_until(end, &mut item) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if item.last() == Some(&end) {
                item.pop();
                if end == b'\n' && item.last() == Some(&b'\r') {
                    item.pop();
                }
            }
            Some(item)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn lines_lose_their_line_end_only() {
        let mut r = &b"a\r\nb\n\nc"[..];
        let lines: Vec<_> = std::iter::from_fn(|| read_item(&mut r, b'\n')).collect();
        assert_eq!(lines, [&b"a"[..], b"b", b"", b"c"]);
        let mut r = &b"a b\0c\nd\0"[..];
        let items: Vec<_> = std::iter::from_fn(|| read_item(&mut r, 0)).collect();
        assert_eq!(items, [&b"a b"[..], b"c\nd"]);
    }

    #[test]
    fn arguments_are_numbered_from_one() {
        let mut q = Inputs::new(vec!["x".into(), "y".into()]);
        assert_eq!(q.next().map(|j| j.seq), Some(1));
        assert_eq!(
            q.next().map(|j| (j.seq, j.args)),
            Some((2, vec![b"y".to_vec()]))
        );
        assert!(q.next().is_none());
        assert!(q.next().is_none());
    }

    fn jobs(words: &[&str], colsep: Option<&str>) -> Vec<String> {
        let spec = InputSpec::parse(
            words.iter().map(OsString::from).collect(),
            &[],
            false,
            colsep,
        );
        let mut q = Inputs::open(spec.unwrap()).unwrap();
        std::iter::from_fn(|| q.next())
            .map(|j| {
                let args: Vec<String> = j
                    .args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.join("|")
            })
            .collect()
    }

    #[test]
    fn sources_combine_as_a_product_the_last_fastest() {
        assert_eq!(
            jobs(&[":::", "a", "b", ":::", "1", "2", "3"], None),
            ["a|1", "a|2", "a|3", "b|1", "b|2", "b|3"]
        );
        assert_eq!(
            jobs(&[":::", "a", "b", ":::", "1", ":::", "x", "y"], None),
            ["a|1|x", "a|1|y", "b|1|x", "b|1|y"]
        );
        assert_eq!(jobs(&[":::", "a", ":::"], None), ["a|"]);
        assert_eq!(jobs(&[":::", ":::", "x"], None), ["|x"]);
        assert!(jobs(&[":::", ":::"], None).is_empty());
    }

    #[test]
    fn linked_sources_pair_up_to_the_shortest() {
        assert_eq!(
            jobs(&[":::", "a", "b", "c", ":::+", "1", "2"], None),
            ["a|1", "b|2"]
        );
        assert_eq!(
            jobs(
                &[":::", "a", "b", "c", "d", ":::+", "1", "2", ":::", "x"],
                None
            ),
            ["a|1|x", "b|2|x"]
        );
    }

    #[test]
    fn colsep_makes_each_column_an_argument() {
        assert_eq!(jobs(&["a,b,c", "d,e"], Some(",")), ["a|b|c", "d|e"]);
        assert_eq!(jobs(&["a  b"], Some(" +")), ["a|b"]);
    }

    #[test]
    fn keyed_inputs_skip_done_jobs_and_keep_their_numbers() {
        use crate::cluster::key::How;
        let set = CommandSet::new("--exec echo".into(), How::Argv);
        let done = set.key(&[b"b".to_vec()]);
        let skipped = Arc::new(AtomicU64::new(0));
        let mut q = Inputs::new(vec!["a".into(), "b".into(), "c".into()]).keyed(Keys {
            set: set.clone(),
            skip: HashSet::from([done.args]),
            skipped: Arc::clone(&skipped),
        });
        let a = q.next().unwrap();
        assert_eq!((a.seq, a.nth, a.key), (1, 1, Some(set.key(&a.args))));
        let c = q.next().unwrap();
        assert_eq!((c.seq, c.nth, c.args), (3, 2, vec![b"c".to_vec()]));
        assert!(q.next().is_none());
        assert_eq!(skipped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_unreadable_file_is_a_usage_error() {
        let spec = InputSpec::parse(
            vec!["::::".into(), "/nonexistent/x".into()],
            &[],
            false,
            None,
        );
        let e = Inputs::open(spec.unwrap()).err().unwrap();
        assert!(e.0.starts_with("input file /nonexistent/x: "), "{}", e.0);
    }
}
