//! `childproc exec` (through a shell) and `childproc execfile` (no shell): run to completion,
//! capture stdout and stderr separately under `--max-buffer`, then print them byte for byte or
//! as one `--json` result object.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;

use anyhow::Context;
use base64::Engine;

use super::{UsageError, base_spec, limits, report, split_command};
use crate::cli::{CaptureOpts, Encoding, ExecArgs, ExecfileArgs};
use crate::exit::Exit;
use crate::output::{Capture, is_broken_pipe};
use crate::process::{self, Input, Output, SpawnError, Stream, supervise};

pub fn run_exec(a: ExecArgs) -> anyhow::Result<Exit> {
    let mut operands = a.command_line;
    if operands.len() != 1 {
        return Err(UsageError(format!(
            "exec takes exactly one COMMAND_LINE but got {}; quote the whole line \
             (childproc exec 'ls -l \"my dir\" | wc -l') or use execfile to pass arguments",
            operands.len()
        ))
        .into());
    }
    let line = operands.remove(0);
    let shell = a.shell.into_os_string();
    let display = line.to_string_lossy().into_owned();
    capture(a.capture, shell, vec!["-c".into(), line], display)
}

pub fn run_execfile(a: ExecfileArgs) -> anyhow::Result<Exit> {
    let (program, args) = split_command(a.command)?;
    let display = std::iter::once(&program)
        .chain(&args)
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    capture(a.capture, program, args, display)
}

fn capture(
    o: CaptureOpts,
    program: OsString,
    args: Vec<OsString>,
    command: String,
) -> anyhow::Result<Exit> {
    let limits = limits(&o.run);
    let argv: Vec<String> = std::iter::once(&program)
        .chain(&args)
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let mut spec = base_spec(program.clone(), args, &o.run);
    spec.stdin = match (o.input, &o.input_file) {
        (Some(s), _) => Input::Bytes(s.into_vec()),
        (None, Some(p)) => Input::File(
            std::fs::File::open(p).with_context(|| format!("--input-file {}", p.display()))?,
        ),
        (None, None) => Input::Inherit,
    };
    spec.stdout = Output::Pipe;
    spec.stderr = Output::Pipe;

    let child = match process::spawn(spec) {
        Ok(child) => child,
        Err(e) if o.json => return not_started(&command, &argv, &e),
        Err(e) => return Err(e.into()),
    };
    let mut cap = Capture::new(o.max_buffer);
    let outcome = supervise(child, &limits, &mut cap);
    let [out, err] = cap.bufs;

    let written = if o.json {
        let text = |b: &[u8]| match o.encoding {
            Encoding::Utf8 => String::from_utf8_lossy(b).into_owned(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(b),
        };
        let (code, signal) = outcome.code_and_signal();
        write_json(&serde_json::json!({
            "command": command,
            "argv": argv,
            "pid": outcome.pid,
            "code": code,
            "signal": signal,
            "timedOut": outcome.timed_out(),
            "maxBufferExceeded": outcome.limit_hit().map(Stream::name),
            "durationMs": super::spawn::duration_ms(outcome.duration),
            "stdout": text(&out),
            "stderr": text(&err),
        }))
    } else {
        let mut stdout = std::io::stdout().lock();
        let r = stdout.write_all(&out).and_then(|()| stdout.flush());
        let _ = std::io::stderr().lock().write_all(&err);
        r
    };
    if let Err(e) = written {
        if is_broken_pipe(&e) {
            return Ok(Exit::Signal(libc::SIGPIPE));
        }
        return Err(anyhow::Error::new(e).context("writing the captured output"));
    }
    report(&outcome, &program, &limits, Some(o.max_buffer));
    Ok(outcome.exit(o.run.preserve_status))
}

/// One `--json` result on stdout. Serialized first, so a closed stdout is a plain EPIPE
/// (serde_json would wrap it).
fn write_json(result: &serde_json::Value) -> std::io::Result<()> {
    let mut doc = serde_json::to_vec(result).map_err(std::io::Error::other)?;
    doc.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&doc).and_then(|()| stdout.flush())
}

/// `--json` when the program could not be started (127, 126, a bad `--cwd`): scripts that
/// parse the result still get one, with `pid` and `code` null and Node's error code.
fn not_started(command: &str, argv: &[String], e: &SpawnError) -> anyhow::Result<Exit> {
    crate::error_line(&e.to_string());
    let written = write_json(&serde_json::json!({
        "command": command,
        "argv": argv,
        "pid": null,
        "code": null,
        "signal": null,
        "timedOut": false,
        "maxBufferExceeded": null,
        "durationMs": 0.0,
        "stdout": "",
        "stderr": "",
        "error": {"code": e.errno_name(), "message": e.to_string()},
    }));
    match written {
        Err(w) if !is_broken_pipe(&w) => {
            Err(anyhow::Error::new(w).context("writing the --json result"))
        }
        _ => Ok(e.exit()),
    }
}
