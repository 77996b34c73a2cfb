//! The cluster's own messages, as types both ends share (both ends are this binary).
//!
//! - primary ↔ `cluster-worker`: a [`TaskRequest`] per job, a [`TaskReply`] back;
//! - `cluster-remote` → primary: [`Note`]s, shaped like Node's internal messages (`cmd` starts
//!   with `NODE_`) so that every other reader of the channel skips them;
//! - primary ↔ `cluster-remote --exec`: a [`JobRequest`] per job, a [`JobReply`] back.
//!
//! Each is one line of JSON, framed like the Node channel (see `crate::ipc`).

use std::borrow::Cow;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::attempt::Attempt;
use super::tasks::Task;
use crate::exit::Exit;
use crate::process::{Status, Stream};

/// One job for a built-in task worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskRequest<'a> {
    pub task: Task,
    #[serde(borrow)]
    pub input: Cow<'a, str>,
}

/// A built-in task worker's answer: `{"result":N}` or `{"error":"…"}`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TaskReply {
    Result(u64),
    Error(String),
}

impl TaskReply {
    /// The reply to one task request line.
    pub(crate) fn answer(line: &[u8]) -> TaskReply {
        match serde_json::from_slice::<TaskRequest>(line) {
            Ok(r) => match r.task.run(&r.input) {
                Ok(n) => TaskReply::Result(n),
                Err(e) => TaskReply::Error(e),
            },
            Err(e) if e.is_data() => TaskReply::Error("malformed task message".into()),
            Err(e) => TaskReply::Error(format!("malformed task message: {e}")),
        }
    }

    /// A reply as the primary reads it: the result's JSON text, or why the job failed.
    pub(crate) fn parse(m: &[u8]) -> Result<Vec<u8>, String> {
        // The common case without a parser: our own worker writes exactly this shape.
        if let Some(num) = m
            .strip_prefix(b"{\"result\":")
            .and_then(|rest| rest.strip_suffix(b"}"))
            && !num.is_empty()
            && num.iter().all(u8::is_ascii_digit)
        {
            return Ok(num.to_vec());
        }
        match serde_json::from_slice::<TaskReply>(m) {
            Ok(TaskReply::Result(n)) => Ok(n.to_string().into_bytes()),
            Ok(TaskReply::Error(e)) => Err(e),
            Err(_) => Err("malformed reply from task worker".into()),
        }
    }
}

/// What `cluster-remote` tells the primary besides the worker's own messages.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd")]
pub(crate) enum Note {
    /// It is up: the host it runs on and the pid of the worker (or of itself, serving `--exec`).
    #[serde(rename = "NODE_CHILDPROC_HELLO")]
    Hello { host: String, pid: i32 },
    /// An `--exec` job has started (so a job killed before it answers still has its pid).
    #[serde(rename = "NODE_CHILDPROC_STARTED")]
    Started { pid: i32 },
    /// Output of the `--exec` job running over there, as it arrived (`--stream-output`).
    #[serde(rename = "NODE_CHILDPROC_OUTPUT")]
    Output {
        stream: StreamName,
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// The worker ended, and the CPU time the remote side used.
    #[serde(rename = "NODE_CHILDPROC_EXIT")]
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
        #[serde(rename = "cpuUs", default)]
        cpu_us: u64,
    },
}

/// Which of a job's streams an output note carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StreamName {
    Stdout,
    Stderr,
}

impl From<StreamName> for Stream {
    fn from(s: StreamName) -> Stream {
        match s {
            StreamName::Stdout => Stream::Stdout,
            StreamName::Stderr => Stream::Stderr,
        }
    }
}

impl Note {
    /// An output note.
    pub(crate) fn output(stream: Stream, data: Vec<u8>) -> Note {
        let stream = match stream {
            Stream::Stdout => StreamName::Stdout,
            Stream::Stderr => StreamName::Stderr,
        };
        Note::Output { stream, data }
    }

    /// The exit note for a worker that ended with `status` (`None`: unknown).
    pub(crate) fn exit(status: Option<Status>, cpu: Duration) -> Note {
        let (code, signal) = match status {
            Some(Status::Exited(c)) => (Some(c), None),
            Some(Status::Signaled(n)) => (None, Some(n)),
            None => (None, None),
        };
        Note::Exit {
            code,
            signal,
            cpu_us: micros(cpu),
        }
    }

    /// The worker's status an exit note carries.
    pub(crate) fn status(code: Option<i32>, signal: Option<i32>) -> Status {
        match (code, signal) {
            (_, Some(n)) if n > 0 => Status::Signaled(n),
            (Some(c), _) => Status::Exited(c),
            _ => Status::Exited(-1),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One `--exec` job: its argv as text, or base64 (`argv64`) when an argument is not UTF-8;
/// and its own timeout when it has one (`--job-timeout N%`; a remote side that predates the
/// field ignores it, as it ignores every unknown field).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct JobRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv64: Option<Vec<String>>,
    #[serde(rename = "timeoutUs", default, skip_serializing_if = "Option::is_none")]
    timeout_us: Option<u64>,
}

/// A job request as the remote side runs it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ExecJob {
    pub argv: Vec<OsString>,
    /// Instead of the connection's `--job-timeout`.
    pub timeout: Option<Duration>,
}

impl JobRequest {
    /// The request line for `argv`, with its own `timeout` if any (no newline).
    pub(crate) fn line(argv: &[OsString], timeout: Option<Duration>) -> Vec<u8> {
        let text: Option<Vec<String>> = argv.iter().map(|a| a.to_str().map(String::from)).collect();
        let mut req = match text {
            Some(t) => JobRequest {
                argv: Some(t),
                ..JobRequest::default()
            },
            None => JobRequest {
                argv64: Some(
                    argv.iter()
                        .map(|a| B64.encode(a.as_encoded_bytes()))
                        .collect(),
                ),
                ..JobRequest::default()
            },
        };
        // Never rounded down to 0, which would read as "kill at once".
        req.timeout_us = timeout.map(|t| micros(t).max(1));
        serde_json::to_vec(&req).unwrap_or_default()
    }

    /// The job of one request line.
    pub(crate) fn parse(line: &[u8]) -> Result<ExecJob, String> {
        let req: JobRequest =
            serde_json::from_slice(line).map_err(|e| format!("malformed job request: {e}"))?;
        let argv = match (req.argv, req.argv64) {
            (Some(a), _) => a.into_iter().map(OsString::from).collect(),
            (None, Some(a)) => a
                .iter()
                .map(|s| B64.decode(s).map(OsString::from_vec))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "argv64 holds a non-base64 string")?,
            (None, None) => return Err("malformed job request: no argv".into()),
        };
        if argv.is_empty() {
            return Err("empty argv".into());
        }
        Ok(ExecJob {
            argv,
            timeout: req
                .timeout_us
                .filter(|&us| us > 0)
                .map(Duration::from_micros),
        })
    }
}

/// The answer to one `--exec` job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum JobReply {
    /// It could not be started there: the message and its exit code (126, 127, 125).
    NotStarted {
        #[serde(rename = "spawnError")]
        error: String,
        #[serde(default = "failure_code")]
        exit: i32,
    },
    /// It ran.
    Ran(Ran),
}

fn failure_code() -> i32 {
    i32::from(Exit::FAILURE)
}

/// How a job that ran over there ended; the output travels as base64.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Ran {
    pid: i32,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    cancelled: bool,
    #[serde(with = "base64_bytes")]
    stdout: Vec<u8>,
    #[serde(with = "base64_bytes")]
    stderr: Vec<u8>,
    cpu_us: u64,
}

impl JobReply {
    /// A request that could not be run (malformed, or not startable).
    pub(crate) fn not_started(error: String, exit: Exit) -> JobReply {
        JobReply::NotStarted {
            error,
            exit: i32::from(exit.code()),
        }
    }

    /// A job that ran, with the CPU time it used.
    pub(crate) fn ran(a: Attempt, cpu: Duration) -> JobReply {
        let (code, signal) = match a.status {
            Status::Exited(c) => (Some(c), None),
            Status::Signaled(n) => (None, Some(n)),
        };
        JobReply::Ran(Ran {
            pid: a.pid,
            code,
            signal,
            timed_out: a.timed_out,
            cancelled: a.cancelled,
            stdout: a.stdout,
            stderr: a.stderr,
            cpu_us: micros(cpu),
        })
    }

    pub(crate) fn parse(m: &[u8]) -> Result<JobReply, String> {
        let reply: JobReply = serde_json::from_slice(m)
            .map_err(|e| format!("malformed reply from the remote side: {e}"))?;
        if let JobReply::Ran(r) = &reply
            && r.code.is_none()
            && r.signal.is_none()
        {
            return Err("malformed reply from the remote side: no status".into());
        }
        Ok(reply)
    }
}

impl Ran {
    /// The attempt this reply describes, and the CPU time it used over there.
    pub(crate) fn into_attempt(self) -> (Attempt, Duration) {
        let status = match (self.code, self.signal) {
            (_, Some(n)) => Status::Signaled(n),
            (c, None) => Status::Exited(c.unwrap_or(-1)),
        };
        let a = Attempt {
            pid: self.pid,
            status,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            stdout: self.stdout,
            stderr: self.stderr,
        };
        (a, Duration::from_micros(self.cpu_us))
    }
}

/// Bytes as a base64 string (an undecodable one reads as no bytes, as a lost output would).
mod base64_bytes {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        Ok(B64.decode(text.as_bytes()).unwrap_or_default())
    }

    use std::borrow::Cow;
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
        let argv = |line: &[u8]| JobRequest::parse(line).unwrap().argv;
        assert_eq!(argv(&JobRequest::line(&plain, None)), plain);
        let raw = vec![
            OsString::from("printf"),
            OsString::from_vec(vec![0xff, b'a', 0xfe]),
        ];
        assert!(String::from_utf8_lossy(&JobRequest::line(&raw, None)).contains("argv64"));
        assert_eq!(argv(&JobRequest::line(&raw, None)), raw);
        assert!(JobRequest::parse(b"{\"argv\":[]}").is_err());
        assert!(JobRequest::parse(b"nonsense").is_err());
        // Unknown fields are ignored.
        let padded = JobRequest::parse(br#"{"argv":["true"],"pad":"xx"}"#).unwrap();
        assert_eq!(padded.argv, [OsString::from("true")]);
        assert_eq!(padded.timeout, None);
    }

    #[test]
    fn a_job_request_carries_its_own_timeout_only_when_it_has_one() {
        let argv = [OsString::from("true")];
        assert_eq!(JobRequest::line(&argv, None), br#"{"argv":["true"]}"#);
        let line = JobRequest::line(&argv, Some(Duration::from_millis(2400)));
        assert_eq!(line, br#"{"argv":["true"],"timeoutUs":2400000}"#);
        let job = JobRequest::parse(&line).unwrap();
        assert_eq!(job.timeout, Some(Duration::from_millis(2400)));
        let tiny = JobRequest::line(&argv, Some(Duration::from_nanos(10)));
        assert_eq!(
            JobRequest::parse(&tiny).unwrap().timeout,
            Some(Duration::from_micros(1))
        );
        let zero = JobRequest::parse(br#"{"argv":["true"],"timeoutUs":0}"#).unwrap();
        assert_eq!(zero.timeout, None, "0 is no limit, never kill at once");
    }

    #[test]
    fn replies_parse() {
        let r = JobReply::parse(br#"{"pid":7,"code":null,"signal":9,"timedOut":true,"cancelled":false,"stdout":"aGk=","stderr":"","cpuUs":5}"#).unwrap();
        let JobReply::Ran(ran) = r else {
            panic!("not a run: {r:?}");
        };
        let (a, cpu) = ran.into_attempt();
        assert_eq!(a.status, Status::Signaled(9));
        assert!(a.timed_out);
        assert_eq!(a.stdout, b"hi");
        assert_eq!(cpu, Duration::from_micros(5));
        let e = JobReply::parse(br#"{"spawnError":"x: not found","exit":127}"#).unwrap();
        assert!(
            matches!(e, JobReply::NotStarted { ref error, exit: 127 } if error == "x: not found")
        );
        assert!(JobReply::parse(b"{}").is_err());
    }

    #[test]
    fn replies_keep_their_wire_shape() {
        let a = Attempt {
            pid: 3,
            status: Status::Exited(2),
            timed_out: false,
            cancelled: true,
            stdout: b"hi".to_vec(),
            stderr: Vec::new(),
        };
        let line = serde_json::to_string(&JobReply::ran(a, Duration::from_micros(9))).unwrap();
        assert_eq!(
            line,
            r#"{"pid":3,"code":2,"signal":null,"timedOut":false,"cancelled":true,"stdout":"aGk=","stderr":"","cpuUs":9}"#
        );
        let e = JobReply::not_started("nope".into(), Exit::NotFound);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"spawnError":"nope","exit":127}"#
        );
    }

    #[test]
    fn notes_are_internal_messages() {
        let hello = Note::Hello {
            host: "h".into(),
            pid: 4,
        };
        let line = serde_json::to_vec(&hello).unwrap();
        assert_eq!(
            line,
            br#"{"cmd":"NODE_CHILDPROC_HELLO","host":"h","pid":4}"#
        );
        assert!(crate::ipc::is_internal(&line));
        let exit = Note::exit(Some(Status::Signaled(15)), Duration::from_micros(7));
        let line = serde_json::to_vec(&exit).unwrap();
        assert_eq!(
            line,
            br#"{"cmd":"NODE_CHILDPROC_EXIT","code":null,"signal":15,"cpuUs":7}"#
        );
        assert_eq!(serde_json::from_slice::<Note>(&line).unwrap(), exit);
        assert_eq!(Note::status(None, Some(15)), Status::Signaled(15));
        assert_eq!(Note::status(Some(3), None), Status::Exited(3));
        assert_eq!(Note::status(None, None), Status::Exited(-1));
        let out = Note::output(Stream::Stderr, b"hi".to_vec());
        let line = serde_json::to_vec(&out).unwrap();
        assert_eq!(
            line,
            br#"{"cmd":"NODE_CHILDPROC_OUTPUT","stream":"stderr","data":"aGk="}"#
        );
        assert!(crate::ipc::is_internal(&line));
        assert_eq!(serde_json::from_slice::<Note>(&line).unwrap(), out);
    }

    #[test]
    fn task_messages() {
        let req = TaskRequest {
            task: Task::Sum,
            input: "4".into(),
        };
        let line = serde_json::to_vec(&req).unwrap();
        assert_eq!(line, br#"{"task":"sum","input":"4"}"#);
        assert_eq!(TaskReply::answer(&line), TaskReply::Result(10));
        let reply = serde_json::to_vec(&TaskReply::answer(&line)).unwrap();
        assert_eq!(reply, br#"{"result":10}"#);
        assert_eq!(TaskReply::parse(&reply), Ok(b"10".to_vec()));
        assert_eq!(
            TaskReply::answer(br#"{"task":"nope","input":"1"}"#),
            TaskReply::Error("malformed task message".into())
        );
        assert!(
            matches!(TaskReply::answer(b"{"), TaskReply::Error(e) if e.starts_with("malformed task message: "))
        );
        assert_eq!(
            TaskReply::parse(br#"{"error":"bad"}"#),
            Err("bad".to_string())
        );
        assert!(TaskReply::parse(b"[1]").is_err());
    }
}
