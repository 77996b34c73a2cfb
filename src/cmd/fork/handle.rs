//! Sending the child a handle (`--listen` + `--send-server`), as Node's `child.send(msg,
//! server)` does: the `NODE_HANDLE` envelope and the descriptor on one `sendmsg`, every later
//! message held back until the child answers, at most 3 retransmissions on NACK.

use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Activity;
use super::outbox::Outbox;
use crate::error_line;
use crate::ipc::{self, Serialization};

/// How long a child may take to acknowledge a handle before the rest is sent anyway. Node
/// waits forever; a child that does not speak handles (a shell script) would then never get
/// another message.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// Node gives up after this many NACKs.
const MAX_RETRANSMISSIONS: u32 = 3;

/// The envelope for `msg` (JSON, or the tagged JSON form in advanced mode) carrying a handle
/// of `kind`, as one whole message of the channel; `Err` when `msg` cannot be sent.
pub(super) fn envelope(msg: &str, kind: &str, ser: Serialization) -> Result<Vec<u8>, String> {
    let line = format!(r#"{{"cmd":"NODE_HANDLE","type":"{kind}","msg":{msg}}}"#);
    match ser {
        Serialization::Json => {
            let mut v = ipc::compact(line.as_bytes())
                .map_err(|e| e.to_string())?
                .into_owned();
            v.push(b'\n');
            Ok(v)
        }
        Serialization::Advanced => {
            ipc::v8::json_to_frame(line.as_bytes()).map_err(|e| e.to_string())
        }
    }
}

/// Send `envelope` with `fd` and wait for the child's answer; false when the channel closed.
pub(super) fn send(
    outbox: &Outbox,
    activity: &Activity,
    envelope: &[u8],
    fd: BorrowedFd<'_>,
) -> bool {
    for attempt in 0..=MAX_RETRANSMISSIONS {
        let (acks, nacks) = (answers(activity, true), answers(activity, false));
        if outbox.write_with_fd(envelope, fd).is_err() {
            return false;
        }
        let t = Instant::now();
        loop {
            if answers(activity, true) > acks {
                return true;
            }
            if answers(activity, false) > nacks {
                break;
            }
            if activity.closed.load(Ordering::SeqCst) {
                return false;
            }
            if t.elapsed() >= ANSWER_WAIT {
                error_line(&format!(
                    "the child did not acknowledge the server handle within {}s; sending the \
                     rest anyway",
                    ANSWER_WAIT.as_secs()
                ));
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if attempt == MAX_RETRANSMISSIONS {
            error_line(&format!(
                "the child refused the server handle {} times (NODE_HANDLE_NACK); gave up on it",
                MAX_RETRANSMISSIONS + 1
            ));
        }
    }
    true
}

fn answers(activity: &Activity, ack: bool) -> u64 {
    if ack {
        activity.acks.load(Ordering::SeqCst)
    } else {
        activity.nacks.load(Ordering::SeqCst)
    }
}
