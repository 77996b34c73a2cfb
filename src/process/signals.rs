//! Signals that reach childproc itself (SIGINT, SIGTERM, SIGHUP) are counted, and every
//! registered [`Waker`] gets a byte on its own self-pipe, so each `poll` loop — one per running
//! child, possibly on several threads in `cluster` — sees them next to its child's descriptors.
//! signal-hook provides the async-signal-safe registration; the handler only does atomic
//! operations and write(2) (`sys::count_and_wake`).
#![deny(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::sys;

/// The signals childproc forwards to the children it runs.
pub const FORWARDED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static COUNTS: [AtomicU32; 3] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];

/// Write ends of the registered wake pipes; -1 is a free slot.
const SLOTS: usize = 256;
static WAKE_FDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static INSTALL: Once = Once::new();

/// Process-wide set-up done first thing in `main`.
///
/// SIGCHLD goes back to its default: a parent that left it ignored would make the kernel reap
/// our children behind our back, and waiting (and safe group kills) depend on that not happening.
pub fn init_process() {
    sys::default_sigchld();
}

/// Install the handlers (once per process). A signal that was ignored when childproc started
/// stays ignored, as shells do for background jobs, so `nohup childproc …` still ignores SIGHUP.
fn install() {
    INSTALL.call_once(|| {
        for (i, &sig) in FORWARDED.iter().enumerate() {
            if sys::is_ignored(sig) {
                continue;
            }
            let _ = sys::count_and_wake(sig, &COUNTS[i], &WAKE_FDS, i as u8);
        }
    });
}

/// A registered self-pipe: readable whenever a forwarded signal arrives.
///
/// One per thread, never closed: the handler may be about to write to a registered descriptor
/// at any moment, so closing it could redirect that byte into a reused descriptor.
pub struct Waker {
    read: OwnedFd,
    _write: OwnedFd,
}

thread_local! {
    static THREAD_WAKER: std::cell::OnceCell<&'static Waker> = const { std::cell::OnceCell::new() };
}

impl Waker {
    /// This thread's waker, registered on first use (which also installs the handlers).
    pub fn for_thread() -> std::io::Result<&'static Waker> {
        THREAD_WAKER.with(|cell| {
            if let Some(w) = cell.get() {
                return Ok(*w);
            }
            let w: &'static Waker = Box::leak(Box::new(Waker::register()?));
            let _ = cell.set(w);
            Ok(w)
        })
    }

    fn register() -> std::io::Result<Waker> {
        install();
        let flags = nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK;
        let (r, w) = nix::unistd::pipe2(flags).map_err(std::io::Error::from)?;
        let wfd = w.as_raw_fd();
        // With more threads than slots the extra ones still see signals on their next wake-up.
        let _ = WAKE_FDS.iter().position(|s| {
            s.compare_exchange(-1, wfd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        Ok(Waker { read: r, _write: w })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Empty the pipe after `poll` reported it readable.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while sys::read(self.fd(), &mut buf).is_ok_and(|n| n > 0) {}
    }
}

static CANCEL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask every supervisor and worker loop to stop its child (cluster's `--halt now`, Ctrl-C):
/// sets a flag and wakes every registered loop.
pub fn cancel_all() {
    CANCEL.store(true, Ordering::SeqCst);
    for slot in &WAKE_FDS {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            let _ = sys::write(fd, &[0xff]);
        }
    }
}

/// Whether [`cancel_all`] was called.
pub fn cancelled() -> bool {
    CANCEL.load(Ordering::SeqCst)
}

/// Counters of received signals, read by a supervisor to notice new arrivals.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen([u32; 3]);

impl Seen {
    pub fn now() -> Seen {
        Seen([
            COUNTS[0].load(Ordering::SeqCst),
            COUNTS[1].load(Ordering::SeqCst),
            COUNTS[2].load(Ordering::SeqCst),
        ])
    }

    /// Signals that arrived since `self`, in a fixed order, each once per arrival.
    pub fn new_since(&self, later: &Seen) -> Vec<i32> {
        let mut out = Vec::new();
        for (i, &sig) in FORWARDED.iter().enumerate() {
            for _ in self.0[i]..later.0[i] {
                out.push(sig);
            }
        }
        out
    }

    /// The first signal received so far, if any.
    pub fn first(&self) -> Option<i32> {
        FORWARDED
            .iter()
            .zip(self.0)
            .find(|(_, n)| *n > 0)
            .map(|(s, _)| *s)
    }
}

static CONTINUED: AtomicU32 = AtomicU32::new(0);
static CONT_INSTALL: Once = Once::new();

/// How many times we have been continued (SIGCONT) since [`watch_continue`] was first called.
pub fn continued() -> u32 {
    CONTINUED.load(Ordering::SeqCst)
}

/// Count SIGCONTs from now on (job control: telling "stopped, then continued" from "the stop
/// signal was ignored"). The action only bumps a counter; continuing happens regardless.
pub fn watch_continue() {
    CONT_INSTALL.call_once(|| {
        let _ = sys::count_and_wake(libc::SIGCONT, &CONTINUED, &[], 0);
    });
}
