//! Node's `advanced` serialization: V8's structured-clone wire format, framed by a 4-byte
//! big-endian length, and its lossless JSON form for childproc's own stdin and stdout.
//!
//! On the channel a message is `len:u32be` + `FF <version varint> <value>`; we write version 15
//! (Node 20) and read 13–16. Node's own host objects (Buffers and typed arrays) are tag `\`
//! then 0, the type index, the byte length and the bytes.
//!
//! ## The JSON form
//! A value JSON can carry is plain JSON: `null`, booleans, finite numbers, strings (lone
//! surrogates as `\uXXXX` escapes, as `JSON.stringify` writes them), dense arrays and plain
//! objects. Everything else is an object whose key `"$v8"` names what it is:
//!
//! | value | JSON |
//! |---|---|
//! | `undefined` | `{"$v8":"undefined"}` |
//! | `NaN`, `Infinity`, `-Infinity`, `-0` | `{"$v8":"number","value":"NaN"}` … |
//! | `12n` | `{"$v8":"bigint","value":"12"}` |
//! | `new Date(5)` | `{"$v8":"date","value":5}` |
//! | `/a+/gi` | `{"$v8":"regexp","source":"a+","flags":"gi"}` |
//! | `new Map([[k, v]])` | `{"$v8":"map","entries":[[k,v]]}` |
//! | `new Set([v])` | `{"$v8":"set","values":[v]}` |
//! | `Buffer.from([1])`, typed arrays, DataView | `{"$v8":"Buffer","base64":"AQ=="}` (the type's name) |
//! | `new ArrayBuffer(2)` | `{"$v8":"ArrayBuffer","base64":"AAA="}` |
//! | `Object(1)`, `Object('s')`, … | `{"$v8":"boxed","value":1}` |
//! | an `Error` | `{"$v8":"error","name":"TypeError","message":…,"stack":…,"cause":…}` |
//! | an array with holes or extra properties | `{"$v8":"array","length":n,"items":[…, {"$v8":"hole"}],"entries":[[key,value]]}` (sparse arrays: no `items`) |
//! | an object with a `"$v8"` key of its own | `{"$v8":"object","entries":[[key,value]]}` |
//! | an object referred to again (shared or cyclic) | `{"$v8":"def","id":n,"value":…}` where it first appears, `{"$v8":"ref","id":n}` after |
//!
//! Every value round-trips: what a Node peer sends is printed in this form, and the printed
//! line sent back is the same value again (`assert.deepStrictEqual` holds).

mod json_in;
mod json_out;
mod read;
mod value;
mod write;

pub use value::{Kind, Obj, Value};

/// The key that marks a tagged value in the JSON form.
pub const TAG: &str = "$v8";

/// The largest payload Node can frame: it reads the length as a signed 32-bit number.
pub const MAX_FRAME: usize = (1 << 31) - 1;

/// Why a frame or a JSON line could not be converted. Each is reported in one line; none is
/// fatal to the channel unless the framing itself is lost.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum V8Error {
    #[error("the frame ends in the middle of a value")]
    Truncated,
    #[error("the frame does not start with a V8 header")]
    NoHeader,
    #[error("V8 format version {0} (childproc reads 13 to 16)")]
    Version(u32),
    #[error("a malformed varint")]
    Varint,
    #[error("unexpected tag {tag} at byte {at}", tag = describe(*.0), at = .1)]
    Unexpected(u8, usize),
    #[error("a reference to object {0}, which does not exist (yet)")]
    Reference(u32),
    #[error("nested more than {} levels deep", read::MAX_DEPTH)]
    TooDeep,
    #[error("{0} bytes after the value")]
    Trailing(usize),
    #[error("too large for one V8 frame (2^31 bytes or more)")]
    TooLarge,
    #[error("{0}")]
    Invalid(String),
    /// A JSON line that is not JSON, or not a value of the JSON form.
    #[error("{0}")]
    Json(String),
}

fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// A frame's payload (without its length) as one line of JSON, no newline.
pub fn payload_to_json(payload: &[u8]) -> Result<Vec<u8>, V8Error> {
    let v = read::decode(payload)?;
    let mut out = Vec::with_capacity(payload.len() + 16);
    json_out::write(&v, &mut out);
    Ok(out)
}

/// One line of JSON (plain or tagged) as a whole frame: length and payload.
pub fn json_to_frame(json: &[u8]) -> Result<Vec<u8>, V8Error> {
    value_to_frame(&json_in::parse(json)?)
}

/// A value as a whole frame.
pub fn value_to_frame(v: &Value) -> Result<Vec<u8>, V8Error> {
    let payload = write::encode(v)?;
    if payload.len() > MAX_FRAME {
        return Err(V8Error::TooLarge);
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// The value a frame's payload holds.
pub fn decode(payload: &[u8]) -> Result<Value, V8Error> {
    read::decode(payload)
}

/// Parse one JSON line (plain or tagged).
pub fn parse_json(json: &[u8]) -> Result<Value, V8Error> {
    json_in::parse(json)
}

/// A value in the JSON form (one line, no newline).
pub fn to_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    json_out::write(v, &mut out);
    out
}

/// The property `key` of a plain object.
pub fn property<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let Value::Obj(Obj {
        kind: Kind::Plain(props),
        ..
    }) = v
    else {
        return None;
    };
    let key: Vec<u16> = key.encode_utf16().collect();
    props
        .iter()
        .find(|(k, _)| matches!(k, Value::String(s) if *s == key))
        .map(|(_, v)| v)
}

/// A string value as Rust text (lone surrogates replaced).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf16_lossy(s)),
        _ => None,
    }
}

/// Node's own traffic: an object whose `cmd` is a string longer than 5 characters starting
/// with `NODE_` (the same rule as the json channel's). Returns that `cmd`.
pub fn internal_cmd(v: &Value) -> Option<String> {
    let cmd = text(property(v, "cmd")?)?;
    (cmd.len() > 5 && cmd.starts_with("NODE_")).then_some(cmd)
}

/// A whole frame for `{cmd: CMD}` (Node's ACK/NACK and the like).
pub fn command_frame(cmd: &str) -> Vec<u8> {
    let v = Value::Obj(Obj {
        label: None,
        kind: Kind::Plain(vec![(
            Value::String(value::utf16("cmd")),
            Value::String(value::utf16(cmd)),
        )]),
    });
    value_to_frame(&v).expect("a small frame")
}

/// Splits a byte stream into frames.
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        // Drop what was handed out (only the unfinished frame's bytes move).
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole payload. An announced length of 2^31 or more is an error after which
    /// the stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Option<Result<&[u8], V8Error>> {
        let rest = &self.buf[self.start..];
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            return Some(Err(V8Error::TooLarge));
        }
        if rest.len() < 4 + len {
            return None;
        }
        let at = self.start + 4;
        self.start = at + len;
        Some(Ok(&self.buf[at..at + len]))
    }

    /// Bytes of an unfinished frame are waiting.
    pub fn has_partial(&self) -> bool {
        self.start < self.buf.len()
    }
}

/// RegExp flag bits as V8 numbers them, with their letters in the order `flags` shows them.
const REGEXP_FLAGS: [(u32, char); 9] = [
    (128, 'd'),
    (1, 'g'),
    (2, 'i'),
    (64, 'l'),
    (4, 'm'),
    (32, 's'),
    (16, 'u'),
    (256, 'v'),
    (8, 'y'),
];

fn regexp_flags(bits: u32) -> String {
    REGEXP_FLAGS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn regexp_bits(flags: &str) -> Result<u32, V8Error> {
    flags.chars().try_fold(0, |bits, c| {
        REGEXP_FLAGS
            .iter()
            .find(|(_, f)| *f == c)
            .map(|(b, _)| bits | b)
            .ok_or_else(|| V8Error::Json(format!("unknown RegExp flag '{c}'")))
    })
}

#[cfg(test)]
mod tests;
