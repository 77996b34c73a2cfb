//! The three ways of running one program — `spawn`, `exec`, `execfile` — as one type, so that a
//! behaviour they share is written once and checked for each (see the `case!` macro).

use std::ffi::OsString;

use super::{cp, cp_std, json_lines, sh_quote, text};

/// A subcommand of the process engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Live stdio (inherited, or re-emitted with `--prefix`/`--json`).
    Spawn,
    /// One command line through `/bin/sh -c`, output buffered.
    Exec,
    /// An argv without a shell, output buffered.
    Execfile,
}

pub use Mode::{Exec, Execfile, Spawn};

impl Mode {
    /// The mode named like the test function `case!` generates for it.
    pub fn named(name: &str) -> Mode {
        match name {
            "spawn" => Spawn,
            "exec" => Exec,
            "execfile" => Execfile,
            _ => panic!("no mode {name}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Spawn => "spawn",
            Exec => "exec",
            Execfile => "execfile",
        }
    }

    /// Whether the output is captured and printed at the end (`--max-buffer`, `--input` exist).
    pub fn buffered(self) -> bool {
        self != Spawn
    }

    /// A digit unique to the mode, to make the command lines of a case's grandchildren
    /// (`sleep 2345.61`) distinct between modes, whose tests run in parallel.
    pub fn digit(self) -> char {
        match self {
            Spawn => '1',
            Exec => '2',
            Execfile => '3',
        }
    }

    /// `base` followed by the mode's digit and `k`: a unique `sleep` argument.
    pub fn token(self, base: &str, k: usize) -> String {
        format!("{base}{}{k}", self.digit())
    }

    /// The output options worth repeating a case for: spawn's three ways of passing output on
    /// (inherited, `--prefix`, `--json`); the buffered modes have one.
    pub fn outputs(self) -> Vec<&'static [&'static str]> {
        match self {
            Spawn => vec![&[], &["--prefix", "> "], &["--json"]],
            _ => vec![&[]],
        }
    }

    /// Arguments that run the shell script `script`: exec's one command line, or
    /// `sh -c SCRIPT` for the argv modes.
    pub fn sh_args(self, opts: &[&str], script: &str) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![self.name().into()];
        v.extend(opts.iter().map(OsString::from));
        match self {
            Exec => v.push(script.into()),
            _ => v.extend(["--", "sh", "-c", script].map(OsString::from)),
        }
        v
    }

    /// Arguments that run `argv`: as is for the argv modes, single-quoted into one command
    /// line for exec.
    pub fn argv_args(self, opts: &[&str], argv: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![self.name().into()];
        v.extend(opts.iter().map(OsString::from));
        match self {
            Exec => {
                let line: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
                v.push(line.join(" ").into());
            }
            _ => {
                v.push("--".into());
                v.extend(argv.iter().map(OsString::from));
            }
        }
        v
    }

    /// `childproc MODE OPTS… <script through a shell>` (see [`Mode::sh_args`]).
    pub fn sh(self, opts: &[&str], script: &str) -> assert_cmd::Command {
        let mut c = cp();
        c.args(self.sh_args(opts, script));
        c
    }

    /// [`Mode::sh`] as a plain `std::process::Command`.
    pub fn sh_std(self, opts: &[&str], script: &str) -> std::process::Command {
        let mut c = cp_std();
        c.args(self.sh_args(opts, script));
        c
    }

    /// `childproc MODE OPTS… ARGV` (see [`Mode::argv_args`]).
    pub fn argv(self, opts: &[&str], argv: &[&str]) -> assert_cmd::Command {
        let mut c = cp();
        c.args(self.argv_args(opts, argv));
        c
    }

    /// [`Mode::argv`] as a plain `std::process::Command`.
    pub fn argv_std(self, opts: &[&str], argv: &[&str]) -> std::process::Command {
        let mut c = cp_std();
        c.args(self.argv_args(opts, argv));
        c
    }

    /// `childproc MODE OPTS… <script>` as one line for /bin/sh (a pipeline, a terminal).
    pub fn sh_line(self, opts: &str, script: &str) -> String {
        let bin = super::bin().display().to_string();
        match self {
            Exec => format!("{bin} exec {opts} {}", sh_quote(script)),
            _ => format!("{bin} {} {opts} sh -c {}", self.name(), sh_quote(script)),
        }
    }

    /// The outcome of a `--json` run: the result object of exec and execfile, the `exit` event
    /// of spawn (both have `code` and `signal`).
    pub fn json_outcome(self, stdout: &[u8]) -> serde_json::Value {
        match self {
            Spawn => {
                let events = json_lines(stdout);
                let last = events.last().cloned().unwrap_or_default();
                assert_eq!(last["event"], "exit", "{}", text(stdout));
                last
            }
            _ => serde_json::from_slice(stdout)
                .unwrap_or_else(|e| panic!("not one JSON value ({e}): {}", text(stdout))),
        }
    }

    /// The child's stdout as a `--json` run reports it: exec's and execfile's `stdout` field,
    /// or spawn's `stdout` events joined as lines.
    pub fn json_stdout(self, stdout: &[u8]) -> String {
        match self {
            Spawn => json_lines(stdout)
                .iter()
                .filter(|e| e["event"] == "stdout")
                .map(|e| format!("{}\n", e["line"].as_str().unwrap()))
                .collect(),
            _ => self.json_outcome(stdout)["stdout"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }
}

/// Defines a behaviour once and runs it for each mode, as a module `NAME` holding one test per
/// mode (`NAME::spawn`, `NAME::exec`, `NAME::execfile`), like ripgrep's `rgtest!`. The closure
/// parameter is the [`Mode`]; a list of modes restricts the case to those.
#[allow(unused_macros)]
macro_rules! case {
    ($name:ident, [$($mode:ident),+ $(,)?], |$m:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::common::mode::*;
            $(
                #[test]
                fn $mode() {
                    let $m = $crate::common::mode::Mode::named(stringify!($mode));
                    $body
                }
            )+
        }
    };
    ($name:ident, |$m:ident| $body:block) => {
        case!($name, [spawn, exec, execfile], |$m| $body);
    };
}
