//! The hidden `cluster-remote` role: childproc on the far side of `ssh` or `srun`.
//!
//! It speaks to the primary over its own stdin/stdout, newline-delimited JSON as on the IPC
//! channel. First it says hello (`{"cmd":"NODE_CHILDPROC_HELLO","host","pid"}`), then either
//! - relays between the primary and a local IPC worker (`--task`: a `cluster-worker`,
//!   `--worker CMD`: the user's program with a real Node channel on fd 3), and reports the
//!   worker's death with `{"cmd":"NODE_CHILDPROC_EXIT","code","signal","cpuUs"}`; or
//! - serves `--exec` jobs: `{"argv":[…]}` (or `"argv64"`, base64, for non-UTF-8 arguments) in;
//!   `{"cmd":"NODE_CHILDPROC_STARTED","pid"}` when the job has started, then one reply per job,
//!   the job run by the local engine with the given limits.
//!
//! Cleanup is tied to stdin: when it reaches EOF (the primary finished, was killed, or the ssh
//! connection died — ssh without a terminal sends no SIGHUP) every process group it started is
//! killed and it exits. SIGTERM/SIGINT/SIGHUP (a cancelled Slurm step) do the same.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use super::Attempt;
use super::worker::{EXIT, HELLO, IpcWorker, Reply, STARTED};
use crate::cli::RemoteArgs;
use crate::cmd::UsageError;
use crate::exit::Exit;
use crate::ipc;
use crate::process::{self, Spec, Status, children_cpu, signals};

pub fn run(a: RemoteArgs) -> anyhow::Result<Exit> {
    // Handlers first, so a cancel that arrives during start-up is not lost.
    signals::Waker::for_thread()?;
    if a.exec {
        return serve_exec(&a);
    }
    let spec = if a.task.is_some() {
        // The built-in tasks are this binary's own: a local `cluster-worker`.
        Spec::new(
            std::env::current_exe()?.into_os_string(),
            vec!["cluster-worker".into()],
        )
    } else if let Some(w) = &a.worker {
        let argv = shell_words::split(w).map_err(|e| UsageError(format!("--worker: {e}")))?;
        let Some((prog, rest)) = argv.split_first() else {
            return Err(UsageError("--worker needs a command".into()).into());
        };
        Spec::new(
            OsString::from(prog),
            rest.iter().map(OsString::from).collect(),
        )
    } else {
        return Err(UsageError("one of --task, --worker or --exec is required".into()).into());
    };
    relay(spec, &a.kill.limits(None))
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

fn say(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Reads stdin until EOF; then cancels everything this process runs.
fn watch_stdin(mut each: impl FnMut(&[u8]) -> bool + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if !each(&buf[..n]) {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            signals::cancel_all();
        });
}

fn relay(spec: Spec, stop: &process::Limits) -> anyhow::Result<Exit> {
    let mut w = IpcWorker::start(spec)?;
    w.set_stop(stop);
    let mut to_worker = w.writer()?;
    let mut out = std::io::stdout().lock();
    if say(
        &mut out,
        &json!({"cmd": HELLO, "host": hostname(), "pid": w.pid}),
    )
    .is_err()
    {
        return Ok(Exit::Child(0)); // nobody is listening
    }
    // Raw bytes from the primary to the worker: both sides frame lines the same way.
    watch_stdin(move |chunk| to_worker.write_all(chunk).is_ok());
    let cpu_before = children_cpu();
    loop {
        match w.wait(None) {
            Reply::Message(m) => {
                let mut batch = m;
                batch.push(b'\n');
                // Everything already decoded goes out in one write.
                while let Some(more) = w.try_message() {
                    batch.extend_from_slice(&more);
                    batch.push(b'\n');
                }
                if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
                    drop(w);
                    return Ok(Exit::Child(0));
                }
            }
            Reply::Died(status) => {
                let (code, signal) = code_and_signal(status);
                let cpu = children_cpu().saturating_sub(cpu_before);
                let _ = say(
                    &mut out,
                    &json!({"cmd": EXIT, "code": code, "signal": signal,
                            "cpuUs": cpu.as_micros() as u64}),
                );
                return Ok(Exit::Child(0));
            }
            // stdin ended or a signal came: the worker's group is already killed. Say so
            // (with the CPU time, now that it is reaped) in case the primary still listens.
            Reply::Interrupted | Reply::TimedOut | Reply::Lost(_) => {
                let cpu = children_cpu().saturating_sub(cpu_before);
                let (code, signal) = match w.stopped() {
                    None => (None, Some(libc::SIGKILL)),
                    st => code_and_signal(st),
                };
                let _ = say(
                    &mut out,
                    &json!({"cmd": EXIT, "code": code, "signal": signal,
                            "cpuUs": cpu.as_micros() as u64}),
                );
                return Ok(Exit::Child(0));
            }
        }
    }
}

/// A status as the exit line carries it.
fn code_and_signal(status: Option<Status>) -> (Option<i32>, Option<i32>) {
    match status {
        Some(Status::Exited(c)) => (Some(c), None),
        Some(Status::Signaled(n)) => (None, Some(n)),
        None => (None, None),
    }
}

/// One `--exec` job request.
fn job_argv(line: &[u8]) -> Result<Vec<OsString>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed job request: {e}"))?;
    let list = |k: &str| v.get(k).and_then(serde_json::Value::as_array);
    let argv = if let Some(a) = list("argv") {
        a.iter()
            .map(|s| {
                s.as_str()
                    .map(OsString::from)
                    .ok_or("argv holds a non-string")
            })
            .collect::<Result<Vec<_>, _>>()?
    } else if let Some(a) = list("argv64") {
        a.iter()
            .map(|s| {
                s.as_str()
                    .and_then(|s| B64.decode(s).ok())
                    .map(OsString::from_vec)
                    .ok_or("argv64 holds a non-base64 string")
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        return Err("malformed job request: no argv".into());
    };
    if argv.is_empty() {
        return Err("empty argv".into());
    }
    Ok(argv)
}

/// The request the primary sends for one `--exec` job.
pub fn job_request(argv: &[OsString]) -> Vec<u8> {
    let text: Option<Vec<&str>> = argv.iter().map(|a| a.to_str()).collect();
    let v = match text {
        Some(t) => json!({ "argv": t }),
        None => json!({
            "argv64": argv.iter().map(|a| B64.encode(a.as_encoded_bytes())).collect::<Vec<_>>()
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

fn serve_exec(a: &RemoteArgs) -> anyhow::Result<Exit> {
    let limits = a.kill.limits(a.job_timeout);
    let mut out = std::io::stdout().lock();
    if say(
        &mut out,
        &json!({"cmd": HELLO, "host": hostname(), "pid": std::process::id()}),
    )
    .is_err()
    {
        return Ok(Exit::Child(0));
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    // The decoder remembers how far it has looked for a newline: a request line of any length
    // costs time linear in its length (rescanning the whole buffer on every read did not).
    let mut pending = ipc::LineDecoder::new();
    watch_stdin(move |chunk| {
        pending.push(chunk);
        while let Some(line) = pending.next_line() {
            if tx.send(line.to_vec()).is_err() {
                return false;
            }
        }
        true
    });
    while let Ok(line) = rx.recv() {
        if signals::cancelled() || signals::Seen::now().first().is_some() {
            break;
        }
        if ipc::is_blank(&line) {
            continue;
        }
        let reply = match job_argv(&line) {
            Ok(argv) => run_job(argv, &limits, a.announce_starts.then_some(&mut out)),
            Err(e) => json!({ "spawnError": e, "exit": 125 }),
        };
        if say(&mut out, &reply).is_err() {
            break;
        }
    }
    signals::cancel_all();
    Ok(match signals::Seen::now().first() {
        Some(sig) => Exit::Signal(sig),
        None => Exit::Child(0),
    })
}

fn run_job(
    argv: Vec<OsString>,
    limits: &process::Limits,
    announce: Option<&mut std::io::StdoutLock>,
) -> serde_json::Value {
    let cpu_before = children_cpu();
    let child = match super::start_here(&argv) {
        Ok(c) => c,
        Err(e) => return json!({ "spawnError": e.to_string(), "exit": e.exit().code() }),
    };
    // The pid now, so a job killed before it answers is still reported with it.
    if let Some(out) = announce {
        let _ = say(out, &json!({"cmd": STARTED, "pid": child.pid}));
    }
    let a = super::finish_here(child, limits);
    let (code, signal) = match a.status {
        Status::Exited(c) => (Some(c), None),
        Status::Signaled(n) => (None, Some(n)),
    };
    json!({
        "pid": a.pid,
        "code": code,
        "signal": signal,
        "timedOut": a.timed_out,
        "cancelled": a.cancelled,
        "stdout": B64.encode(a.stdout),
        "stderr": B64.encode(a.stderr),
        "cpuUs": children_cpu().saturating_sub(cpu_before).as_micros() as u64,
    })
}

/// The answer to one `--exec` job, as the primary reads it back.
#[derive(Debug)]
pub enum JobReply {
    /// It ran: how it ended, and the CPU time it used over there.
    Ran(Attempt, Duration),
    /// It could not be started there: the message and its exit code (126, 127, 125).
    NotStarted(String, i32),
}

pub fn parse_reply(m: &[u8]) -> Result<JobReply, String> {
    let v: serde_json::Value = serde_json::from_slice(m)
        .map_err(|e| format!("malformed reply from the remote side: {e}"))?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_i64);
    let bytes = |k: &str| {
        v.get(k)
            .and_then(|s| s.as_str())
            .and_then(|s| B64.decode(s).ok())
            .unwrap_or_default()
    };
    if let Some(e) = v.get("spawnError") {
        return Ok(JobReply::NotStarted(
            e.as_str().unwrap_or("cannot start the job").to_string(),
            num("exit").unwrap_or(125) as i32,
        ));
    }
    let status = match (num("code"), num("signal")) {
        (_, Some(n)) => Status::Signaled(n as i32),
        (Some(c), _) => Status::Exited(c as i32),
        _ => return Err("malformed reply from the remote side: no status".into()),
    };
    let flag = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    Ok(JobReply::Ran(
        Attempt {
            pid: num("pid").unwrap_or(0) as i32,
            status,
            timed_out: flag("timedOut"),
            cancelled: flag("cancelled"),
            stdout: bytes("stdout"),
            stderr: bytes("stderr"),
        },
        Duration::from_micros(num("cpuUs").unwrap_or(0).max(0) as u64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_requests_round_trip_any_bytes() {
        let plain = vec![
            OsString::from("echo"),
            OsString::from("$(touch x); rm -rf ~"),
        ];
        assert_eq!(job_argv(&job_request(&plain)).unwrap(), plain);
        let raw = vec![
            OsString::from("printf"),
            OsString::from_vec(vec![0xff, b'a', 0xfe]),
        ];
        assert!(String::from_utf8_lossy(&job_request(&raw)).contains("argv64"));
        assert_eq!(job_argv(&job_request(&raw)).unwrap(), raw);
        assert!(job_argv(b"{\"argv\":[]}").is_err());
        assert!(job_argv(b"nonsense").is_err());
    }

    #[test]
    fn replies_parse() {
        let r = parse_reply(br#"{"pid":7,"code":null,"signal":9,"timedOut":true,"cancelled":false,"stdout":"aGk=","stderr":"","cpuUs":5}"#).unwrap();
        let JobReply::Ran(a, cpu) = r else {
            panic!("not a run: {r:?}");
        };
        assert_eq!(a.status, Status::Signaled(9));
        assert!(a.timed_out);
        assert_eq!(a.stdout, b"hi");
        assert_eq!(cpu, Duration::from_micros(5));
        let e = parse_reply(br#"{"spawnError":"x: not found","exit":127}"#).unwrap();
        assert!(matches!(e, JobReply::NotStarted(ref m, 127) if m == "x: not found"));
        assert!(parse_reply(b"{}").is_err());
    }
}
