//! childproc: Node.js `child_process` and `cluster` for the terminal and shell scripts.
//!
//! `main_entry` parses the command line, dispatches to one module per subcommand (`cmd`), and
//! turns the outcome into an exit code from the single table in `exit`.

pub mod cli;
pub mod cmd;
pub mod exit;
pub mod ipc;
pub mod output;
pub mod process;
pub mod values;

use std::io::Write;

use clap::Parser;

use crate::exit::Exit;

/// Parse `std::env::args_os`, run, and report. Never panics on bad input.
pub fn main_entry() -> Exit {
    process::signals::init_process();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report_clap_error(e),
    };
    match cmd::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let code = cmd::error_exit(&e);
            error_line(&format!("{e:#}"));
            code
        }
    }
}

/// Print one diagnostic line on stderr, prefixed with the program name.
pub fn error_line(msg: &str) {
    let line = msg.replace('\n', " ");
    let _ = writeln!(std::io::stderr().lock(), "childproc: {line}");
}

/// `--help`/`--version` print and exit 0; every other clap error is one line and exit 125.
fn report_clap_error(e: clap::Error) -> Exit {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Exit::Success
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Exit::Failure
        }
        _ => {
            // clap's message is several lines; keep the first, plus the next when the first
            // only announces it ("...were not provided:").
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let msg = match lines.next() {
                Some(next) if first.ends_with(':') && !next.starts_with("Usage:") => {
                    format!("{first} {next}")
                }
                _ => first.to_string(),
            };
            error_line(&format!("{msg} (see --help)"));
            Exit::Failure
        }
    }
}
