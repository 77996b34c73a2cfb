//! `childproc spawn`: run PROGRAM with live stdio — inherited (zero copy) by default, or piped
//! and re-emitted line by line with `--prefix` / `--json`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context;

use super::{base_spec, limits, report, split_command};
use crate::cli::SpawnArgs;
use crate::exit::Exit;
use crate::output::{LineFormat, Lines};
use crate::process::{self, Output, supervise};

pub fn run(a: SpawnArgs) -> anyhow::Result<Exit> {
    let (program, args) = split_command(a.command)?;
    let limits = limits(&a.run);
    let mut spec = base_spec(program.clone(), args, &a.run);
    let piped = a.prefix.is_some() || a.json;
    spec.stdout = match &a.stdout {
        Some(p) => Output::File(create(p)?),
        None if piped => Output::Pipe,
        None => Output::Inherit,
    };
    spec.stderr = match &a.stderr {
        _ if a.merge => Output::SameAsStdout,
        Some(p) => Output::File(create(p)?),
        None if piped => Output::Pipe,
        None => Output::Inherit,
    };

    let child = match process::spawn(spec) {
        Ok(child) => child,
        Err(e) if a.json => return Ok(not_started(&e)),
        Err(e) => return Err(e.into()),
    };
    let pid = child.pid;
    let (outcome, sink) = if let Some(template) = &a.prefix {
        let prefix = render_prefix(template, pid, &program);
        let mut sink = Lines::new(LineFormat::Prefix(prefix));
        let outcome = supervise(child, &limits, &mut sink);
        sink.finish();
        (outcome, Some(sink))
    } else if a.json {
        let mut sink = Lines::new(LineFormat::Json);
        sink.own_line(&format!("{{\"event\":\"spawn\",\"pid\":{pid}}}"));
        let outcome = supervise(child, &limits, &mut sink);
        sink.own_line(&exit_event(&outcome));
        sink.finish();
        (outcome, Some(sink))
    } else {
        (supervise(child, &limits, &mut process::NoOutput), None)
    };
    // Only a closed reader is a quiet end (141); any other write error stops the run loudly.
    if let Some(e) = sink.and_then(|s| s.write_error) {
        crate::error_line(&format!("writing to stdout: {e}"));
        return Ok(Exit::Failure);
    }
    if !outcome.output_closed {
        report(&outcome, &program, &limits, None);
    }
    Ok(outcome.exit(a.run.preserve_status))
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
