//! The reader of an `advanced` channel: length-prefixed V8 frames from the child, each printed
//! on stdout in the JSON form (`ipc::v8`), handle envelopes answered as on a json channel.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;

use super::{Activity, CHUNK, Outbox, Printer, answer_handle, check_fds};
use crate::error_line;
use crate::ipc::{self, FdQueue, FdReader, Serialization, v8};

/// Print every user message from the child, in order, until the channel closes.
pub(super) fn relay_from_child(stream: &UnixStream, activity: &Activity, outbox: &Outbox) {
    let mut p = Printer {
        out: std::io::BufWriter::with_capacity(CHUNK, std::io::stdout().lock()),
        ok: true,
        activity,
    };
    let mut reader = FdReader::new(stream);
    let mut frames = v8::FrameDecoder::new();
    let mut buf = vec![0u8; CHUNK];
    let mut frame_no = 0u64;
    'read: loop {
        let mut messages = 0u64;
        while let Some(frame) = frames.next_frame() {
            let Ok(payload) = frame else {
                error_line(
                    "the child announced a message of 2 GiB or more, which Node cannot send; \
                     the channel's framing is lost, stopped reading it",
                );
                break 'read;
            };
            frame_no += 1;
            let printed = deliver(payload, frame_no, &mut reader.fds, &mut p, outbox);
            messages += u64::from(printed);
        }
        activity.messages.fetch_add(messages, Ordering::SeqCst);
        activity
            .partial
            .store(frames.has_partial(), Ordering::SeqCst);
        p.flush();
        check_fds(&mut reader.fds);
        activity.waiting.store(true, Ordering::SeqCst);
        let n = reader.read(&mut buf);
        activity.waiting.store(false, Ordering::SeqCst);
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                activity.bytes.fetch_add(n as u64, Ordering::SeqCst);
                frames.push(&buf[..n]);
            }
        }
    }
    finish(frames.has_partial(), &mut reader.fds, activity);
    p.flush();
}

/// Print one frame if it is a user message (true); answer a handle envelope; report a frame
/// that does not decode.
fn deliver(
    payload: &[u8],
    frame_no: u64,
    fds: &mut FdQueue,
    p: &mut Printer,
    outbox: &Outbox,
) -> bool {
    let v = match v8::decode(payload) {
        Ok(v) => v,
        Err(e) => {
            error_line(&format!(
                "the child sent a malformed message (message {frame_no}), skipped: {e}"
            ));
            return false;
        }
    };
    match v8::internal_cmd(&v).as_deref() {
        None => {
            p.print(&v8::to_json(&v));
            true
        }
        Some("NODE_HANDLE") => {
            // Delivered only with its descriptor, as Node does (without one: NACK, resent).
            let msg = v8::property(&v, "msg")
                .filter(|m| !fds.is_empty() && v8::internal_cmd(m).is_none());
            if let Some(m) = msg {
                p.print(&v8::to_json(m));
            }
            let kind = v8::property(&v, "type").and_then(v8::text);
            answer_handle(fds, kind, frame_no, outbox, Serialization::Advanced);
            msg.is_some()
        }
        Some(cmd) => {
            match cmd {
                "NODE_HANDLE_ACK" => p.answer(ipc::HANDLE_ACK),
                "NODE_HANDLE_NACK" => p.answer(ipc::HANDLE_NACK),
                _ => {}
            }
            false
        }
    }
}

/// The channel closed: say what was cut short or left over.
fn finish(partial: bool, fds: &mut FdQueue, activity: &Activity) {
    if partial && activity.out_failed.load(Ordering::SeqCst) == 0 {
        error_line(
            "the child closed the channel in the middle of a message; the partial message was dropped",
        );
    }
    let left = fds.close_all();
    if left > 0 {
        error_line(&format!(
            "the child sent {left} descriptor(s) without a handle message; closed them"
        ));
    }
}
