//! `childproc spawn`: run PROGRAM with live stdio — inherited (zero copy) by default, or piped
//! and re-emitted line by line with `--prefix` / `--json`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context;

use super::{base_spec, limits, report, split_command};
use crate::cli::{Restart, SpawnArgs};
use crate::exit::Exit;
use crate::output::{LineFormat, Lines};
use crate::process::{self, Output, supervise};
use crate::serve::restart::{Decision, RestartPolicy};

pub fn run(a: SpawnArgs) -> anyhow::Result<Exit> {
    let (program, args) = split_command(a.command.clone())?;
    let files = Files::open(&a)?;
    if a.restart == Restart::Never {
        return Ok(once(&a, &program, &args, &files)?.0);
    }
    keep_alive(&a, &program, &args, &files)
}

/// `--stdout` / `--stderr` files, created once: every restart appends to the same file.
struct Files {
    stdout: Option<std::fs::File>,
    stderr: Option<std::fs::File>,
}

impl Files {
    fn open(a: &SpawnArgs) -> anyhow::Result<Files> {
        Ok(Files {
            stdout: a.stdout.as_deref().map(create).transpose()?,
            stderr: a.stderr.as_deref().map(create).transpose()?,
        })
    }

    fn output(f: &Option<std::fs::File>, fallback: Output) -> anyhow::Result<Output> {
        Ok(match f {
            Some(f) => Output::File(f.try_clone().context("cannot duplicate an output file")?),
            None => fallback,
        })
    }
}

/// Run the program once, as `spawn` does: its exit code, and how it ended when it ran.
fn once(
    a: &SpawnArgs,
    program: &std::ffi::OsString,
    args: &[std::ffi::OsString],
    files: &Files,
) -> anyhow::Result<(Exit, Option<process::Outcome>)> {
    let limits = limits(&a.run);
    let mut spec = base_spec(program.clone(), args.to_vec(), &a.run);
    let piped = a.prefix.is_some() || a.json;
    let pipe_or_inherit = || if piped { Output::Pipe } else { Output::Inherit };
    spec.stdout = Files::output(&files.stdout, pipe_or_inherit())?;
    spec.stderr = if a.merge {
        Output::SameAsStdout
    } else {
        Files::output(&files.stderr, pipe_or_inherit())?
    };
    let child = match process::spawn(spec) {
        Ok(child) => child,
        Err(e) if a.json => return Ok((not_started(&e), None)),
        Err(e) => return Err(e.into()),
    };
    let (outcome, sink) = watch(a, child, program, &limits);
    // Only a closed reader is a quiet end (141); any other write error stops the run loudly.
    if let Some(e) = sink.and_then(|s| s.write_error) {
        crate::error_line(&format!("writing to stdout: {e}"));
        return Ok((Exit::Failure, None));
    }
    if !outcome.output_closed() {
        report(&outcome, program, &limits, None);
    }
    Ok((outcome.exit(a.run.preserve_status), Some(outcome)))
}

/// Supervise the started child, re-emitting its output as the options say.
fn watch(
    a: &SpawnArgs,
    child: process::Running,
    program: &OsStr,
    limits: &process::Limits,
) -> (process::Outcome, Option<Lines>) {
    let pid = child.pid;
    if let Some(template) = &a.prefix {
        let prefix = render_prefix(template, pid, program);
        let mut sink = Lines::new(LineFormat::Prefix(prefix));
        let outcome = supervise(child, limits, &mut sink);
        sink.finish();
        (outcome, Some(sink))
    } else if a.json {
        let mut sink = Lines::new(LineFormat::Json);
        sink.own_line(&format!("{{\"event\":\"spawn\",\"pid\":{pid}}}"));
        let outcome = supervise(child, limits, &mut sink);
        sink.own_line(&exit_event(&outcome));
        sink.finish();
        (outcome, Some(sink))
    } else {
        (supervise(child, limits, &mut process::NoOutput), None)
    }
}

/// `--restart on-failure|always`: run the program again whenever it ends (with a non-zero
/// status, for on-failure), with serve's backoff and crash-loop limit. A signal to childproc
/// stops it for good, as serve's shutdown does: 0 when the program ended within the grace
/// period, 128+N when it had to be SIGKILLed.
fn keep_alive(
    a: &SpawnArgs,
    program: &std::ffi::OsString,
    args: &[std::ffi::OsString],
    files: &Files,
) -> anyhow::Result<Exit> {
    let mut policy = RestartPolicy::new(a.max_restarts, a.restart_window);
    let shown = program.to_string_lossy().into_owned();
    loop {
        let started = std::time::Instant::now();
        let (exit, outcome) = once(a, program, args, files)?;
        let Some(outcome) = outcome else {
            return Ok(exit); // it could not start, or our output failed: nothing to restart
        };
        if let Some(sig) = outcome.interrupted() {
            return Ok(if outcome.escalated {
                Exit::Signal(sig)
            } else {
                Exit::Success
            });
        }
        if outcome.output_closed() || (a.restart == Restart::OnFailure && exit.code() == 0) {
            return Ok(exit);
        }
        let healthy = started.elapsed() >= crate::serve::restart::HEALTHY;
        match policy.on_death(std::time::Instant::now(), healthy) {
            Decision::GiveUp(why) => {
                crate::error_line(&format!("{shown}: not restarted again: {why}"));
                return Ok(Exit::Failure);
            }
            Decision::RestartIn(d) => {
                crate::error_line(&format!(
                    "{shown}: {}; restarting in {} (restart {})",
                    ended(&outcome),
                    humantime::format_duration(d),
                    policy.restarts()
                ));
                if let Some(sig) = wait_or_signal(d) {
                    return Ok(Exit::Signal(sig));
                }
            }
        }
    }
}

/// How a run ended, for the restart line.
fn ended(outcome: &process::Outcome) -> String {
    match outcome.code_and_signal() {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by {sig}"),
        (None, None) => "ended".into(),
    }
}

/// Sleep `d` unless INT/TERM/HUP comes first (then which).
fn wait_or_signal(d: std::time::Duration) -> Option<i32> {
    use crate::process::signals::{Seen, Waker};
    let waker = Waker::for_thread().ok()?;
    let seen = Seen::now();
    let until = std::time::Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut fds = [crate::process::sys::pollfd(waker.fd(), libc::POLLIN)];
        let _ = crate::process::sys::poll(&mut fds, left.as_millis().max(1) as i32);
        waker.drain();
        if let Some(&sig) = seen.new_since(&Seen::now()).first() {
            return Some(sig);
        }
    }
}

/// `--json` when the program could not be started: one `error` event (as Node's child emits
/// `'error'`) with Node's error code, so a reader of the stream learns why.
fn not_started(e: &process::SpawnError) -> Exit {
    crate::error_line(&e.to_string());
    let mut sink = Lines::new(LineFormat::Json);
    let event =
        serde_json::json!({"event": "error", "code": e.errno_name(), "message": e.to_string()});
    sink.own_line(&event.to_string());
    sink.finish();
    e.exit()
}

/// The `--json` stream's last event.
fn exit_event(outcome: &process::Outcome) -> String {
    let (code, signal) = outcome.code_and_signal();
    serde_json::json!({
        "event": "exit",
        "code": code,
        "signal": signal,
        "durationMs": duration_ms(outcome.duration),
    })
    .to_string()
}

/// Milliseconds with microsecond precision, as `--json` reports durations.
pub fn duration_ms(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

fn create(p: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))
}

/// `{pid}` and `{name}` (the program's file name) in a `--prefix` template.
fn render_prefix(template: &str, pid: i32, program: &OsStr) -> Vec<u8> {
    let name = Path::new(program)
        .file_name()
        .map_or_else(|| program.as_bytes(), |n| n.as_bytes());
    let mut out = Vec::with_capacity(template.len() + 16);
    let mut rest = template.as_bytes();
    while !rest.is_empty() {
        if rest.starts_with(b"{pid}") {
            out.extend_from_slice(pid.to_string().as_bytes());
            rest = &rest[5..];
        } else if rest.starts_with(b"{name}") {
            out.extend_from_slice(name);
            rest = &rest[6..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_template() {
        assert_eq!(
            render_prefix("[{name}:{pid}] ", 42, OsStr::new("/bin/echo")),
            b"[echo:42] ".to_vec()
        );
        assert_eq!(render_prefix("{x}", 1, OsStr::new("a")), b"{x}".to_vec());
    }
}
