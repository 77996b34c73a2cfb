//! Node's cluster protocol, the primary's side (as Node 20 speaks it; tests/serve.rs runs unmodified Node apps), as typed messages:
//! what a Node worker sends (`online`, `queryServer`, `listening`, `close`,
//! `exitedAfterDisconnect`, handle ACK/NACK) and what we answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message of Node's own from a worker, as far as the pool cares.
#[derive(Debug, PartialEq)]
pub enum FromWorker {
    Cluster {
        seq: Option<u64>,
        act: Act,
    },
    /// The answer to one of our requests: `newconn` (`accepted`), or a plain ack.
    Reply {
        ack: u64,
        accepted: bool,
    },
    HandleAck,
    HandleNack,
    Other,
}

/// The `act` of a `NODE_CLUSTER` message from a worker.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "act", rename_all = "camelCase")]
pub enum Act {
    Online,
    QueryServer(Query),
    Listening(Query),
    Close {
        key: Option<String>,
    },
    ExitedAfterDisconnect,
    #[serde(other)]
    Unknown,
}

/// The address part of `queryServer` and `listening`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    pub address: Option<String>,
    pub port: Option<i64>,
    pub address_type: Option<Value>,
    pub fd: Option<i64>,
    pub index: Option<i64>,
}

impl Query {
    /// Node's handle key, `address:port:addressType:fd:index`, with JavaScript's spelling of
    /// what is missing (`null` address, `undefined` fd), as the worker computes it.
    pub fn key(&self) -> String {
        let js = |v: Option<String>, missing: &str| v.unwrap_or_else(|| missing.to_string());
        format!(
            "{}:{}:{}:{}:{}",
            js(self.address.clone(), "null"),
            js(self.port.map(|p| p.to_string()), "undefined"),
            js(
                self.address_type.as_ref().map(Value::to_string),
                "undefined"
            ),
            js(self.fd.map(|f| f.to_string()), "undefined"),
            js(self.index.map(|i| i.to_string()), "undefined"),
        )
    }

    /// Where it listens, for the operator.
    pub fn shown(&self) -> String {
        let host = self.address.as_deref().unwrap_or("*");
        let port = self.port.unwrap_or(0);
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    cmd: Option<String>,
    seq: Option<u64>,
    act: Option<String>,
    ack: Option<u64>,
    accepted: Option<bool>,
}

/// Classify one internal message (compact JSON with a `NODE_` command).
pub fn parse(msg: &[u8]) -> FromWorker {
    let Ok(env) = serde_json::from_slice::<Envelope>(msg) else {
        return FromWorker::Other;
    };
    match env.cmd.as_deref() {
        Some("NODE_HANDLE_ACK") => FromWorker::HandleAck,
        Some("NODE_HANDLE_NACK") => FromWorker::HandleNack,
        Some("NODE_CLUSTER") if env.act.is_none() => match env.ack {
            Some(ack) => FromWorker::Reply {
                ack,
                accepted: env.accepted.unwrap_or(false),
            },
            None => FromWorker::Other,
        },
        Some("NODE_CLUSTER") => match serde_json::from_slice::<Act>(msg) {
            Ok(act) => FromWorker::Cluster { seq: env.seq, act },
            Err(_) => FromWorker::Other,
        },
        _ => FromWorker::Other,
    }
}

/// The answer to `queryServer` in shared mode (sent inside a handle message, with the
/// listening socket) or, with a negated errno, without one.
#[derive(Debug, Serialize)]
pub struct QueryReply {
    pub cmd: &'static str,
    pub errno: i32,
    pub key: String,
    pub ack: u64,
    pub data: Value,
    /// Round-robin mode: where the primary listens (the worker's `server.address()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockname: Option<Sockname>,
    pub seq: u64,
}

/// `{"address":"127.0.0.1","family":"IPv4","port":8123}`.
#[derive(Debug, Serialize)]
pub struct Sockname {
    pub address: String,
    pub family: &'static str,
    pub port: u16,
}

impl Sockname {
    pub fn of(addr: std::net::SocketAddr) -> Sockname {
        Sockname {
            address: addr.ip().to_string(),
            family: if addr.is_ipv4() { "IPv4" } else { "IPv6" },
            port: addr.port(),
        }
    }
}

/// `newconn`: a connection for the worker's server `key`, its descriptor attached.
#[derive(Debug, Serialize)]
pub struct NewConn<'a> {
    pub cmd: &'static str,
    pub act: &'static str,
    pub key: &'a str,
    pub seq: u64,
}

/// A handle message's envelope: `{"cmd":"NODE_HANDLE","type":"net.Native","msg":…}`.
#[derive(Debug, Serialize)]
pub struct HandleEnvelope<'a, M: Serialize> {
    pub cmd: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub msg: &'a M,
}

/// A primary's request or acknowledgement: `{"cmd":"NODE_CLUSTER","act":…}` / `"ack":n`.
#[derive(Debug, Serialize)]
pub struct ToWorker {
    pub cmd: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<u64>,
    pub seq: u64,
}

pub const CLUSTER: &str = "NODE_CLUSTER";

/// One message line (with its `\n`) from a serializable value.
pub fn line<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_and_its_key() {
        let m = br#"{"cmd":"NODE_CLUSTER","act":"queryServer","index":0,"data":null,"address":"127.0.0.1","port":8123,"addressType":4,"flags":0,"backlog":511,"seq":1}"#;
        let FromWorker::Cluster {
            seq: Some(1),
            act: Act::QueryServer(q),
        } = parse(m)
        else {
            panic!("{:?}", parse(m));
        };
        assert_eq!(q.key(), "127.0.0.1:8123:4:undefined:0");
        let any = Query {
            address: None,
            port: Some(80),
            address_type: Some(Value::from(4)),
            fd: None,
            index: Some(0),
        };
        assert_eq!(any.key(), "null:80:4:undefined:0");
    }

    #[test]
    fn other_messages() {
        assert_eq!(
            parse(br#"{"cmd":"NODE_HANDLE_ACK"}"#),
            FromWorker::HandleAck
        );
        assert_eq!(
            parse(br#"{"cmd":"NODE_CLUSTER","act":"online","seq":0}"#),
            FromWorker::Cluster {
                seq: Some(0),
                act: Act::Online
            }
        );
        assert!(matches!(
            parse(br#"{"cmd":"NODE_CLUSTER","act":"brandNew","seq":3}"#),
            FromWorker::Cluster {
                act: Act::Unknown,
                ..
            }
        ));
        assert_eq!(parse(b"{\"cmd\":\"NODE_X\"}"), FromWorker::Other);
        assert_eq!(
            parse(br#"{"cmd":"NODE_CLUSTER","ack":7,"accepted":true,"seq":2}"#),
            FromWorker::Reply {
                ack: 7,
                accepted: true
            }
        );
    }

    #[test]
    fn a_reply_in_a_handle_envelope() {
        let r = QueryReply {
            cmd: CLUSTER,
            errno: 0,
            key: "k".into(),
            ack: 1,
            data: Value::Null,
            sockname: None,
            seq: 0,
        };
        let env = HandleEnvelope {
            cmd: "NODE_HANDLE",
            kind: "net.Native",
            msg: &r,
        };
        assert_eq!(
            String::from_utf8(line(&env)).unwrap(),
            "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"errno\":0,\"key\":\"k\",\"ack\":1,\"data\":null,\"seq\":0}}\n"
        );
    }
}
