//! Signals that reach childproc itself (SIGINT, SIGTERM, SIGHUP) are recorded and turned into a
//! wake-up byte on a self-pipe, so the supervisor's `poll` loop sees them next to the child's
//! pipes and pidfd. signal-hook provides the async-signal-safe registration.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The signals childproc forwards to the children it runs.
pub const FORWARDED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static COUNTS: [AtomicU32; 3] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
static WAKE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();

/// Process-wide set-up done first thing in `main`.
///
/// SIGCHLD goes back to its default: a parent that left it ignored would make the kernel reap
/// our children behind our back, and waiting (and safe group kills) depend on that not happening.
pub fn init_process() {
    // SAFETY: plain libc calls at start-up with valid arguments.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
}

/// Install the handlers (once). A signal that was ignored when childproc started stays ignored,
/// as shells do for background jobs, so `nohup childproc …` still ignores SIGHUP.
pub fn install() -> std::io::Result<RawFd> {
    if let Some((r, _)) = WAKE.get() {
        return Ok(r.as_raw_fd());
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(std::io::Error::from)?;
    let wfd = w.as_raw_fd();
    let _ = WAKE.set((r, w));
    for (i, &sig) in FORWARDED.iter().enumerate() {
        if is_ignored(sig) {
            continue;
        }
        // SAFETY: the action only does an atomic add and a write(2), both async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                COUNTS[i].fetch_add(1, Ordering::SeqCst);
                let b = [i as u8];
                libc::write(wfd, b.as_ptr().cast(), 1);
            })
        }
        .map_err(std::io::Error::other)?;
    }
    Ok(WAKE.get().map(|(r, _)| r.as_raw_fd()).unwrap_or(-1))
}

fn is_ignored(sig: i32) -> bool {
    // SAFETY: querying the current action with a null new action changes nothing.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Counters of received signals, read by the supervisor to notice new arrivals.
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
        for i in 0..3 {
            for _ in self.0[i]..later.0[i] {
                out.push(FORWARDED[i]);
            }
        }
        out
    }
}

/// Empty the wake-up pipe after `poll` reported it readable.
pub fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from our own non-blocking pipe.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}
