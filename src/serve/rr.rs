//! Round-robin scheduling (`--sched rr`, Node's default on Linux): childproc accepts each
//! connection on the shared socket and hands it to the next free Node worker (`newconn`);
//! a worker is free again once it has answered. A connection a worker refused
//! (`accepted:false`), or that went to a worker that died before answering, goes to another.
//! While no worker of a socket is free, childproc does not accept: the kernel's backlog holds
//! the connections, so none is lost while workers are replaced.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::cluster::{self, HandleEnvelope, NewConn};
use super::pool::Pool;

/// One socket accepted on for Node workers, by its cluster key.
pub struct RrHandle {
    pub key: String,
    fd: OwnedFd,
    workers: Vec<u32>,
    free: VecDeque<u32>,
}

/// A connection handed to a worker that has not answered yet.
struct Inflight {
    seq: u64,
    worker: u32,
    handle: usize,
    conn: OwnedFd,
}

#[derive(Default)]
pub struct RoundRobin {
    handles: Vec<RrHandle>,
    inflight: Vec<Inflight>,
    /// Accepted (or given back) connections waiting for a free worker.
    pending: VecDeque<(usize, OwnedFd)>,
}

impl RoundRobin {
    /// Worker `id` serves `key` (accepting on `fd` when the key is new).
    pub fn add(&mut self, key: &str, fd: OwnedFd, id: u32) {
        let h = match self.handles.iter().position(|h| h.key == key) {
            Some(h) => h,
            None => {
                self.handles.push(RrHandle {
                    key: key.to_string(),
                    fd,
                    workers: Vec::new(),
                    free: VecDeque::new(),
                });
                self.handles.len() - 1
            }
        };
        let handle = &mut self.handles[h];
        if !handle.workers.contains(&id) {
            handle.workers.push(id);
            handle.free.push_back(id);
        }
    }

    /// No new connections for worker `id` (it is stopping, closed its server, or is gone).
    pub fn withdraw(&mut self, id: u32, key: Option<&str>) {
        for h in &mut self.handles {
            if key.is_none_or(|k| k == h.key) {
                h.workers.retain(|&w| w != id);
                h.free.retain(|&w| w != id);
            }
        }
    }

    /// Worker `id` is gone: what it was given and never answered goes to another worker.
    pub fn worker_gone(&mut self, id: u32) {
        self.withdraw(id, None);
        let (lost, kept) = std::mem::take(&mut self.inflight)
            .into_iter()
            .partition(|i| i.worker == id);
        self.inflight = kept;
        for i in lost {
            self.pending.push_back((i.handle, i.conn));
        }
    }

    /// The worker's answer to `newconn` number `seq`.
    pub fn on_reply(&mut self, seq: u64, accepted: bool) {
        let Some(pos) = self.inflight.iter().position(|i| i.seq == seq) else {
            return;
        };
        let i = self.inflight.remove(pos);
        let h = &mut self.handles[i.handle];
        if h.workers.contains(&i.worker) && !h.free.contains(&i.worker) {
            h.free.push_back(i.worker);
        }
        if !accepted {
            self.pending.push_back((i.handle, i.conn));
        }
    }

    /// Listening sockets worth accepting on now: some worker is free and nothing waits.
    pub fn acceptable(&self) -> Vec<(usize, RawFd)> {
        self.handles
            .iter()
            .enumerate()
            .filter(|(i, h)| !h.free.is_empty() && !self.pending.iter().any(|(p, _)| p == i))
            .map(|(i, h)| (i, h.fd.as_raw_fd()))
            .collect()
    }

    /// Accept one connection on socket `h` (it was reported readable).
    pub fn accept(&mut self, h: usize) {
        let fd = self.handles[h].fd.as_raw_fd();
        if let Some(c) = crate::process::sys::accept_cloexec(fd) {
            self.pending.push_back((h, c));
        }
    }

    /// The next hand-off: a waiting connection and a free worker of its socket.
    fn next_job(&mut self) -> Option<(u32, usize, OwnedFd)> {
        let pos = self
            .pending
            .iter()
            .position(|(h, _)| !self.handles[*h].free.is_empty())?;
        let (h, conn) = self.pending.remove(pos)?;
        let worker = self.handles[h].free.pop_front()?;
        Some((worker, h, conn))
    }
}

impl Pool {
    /// Hand every waiting connection to a free worker.
    pub(super) fn rr_dispatch(&mut self) {
        while let Some((id, h, conn)) = self.rr.next_job() {
            let Some(i) = self.index(id) else {
                self.rr.worker_gone(id);
                self.rr.pending.push_front((h, conn));
                continue;
            };
            let seq = self.seq;
            self.seq += 1;
            let key = self.rr.handles[h].key.clone();
            let msg = NewConn {
                cmd: cluster::CLUSTER,
                act: "newconn",
                key: &key,
                seq,
            };
            let env = HandleEnvelope {
                cmd: "NODE_HANDLE",
                kind: "net.Native",
                msg: &msg,
            };
            match conn.try_clone() {
                Ok(copy) => {
                    self.workers[i].handed += 1;
                    self.workers[i].send(cluster::line(&env), Some(copy));
                }
                Err(_) => continue, // out of descriptors: this connection is dropped
            }
            self.rr.inflight.push(Inflight {
                seq,
                worker: id,
                handle: h,
                conn,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock() -> OwnedFd {
        OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn a_refused_or_orphaned_connection_goes_to_another_worker() {
        let mut rr = RoundRobin::default();
        rr.add("k", sock(), 1);
        rr.add("k", sock(), 2);
        rr.pending.push_back((0, sock()));
        let (w, h, conn) = rr.next_job().unwrap();
        assert_eq!((w, h), (1, 0));
        rr.inflight.push(Inflight {
            seq: 5,
            worker: 1,
            handle: 0,
            conn,
        });
        rr.on_reply(5, false);
        let (w, _, conn) = rr.next_job().unwrap();
        assert_eq!(w, 2, "refused: the next free worker");
        rr.inflight.push(Inflight {
            seq: 6,
            worker: 2,
            handle: 0,
            conn,
        });
        rr.worker_gone(2);
        let (w, _, _) = rr.next_job().unwrap();
        assert_eq!(w, 1, "orphaned by a dead worker: handed out again");
        assert!(rr.next_job().is_none());
    }
}
