//! The `poll(2)` loop that feeds the pool its events: childproc's signals, each worker's exit
//! (its pidfd), channel, notify socket and output pipes, and the pool's deadlines.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use super::pool::Pool;
use super::status::StatusSignal;
use super::worker::Note;
use crate::exit::Exit;
use crate::process::Stream;
use crate::process::signals::{Seen, Waker};

/// What a polled descriptor stands for.
#[derive(Clone, Copy)]
enum Role {
    Signal,
    Exit(u32),
    Channel(u32),
    Notify(u32),
    Output(u32, Stream),
    /// A round-robin listening socket (by its index).
    Accept(usize),
    /// SIGUSR2: print the status table.
    Status,
}

/// Run the pool until it is stopped; its exit status.
pub fn run(pool: &mut Pool, waker: Option<&Waker>, mut seen: Seen) -> Exit {
    let status = StatusSignal::install();
    loop {
        pool.on_timers(Instant::now());
        if let Some(exit) = pool.finished() {
            return exit;
        }
        for w in &mut pool.workers {
            w.flush_output();
        }
        let (mut fds, mut roles) = interest(pool, waker);
        if let Some(s) = &status {
            fds.push(libc::pollfd {
                fd: s.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            roles.push(Role::Status);
        }
        let timeout = pool.next_deadline().map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        });
        match crate::process::sys::poll(&mut fds, timeout) {
            Ok(n) if n > 0 => {}
            _ => continue, // a deadline, or EINTR
        }
        for (pfd, role) in fds.iter().zip(roles) {
            if pfd.revents == 0 {
                continue;
            }
            if let (Role::Status, Some(s)) = (role, &status) {
                s.drain();
                pool.print_status();
            } else {
                dispatch(pool, role, waker, &mut seen);
            }
        }
    }
}

/// The descriptors to wait on, and what each is.
fn interest(pool: &Pool, waker: Option<&Waker>) -> (Vec<libc::pollfd>, Vec<Role>) {
    let mut fds = Vec::new();
    let mut roles = Vec::new();
    let mut add = |fd: RawFd, role: Role| {
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        roles.push(role);
    };
    if let Some(w) = waker {
        add(w.fd(), Role::Signal);
    }
    for (h, fd) in pool.rr.acceptable() {
        add(fd, Role::Accept(h));
    }
    for w in &pool.workers {
        let id = w.who.id;
        if let Some(fd) = w.exit_fd() {
            add(fd, Role::Exit(id));
        }
        if let Some(fd) = w.channel_fd() {
            add(fd, Role::Channel(id));
        }
        if let Some(n) = &w.notify {
            add(n.sock.as_raw_fd(), Role::Notify(id));
        }
        for (fd, s) in w.output_fds() {
            add(fd, Role::Output(id, s));
        }
    }
    (fds, roles)
}

fn dispatch(pool: &mut Pool, role: Role, waker: Option<&Waker>, seen: &mut Seen) {
    match role {
        Role::Signal => {
            if let Some(w) = waker {
                w.drain();
            }
            let now = Seen::now();
            for sig in seen.new_since(&now) {
                if sig == libc::SIGHUP {
                    pool.begin_reload();
                } else {
                    pool.begin_shutdown(sig);
                }
            }
            *seen = now;
        }
        Role::Exit(id) => {
            // Output written just before the exit comes first.
            if let Some(i) = pool.index(id)
                && pool.workers[i].exited().is_some()
            {
                pool.on_exit(id);
            }
        }
        Role::Channel(id) => {
            let Some(i) = pool.index(id) else { return };
            for note in pool.workers[i].read_channel() {
                match note {
                    Note::ReadyMessage => pool.on_ready(id, "message"),
                    Note::Internal(msg) => pool.on_internal(id, &msg),
                }
            }
        }
        Role::Notify(id) => {
            let Some(i) = pool.index(id) else { return };
            let ready = pool.workers[i]
                .notify
                .as_ref()
                .is_some_and(|n| n.take_ready());
            if ready {
                pool.on_ready(id, "notify");
            }
        }
        Role::Status => {}
        Role::Accept(h) => {
            pool.rr.accept(h);
            pool.rr_dispatch();
        }
        Role::Output(id, s) => {
            if let Some(i) = pool.index(id) {
                pool.workers[i].pump(s);
            }
        }
    }
}
