//! A [`Value`] tree to V8's wire format, version 15 (what Node 20 writes), laid out the way
//! V8's own serializer lays it out, so a Node reader sees exactly what a Node writer would
//! have sent.

use std::collections::HashMap;

use super::V8Error;
use super::read::MAX_DEPTH;
use super::value::{BigInt, ErrorValue, Kind, Obj, Value};

/// The format version written (Node 20's V8 writes 15 and reads 13–15).
pub const VERSION: u8 = 15;

/// Encode one payload: `FF 0F` and the value.
pub fn encode(v: &Value) -> Result<Vec<u8>, V8Error> {
    let mut w = Writer {
        out: vec![0xFF, VERSION],
        next_id: 0,
        ids: HashMap::new(),
    };
    w.value(v, 0)?;
    Ok(w.out)
}

struct Writer {
    out: Vec<u8>,
    next_id: u32,
    /// Label → the object id V8 will give that object when it reads it.
    ids: HashMap<u32, u32>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.out.push(b);
                return;
            }
            self.out.push(b | 0x80);
        }
    }

    fn len(&mut self, n: usize) -> Result<(), V8Error> {
        let n = u32::try_from(n).map_err(|_| V8Error::TooLarge)?;
        self.varint(u64::from(n));
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), V8Error> {
        if depth > MAX_DEPTH {
            return Err(V8Error::TooDeep);
        }
        match v {
            Value::Undefined => self.out.push(b'_'),
            Value::Null => self.out.push(b'0'),
            Value::Bool(true) => self.out.push(b'T'),
            Value::Bool(false) => self.out.push(b'F'),
            Value::Number(n) => self.number(*n),
            Value::BigInt(b) => {
                self.out.push(b'Z');
                self.bigint(b);
            }
            Value::String(s) => self.string(s)?,
            Value::Ref(label) => {
                let id = *self.ids.get(label).ok_or(V8Error::Reference(*label))?;
                self.out.push(b'^');
                self.varint(u64::from(id));
            }
            Value::Obj(obj) => self.object(obj, depth + 1)?,
        }
        Ok(())
    }

    /// Small integers as Int32 (what V8 writes for a Smi), everything else as a double.
    fn number(&mut self, n: f64) {
        let i = n as i32;
        if f64::from(i) == n && !(n == 0.0 && n.is_sign_negative()) {
            self.out.push(b'I');
            self.varint(u64::from(((i << 1) ^ (i >> 31)) as u32));
        } else {
            self.out.push(b'N');
            self.out.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn bigint(&mut self, b: &BigInt) {
        let bytes = b.digits.len() * 8;
        self.varint(((bytes as u64) << 1) | u64::from(b.negative && bytes > 0));
        for d in &b.digits {
            self.out.extend_from_slice(&d.to_le_bytes());
        }
    }

    /// One-byte (Latin-1) when every unit fits, else two-byte, padded so that its data starts
    /// at an even offset as V8 aligns it.
    fn string(&mut self, s: &[u16]) -> Result<(), V8Error> {
        if s.iter().all(|&u| u <= 0xFF) {
            self.out.push(b'"');
            self.len(s.len())?;
            self.out.extend(s.iter().map(|&u| u as u8));
            return Ok(());
        }
        let bytes = s.len().checked_mul(2).ok_or(V8Error::TooLarge)?;
        let mut probe = Vec::new();
        std::mem::swap(&mut probe, &mut self.out);
        self.len(bytes)?;
        let varint_len = self.out.len();
        std::mem::swap(&mut probe, &mut self.out);
        if (self.out.len() + 1 + varint_len) % 2 == 1 {
            self.out.push(0);
        }
        self.out.push(b'c');
        self.out.extend_from_slice(&probe);
        for u in s {
            self.out.extend_from_slice(&u.to_le_bytes());
        }
        Ok(())
    }

    fn object(&mut self, obj: &Obj, depth: usize) -> Result<(), V8Error> {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(label) = obj.label
            && self.ids.insert(label, id).is_some()
        {
            return Err(V8Error::Invalid(format!("id {label} is defined twice")));
        }
        match &obj.kind {
            Kind::Plain(props) => {
                self.out.push(b'o');
                self.properties(props, depth)?;
                self.out.push(b'{');
                self.len(props.len())?;
            }
            Kind::Array {
                dense,
                length,
                elements,
                props,
            } => self.array(*dense, *length, elements, props, depth)?,
            Kind::Date(ms) => {
                self.out.push(b'D');
                self.out.extend_from_slice(&ms.to_le_bytes());
            }
            Kind::RegExp { source, flags } => {
                self.out.push(b'R');
                self.string(source)?;
                self.varint(u64::from(*flags));
            }
            Kind::Map(entries) => {
                self.out.push(b';');
                self.properties(entries, depth)?;
                self.out.push(b':');
                self.len(entries.len() * 2)?;
            }
            Kind::Set(values) => {
                self.out.push(b'\'');
                for v in values {
                    self.value(v, depth)?;
                }
                self.out.push(b',');
                self.len(values.len())?;
            }
            Kind::Boxed(inner) => self.boxed(inner)?,
            Kind::ArrayBuffer(bytes) => {
                self.out.push(b'B');
                self.len(bytes.len())?;
                self.out.extend_from_slice(bytes);
            }
            Kind::View { view, bytes } => {
                // Node's host object 0: type index, byte length, bytes.
                self.out.extend_from_slice(b"\\\0");
                self.varint(u64::from(view.0));
                self.len(bytes.len())?;
                self.out.extend_from_slice(bytes);
            }
            Kind::Error(e) => self.error(e, depth)?,
        }
        Ok(())
    }

    fn properties(&mut self, props: &[(Value, Value)], depth: usize) -> Result<(), V8Error> {
        for (k, v) in props {
            self.value(k, depth)?;
            self.value(v, depth)?;
        }
        Ok(())
    }

    fn array(
        &mut self,
        dense: bool,
        length: u32,
        elements: &[Option<Value>],
        props: &[(Value, Value)],
        depth: usize,
    ) -> Result<(), V8Error> {
        self.out.push(if dense { b'A' } else { b'a' });
        self.varint(u64::from(length));
        if dense {
            for e in elements {
                match e {
                    Some(v) => self.value(v, depth)?,
                    None => self.out.push(b'-'),
                }
            }
        }
        self.properties(props, depth)?;
        self.out.push(if dense { b'$' } else { b'@' });
        self.len(props.len())?;
        self.varint(u64::from(length));
        Ok(())
    }

    fn boxed(&mut self, inner: &Value) -> Result<(), V8Error> {
        match inner {
            Value::Bool(true) => self.out.push(b'y'),
            Value::Bool(false) => self.out.push(b'x'),
            Value::Number(n) => {
                self.out.push(b'n');
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            Value::BigInt(b) => {
                self.out.push(b'z');
                self.bigint(b);
            }
            Value::String(s) => {
                self.out.push(b's');
                self.string(s)?;
            }
            _ => {
                return Err(V8Error::Invalid(
                    "only a boolean, number, bigint or string can be boxed".into(),
                ));
            }
        }
        Ok(())
    }

    fn error(&mut self, e: &ErrorValue, depth: usize) -> Result<(), V8Error> {
        self.out.push(b'r');
        if let Some(t) = e.name.tag() {
            self.out.push(t);
        }
        if let Some(m) = &e.message {
            self.out.push(b'm');
            self.string(m)?;
        }
        if let Some(c) = &e.cause {
            self.out.push(b'c');
            self.value(c, depth)?;
        }
        if let Some(s) = &e.stack {
            self.out.push(b's');
            self.string(s)?;
        }
        self.out.push(b'.');
        Ok(())
    }
}
