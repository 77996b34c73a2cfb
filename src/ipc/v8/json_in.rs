//! One line of JSON (plain or tagged, see the `v8` module docs) to a [`Value`].
//!
//! Its own small parser rather than serde_json: strings must stay UTF-16 with their lone
//! surrogates (`"\ud800"`), which serde_json refuses, so that what a Node peer sent comes back
//! to it unchanged.

use base64::Engine;

use super::value::{BigInt, ErrorName, ErrorValue, Kind, Obj, Value, ViewType, utf16};
use super::{TAG, V8Error, read::MAX_DEPTH};

/// Parse `text` (one JSON value, surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Value, V8Error> {
    let mut p = Parser { s: text, i: 0 };
    let node = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("text after the value"));
    }
    to_value(node, 0)
}

/// JSON as parsed, before tags are interpreted.
enum Node {
    Null,
    Bool(bool),
    Number(f64),
    String(Vec<u16>),
    Array(Vec<Node>),
    Object(Vec<(Vec<u16>, Node)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> V8Error {
        V8Error::Json(format!("not valid JSON: {what} at byte {}", self.i))
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, V8Error> {
        if depth > MAX_DEPTH {
            return Err(V8Error::TooDeep);
        }
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Node::String(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Node::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Node::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("not a JSON value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, V8Error> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.eat(b"}") {
            return Ok(Node::Object(members));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let k = self.string()?;
            self.ws();
            if !self.eat(b":") {
                return Err(self.err("expected ':'"));
            }
            let v = self.value(depth + 1)?;
            members.push((k, v));
            self.ws();
            if self.eat(b"}") {
                return Ok(Node::Object(members));
            }
            if !self.eat(b",") {
                return Err(self.err("expected ',' or '}'"));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, V8Error> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b"]") {
            return Ok(Node::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            if self.eat(b"]") {
                return Ok(Node::Array(items));
            }
            if !self.eat(b",") {
                return Err(self.err("expected ',' or ']'"));
            }
        }
    }

    fn number(&mut self) -> Result<Node, V8Error> {
        let start = self.i;
        self.eat(b"-");
        let int_start = self.i;
        while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let int = &self.s[int_start..self.i];
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return Err(self.err("a malformed number"));
        }
        if self.eat(b".") {
            self.digits()?;
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
        text.parse()
            .map(Node::Number)
            .map_err(|_| self.err("a malformed number"))
    }

    fn digits(&mut self) -> Result<(), V8Error> {
        let start = self.i;
        while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("a malformed number"));
        }
        Ok(())
    }

    /// A string as UTF-16 units; escapes may produce lone surrogates.
    fn string(&mut self) -> Result<Vec<u16>, V8Error> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let run = self.i;
            while matches!(self.s.get(self.i), Some(&b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.i += 1;
            }
            let raw = std::str::from_utf8(&self.s[run..self.i])
                .map_err(|_| self.err("invalid UTF-8 in a string"))?;
            out.extend(raw.encode_utf16());
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    out.push(self.escape()?);
                }
                _ => return Err(self.err("an unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<u16, V8Error> {
        let c = *self.s.get(self.i).ok_or_else(|| self.err("a cut escape"))?;
        self.i += 1;
        Ok(match c {
            b'"' => b'"'.into(),
            b'\\' => b'\\'.into(),
            b'/' => b'/'.into(),
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n'.into(),
            b'r' => b'\r'.into(),
            b't' => b'\t'.into(),
            b'u' => {
                let hex = self
                    .s
                    .get(self.i..self.i + 4)
                    .ok_or_else(|| self.err("a cut \\u escape"))?;
                let hex = std::str::from_utf8(hex).map_err(|_| self.err("a bad \\u escape"))?;
                let u = u16::from_str_radix(hex, 16).map_err(|_| self.err("a bad \\u escape"))?;
                self.i += 4;
                u
            }
            _ => return Err(self.err("an unknown escape")),
        })
    }
}

fn to_value(n: Node, depth: usize) -> Result<Value, V8Error> {
    if depth > MAX_DEPTH {
        return Err(V8Error::TooDeep);
    }
    Ok(match n {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(x) => Value::Number(x),
        Node::String(s) => Value::String(s),
        Node::Array(items) => {
            let length = u32::try_from(items.len()).map_err(|_| V8Error::TooLarge)?;
            let elements = items
                .into_iter()
                .map(|i| to_value(i, depth + 1).map(Some))
                .collect::<Result<_, _>>()?;
            obj(Kind::Array {
                dense: true,
                length,
                elements,
                props: Vec::new(),
            })
        }
        Node::Object(members) => {
            let tag = utf16(TAG);
            match members.iter().position(|(k, _)| *k == tag) {
                Some(_) => tagged(members, depth)?,
                None => obj(Kind::Plain(
                    members
                        .into_iter()
                        .map(|(k, v)| Ok((Value::String(k), to_value(v, depth + 1)?)))
                        .collect::<Result<_, V8Error>>()?,
                )),
            }
        }
    })
}

fn obj(kind: Kind) -> Value {
    Value::Obj(Obj { label: None, kind })
}

/// The fields of one tagged object, looked up by name.
struct Fields {
    name: String,
    members: Vec<(Vec<u16>, Node)>,
}

impl Fields {
    fn take(&mut self, key: &str) -> Option<Node> {
        let key = utf16(key);
        let i = self.members.iter().position(|(k, _)| *k == key)?;
        Some(self.members.remove(i).1)
    }

    fn need(&mut self, key: &str) -> Result<Node, V8Error> {
        self.take(key)
            .ok_or_else(|| V8Error::Json(format!("a \"{}\" value without \"{key}\"", self.name)))
    }

    fn text(&mut self, key: &str) -> Result<String, V8Error> {
        match self.need(key)? {
            Node::String(s) => Ok(String::from_utf16_lossy(&s)),
            _ => Err(V8Error::Json(format!(
                "\"{key}\" of a \"{}\" must be a string",
                self.name
            ))),
        }
    }

    fn id(&mut self) -> Result<u32, V8Error> {
        match self.need("id")? {
            Node::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => {
                Ok(n as u32)
            }
            _ => Err(V8Error::Json("an id must be a whole number".into())),
        }
    }

    fn list(&mut self, key: &str) -> Result<Vec<Node>, V8Error> {
        match self.need(key)? {
            Node::Array(items) => Ok(items),
            _ => Err(V8Error::Json(format!(
                "\"{key}\" of a \"{}\" must be an array",
                self.name
            ))),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, V8Error> {
        let b64 = self.text("base64")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| V8Error::Json(format!("bad base64 in a \"{}\": {e}", self.name)))
    }
}

/// `{"$v8": NAME, …}`.
fn tagged(members: Vec<(Vec<u16>, Node)>, depth: usize) -> Result<Value, V8Error> {
    let mut f = Fields {
        name: String::new(),
        members,
    };
    f.name = f.text(TAG)?;
    let d = depth + 1;
    let name = f.name.clone();
    Ok(match name.as_str() {
        "undefined" => Value::Undefined,
        "hole" => return Err(V8Error::Json("a hole outside an array's items".into())),
        "number" => Value::Number(special_number(&f.text("value")?)?),
        "bigint" => Value::BigInt(parse_bigint(&f.text("value")?)?),
        "ref" => Value::Ref(f.id()?),
        "def" => {
            let id = f.id()?;
            match to_value(f.need("value")?, d)? {
                Value::Obj(mut o) => {
                    o.label = Some(id);
                    Value::Obj(o)
                }
                _ => {
                    return Err(V8Error::Json(
                        "a \"def\" of something that is not an object".into(),
                    ));
                }
            }
        }
        "object" => obj(Kind::Plain(pairs(f.list("entries")?, d)?)),
        "array" => array(&mut f, d)?,
        "date" => obj(Kind::Date(number_field(f.need("value")?)?)),
        "regexp" => obj(Kind::RegExp {
            source: utf16(&f.text("source")?),
            flags: super::regexp_bits(&f.text("flags")?)?,
        }),
        "map" => obj(Kind::Map(pairs(f.list("entries")?, d)?)),
        "set" => obj(Kind::Set(
            f.list("values")?
                .into_iter()
                .map(|n| to_value(n, d))
                .collect::<Result<_, _>>()?,
        )),
        "boxed" => obj(Kind::Boxed(Box::new(to_value(f.need("value")?, d)?))),
        "error" => obj(Kind::Error(error(&mut f, d)?)),
        "ArrayBuffer" => obj(Kind::ArrayBuffer(f.bytes()?)),
        other => match ViewType::from_name(other) {
            Some(view) => {
                let bytes = f.bytes()?;
                if bytes.len() % view.element_size() != 0 {
                    return Err(V8Error::Json(format!("{other} of {} bytes", bytes.len())));
                }
                obj(Kind::View { view, bytes })
            }
            None => return Err(V8Error::Json(format!("unknown \"{TAG}\" type \"{other}\""))),
        },
    })
}

fn array(f: &mut Fields, depth: usize) -> Result<Value, V8Error> {
    let length = match f.need("length")? {
        Node::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => n as u32,
        _ => {
            return Err(V8Error::Json(
                "an array length must be a whole number".into(),
            ));
        }
    };
    let props = match f.take("entries") {
        Some(Node::Array(items)) => pairs(items, depth)?,
        Some(_) => return Err(V8Error::Json("\"entries\" must be an array".into())),
        None => Vec::new(),
    };
    let (dense, elements) = match f.take("items") {
        None => (false, Vec::new()),
        Some(Node::Array(items)) => {
            if items.len() != length as usize {
                return Err(V8Error::Json(
                    "an array whose items do not match its length".into(),
                ));
            }
            let elements = items
                .into_iter()
                .map(|n| match n {
                    Node::Object(m) if is_hole(&m) => Ok(None),
                    n => to_value(n, depth).map(Some),
                })
                .collect::<Result<_, V8Error>>()?;
            (true, elements)
        }
        Some(_) => return Err(V8Error::Json("\"items\" must be an array".into())),
    };
    // Index keys as numbers, as V8 writes them.
    let props = props.into_iter().map(|(k, v)| (index_key(k), v)).collect();
    Ok(obj(Kind::Array {
        dense,
        length,
        elements,
        props,
    }))
}

fn is_hole(members: &[(Vec<u16>, Node)]) -> bool {
    matches!(members, [(k, Node::String(v))] if *k == utf16(TAG) && *v == utf16("hole"))
}

fn index_key(k: Value) -> Value {
    if let Value::String(s) = &k
        && let Ok(n) = String::from_utf16_lossy(s).parse::<u32>()
        && n.to_string().encode_utf16().eq(s.iter().copied())
    {
        return Value::Number(f64::from(n));
    }
    k
}

fn pairs(items: Vec<Node>, depth: usize) -> Result<Vec<(Value, Value)>, V8Error> {
    items
        .into_iter()
        .map(|n| match n {
            Node::Array(mut kv) if kv.len() == 2 => {
                let v = kv.pop().expect("two");
                let k = kv.pop().expect("two");
                Ok((to_value(k, depth)?, to_value(v, depth)?))
            }
            _ => Err(V8Error::Json("entries must be [key, value] pairs".into())),
        })
        .collect()
}

fn error(f: &mut Fields, depth: usize) -> Result<ErrorValue, V8Error> {
    let name = match f.take("name") {
        None => ErrorName::Error,
        Some(Node::String(s)) => {
            let s = String::from_utf16_lossy(&s);
            ErrorName::from_name(&s).ok_or_else(|| {
                V8Error::Json(format!(
                    "an error named \"{s}\" (V8 keeps only the standard ones)"
                ))
            })?
        }
        Some(_) => return Err(V8Error::Json("an error's name must be a string".into())),
    };
    let text = |f: &mut Fields, key: &str| -> Result<Option<Vec<u16>>, V8Error> {
        match f.take(key) {
            None => Ok(None),
            Some(Node::String(s)) => Ok(Some(s)),
            Some(_) => Err(V8Error::Json(format!("an error's {key} must be a string"))),
        }
    };
    Ok(ErrorValue {
        name,
        message: text(f, "message")?,
        stack: text(f, "stack")?,
        cause: f
            .take("cause")
            .map(|n| to_value(n, depth).map(Box::new))
            .transpose()?,
    })
}

fn number_field(n: Node) -> Result<f64, V8Error> {
    match n {
        Node::Number(x) => Ok(x),
        Node::Object(m) => match tagged(m, 0)? {
            Value::Number(x) => Ok(x),
            _ => Err(V8Error::Json("expected a number".into())),
        },
        _ => Err(V8Error::Json("expected a number".into())),
    }
}

fn special_number(s: &str) -> Result<f64, V8Error> {
    match s {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        "-0" => Ok(-0.0),
        _ => Err(V8Error::Json(format!(
            "\"{s}\" is not NaN, Infinity, -Infinity or -0"
        ))),
    }
}

/// Decimal text (optionally `-`) to sign and 64-bit digits.
fn parse_bigint(s: &str) -> Result<BigInt, V8Error> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(V8Error::Json(format!("\"{s}\" is not a decimal integer")));
    }
    let mut mag: Vec<u64> = Vec::new();
    for b in digits.bytes() {
        let mut carry = u128::from(b - b'0');
        for d in mag.iter_mut() {
            let cur = u128::from(*d) * 10 + carry;
            *d = cur as u64;
            carry = cur >> 64;
        }
        if carry > 0 {
            mag.push(carry as u64);
        }
    }
    while mag.last() == Some(&0) {
        mag.pop();
    }
    Ok(BigInt {
        negative: negative && !mag.is_empty(),
        digits: mag,
    })
}
