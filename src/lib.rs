//! childproc: Node.js `child_process` and `cluster` for the terminal and shell scripts.
//!
//! `main_entry` parses the command line, dispatches to one module per subcommand (`cmd`), and
//! turns the outcome into an exit code from the single table in `exit`.
//!
//! Unsafe code is denied everywhere but in the few files that say why: the engine's system-call
//! wrappers (`process/sys.rs`), its child-side launcher and guard, and the channel's descriptor
//! passing and start-up adoption of an inherited descriptor (`ipc/fds.rs`, `ipc/channel.rs`).
#![deny(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod exit;
pub mod ipc;
pub mod listen;
pub mod output;
pub mod process;
pub mod serve;
pub mod usage;
pub mod values;

use std::io::Write;

use clap::Parser;

use crate::exit::Exit;

/// Parse `std::env::args_os`, run, and report. Never panics on bad input.
pub fn main_entry() -> Exit {
    process::signals::init_process();
    if let Some(exit) = forked_by_node() {
        return exit;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report_clap_error(e),
    };
    match cmd::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let code = cmd::error_exit(&e);
            error_line(&one_line(&e));
            code
        }
    }
}

/// When a Node parent forks the childproc binary (`fork(path, args, {execPath: childproc})`),
/// argv[1] is Node's module path, not a subcommand: run the echo role. With a real subcommand
/// the inherited channel is only detached, so it never leaks into our own children.
fn forked_by_node() -> Option<Exit> {
    std::env::var_os(ipc::CHANNEL_FD_ENV)?;
    let first = std::env::args_os().nth(1);
    let is_ours = first.as_ref().is_some_and(|a| {
        let a = a.to_string_lossy();
        a.starts_with('-')
            || a == "help"
            || <cli::Cli as clap::CommandFactory>::command()
                .get_subcommands()
                .any(|s| s.get_name() == a)
    });
    let role = first.as_deref().and_then(|f| f.to_str());
    if is_ours && !matches!(role, Some("ipc-echo") | Some("cluster-worker")) {
        detach_inherited();
        return None;
    }
    let result = if role == Some("cluster-worker") {
        cluster::role::run()
    } else {
        cmd::echo::run()
    };
    Some(match result {
        Ok(exit) => exit,
        Err(e) => {
            error_line(&one_line(&e));
            Exit::Failure
        }
    })
}

/// An error and its causes as one line, `outer: inner: …`, each cause said once: an error
/// whose message already ends with its cause's text (an io::Error shown inside a typed
/// error) does not repeat it.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for part in e.chain().map(ToString::to_string) {
        if !line.ends_with(&part) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&part);
        }
    }
    line
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
            // A usage error like any other: one line (the help is one flag away).
            error_line(
                "a subcommand is required: spawn, exec, execfile, fork, cluster or serve (see --help)",
            );
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

/// A subcommand run under a Node parent does not speak the channel: take it out of the
/// environment and close it, so it cannot leak into the children we run.
fn detach_inherited() {
    // An unusable channel (bad fd, `advanced` mode) is irrelevant here; either way the
    // variables are removed by `from_env` and the descriptor, if any, is closed on drop.
    let _ = ipc::from_env();
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_says_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(24);
        let shown = format!("cannot create a pipe: {io}");
        let e = anyhow::Error::new(io).context(shown.clone());
        assert_eq!(super::one_line(&e), shown);
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::one_line(&e), "outer: inner");
    }
}
