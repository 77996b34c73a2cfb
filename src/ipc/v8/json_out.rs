//! A [`Value`] as one line of JSON: plain JSON where JSON can say it, the tagged form
//! (see the module docs of `v8`) for the rest.

use base64::Engine;

use super::TAG;
use super::value::{BigInt, ErrorValue, Kind, Value};

/// Append `v` as compact JSON to `out`.
pub fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Undefined => tagged(out, "undefined", |_| {}),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(*n, out),
        Value::BigInt(b) => tagged(out, "bigint", |out| {
            field(out, "value");
            string_utf8(&bigint_decimal(b), out);
        }),
        Value::String(s) => string(s, out),
        Value::Ref(id) => tagged(out, "ref", |out| {
            field(out, "id");
            out.extend_from_slice(id.to_string().as_bytes());
        }),
        Value::Obj(obj) => match obj.label {
            Some(id) => tagged(out, "def", |out| {
                field(out, "id");
                out.extend_from_slice(id.to_string().as_bytes());
                field(out, "value");
                kind(&obj.kind, out);
            }),
            None => kind(&obj.kind, out),
        },
    }
}

/// `{"$v8":"NAME"` + the fields `body` writes + `}`.
fn tagged(out: &mut Vec<u8>, name: &str, body: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(TAG.as_bytes());
    out.extend_from_slice(b"\":");
    string_utf8(name, out);
    body(out);
    out.push(b'}');
}

/// `,"NAME":` inside a tagged object.
fn field(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    string_utf8(name, out);
    out.push(b':');
}

fn kind(k: &Kind, out: &mut Vec<u8>) {
    match k {
        Kind::Plain(props) => plain_object(props, out),
        Kind::Array {
            dense,
            length,
            elements,
            props,
        } => array(*dense, *length, elements, props, out),
        Kind::Date(ms) => tagged(out, "date", |out| {
            field(out, "value");
            number(*ms, out);
        }),
        Kind::RegExp { source, flags } => tagged(out, "regexp", |out| {
            field(out, "source");
            string(source, out);
            field(out, "flags");
            string_utf8(&super::regexp_flags(*flags), out);
        }),
        Kind::Map(entries) => tagged(out, "map", |out| {
            field(out, "entries");
            pairs(entries, out);
        }),
        Kind::Set(values) => tagged(out, "set", |out| {
            field(out, "values");
            list(values, out);
        }),
        Kind::Boxed(inner) => tagged(out, "boxed", |out| {
            field(out, "value");
            write(inner, out);
        }),
        Kind::ArrayBuffer(bytes) => binary("ArrayBuffer", bytes, out),
        Kind::View { view, bytes } => binary(view.name().unwrap_or("Uint8Array"), bytes, out),
        Kind::Error(e) => error(e, out),
    }
}

/// A plain object is a JSON object, unless one of its keys is the tag itself (then the
/// entries are listed, so that key cannot be mistaken for a tag).
fn plain_object(props: &[(Value, Value)], out: &mut Vec<u8>) {
    let tag: Vec<u16> = TAG.encode_utf16().collect();
    if props
        .iter()
        .any(|(k, _)| matches!(k, Value::String(s) if *s == tag))
    {
        return tagged(out, "object", |out| {
            field(out, "entries");
            property_pairs(props, out);
        });
    }
    out.push(b'{');
    for (i, (k, v)) in props.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        key(k, out);
        out.push(b':');
        write(v, out);
    }
    out.push(b'}');
}

/// A dense array without holes or extra properties is a JSON array; any other is tagged.
fn array(
    dense: bool,
    length: u32,
    elements: &[Option<Value>],
    props: &[(Value, Value)],
    out: &mut Vec<u8>,
) {
    if dense && props.is_empty() && elements.iter().all(Option::is_some) {
        return list(elements.iter().flatten(), out);
    }
    tagged(out, "array", |out| {
        field(out, "length");
        out.extend_from_slice(length.to_string().as_bytes());
        if dense {
            field(out, "items");
            out.push(b'[');
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match e {
                    Some(v) => write(v, out),
                    None => tagged(out, "hole", |_| {}),
                }
            }
            out.push(b']');
        }
        field(out, "entries");
        property_pairs(props, out);
    });
}

fn binary(name: &str, bytes: &[u8], out: &mut Vec<u8>) {
    tagged(out, name, |out| {
        field(out, "base64");
        string_utf8(
            &base64::engine::general_purpose::STANDARD.encode(bytes),
            out,
        );
    });
}

fn error(e: &ErrorValue, out: &mut Vec<u8>) {
    tagged(out, "error", |out| {
        field(out, "name");
        string_utf8(e.name.name(), out);
        if let Some(m) = &e.message {
            field(out, "message");
            string(m, out);
        }
        if let Some(s) = &e.stack {
            field(out, "stack");
            string(s, out);
        }
        if let Some(c) = &e.cause {
            field(out, "cause");
            write(c, out);
        }
    });
}

fn list<'a>(values: impl IntoIterator<Item = &'a Value>, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(v, out);
    }
    out.push(b']');
}

/// `[[key, value], …]` (a Map's keys are values of their own).
fn pairs(entries: &[(Value, Value)], out: &mut Vec<u8>) {
    pairs_with(entries, out, write);
}

/// Property entries: keys as JavaScript sees them, strings (`1` is `"1"`).
fn property_pairs(props: &[(Value, Value)], out: &mut Vec<u8>) {
    pairs_with(props, out, key);
}

fn pairs_with(entries: &[(Value, Value)], out: &mut Vec<u8>, key: fn(&Value, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        key(k, out);
        out.push(b',');
        write(v, out);
        out.push(b']');
    }
    out.push(b']');
}

fn key(k: &Value, out: &mut Vec<u8>) {
    match k {
        Value::String(s) => string(s, out),
        Value::Number(n) => string_utf8(&key_of_number(*n), out),
        _ => string_utf8("", out),
    }
}

/// A finite number as JavaScript prints it in JSON; NaN, ±Infinity and -0 tagged.
fn number(n: f64, out: &mut Vec<u8>) {
    let special = if n.is_nan() {
        Some("NaN")
    } else if n.is_infinite() {
        Some(if n > 0.0 { "Infinity" } else { "-Infinity" })
    } else if n == 0.0 && n.is_sign_negative() {
        Some("-0")
    } else {
        None
    };
    match special {
        Some(s) => tagged(out, "number", |out| {
            field(out, "value");
            string_utf8(s, out);
        }),
        None => out.extend_from_slice(number_text(n).as_bytes()),
    }
}

/// Integers without a fraction (`3`, not `3.0`), others in their shortest round-trip form.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        serde_json::Number::from_f64(n).map_or_else(|| "0".into(), |x| x.to_string())
    }
}

/// A numeric property key as JavaScript spells it (`1`, `1.5`).
fn key_of_number(n: f64) -> String {
    if n.is_finite() {
        number_text(n)
    } else {
        format!("{n}")
    }
}

/// A JSON string from UTF-16 units: pairs become UTF-8, lone surrogates `\uXXXX` escapes (as
/// `JSON.stringify` writes them).
fn string(s: &[u16], out: &mut Vec<u8>) {
    out.push(b'"');
    for r in char::decode_utf16(s.iter().copied()) {
        match r {
            Ok(c) => escape_char(c, out),
            Err(e) => {
                out.extend_from_slice(format!("\\u{:04x}", e.unpaired_surrogate()).as_bytes())
            }
        }
    }
    out.push(b'"');
}

fn string_utf8(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    s.chars().for_each(|c| escape_char(c, out));
    out.push(b'"');
}

fn escape_char(c: char, out: &mut Vec<u8>) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
        c => {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
}

/// The decimal digits of a BigInt (magnitude in 64-bit little-endian digits).
pub fn bigint_decimal(b: &BigInt) -> String {
    const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19, the largest power of 10 in a u64
    let mut digits = b.digits.clone();
    let mut parts = Vec::new();
    while digits.iter().any(|&d| d != 0) {
        let mut rem: u128 = 0;
        for d in digits.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*d);
            *d = (cur / u128::from(CHUNK)) as u64;
            rem = cur % u128::from(CHUNK);
        }
        parts.push(rem as u64);
    }
    let mut s = String::from(if b.negative { "-" } else { "" });
    match parts.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&top.to_string());
            for p in rest.iter().rev() {
                s.push_str(&format!("{p:019}"));
            }
        }
    }
    s
}
