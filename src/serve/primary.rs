//! The pool as a Node cluster primary: answering what Node workers say (as Node 20 speaks it; tests/serve.rs runs unmodified Node apps).
//! In shared mode (`--sched none`) the listening socket itself goes to every worker that asks;
//! in round-robin mode (`rr`) childproc accepts on it and hands out connections (`rr`).

use std::os::fd::OwnedFd;

use super::cluster::{
    self, Act, FromWorker, HandleEnvelope, Query, QueryReply, Sockname, ToWorker,
};
use super::events::Event;
use super::listen::{BindError, Endpoint, ListenAddr};
use super::pool::Pool;
use crate::cli::Sched;
use crate::error_line;

impl Pool {
    /// One of Node's internal messages from worker `id`.
    pub(super) fn on_internal(&mut self, id: u32, msg: &[u8]) {
        let Some(i) = self.index(id) else { return };
        match cluster::parse(msg) {
            FromWorker::HandleAck => self.workers[i].on_handle_ack(),
            FromWorker::HandleNack => self.workers[i].on_handle_nack(),
            FromWorker::Cluster { seq, act } => self.on_act(id, seq, act),
            FromWorker::Reply { ack, accepted } => {
                self.rr.on_reply(ack, accepted);
                self.rr_dispatch();
            }
            FromWorker::Other => {}
        }
    }

    fn on_act(&mut self, id: u32, seq: Option<u64>, act: Act) {
        let Some(i) = self.index(id) else { return };
        match act {
            Act::Online => self.workers[i].node = true,
            Act::QueryServer(q) => self.answer_query(id, seq.unwrap_or(0), &q),
            Act::Listening(q) => {
                let who = self.workers[i].who;
                self.events.emit(Event::Listening {
                    who: Some(who),
                    address: q.shown(),
                    fd: None,
                });
                self.on_ready(id, "listening");
            }
            Act::ExitedAfterDisconnect => {
                // It stops by itself and waits for our acknowledgement to do so.
                let ack = ToWorker {
                    cmd: cluster::CLUSTER,
                    act: None,
                    ack: seq,
                    seq: self.next_seq(),
                };
                self.workers[i].send(cluster::line(&ack), None);
            }
            Act::Close { key } => self.rr.withdraw(id, key.as_deref()),
            Act::Unknown => {}
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    /// `queryServer`: the shared listening socket for that address (bound now if nobody has
    /// asked for it yet), or Node's negated errno when it cannot be bound.
    fn answer_query(&mut self, id: u32, ack: u64, q: &Query) {
        let socket = self.socket_for(q);
        let mut reply = QueryReply {
            cmd: cluster::CLUSTER,
            errno: 0,
            key: q.key(),
            ack,
            data: serde_json::Value::Null,
            sockname: None,
            seq: self.next_seq(),
        };
        let Some(i) = self.index(id) else { return };
        match socket {
            Ok(fd) if self.cfg.sched == Sched::Rr => {
                // We accept; the worker only learns where it "listens".
                let tcp = std::net::TcpListener::from(fd);
                reply.sockname = tcp.local_addr().ok().map(Sockname::of);
                self.rr.add(&reply.key, OwnedFd::from(tcp), id);
                self.workers[i].send(cluster::line(&reply), None);
                // Connections may be waiting for a worker (one died holding them).
                self.rr_dispatch();
            }
            Ok(fd) => {
                // Every worker accepts from this one socket, and the flag is shared by every
                // copy: a blocking one leaves a worker that lost the race for a connection
                // stuck in accept(2), deaf to its channel (seen: a Node worker that never read
                // its `disconnect`). Non-blocking before it goes out, whatever the worker does.
                crate::process::sys::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&fd));
                let env = HandleEnvelope {
                    cmd: "NODE_HANDLE",
                    kind: "net.Native",
                    msg: &reply,
                };
                self.workers[i].send(cluster::line(&env), Some(fd));
            }
            Err(e) => {
                error_line(&format!("worker {id}: listen on {}: {e}", q.shown()));
                reply.errno = e.node_errno();
                self.workers[i].send(cluster::line(&reply), None);
            }
        }
    }

    /// A descriptor of the socket for `q`: a `--listen` socket on that address, or one bound
    /// for an earlier worker, or a new one.
    fn socket_for(&mut self, q: &Query) -> Result<OwnedFd, BindError> {
        let port = u16::try_from(q.port.unwrap_or(0)).unwrap_or(0);
        let dup = |fd: &OwnedFd| {
            fd.try_clone().map_err(|source| BindError::Bind {
                addr: q.shown(),
                source,
            })
        };
        if let Some(l) = self
            .listeners
            .iter()
            .find(|l| l.serves(q.address.as_deref(), port))
        {
            return dup(&l.fd);
        }
        let key = format!("{}:{port}", q.address.as_deref().unwrap_or(""));
        if let Some((_, l)) = self.shared.iter().find(|(k, _)| *k == key) {
            return dup(&l.fd);
        }
        let endpoint = match &q.address {
            None => Endpoint::AnyHost(port),
            Some(h) => Endpoint::Host(h.clone(), port),
        };
        let l = super::listen::bind(&ListenAddr {
            name: "node".into(),
            endpoint,
        })?;
        let fd = dup(&l.fd)?;
        self.shared.push((key, l));
        Ok(fd)
    }
}
