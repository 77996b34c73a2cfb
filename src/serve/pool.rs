//! The pool: N slots, each kept filled with a worker. A state machine with one method per
//! event — a worker started, became ready, exited; a restart or kill deadline passed; a
//! signal arrived — driven by the `poll` loop in `run_loop`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::events::{Event, Events, millis};
use super::listen::Listener;
use super::notify::NotifyDir;
use super::restart::{Decision, RestartPolicy};
use super::worker::{Phase, Recipe, Worker};
use crate::cli::Ready;
use crate::error_line;
use crate::exit::Exit;
use crate::process::{SpawnError, Status};
use crate::values::Signal;

/// The pool's fixed settings, from the command line.
#[derive(Debug)]
pub struct Config {
    pub recipe: Recipe,
    pub workers: usize,
    pub sched: crate::cli::Sched,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub stop_signal: i32,
    /// `None`: never SIGKILL a worker that was asked to stop.
    pub kill_after: Option<Duration>,
    pub max_restarts: u32,
    pub restart_window: Duration,
}

/// One slot: the restarts of the workers that filled it.
struct Slot {
    policy: RestartPolicy,
    restart_at: Option<Instant>,
    given_up: bool,
}

/// A rolling reload in progress.
#[derive(Default)]
struct Reload {
    /// Slots still to be replaced, in order.
    queue: VecDeque<usize>,
    /// The replacement being waited for: (old worker id, new worker id).
    current: Option<(u32, u32)>,
    /// Old workers asked to stop, not gone yet.
    retiring: Vec<u32>,
    replaced: usize,
    kept: usize,
}

/// A graceful stop of the whole pool, on this signal.
struct Shutdown {
    signal: i32,
    killed: usize,
}

pub struct Pool {
    pub(super) cfg: Config,
    pub(super) listeners: Vec<Listener>,
    notify: NotifyDir,
    pub(super) events: Events,
    pub(super) workers: Vec<Worker>,
    slots: Vec<Slot>,
    next_id: u32,
    reload: Option<Reload>,
    shutdown: Option<Shutdown>,
    /// Sockets bound for Node workers' `listen()`, by address, shared by all who ask.
    pub(super) shared: Vec<(String, Listener)>,
    /// The primary's cluster message counter, one across all workers (as Node's).
    pub(super) seq: u64,
    /// Round-robin mode: the sockets childproc accepts on for Node workers.
    pub(super) rr: super::rr::RoundRobin,
}

impl Pool {
    pub fn new(cfg: Config, listeners: Vec<Listener>, events: Events, notify: NotifyDir) -> Pool {
        let slots = (0..cfg.workers)
            .map(|_| Slot {
                policy: RestartPolicy::new(cfg.max_restarts, cfg.restart_window),
                restart_at: None,
                given_up: false,
            })
            .collect();
        Pool {
            cfg,
            listeners,
            notify,
            events,
            workers: Vec::new(),
            slots,
            next_id: 1,
            reload: None,
            shutdown: None,
            shared: Vec::new(),
            seq: 0,
            rr: super::rr::RoundRobin::default(),
        }
    }

    /// Say where we listen (before any worker starts).
    pub fn announce_listeners(&mut self) {
        for (i, l) in self.listeners.iter().enumerate() {
            self.events.emit(Event::Listening {
                who: None,
                address: l.local.clone(),
                fd: Some(3 + i as i32),
            });
        }
    }

    /// Fill every slot. A worker that cannot start at all (program not found) ends the run:
    /// the ones already started are stopped and the error is childproc's.
    pub fn start_all(&mut self) -> Result<(), SpawnError> {
        for slot in 1..=self.cfg.workers {
            if let Err(e) = self.start_worker(slot) {
                for w in &self.workers {
                    w.signal(libc::SIGKILL);
                }
                for w in &mut self.workers {
                    w.reap();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    pub(super) fn index(&self, id: u32) -> Option<usize> {
        self.workers.iter().position(|w| w.who.id == id)
    }

    /// Start a worker in `slot`; its id.
    fn start_worker(&mut self, slot: usize) -> Result<u32, SpawnError> {
        let id = self.next_id;
        self.next_id += 1;
        let notify = self.notify.socket(id).ok();
        let w = Worker::start(&self.cfg.recipe, id, slot, &self.listeners, notify)?;
        let who = w.who;
        self.workers.push(w);
        self.events.emit(Event::Started { who });
        let at_once = match self.cfg.ready {
            Ready::Started => true,
            Ready::Auto => !self.listeners.is_empty(),
            _ => false,
        };
        if at_once {
            self.on_ready(id, "started");
        }
        Ok(id)
    }

    /// Worker `id` showed it is ready, `via` one of the readiness signals.
    pub(super) fn on_ready(&mut self, id: u32, via: &'static str) {
        let wanted = match self.cfg.ready {
            Ready::Auto => true,
            Ready::Started => via == "started",
            Ready::Notify => via == "notify",
            Ready::Message => via == "message",
            Ready::Listening => via == "listening",
        };
        let Some(i) = self.index(id) else { return };
        if via != "started" {
            self.workers[i].signalled_ready = true;
        }
        if !wanted || !matches!(self.workers[i].phase, Phase::Starting { .. }) {
            return;
        }
        self.workers[i].phase = Phase::Ready;
        let who = self.workers[i].who;
        self.events.emit(Event::Ready { who, via });
        if let Some(r) = &mut self.reload
            && let Some((old, new)) = r.current
            && new == id
        {
            r.current = None;
            r.replaced += 1;
            r.retiring.push(old);
            self.stop_worker(old);
            self.advance_reload();
        }
    }

    /// Ask worker `id` to stop gracefully; SIGKILL follows after `--kill-after`.
    pub(super) fn stop_worker(&mut self, id: u32) {
        let Some(i) = self.index(id) else { return };
        let w = &mut self.workers[i];
        if matches!(w.phase, Phase::Stopping { .. }) {
            return;
        }
        if w.node {
            // Node: close your servers, finish what is in flight, exit.
            let msg = super::cluster::ToWorker {
                cmd: super::cluster::CLUSTER,
                act: Some("disconnect"),
                ack: None,
                seq: self.seq,
            };
            self.seq += 1;
            w.send(super::cluster::line(&msg), None);
            self.rr.withdraw(id, None);
        } else {
            w.signal(self.cfg.stop_signal);
        }
        w.phase = Phase::Stopping {
            kill_at: self.cfg.kill_after.map(|d| Instant::now() + d),
            killed: false,
        };
    }

    /// Worker `id` has exited: reap it, report it, and refill its slot if it needs it.
    pub(super) fn on_exit(&mut self, id: u32) {
        let Some(i) = self.index(id) else { return };
        let mut w = self.workers.remove(i);
        let status = w.reap().unwrap_or(Status::Exited(0));
        let uptime = w.started.elapsed();
        let expected = matches!(w.phase, Phase::Stopping { .. });
        let (code, signal) = match status {
            Status::Exited(c) => (Some(c), None),
            Status::Signaled(n) => (None, Some(signal_name(n))),
        };
        self.events.emit(Event::Exited {
            who: w.who,
            code,
            signal,
            duration_ms: millis(uptime),
            expected,
        });
        self.rr.worker_gone(id);
        self.rr_dispatch();
        let healthy = uptime >= super::restart::HEALTHY || w.signalled_ready;
        self.after_exit(id, w.who.slot, healthy);
    }

    /// The reload's bookkeeping for a worker that is gone, then the slot's refill.
    fn after_exit(&mut self, id: u32, slot: usize, healthy: bool) {
        if let Some(r) = &mut self.reload {
            r.retiring.retain(|&x| x != id);
            if r.current.is_some_and(|(_, new)| new == id) {
                r.current = None;
                r.kept += 1;
            }
        }
        self.advance_reload();
        if self.shutdown.is_some() || self.slot_filled(slot) {
            return;
        }
        let s = &mut self.slots[slot - 1];
        if s.given_up || s.restart_at.is_some() {
            return;
        }
        match s.policy.on_death(Instant::now(), healthy) {
            Decision::RestartIn(d) => {
                s.restart_at = Some(Instant::now() + d);
                let restarts = s.policy.restarts();
                self.events.emit(Event::Restarting {
                    slot,
                    delay_ms: d.as_millis() as u64,
                    restarts,
                });
            }
            Decision::GiveUp(reason) => {
                s.given_up = true;
                self.events.emit(Event::GivenUp { slot, reason });
            }
        }
    }

    /// The slot has a worker that is not on its way out.
    fn slot_filled(&self, slot: usize) -> bool {
        self.workers
            .iter()
            .any(|w| w.who.slot == slot && !matches!(w.phase, Phase::Stopping { .. }))
    }

    /// SIGHUP: replace every worker, one slot at a time.
    pub(super) fn begin_reload(&mut self) {
        if self.shutdown.is_some() {
            return;
        }
        if self.reload.is_some() {
            error_line("a reload is already under way; SIGHUP ignored");
            return;
        }
        let queue: VecDeque<usize> = (1..=self.slots.len())
            .filter(|&s| self.slot_filled(s))
            .collect();
        self.events.emit(Event::ReloadStarted {
            workers: queue.len(),
        });
        self.reload = Some(Reload {
            queue,
            ..Reload::default()
        });
        self.advance_reload();
    }

    /// Start the next replacement when none is being waited for; say when all are done.
    fn advance_reload(&mut self) {
        loop {
            let Some(r) = &mut self.reload else { return };
            if r.current.is_some() {
                return;
            }
            let Some(slot) = r.queue.pop_front() else {
                if r.retiring.is_empty() {
                    let (replaced, kept) = (r.replaced, r.kept);
                    self.reload = None;
                    self.events.emit(Event::ReloadDone { replaced, kept });
                }
                return;
            };
            self.replace(slot);
        }
    }

    /// Start the replacement of `slot`'s worker (the reload waits for it to be ready).
    fn replace(&mut self, slot: usize) {
        let Some(old) = self
            .workers
            .iter()
            .find(|w| w.who.slot == slot && !matches!(w.phase, Phase::Stopping { .. }))
            .map(|w| w.who.id)
        else {
            return;
        };
        let deadline = Instant::now() + self.cfg.ready_timeout;
        let next = self.next_id;
        if let Some(r) = &mut self.reload {
            r.current = Some((old, next));
        }
        match self.start_worker(slot) {
            Ok(new) => {
                if let Some(i) = self.index(new)
                    && let Phase::Starting { deadline: d } = &mut self.workers[i].phase
                {
                    *d = Some(deadline);
                }
            }
            Err(e) => {
                error_line(&format!("reload: slot {slot}: {e}; keeping worker {old}"));
                if let Some(r) = &mut self.reload {
                    r.current = None;
                    r.kept += 1;
                }
            }
        }
    }

    /// SIGINT/SIGTERM: stop every worker gracefully; a second one kills them at once.
    pub(super) fn begin_shutdown(&mut self, sig: i32) {
        if self.shutdown.is_some() {
            self.kill_all();
            return;
        }
        self.shutdown = Some(Shutdown {
            signal: sig,
            killed: 0,
        });
        self.reload = None;
        for s in &mut self.slots {
            s.restart_at = None;
        }
        let ids: Vec<u32> = self.workers.iter().map(|w| w.who.id).collect();
        for id in ids {
            self.stop_worker(id);
        }
    }

    fn kill_all(&mut self) {
        let now = Instant::now();
        for i in 0..self.workers.len() {
            self.workers[i].phase = match self.workers[i].phase {
                Phase::Stopping { killed: true, .. } => continue,
                _ => Phase::Stopping {
                    kill_at: Some(now),
                    killed: false,
                },
            };
        }
        self.on_timers(now);
    }

    /// Deadlines that have passed: restarts due, SIGKILLs due, replacements never ready.
    pub(super) fn on_timers(&mut self, now: Instant) {
        self.restart_due(now);
        self.kill_due(now);
        let late: Vec<u32> = self
            .workers
            .iter()
            .filter(|w| matches!(w.phase, Phase::Starting { deadline: Some(d) } if d <= now))
            .map(|w| w.who.id)
            .collect();
        for id in late {
            error_line(&format!(
                "worker {id} was not ready within {} (--ready-timeout); stopping it and keeping the worker it was to replace",
                humantime::format_duration(self.cfg.ready_timeout)
            ));
            self.stop_worker(id);
            if let Some(r) = &mut self.reload {
                r.current = None;
                r.kept += 1;
                r.retiring.push(id);
            }
            self.advance_reload();
        }
    }

    fn restart_due(&mut self, now: Instant) {
        for slot in 1..=self.slots.len() {
            let s = &mut self.slots[slot - 1];
            if s.restart_at.is_none_or(|t| t > now) || self.shutdown.is_some() {
                continue;
            }
            s.restart_at = None;
            if let Err(e) = self.start_worker(slot) {
                error_line(&format!("slot {slot}: {e}"));
                self.after_exit(0, slot, false);
            }
        }
    }

    fn kill_due(&mut self, now: Instant) {
        for w in &mut self.workers {
            if let Phase::Stopping {
                kill_at: Some(t),
                killed: false,
            } = w.phase
                && t <= now
            {
                w.signal(libc::SIGKILL);
                w.phase = Phase::Stopping {
                    kill_at: Some(t),
                    killed: true,
                };
                if let Some(s) = &mut self.shutdown {
                    s.killed += 1;
                }
            }
        }
    }

    /// The earliest deadline still to come (the poll timeout).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let restarts = self.slots.iter().filter_map(|s| s.restart_at);
        let workers = self.workers.iter().filter_map(|w| match w.phase {
            Phase::Starting { deadline } => deadline,
            Phase::Stopping {
                kill_at,
                killed: false,
            } => kill_at,
            _ => None,
        });
        restarts.chain(workers).min()
    }

    /// The exit status once the run is over.
    pub(super) fn finished(&mut self) -> Option<Exit> {
        if !self.workers.is_empty() {
            return None;
        }
        if let Some(s) = &self.shutdown {
            let exit = if s.killed > 0 {
                Exit::Signal(s.signal)
            } else {
                Exit::Stopped
            };
            self.events.emit(Event::Stopped {
                signal: Some(signal_name(s.signal)),
                killed: s.killed,
                code: exit.code(),
            });
            return Some(exit);
        }
        if self.slots.iter().all(|s| s.given_up) {
            self.events.emit(Event::Stopped {
                signal: None,
                killed: 0,
                code: Exit::Failure.code(),
            });
            return Some(Exit::Failure);
        }
        None
    }
}

impl Pool {
    /// Slots given up so far (the status table).
    pub(super) fn given_up(&self) -> usize {
        self.slots.iter().filter(|s| s.given_up).count()
    }

    /// Restarts of `slot` within the current window (the status table).
    pub(super) fn restarts(&self, slot: usize) -> u32 {
        self.slots.get(slot - 1).map_or(0, |s| s.policy.restarts())
    }
}

pub(super) fn signal_name(n: i32) -> String {
    Signal::name_of(n).map_or_else(|| format!("SIG{n}"), str::to_owned)
}
