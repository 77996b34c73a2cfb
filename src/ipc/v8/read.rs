//! V8's wire format (versions 13–16) to a [`Value`] tree.
//!
//! Every length is checked against what is left before anything is allocated, nesting is
//! bounded, and an unknown tag is an error: a hostile or truncated frame is reported, never a
//! crash or a hang.

use std::collections::HashSet;

use super::V8Error;
use super::value::{BigInt, ErrorName, ErrorValue, Kind, Obj, Value, ViewType};

/// How deeply values may nest: a deeper frame is refused rather than overflowing the stack of
/// the thread that decodes it (a 2 MiB thread holds 256 levels with room to spare, even in a
/// debug build).
pub const MAX_DEPTH: usize = 256;

/// Decode one payload (`FF` version value). Labels survive only on objects something refers
/// back to.
pub fn decode(payload: &[u8]) -> Result<Value, V8Error> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
        next_id: 0,
        alias: Vec::new(),
        referenced: HashSet::new(),
    };
    r.header()?;
    let mut v = r.value(0)?;
    if r.pos != r.buf.len() {
        return Err(V8Error::Trailing(r.buf.len() - r.pos));
    }
    keep_referenced(&mut v, &r.referenced);
    Ok(v)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    next_id: u32,
    /// Wire ids of Node's "other" host objects, which stand for the value they wrap.
    alias: Vec<(u32, u32)>,
    referenced: HashSet<u32>,
}

impl Reader<'_> {
    fn header(&mut self) -> Result<(), V8Error> {
        if self.byte()? != 0xFF {
            return Err(V8Error::NoHeader);
        }
        match self.varint()? {
            v @ 13..=16 => {
                let _ = v;
                Ok(())
            }
            v => Err(V8Error::Version(v)),
        }
    }

    fn byte(&mut self) -> Result<u8, V8Error> {
        let b = *self.buf.get(self.pos).ok_or(V8Error::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], V8Error> {
        let end = self.pos.checked_add(n).ok_or(V8Error::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(V8Error::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Unsigned LEB128 of at most 32 bits.
    fn varint(&mut self) -> Result<u32, V8Error> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| V8Error::Varint);
            }
        }
        Err(V8Error::Varint)
    }

    fn double(&mut self) -> Result<f64, V8Error> {
        let b = self.bytes(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// The next tag, past V8's alignment padding and object-count hints.
    fn tag(&mut self) -> Result<u8, V8Error> {
        loop {
            match self.byte()? {
                0 => continue,
                b'?' => {
                    self.varint()?;
                }
                t => return Ok(t),
            }
        }
    }

    fn peek_tag(&mut self) -> Result<u8, V8Error> {
        let save = self.pos;
        let t = self.tag();
        self.pos = save;
        t
    }

    fn new_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn value(&mut self, depth: usize) -> Result<Value, V8Error> {
        if depth > MAX_DEPTH {
            return Err(V8Error::TooDeep);
        }
        let at = self.pos;
        let tag = self.tag()?;
        Ok(match tag {
            b'_' => Value::Undefined,
            b'0' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'I' => {
                let z = self.varint()?;
                Value::Number(f64::from(((z >> 1) as i32) ^ -((z & 1) as i32)))
            }
            b'U' => Value::Number(f64::from(self.varint()?)),
            b'N' => Value::Number(self.double()?),
            b'Z' => Value::BigInt(self.bigint()?),
            b'"' | b'c' | b'S' => Value::String(self.string_body(tag)?),
            b'^' => self.reference()?,
            _ => return self.object(tag, depth, at),
        })
    }

    fn reference(&mut self) -> Result<Value, V8Error> {
        let id = self.varint()?;
        if id >= self.next_id {
            return Err(V8Error::Reference(id));
        }
        let id = self
            .alias
            .iter()
            .find(|(outer, _)| *outer == id)
            .map_or(id, |(_, inner)| *inner);
        self.referenced.insert(id);
        Ok(Value::Ref(id))
    }

    fn bigint(&mut self) -> Result<BigInt, V8Error> {
        let bitfield = self.varint()?;
        let len = (bitfield >> 1) as usize;
        let bytes = self.bytes(len)?;
        let mut digits: Vec<u64> = bytes
            .chunks(8)
            .map(|c| {
                let mut d = [0u8; 8];
                d[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(d)
            })
            .collect();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        Ok(BigInt {
            negative: bitfield & 1 == 1 && !digits.is_empty(),
            digits,
        })
    }

    /// A string whose tag has been read.
    fn string_body(&mut self, tag: u8) -> Result<Vec<u16>, V8Error> {
        let len = self.varint()? as usize;
        let raw = self.bytes(len)?;
        Ok(match tag {
            b'"' => raw.iter().map(|&b| u16::from(b)).collect(),
            b'c' => {
                if !len.is_multiple_of(2) {
                    return Err(V8Error::Invalid("a two-byte string of odd length".into()));
                }
                raw.chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect()
            }
            _ => String::from_utf8_lossy(raw).encode_utf16().collect(),
        })
    }

    /// A tagged string (RegExp sources, error messages).
    fn string(&mut self) -> Result<Vec<u16>, V8Error> {
        let at = self.pos;
        match self.tag()? {
            t @ (b'"' | b'c' | b'S') => self.string_body(t),
            t => Err(V8Error::Unexpected(t, at)),
        }
    }

    fn object(&mut self, tag: u8, depth: usize, at: usize) -> Result<Value, V8Error> {
        if tag == b'\\' {
            return self.host_object(depth);
        }
        let id = self.new_id();
        let d = depth + 1;
        let kind = match tag {
            b'o' => Kind::Plain(self.properties(b'{', d)?.0),
            b'A' => self.dense_array(d)?,
            b'a' => self.sparse_array(d)?,
            b'D' => Kind::Date(self.double()?),
            b'y' => Kind::Boxed(Box::new(Value::Bool(true))),
            b'x' => Kind::Boxed(Box::new(Value::Bool(false))),
            b'n' => Kind::Boxed(Box::new(Value::Number(self.double()?))),
            b'z' => Kind::Boxed(Box::new(Value::BigInt(self.bigint()?))),
            b's' => Kind::Boxed(Box::new(Value::String(self.string()?))),
            b'R' => Kind::RegExp {
                source: self.string()?,
                flags: self.varint()?,
            },
            b';' => self.map(d)?,
            b'\'' => self.set(d)?,
            b'B' => {
                let n = self.varint()? as usize;
                Kind::ArrayBuffer(self.bytes(n)?.to_vec())
            }
            b'~' => {
                let n = self.varint()? as usize;
                let _max = self.varint()?;
                Kind::ArrayBuffer(self.bytes(n)?.to_vec())
            }
            b'r' => Kind::Error(self.error(d)?),
            t => return Err(V8Error::Unexpected(t, at)),
        };
        Ok(Value::Obj(Obj {
            label: Some(id),
            kind,
        }))
    }

    /// Node's host objects: 0 = a Buffer, typed array or DataView; 1 = a plain copy of
    /// something else, which stands for itself.
    fn host_object(&mut self, depth: usize) -> Result<Value, V8Error> {
        let id = self.new_id();
        match self.varint()? {
            0 => {
                let view = ViewType(self.varint()?);
                let name = view.name().ok_or(V8Error::Invalid(format!(
                    "unknown typed-array type {}",
                    view.0
                )))?;
                let n = self.varint()? as usize;
                if !n.is_multiple_of(view.element_size()) {
                    return Err(V8Error::Invalid(format!("{name} of {n} bytes")));
                }
                let bytes = self.bytes(n)?.to_vec();
                Ok(Value::Obj(Obj {
                    label: Some(id),
                    kind: Kind::View { view, bytes },
                }))
            }
            1 => {
                let inner_id = self.next_id;
                let v = self.value(depth + 1)?;
                self.alias.push((id, inner_id));
                Ok(v)
            }
            k => Err(V8Error::Invalid(format!("unknown host object kind {k}"))),
        }
    }

    /// Key/value pairs up to `end`, then the count V8 writes after it; returns the pairs and
    /// the varint that followed the count (array lengths), if the caller wants it.
    fn properties(&mut self, end: u8, depth: usize) -> Result<(Vec<(Value, Value)>, u32), V8Error> {
        let mut props = Vec::new();
        loop {
            if self.peek_tag()? == end {
                self.tag()?;
                let n = self.varint()?;
                if n as usize != props.len() {
                    return Err(V8Error::Invalid(format!(
                        "{} properties where {n} were announced",
                        props.len()
                    )));
                }
                return Ok((props, n));
            }
            let key = self.value(depth)?;
            if !matches!(key, Value::String(_) | Value::Number(_)) {
                return Err(V8Error::Invalid(
                    "a property key that is not a string or number".into(),
                ));
            }
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }

    fn dense_array(&mut self, depth: usize) -> Result<Kind, V8Error> {
        let length = self.varint()?;
        if length as usize > self.buf.len() - self.pos {
            return Err(V8Error::Truncated);
        }
        let mut elements = Vec::with_capacity(length as usize);
        for _ in 0..length {
            if self.peek_tag()? == b'-' {
                self.tag()?;
                elements.push(None);
            } else {
                elements.push(Some(self.value(depth)?));
            }
        }
        let (props, _) = self.properties(b'$', depth)?;
        self.array_end(length)?;
        Ok(Kind::Array {
            dense: true,
            length,
            elements,
            props,
        })
    }

    fn sparse_array(&mut self, depth: usize) -> Result<Kind, V8Error> {
        let length = self.varint()?;
        let (props, _) = self.properties(b'@', depth)?;
        self.array_end(length)?;
        Ok(Kind::Array {
            dense: false,
            length,
            elements: Vec::new(),
            props,
        })
    }

    /// The length repeated after an array's property count.
    fn array_end(&mut self, length: u32) -> Result<(), V8Error> {
        match self.varint()? {
            n if n == length => Ok(()),
            n => Err(V8Error::Invalid(format!(
                "array of length {length} ends with {n}"
            ))),
        }
    }

    fn map(&mut self, depth: usize) -> Result<Kind, V8Error> {
        let mut entries = Vec::new();
        while self.peek_tag()? != b':' {
            let k = self.value(depth)?;
            let v = self.value(depth)?;
            entries.push((k, v));
        }
        self.tag()?;
        if self.varint()? as usize != entries.len() * 2 {
            return Err(V8Error::Invalid("a Map whose length does not match".into()));
        }
        Ok(Kind::Map(entries))
    }

    fn set(&mut self, depth: usize) -> Result<Kind, V8Error> {
        let mut values = Vec::new();
        while self.peek_tag()? != b',' {
            values.push(self.value(depth)?);
        }
        self.tag()?;
        if self.varint()? as usize != values.len() {
            return Err(V8Error::Invalid("a Set whose length does not match".into()));
        }
        Ok(Kind::Set(values))
    }

    fn error(&mut self, depth: usize) -> Result<ErrorValue, V8Error> {
        let mut e = ErrorValue {
            name: ErrorName::Error,
            message: None,
            stack: None,
            cause: None,
        };
        loop {
            let at = self.pos;
            match self.byte()? {
                b'm' => e.message = Some(self.string()?),
                b's' => e.stack = Some(self.string()?),
                b'c' => e.cause = Some(Box::new(self.value(depth)?)),
                b'.' => return Ok(e),
                t => match ErrorName::from_tag(t) {
                    Some(name) => e.name = name,
                    None => return Err(V8Error::Unexpected(t, at)),
                },
            }
        }
    }
}

/// Drop the labels nothing refers to, so the JSON form marks only shared objects.
fn keep_referenced(v: &mut Value, referenced: &HashSet<u32>) {
    let Value::Obj(obj) = v else { return };
    if obj.label.is_some_and(|l| !referenced.contains(&l)) {
        obj.label = None;
    }
    let mut visit = |v: &mut Value| keep_referenced(v, referenced);
    match &mut obj.kind {
        Kind::Plain(props) | Kind::Map(props) => props.iter_mut().for_each(|(k, v)| {
            visit(k);
            visit(v);
        }),
        Kind::Array {
            elements, props, ..
        } => {
            elements.iter_mut().flatten().for_each(&mut visit);
            props.iter_mut().for_each(|(_, v)| visit(v));
        }
        Kind::Set(values) => values.iter_mut().for_each(visit),
        Kind::Boxed(inner) => visit(inner),
        Kind::Error(e) => {
            if let Some(c) = &mut e.cause {
                visit(c);
            }
        }
        Kind::Date(_) | Kind::RegExp { .. } | Kind::ArrayBuffer(_) | Kind::View { .. } => {}
    }
}
