//! The guard: a tiny process that outlives a SIGKILLed childproc just long enough to kill the
//! process groups it was running.
//!
//! `PR_SET_PDEATHSIG` reaches only our direct children; what they started in the background
//! (`sh -c 'sleep 100 & sleep 100'`) would be orphaned. So at the first spawn we fork a guard
//! that reads process-group ids over a pipe: each child writes its own (= its pid) there after
//! `setpgid` and before exec, and we write its negation once its leader is reaped. When its end of the pipe reaches
//! EOF without the groups having been unregistered — we were killed — it sends SIGKILL to each
//! group still registered, then exits. A group is unregistered when its leader is reaped (by
//! then every straggler of a stopped run has been killed), so after a normal run nothing is
//! left to kill and nothing is.
//!
//! The guard is forked from a possibly multi-threaded process, so it only makes
//! async-signal-safe system calls and never allocates. It leaves our process group (a Ctrl-C
//! at the terminal is not for it), ignores the usual stop signals, and keeps no descriptor but
//! its pipe, so it never holds one of our pipes open.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// How many groups may be registered at once (cluster: one per slot, plus a few).
const CAPACITY: usize = 8192;

/// Our end of the guard's pipe, set once at the first spawn (`None` inside if the guard could
/// not start). Read on every spawn and reap, so no lock: it never changes afterwards.
static GUARD: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// The guard's pipe (started on first use), for a child to register its own group before it
/// execs; -1 if the guard could not be started.
pub fn fd() -> RawFd {
    GUARD
        .get_or_init(start)
        .as_ref()
        .map_or(-1, AsRawFd::as_raw_fd)
}

/// Group `pgid` is over (its leader is reaped): nothing to do for it any more.
pub fn unregister(pgid: i32) {
    if let Some(Some(fd)) = GUARD.get() {
        let b = (-pgid).to_ne_bytes();
        // SAFETY: writing 4 bytes from a local buffer to our own pipe. A 4-byte write to a
        // pipe is atomic; if the guard is gone (EPIPE) there is nothing left to do.
        unsafe { libc::write(fd.as_raw_fd(), b.as_ptr().cast(), b.len()) };
    }
}

fn start() -> Option<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    let read_fd = read.as_raw_fd();
    // SAFETY: fork in a possibly multi-threaded process; the child below only makes
    // async-signal-safe calls (close_range, dup2, setpgid, prctl, signal,
    // read, kill, _exit) on memory it owns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; never returns.
        unsafe { guard_main(read_fd) }
    }
    drop(read);
    (pid > 0).then_some(write)
}

/// The guard's whole life.
///
/// # Safety
/// Only called in the freshly forked child, with `fd` the read end of the guard's pipe.
unsafe fn guard_main(fd: i32) -> ! {
    unsafe {
        // Keep only the pipe, on fd 0: no descriptor of ours (or of our children) stays open.
        libc::dup2(fd, 0);
        libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32);
        libc::setpgid(0, 0);
        // Named, so `ps -o comm` (and the tests) can tell it from the childproc it guards.
        libc::prctl(libc::PR_SET_NAME, c"childproc-guard".as_ptr());
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGPIPE,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut groups = [0i32; CAPACITY];
        let mut n = 0usize;
        let mut buf = [0u8; 4096];
        let mut have = 0usize;
        loop {
            let r = libc::read(0, buf.as_mut_ptr().add(have).cast(), buf.len() - have);
            if r == 0 {
                break; // every write end is closed: childproc is gone
            }
            if r < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            have += r as usize;
            let whole = have - have % 4;
            let mut i = 0;
            while i < whole {
                let v = i32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
                if v > 0 {
                    if n < CAPACITY {
                        groups[n] = v;
                        n += 1;
                    }
                } else if v < 0
                    && let Some(k) = groups[..n].iter().position(|&g| g == -v)
                {
                    n -= 1;
                    groups[k] = groups[n];
                }
                i += 4;
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
        for &g in &groups[..n] {
            libc::kill(-g, libc::SIGKILL);
        }
        libc::_exit(0);
    }
}
