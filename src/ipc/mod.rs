//! The Node.js-compatible IPC channel (`json` and `advanced` serialization), as observed with
//! real Node 20 (the tests run against it): an `AF_UNIX` stream socketpair carrying one JSON
//! value per line, or length-framed V8 values (`v8`).
//!
//! - `frame`: the line decoder, the validating compactor, the `NODE_` test, the encoder.
//! - `channel`: the socketpair, adopting `NODE_CHANNEL_FD` in a child, buffered reader/writer.
//! - `fds`: descriptors sent with messages (`recvmsg`, the queue, `NODE_HANDLE` envelopes).
//! - `serve`: the request/response loops of our child roles (json and advanced).
//! - `v8`: the `advanced` serialization: V8's wire format and its lossless JSON form.
//!
//! Framing decisions:
//! - A message is one line of JSON text ending in `\n`; a `\r` before it is tolerated, blank
//!   lines (JSON whitespace only: [`is_blank`]) are ignored, and there is no length limit (Node
//!   delivers 500 MB lines).
//! - Lines are validated and compacted byte by byte, never through a `serde_json::Value`, so
//!   string contents — escapes included — pass through exactly as the peer wrote them. In
//!   particular unpaired UTF-16 surrogate escapes such as `"\ud800"`, which Node's
//!   `JSON.stringify` produces and serde_json refuses to decode into a `String`, are accepted
//!   and carried verbatim.
//! - We never write an empty or invalid line: Node's reader dies on one, losing the messages
//!   around it. What we send comes from `compact` (validated) or `encode` (serde_json), and the
//!   writer refuses empty lines and lines with a raw newline.
//! - A malformed line from a peer is reported and skipped, never fatal. Invalid UTF-8 is not
//!   malformed by itself: it is replaced with U+FFFD first, as a Node reader decodes the channel.
//! - An object whose top-level `cmd` is a string longer than 5 characters starting with `NODE_`
//!   (escapes decoded, as `JSON.parse` would) is Node's own traffic: never a user message. We
//!   never use the prefix for our own commands.

mod channel;
mod fds;
mod frame;
mod serve;
pub mod v8;

pub use channel::{
    CHANNEL_FD_ENV, CHILD_FD, ChannelError, MessageReader, MessageWriter, SERIALIZATION_ENV, SPIN,
    Serialization, SpinReader, child_env, child_env_for, from_env, from_env_any, socketpair,
    spin_read,
};
pub use fds::{
    FdQueue, FdReader, HANDLE_ACK, HANDLE_NACK, HandleMessage, MAX_FDS_PER_READ, handle_message,
    recv_with_fds, send_with_fd,
};
pub use frame::{
    FrameError, Incoming, LineDecoder, classify, compact, compact_lossy, encode, encode_into,
    is_blank, is_internal, parse_json_message,
};
pub use serve::{serve, serve_frames};
