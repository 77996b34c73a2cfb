//! What the inputs of a `cluster` run are, as GNU parallel spells them: input sources
//! (leading arguments, `::: ARGS`, `:::: FILES`, `-a FILE`, stdin), each source linked to the
//! one before it with `:::+` / `::::+`, items ended by newlines or NULs (`-0`) and, with
//! `--colsep`, split into columns. Pure: files are only named here; `queue` opens and reads
//! them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::usage::UsageError;

/// Where one input source's items come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Items given on the command line.
    Args(Vec<Vec<u8>>),
    /// One item per line (or NUL-ended record) of a file.
    File(PathBuf),
    /// One item per line of stdin.
    Stdin,
}

/// One input source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub origin: Origin,
    /// `:::+` / `::::+`: read in step with the source before it (pairs, not a product).
    pub linked: bool,
}

/// The inputs of a run: its sources in order, and how items and columns are cut.
#[derive(Debug, Clone)]
pub(crate) struct InputSpec {
    pub sources: Vec<Source>,
    /// The byte that ends an item read from a file or stdin (`\n`, or NUL with `-0`).
    pub end: u8,
    /// `--colsep`: items are split into columns, and each column is one argument.
    pub colsep: Option<regex::bytes::Regex>,
}

/// How the positional arguments name sources.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    Args { linked: bool },
    Files { linked: bool },
}

fn marker(word: &[u8]) -> Option<Marker> {
    match word {
        b":::" => Some(Marker::Args { linked: false }),
        b":::+" => Some(Marker::Args { linked: true }),
        b"::::" => Some(Marker::Files { linked: false }),
        b"::::+" => Some(Marker::Files { linked: true }),
        _ => None,
    }
}

impl InputSpec {
    /// The sources named by `-a FILE`s and the positional arguments. Arguments before the
    /// first `:::`/`::::` are one source of their own (each one a job, as `xargs` would
    /// have it); with no source at all, stdin is the only one.
    pub(crate) fn parse(
        positionals: Vec<OsString>,
        arg_files: &[PathBuf],
        null: bool,
        colsep: Option<&str>,
    ) -> Result<InputSpec, UsageError> {
        let mut sources: Vec<Source> = arg_files
            .iter()
            .map(|f| Source {
                origin: file_origin(f.clone()),
                linked: false,
            })
            .collect();
        sources.extend(positional_sources(positionals)?);
        if sources.is_empty() {
            sources.push(Source {
                origin: Origin::Stdin,
                linked: false,
            });
        }
        if sources.first().is_some_and(|s| s.linked) {
            return Err(UsageError(
                ":::+ and ::::+ link a source to the one before it; the first source has none"
                    .into(),
            ));
        }
        if sources.iter().filter(|s| s.origin == Origin::Stdin).count() > 1 {
            return Err(UsageError(
                "stdin can be read as one input source only ('-' named twice)".into(),
            ));
        }
        Ok(InputSpec {
            sources,
            end: if null { 0 } else { b'\n' },
            colsep: colsep.map(compile_colsep).transpose()?,
        })
    }

    /// How many arguments every job has, when that is known before reading any input (no
    /// `--colsep`: one per source).
    pub(crate) fn arity(&self) -> Option<usize> {
        self.colsep.is_none().then_some(self.sources.len())
    }

    /// The number of jobs, when every source is on the command line.
    pub(crate) fn total(&self) -> Option<u64> {
        let mut total: u64 = 1;
        let mut any = false;
        for group in self.groups() {
            let mut shortest = u64::MAX;
            for s in group {
                let Origin::Args(items) = &s.origin else {
                    return None;
                };
                shortest = shortest.min(items.len() as u64);
            }
            // An empty source beside others stands for one empty argument (see `queue`).
            any |= shortest > 0;
            total = total.saturating_mul(shortest.max(1));
        }
        Some(if any { total } else { 0 })
    }

    /// The sources, grouped: each group is a source and those linked to it.
    pub(crate) fn groups(&self) -> Vec<&[Source]> {
        let mut groups = Vec::new();
        let mut start = 0;
        for i in 1..=self.sources.len() {
            if i == self.sources.len() || !self.sources[i].linked {
                groups.push(&self.sources[start..i]);
                start = i;
            }
        }
        groups
    }
}

/// `-` is stdin, as for GNU parallel.
fn file_origin(path: PathBuf) -> Origin {
    if path.as_os_str() == "-" {
        Origin::Stdin
    } else {
        Origin::File(path)
    }
}

fn positional_sources(positionals: Vec<OsString>) -> Result<Vec<Source>, UsageError> {
    let mut sources = Vec::new();
    let mut current: Option<(Marker, Vec<Vec<u8>>)> = None;
    for word in positionals.into_iter().map(OsStringExt::into_vec) {
        if let Some(m) = marker(&word) {
            if let Some(done) = current.take() {
                sources.extend(close(done)?);
            }
            current = Some((m, Vec::new()));
            continue;
        }
        match &mut current {
            Some((_, items)) => items.push(word),
            None => current = Some((Marker::Args { linked: false }, vec![word])),
        }
    }
    if let Some(done) = current {
        sources.extend(close(done)?);
    }
    Ok(sources)
}

/// The sources one marker and its words make: `:::` one, `::::` one per file.
fn close((m, items): (Marker, Vec<Vec<u8>>)) -> Result<Vec<Source>, UsageError> {
    match m {
        Marker::Args { linked } => Ok(vec![Source {
            origin: Origin::Args(items),
            linked,
        }]),
        Marker::Files { linked } => {
            if items.is_empty() {
                return Err(UsageError(":::: needs at least one file".into()));
            }
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, f)| Source {
                    origin: file_origin(PathBuf::from(OsString::from_vec(f))),
                    // `::::+ a b`: `a` is linked to the source before it; `b` is a source
                    // of its own, as after `::::`.
                    linked: linked && i == 0,
                })
                .collect())
        }
    }
}

/// The `--colsep` pattern (Rust's regex syntax: no look-around or back-references).
fn compile_colsep(pattern: &str) -> Result<regex::bytes::Regex, UsageError> {
    if pattern.is_empty() {
        return Err(UsageError("--colsep needs a pattern".into()));
    }
    regex::bytes::Regex::new(pattern).map_err(|e| {
        // regex explains over several lines; the error stays one.
        let why = e.to_string();
        let last = why.lines().map(str::trim).rfind(|l| !l.is_empty());
        UsageError(format!(
            "--colsep '{pattern}' is not a valid regular expression: {}",
            last.unwrap_or("invalid")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(words: &[&str]) -> Result<InputSpec, UsageError> {
        InputSpec::parse(words.iter().map(OsString::from).collect(), &[], false, None)
    }

    fn args(items: &[&str], linked: bool) -> Source {
        Source {
            origin: Origin::Args(items.iter().map(|s| s.as_bytes().to_vec()).collect()),
            linked,
        }
    }

    #[test]
    fn leading_arguments_are_a_source_and_markers_start_others() {
        let s = spec(&["a", "b", ":::", "1", "2", ":::+", "x", "y"]).unwrap();
        assert_eq!(
            s.sources,
            [
                args(&["a", "b"], false),
                args(&["1", "2"], false),
                args(&["x", "y"], true)
            ]
        );
        assert_eq!(s.groups().len(), 2);
        assert_eq!(s.total(), Some(4));
        assert_eq!(s.arity(), Some(3));
        let s = spec(&[]).unwrap();
        assert_eq!(s.sources[0].origin, Origin::Stdin);
        assert_eq!(s.total(), None);
    }

    #[test]
    fn files_are_one_source_each_and_dash_is_stdin() {
        let s = spec(&["::::", "f", "-", ":::", "z"]).unwrap();
        let origins: Vec<&Origin> = s.sources.iter().map(|s| &s.origin).collect();
        assert_eq!(
            origins,
            [
                &Origin::File("f".into()),
                &Origin::Stdin,
                &Origin::Args(vec![b"z".to_vec()])
            ]
        );
        let s = InputSpec::parse(vec![":::".into(), "z".into()], &["a".into()], true, None);
        let s = s.unwrap();
        assert_eq!(s.sources[0].origin, Origin::File("a".into()));
        assert_eq!(s.end, 0);
    }

    #[test]
    fn an_empty_source_beside_others_is_one_empty_argument() {
        assert_eq!(spec(&[":::", "a", ":::"]).unwrap().total(), Some(1));
        assert_eq!(spec(&[":::", ":::"]).unwrap().total(), Some(0));
        assert_eq!(
            spec(&[":::", "a", "b", "c", ":::+", "1"]).unwrap().total(),
            Some(1)
        );
    }

    #[test]
    fn bad_inputs_are_usage_errors() {
        assert!(spec(&[":::+", "a"]).unwrap_err().0.contains("first source"));
        assert!(spec(&["::::"]).unwrap_err().0.contains("at least one file"));
        assert!(spec(&["::::", "-", "-"]).unwrap_err().0.contains("stdin"));
        let e = InputSpec::parse(vec![], &[], false, Some("("))
            .unwrap_err()
            .0;
        assert!(e.starts_with("--colsep '('") && !e.contains('\n'), "{e}");
        let s = InputSpec::parse(vec![], &[], false, Some(",")).unwrap();
        assert_eq!(s.arity(), None);
    }
}
