//! The `--exec` template and GNU parallel's replacement strings: `{}` `{.}` `{/}` `{//}`
//! `{/.}` `{#}` `{%}`, `{n}` (the n-th argument; `{-n}` from the end) and `{n.}` `{n/}`
//! `{n//}` `{n/.}`. Without `--shell` every word of the template and every substituted
//! value stays a literal argument; with it, each value is shell-quoted into the line.
//!
//! A brace group made only of the characters replacement strings use (digits, `.`, `/`,
//! `#`, `%`, `-`, `+`) that is not one of them is refused as a mistake (`{..}`, `{0}`,
//! `{1.x}` is not such a group); any other brace group is text (`awk '{print $1}'`).

use std::borrow::Cow;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::job::Job;
use super::quote;
use crate::usage::UsageError;

/// Which arguments a replacement string takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// `{}`: all of them (each its own value).
    All,
    /// `{n}`: the n-th, 0-based here.
    Nth(usize),
    /// `{-n}`: the n-th from the end, 1 = the last.
    FromEnd(usize),
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the slot's number.
    Slot,
}

/// What is kept of each argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Whole,
    /// `.`: without its extension.
    NoExt,
    /// `/`: the base name.
    Base,
    /// `//`: the directory name.
    Dir,
    /// `/.`: the base name without its extension.
    BaseNoExt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Repl {
    arg: Arg,
    form: Form,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Repl(Repl),
}

/// Text with replacement strings in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Piece>);

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, UsageError> {
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            lit.extend_from_slice(&rest.as_bytes()[..open]);
            let after = &rest[open + 1..];
            let group = after.find('}').map(|close| &after[..close]);
            match group.filter(|g| !g.contains('{')).map(classify) {
                Some(Class::Repl(r)) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Repl(r));
                    rest = &after[group.map_or(0, str::len) + 1..];
                }
                Some(Class::Unknown) => {
                    return Err(UsageError(format!(
                        "unknown replacement string {{{}}} (known: {{}} {{.}} {{/}} {{//}} {{/.}} \
                         {{#}} {{%}} {{n}} {{n.}} {{n/}} {{n//}} {{n/.}}, n from 1, or -n from the end)",
                        group.unwrap_or("")
                    )));
                }
                Some(Class::Text) | None => {
                    lit.push(b'{');
                    rest = after;
                }
            }
        }
        lit.extend_from_slice(rest.as_bytes());
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Pattern(pieces))
    }

    fn repls(&self) -> impl Iterator<Item = Repl> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Repl(r) => Some(*r),
            Piece::Text(_) => None,
        })
    }

    fn has_repl(&self) -> bool {
        self.repls().next().is_some()
    }

    /// The pattern as one string: a replacement string with several values gives them
    /// joined by spaces (`--tagstring`, `--results` paths).
    #[allow(dead_code)] // --tagstring and --results (next commits)
    pub(crate) fn render(&self, job: &Job, slot: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Repl(r) => out.extend_from_slice(&values(*r, job, slot)?.join(&b' ')),
            }
        }
        Ok(out)
    }

    /// One template word as arguments: a replacement string with several values (`{}` of a
    /// job with several arguments) splits the word there, as a shell would split GNU
    /// parallel's `x{}y` into `xa` and `by`.
    fn words(&self, job: &Job, slot: usize, out: &mut Vec<OsString>) -> Result<(), String> {
        let mut word: Vec<u8> = Vec::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => word.extend_from_slice(t),
                Piece::Repl(r) => {
                    let vals = values(*r, job, slot)?;
                    for (i, v) in vals.iter().enumerate() {
                        if i > 0 {
                            out.push(OsString::from_vec(std::mem::take(&mut word)));
                        }
                        word.extend_from_slice(v);
                    }
                }
            }
        }
        out.push(OsString::from_vec(word));
        Ok(())
    }

    /// The pattern as a shell line: every value quoted as exactly one shell word.
    fn shell_line(&self, job: &Job, slot: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Repl(r) => {
                    for (i, v) in values(*r, job, slot)?.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        quote::quote_into(&mut out, v);
                    }
                }
            }
        }
        Ok(out)
    }
}

enum Class {
    Repl(Repl),
    /// Looks like a replacement string but is none.
    Unknown,
    Text,
}

/// What the inside of a brace group is.
fn classify(g: &str) -> Class {
    let (arg, form) = match g {
        "#" => {
            return Class::Repl(Repl {
                arg: Arg::Seq,
                form: Form::Whole,
            });
        }
        "%" => {
            return Class::Repl(Repl {
                arg: Arg::Slot,
                form: Form::Whole,
            });
        }
        _ => split_number(g),
    };
    let form = match form {
        "" => Some(Form::Whole),
        "." => Some(Form::NoExt),
        "/" => Some(Form::Base),
        "//" => Some(Form::Dir),
        "/." => Some(Form::BaseNoExt),
        _ => None,
    };
    match (arg, form) {
        (Some(arg), Some(form)) => Class::Repl(Repl { arg, form }),
        _ if g.bytes().all(|b| b"0123456789./#%-+".contains(&b)) => Class::Unknown,
        _ => Class::Text,
    }
}

/// The argument a group names (`Some(All)` when it names no number) and the rest of it.
fn split_number(g: &str) -> (Option<Arg>, &str) {
    let (neg, body) = match g.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, g),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (if neg { None } else { Some(Arg::All) }, body);
    }
    let n: Option<usize> = body[..digits].parse().ok().filter(|&n| n > 0);
    let arg = n.map(|n| {
        if neg {
            Arg::FromEnd(n)
        } else {
            Arg::Nth(n - 1)
        }
    });
    (arg, &body[digits..])
}

/// The values one replacement string stands for in a job.
fn values<'a>(r: Repl, job: &'a Job, slot: usize) -> Result<Vec<Cow<'a, [u8]>>, String> {
    let one = |i: Option<usize>, shown: String| -> Result<Vec<Cow<'a, [u8]>>, String> {
        match i.and_then(|i| job.args.get(i)) {
            Some(a) => Ok(vec![apply(r.form, a)]),
            None => Err(format!(
                "{shown}: the job has {} argument{}",
                job.args.len(),
                if job.args.len() == 1 { "" } else { "s" }
            )),
        }
    };
    match r.arg {
        Arg::All => Ok(job.args.iter().map(|a| apply(r.form, a)).collect()),
        Arg::Nth(i) => one(Some(i), format!("{{{}}}", i + 1)),
        Arg::FromEnd(n) => one(job.args.len().checked_sub(n), format!("{{-{n}}}")),
        Arg::Seq => Ok(vec![Cow::Owned(job.seq.to_string().into_bytes())]),
        Arg::Slot => Ok(vec![Cow::Owned(slot.to_string().into_bytes())]),
    }
}

fn apply(form: Form, a: &[u8]) -> Cow<'_, [u8]> {
    match form {
        Form::Whole => Cow::Borrowed(a),
        Form::NoExt => Cow::Borrowed(no_ext(a)),
        Form::Base => Cow::Borrowed(base(a)),
        Form::Dir => dir(a),
        Form::BaseNoExt => Cow::Borrowed(no_ext(base(a))),
    }
}

/// Without the last `.` and what follows it, when no `/` follows it (GNU's `{.}`).
fn no_ext(a: &[u8]) -> &[u8] {
    match a.iter().rposition(|&b| b == b'.') {
        Some(i) if !a[i..].contains(&b'/') => &a[..i],
        _ => a,
    }
}

/// After the last `/` (GNU's `{/}`: empty for `a/b/`).
fn base(a: &[u8]) -> &[u8] {
    match a.iter().rposition(|&b| b == b'/') {
        Some(i) => &a[i + 1..],
        None => a,
    }
}

/// The directory, as dirname(1) gives it: `.` without a `/`, `/` for the root.
fn dir(a: &[u8]) -> Cow<'_, [u8]> {
    fn trim(mut s: &[u8]) -> &[u8] {
        while s.len() > 1 && s.ends_with(b"/") {
            s = &s[..s.len() - 1];
        }
        s
    }
    let s = trim(a);
    match s.iter().rposition(|&b| b == b'/') {
        None => Cow::Borrowed(&b"."[..]),
        Some(i) => {
            let d = trim(&s[..i]);
            Cow::Borrowed(if d.is_empty() { &b"/"[..] } else { d })
        }
    }
}

/// The `--exec` template, as words (with `--shell`: one line, as written).
#[derive(Debug)]
pub(crate) struct Template {
    words: Vec<Pattern>,
    shell: bool,
    /// No replacement string anywhere: the arguments are appended.
    append: bool,
    /// The template as given, which with `--shell` names the job's command set.
    text: String,
}

impl Template {
    pub(crate) fn parse(t: &str, shell: bool) -> Result<Template, UsageError> {
        let words = shell_words::split(t).map_err(|e| UsageError(format!("--exec '{t}': {e}")))?;
        if words.is_empty() {
            return Err(UsageError("--exec needs a command template".into()));
        }
        // The shell gets the template as written: splitting and re-joining would lose its
        // quoting (`printf '%s\n' {}`).
        let words: Vec<Pattern> = if shell {
            vec![Pattern::parse(t)?]
        } else {
            words
                .iter()
                .map(|w| Pattern::parse(w))
                .collect::<Result<_, _>>()?
        };
        let append = !words.iter().any(Pattern::has_repl);
        Ok(Template {
            words,
            shell,
            append,
            text: t.to_string(),
        })
    }

    /// `--retry-failed`: no template of its own. Each job's arguments are its argv, split
    /// back from the joblog's Command; with `shell`, its one argument is the line for
    /// `/bin/sh -c`. Either way the job's Command is written again exactly as it was read.
    pub(crate) fn replay(shell: bool) -> Template {
        Template {
            words: Vec::new(),
            shell,
            append: true,
            text: String::new(),
        }
    }

    /// Refuse `{n}` beyond the arguments every job will have, when that is known up front.
    pub(crate) fn check_arity(&self, arity: Option<usize>) -> Result<(), UsageError> {
        let Some(n) = arity else { return Ok(()) };
        for r in self.words.iter().flat_map(Pattern::repls) {
            let shown = match r.arg {
                Arg::Nth(i) if i >= n => format!("{{{}}}", i + 1),
                Arg::FromEnd(k) if k > n => format!("{{-{k}}}"),
                _ => continue,
            };
            return Err(UsageError(format!(
                "--exec: {shown} names an input source that is not there (there {})",
                if n == 1 {
                    "is 1".to_string()
                } else {
                    format!("are {n}")
                }
            )));
        }
        Ok(())
    }

    /// The template as given and whether a shell runs it: with the arguments, what names a
    /// job's content.
    pub(crate) fn text(&self) -> (&str, bool) {
        (&self.text, self.shell)
    }

    /// The argv of a job in slot `slot`; `Err` says why it cannot be built (`{3}` of a line
    /// with two columns).
    pub(crate) fn argv(&self, job: &Job, slot: usize) -> Result<Vec<OsString>, String> {
        let Some(first) = self.words.first() else {
            return Ok(self.replayed(job));
        };
        if self.shell {
            let mut line = first.shell_line(job, slot)?;
            if self.append {
                for a in &job.args {
                    line.push(b' ');
                    quote::quote_into(&mut line, a);
                }
            }
            return Ok(vec![
                "/bin/sh".into(),
                "-c".into(),
                OsString::from_vec(line),
            ]);
        }
        let mut out = Vec::with_capacity(self.words.len() + job.args.len());
        for w in &self.words {
            w.words(job, slot, &mut out)?;
        }
        if self.append {
            out.extend(job.args.iter().map(|a| OsString::from_vec(a.clone())));
        }
        Ok(out)
    }

    /// A `--retry-failed` job's argv.
    fn replayed(&self, job: &Job) -> Vec<OsString> {
        let args = job.args.iter().map(|a| OsString::from_vec(a.clone()));
        if self.shell {
            ["/bin/sh".into(), "-c".into()]
                .into_iter()
                .chain(args)
                .collect()
        } else {
            args.collect()
        }
    }

    /// The joblog's `Command`: what a shell would read to run the same job — the argv quoted,
    /// or with `--shell` the line handed to the shell (no `/bin/sh -c` in front).
    pub(crate) fn command_line(&self, argv: &[OsString]) -> Vec<u8> {
        match argv {
            [_, _, line] if self.shell => line.as_bytes().to_vec(),
            _ => quote::join(argv.iter().map(|a| a.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(t: &str, shell: bool) -> Template {
        Template::parse(t, shell).unwrap()
    }

    fn job(args: &[&str]) -> Job {
        Job {
            seq: 7,
            nth: 1,
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            key: None,
        }
    }

    fn argv(t: &str, args: &[&str]) -> Vec<String> {
        template(t, false)
            .argv(&job(args), 2)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn exec_template_substitution_is_literal() {
        assert_eq!(
            argv("echo x{}y", &["$(touch pwned)"]),
            ["echo", "x$(touch pwned)y"]
        );
        assert_eq!(argv("echo", &["a b"]), ["echo", "a b"]);
        let sh = template("echo", true).argv(&job(&["$(x)"]), 1).unwrap();
        assert_eq!(sh[2], OsString::from("echo '$(x)'"));
    }

    #[test]
    fn several_arguments_split_the_word_as_a_shell_would() {
        assert_eq!(argv("echo x{}y", &["a", "b"]), ["echo", "xa", "by"]);
        assert_eq!(argv("echo", &["a", "b c"]), ["echo", "a", "b c"]);
        assert_eq!(argv("echo {2}-{1}", &["a", "b"]), ["echo", "b-a"]);
        assert_eq!(argv("echo {-1}", &["a", "b"]), ["echo", "b"]);
        let sh = template("echo {}", true)
            .argv(&job(&["a b", "c"]), 1)
            .unwrap();
        assert_eq!(sh[2], OsString::from("echo 'a b' c"));
    }

    #[test]
    fn seq_and_slot_numbers_and_no_append_after_them() {
        assert_eq!(argv("echo {#} {%}", &["a"]), ["echo", "7", "2"]);
    }

    #[test]
    fn path_forms_match_gnu_parallel() {
        // Each row: input, {.}, {/}, {//}, {/.} as GNU parallel 20221122 printed them.
        let rows = [
            (
                "sub.d/f.tar.gz",
                "sub.d/f.tar",
                "f.tar.gz",
                "sub.d",
                "f.tar",
            ),
            ("./.bashrc", "./", ".bashrc", ".", ""),
            ("foo.", "foo", "foo.", ".", "foo"),
            ("nodir", "nodir", "nodir", ".", "nodir"),
            ("a/b/", "a/b/", "", "a", ""),
            ("/", "/", "", "/", ""),
            (".hidden", "", ".hidden", ".", ""),
            ("a/.b", "a/", ".b", "a", ""),
            ("..", ".", "..", ".", "."),
            ("sub.dir/foo", "sub.dir/foo", "foo", "sub.dir", "foo"),
        ];
        for (input, ext, b, d, bext) in rows {
            let got = argv("x {.} {/} {//} {/.}", &[input]);
            assert_eq!(got[1..], [ext, b, d, bext], "{input}");
            let got = argv("x {1.} {1/} {1//} {1/.}", &[input]);
            assert_eq!(got[1..], [ext, b, d, bext], "{input}");
        }
    }

    #[test]
    fn other_brace_groups_are_text_and_lookalikes_are_refused() {
        assert_eq!(
            argv("awk {print} {x", &["f"]),
            ["awk", "{print}", "{x", "f"]
        );
        assert_eq!(argv("echo {{}}", &["a"]), ["echo", "{a}"]);
        for bad in ["{..}", "{0}", "{-}", "{1..}", "{+/}", "{-0}", "{1//.}"] {
            let e = Template::parse(&format!("echo {bad}"), false)
                .unwrap_err()
                .0;
            assert!(
                e.starts_with(&format!("unknown replacement string {bad}")),
                "{e}"
            );
        }
    }

    #[test]
    fn missing_arguments() {
        let t = template("echo {3}", false);
        assert!(t.check_arity(Some(3)).is_ok());
        let e = t.check_arity(Some(2)).unwrap_err().0;
        assert!(
            e.contains("{3} names an input source that is not there (there are 2)"),
            "{e}"
        );
        assert!(t.check_arity(None).is_ok());
        let e = t.argv(&job(&["a", "b"]), 1).unwrap_err();
        assert_eq!(e, "{3}: the job has 2 arguments");
        assert!(template("echo {-2}", false).check_arity(Some(1)).is_err());
    }

    #[test]
    fn render_joins_several_values() {
        let p = Pattern::parse("<{}>-{1/}").unwrap();
        assert_eq!(p.render(&job(&["a/b", "c"]), 1).unwrap(), b"<a/b c>-b");
    }

    #[test]
    fn the_joblog_command_is_what_a_shell_would_read() {
        let t = template("printf '%s\\n' {}", true);
        let argv = t.argv(&job(&["a b"]), 1).unwrap();
        assert_eq!(t.command_line(&argv), b"printf '%s\\n' 'a b'");
        let t = template("echo {}", false);
        assert_eq!(
            t.command_line(&t.argv(&job(&["a b"]), 1).unwrap()),
            b"echo 'a b'"
        );
    }

    #[test]
    fn replayed_jobs_run_their_own_argv_and_keep_their_command() {
        let t = Template::replay(false);
        let argv = t.argv(&job(&["printf", "%s\n", "a b"]), 1).unwrap();
        assert_eq!(argv, ["printf", "%s\n", "a b"]);
        assert_eq!(t.command_line(&argv), b"printf '%s\n' 'a b'");
        let t = Template::replay(true);
        let line = "echo 'a b' >&2; exit 1";
        let argv = t.argv(&job(&[line]), 1).unwrap();
        assert_eq!(argv, ["/bin/sh", "-c", line]);
        assert_eq!(t.command_line(&argv), line.as_bytes());
    }
}
