//! The values a V8 `advanced` message can carry, as one tree both codecs share.
//!
//! Strings are UTF-16 code units (V8 strings may hold lone surrogates, and so may ours).
//! Every value that V8 gives an object id — objects, arrays, dates, regexps, maps, sets, boxed
//! primitives, array buffers, views (Node's host objects) and errors — is an [`Obj`], so back
//! references (`^`) and cycles have something to point at.

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    /// Int32, Uint32 and Double all end up as a JavaScript number.
    Number(f64),
    BigInt(BigInt),
    String(Vec<u16>),
    /// A second mention of an object: its label (the wire's object id, or the JSON form's
    /// `id`).
    Ref(u32),
    Obj(Obj),
}

/// An arbitrary-precision integer: sign and magnitude in little-endian 64-bit digits, as V8
/// writes it (no leading zero digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    pub negative: bool,
    pub digits: Vec<u64>,
}

/// An object with an identity. `label` is set when something refers back to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj {
    pub label: Option<u32>,
    pub kind: Kind,
}

/// Which kind of object, with its contents.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A plain object's own enumerable properties, in order (keys: strings or numbers).
    Plain(Vec<(Value, Value)>),
    /// An array. `dense`: written element by element (`None` is a hole); otherwise only the
    /// entries in `props` exist (V8's sparse form, which it also uses for arrays with holes).
    Array {
        dense: bool,
        length: u32,
        elements: Vec<Option<Value>>,
        props: Vec<(Value, Value)>,
    },
    /// Milliseconds since the epoch (may be NaN: an invalid date).
    Date(f64),
    RegExp {
        source: Vec<u16>,
        flags: u32,
    },
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    /// `Object(true)`, `Object(1)`, `Object(1n)`, `Object('s')`.
    Boxed(Box<Value>),
    ArrayBuffer(Vec<u8>),
    /// A Buffer, typed array or DataView (Node's host object 0): its type and bytes.
    View {
        view: ViewType,
        bytes: Vec<u8>,
    },
    Error(ErrorValue),
}

/// The contents of a serialized `Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorValue {
    /// `Error`, `TypeError`, … (V8 keeps only the standard prototypes).
    pub name: ErrorName,
    pub message: Option<Vec<u16>>,
    pub stack: Option<Vec<u16>>,
    pub cause: Option<Box<Value>>,
}

/// The error prototypes V8 serializes, with their wire sub-tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    Error,
    EvalError,
    RangeError,
    ReferenceError,
    SyntaxError,
    TypeError,
    UriError,
}

impl ErrorName {
    pub const ALL: [ErrorName; 7] = [
        ErrorName::Error,
        ErrorName::EvalError,
        ErrorName::RangeError,
        ErrorName::ReferenceError,
        ErrorName::SyntaxError,
        ErrorName::TypeError,
        ErrorName::UriError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorName::Error => "Error",
            ErrorName::EvalError => "EvalError",
            ErrorName::RangeError => "RangeError",
            ErrorName::ReferenceError => "ReferenceError",
            ErrorName::SyntaxError => "SyntaxError",
            ErrorName::TypeError => "TypeError",
            ErrorName::UriError => "URIError",
        }
    }

    /// The sub-tag V8 writes for the prototype (none for plain `Error`).
    pub fn tag(self) -> Option<u8> {
        match self {
            ErrorName::Error => None,
            ErrorName::EvalError => Some(b'E'),
            ErrorName::RangeError => Some(b'R'),
            ErrorName::ReferenceError => Some(b'F'),
            ErrorName::SyntaxError => Some(b'S'),
            ErrorName::TypeError => Some(b'T'),
            ErrorName::UriError => Some(b'U'),
        }
    }

    pub fn from_tag(tag: u8) -> Option<ErrorName> {
        Self::ALL.into_iter().find(|n| n.tag() == Some(tag))
    }

    pub fn from_name(name: &str) -> Option<ErrorName> {
        Self::ALL.into_iter().find(|n| n.name() == name)
    }
}

/// Node's typed-array type indexes (`lib/v8.js`), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewType(pub u32);

impl ViewType {
    const NAMES: [&'static str; 13] = [
        "Int8Array",
        "Uint8Array",
        "Uint8ClampedArray",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "Float32Array",
        "Float64Array",
        "DataView",
        "Buffer",
        "BigInt64Array",
        "BigUint64Array",
    ];

    pub fn name(self) -> Option<&'static str> {
        Self::NAMES.get(self.0 as usize).copied()
    }

    pub fn from_name(name: &str) -> Option<ViewType> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| ViewType(i as u32))
    }

    /// Bytes per element: a view's length must be a multiple of it.
    pub fn element_size(self) -> usize {
        match self.0 {
            3 | 4 => 2,
            5..=7 => 4,
            8 | 11 | 12 => 8,
            _ => 1,
        }
    }
}

/// A Rust string as UTF-16 code units.
pub fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}
