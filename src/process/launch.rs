//! Starting a child the way `posix_spawn` does — `clone(CLONE_VM | CLONE_VFORK)`, so no page
//! tables are copied — but with the set-up `posix_spawn` cannot express (`PR_SET_PDEATHSIG`,
//! taking the terminal) and a pidfd from `CLONE_PIDFD`, race-free from the first instant.
//!
//! std's `Command` falls back to a full `fork()` as soon as a `pre_exec` hook is needed, which
//! measured ~100 µs more per spawn here; that is most of `cluster --exec`'s per-job budget.
//!
//! The child shares our memory until it execs, so everything it touches is prepared by the
//! parent, and between `clone` and `execve` it only makes raw system calls. All signals are
//! blocked around the `clone` so no handler of ours can run in the child on our memory; the
//! child resets every caught signal to its default before unblocking.
//! (Exempt from the engine's `#![deny(unsafe_code)]`: see the SAFETY comments below.)
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::exit::Exit;

/// Everything the child needs, prepared in the parent.
pub struct Plan {
    pub path: CString,
    /// NUL-terminated pointers into `_args` (argv[0] first).
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
    /// `/bin/sh PATH ARGS...`, for a file the kernel will not execute (ENOEXEC): argv[0] is the
    /// shell, then the path and `argv[1..]`, as execvp builds it.
    pub sh_argv: Vec<*const libc::c_char>,
    /// Where to chdir before exec (`None`: stay in ours).
    pub cwd: Option<CString>,
    /// Descriptors to install as 0, 1, 2 (`None`: inherit ours).
    pub stdio: [Option<RawFd>; 3],
    /// Descriptors to install as 3, 4, … (none of them lies in that range unless it already is
    /// its own target: the parent moved them).
    pub fds: Vec<RawFd>,
    /// `LISTEN_PID=` in `envp`, to be completed with the child's pid before exec.
    pub listen_pid: Option<ListenPid>,
    pub take_tty: bool,
    pub parent: libc::pid_t,
    /// The child's entry in the guard's table (see guard.rs), null for none: the child stores
    /// its own group there before exec, so there is no moment in which a SIGKILL to us would
    /// orphan it.
    pub guard: *const AtomicI32,
    pub death_signal: libc::c_int,
    /// Keep the strings alive while `argv` / `envp` point into them.
    pub _args: Vec<CString>,
    pub _env: Vec<CString>,
}

/// Shared with the child: where it reports a failure before exec.
struct Shared<'a> {
    plan: &'a Plan,
    errno: i32,
    step: &'static str,
}

const STACK_SIZE: usize = 64 * 1024;

/// The shell that runs a file without a `#!` line (execvp's fallback).
pub const SHELL: &std::ffi::CStr = c"/bin/sh";

/// Every signal whose disposition childproc changes: the forwarded ones (signal-hook), Rust's
/// stack-overflow handlers, and SIGPIPE (ignored by the Rust runtime).
const CAUGHT: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGPIPE,
    libc::SIGCONT,
];

thread_local! {
    /// One child stack per thread, reused: the child runs on it only until execve.
    static STACK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn stack_top() -> std::io::Result<*mut libc::c_void> {
    let base = STACK.with(|s| s.get());
    let base = if base != 0 {
        base
    } else {
        // SAFETY: anonymous private mapping, checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        STACK.with(|s| s.set(p as usize));
        p as usize
    };
    // The stack grows down; keep 16-byte alignment.
    Ok(((base + STACK_SIZE) & !15) as *mut libc::c_void)
}

/// Start the child. Returns its pid and a pidfd; on a failure before exec, the errno and the
/// step that failed (the child has then been reaped).
pub fn launch(plan: &Plan) -> Result<(libc::pid_t, OwnedFd), (std::io::Error, &'static str)> {
    let top = stack_top().map_err(|e| (e, "allocating the child stack"))?;
    let mut shared = Shared {
        plan,
        errno: 0,
        step: "",
    };
    let mut pidfd: libc::c_int = -1;
    // SAFETY: signal-mask manipulation with valid sets; clone with a valid stack and argument
    // that outlives the child's use of it (CLONE_VFORK suspends us until exec or exit).
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            (&mut shared as *mut Shared).cast(),
            &mut pidfd as *mut libc::c_int,
        );
        let clone_err = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err((clone_err, "clone"));
        }
        pid
    };
    // SAFETY: CLONE_PIDFD stored a fresh close-on-exec descriptor for the child.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    if shared.errno != 0 {
        // The child is exiting (or exited) with `Exit::NOT_FOUND` before exec: reap it.
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err((std::io::Error::from_raw_os_error(shared.errno), shared.step));
    }
    Ok((pid, pidfd))
}

/// Runs in the child on the borrowed stack, sharing the parent's memory: raw syscalls only.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Shared`, alive and not accessed by the parent until we
    // exec or exit (CLONE_VFORK). Every call below is a plain system call wrapper.
    unsafe {
        let shared = &mut *(arg as *mut Shared);
        let plan = shared.plan;
        let fail = |shared: &mut Shared, step: &'static str| -> libc::c_int {
            shared.errno = *libc::__errno_location();
            if shared.errno == 0 {
                shared.errno = libc::EINVAL;
            }
            shared.step = step;
            libc::_exit(Exit::NOT_FOUND as libc::c_int);
        };

        // Caught signals go back to their defaults (a handler would run on the parent's
        // memory); SIGPIPE too, which Rust ignores for itself. Other ignored signals stay
        // ignored. Only the signals childproc ever catches are checked: the full range costs
        // ~130 system calls per spawn.
        let mut sa: libc::sigaction = std::mem::zeroed();
        for &sig in CAUGHT {
            if libc::sigaction(sig, std::ptr::null(), &mut sa) != 0 {
                continue;
            }
            let ignored = sa.sa_sigaction == libc::SIG_IGN;
            if sa.sa_sigaction != libc::SIG_DFL && (!ignored || sig == libc::SIGPIPE) {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }

        if libc::setpgid(0, 0) != 0 {
            return fail(shared, "setpgid");
        }
        // Die with childproc even if it is SIGKILLed; the parent may already be gone.
        libc::prctl(libc::PR_SET_PDEATHSIG, plan.death_signal as libc::c_ulong);
        if libc::getppid() != plan.parent {
            libc::_exit(Exit::FAILURE as libc::c_int);
        }
        if let Some(cell) = plan.guard.as_ref() {
            cell.store(libc::syscall(libc::SYS_getpid) as i32, Ordering::Release);
        }
        if plan.take_tty {
            // Take the terminal ourselves too, so a read right after exec cannot race the
            // parent's tcsetpgrp and get SIGTTIN. SIGTTOU is still blocked here.
            libc::tcsetpgrp(0, libc::getpid());
        }
        // Nothing but 0, 1, 2 (and 3 for fork) reaches the program: every other descriptor —
        // ours, or one a parent leaked to us — is marked close-on-exec.
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            for fd in 3..4096 {
                let fl = libc::fcntl(fd, libc::F_GETFD);
                if fl >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, fl | libc::FD_CLOEXEC);
                }
            }
        }
        for (target, src) in plan.stdio.iter().enumerate() {
            if let Some(src) = *src
                && !install(src, target as RawFd)
            {
                return fail(shared, "setting up stdio");
            }
        }
        for (i, &src) in plan.fds.iter().enumerate() {
            if !install(src, 3 + i as RawFd) {
                return fail(shared, "setting up descriptors from 3");
            }
        }
        if let Some(l) = &plan.listen_pid {
            l.fill(libc::syscall(libc::SYS_getpid) as u32);
        }
        if let Some(cwd) = &plan.cwd
            && libc::chdir(cwd.as_ptr()) != 0
        {
            return fail(shared, "chdir");
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        if *libc::__errno_location() == libc::ENOEXEC {
            // A script without a #! line: run it under /bin/sh, as execvp, Node and the shell do.
            libc::execve(SHELL.as_ptr(), plan.sh_argv.as_ptr(), plan.envp.as_ptr());
            *libc::__errno_location() = libc::ENOEXEC;
        }
        fail(shared, "execve")
    }
}

/// The environment entry `LISTEN_PID=<pid>`, whose digits only the child knows: the parent
/// allocates it with room for any pid, the child writes them (it shares our memory until exec).
pub struct ListenPid(Box<std::cell::UnsafeCell<[u8; LISTEN_PID_LEN]>>);

const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// The prefix, 10 digits (any u32) and the NUL.
const LISTEN_PID_LEN: usize = 11 + 10 + 1;

impl ListenPid {
    pub fn new() -> ListenPid {
        let mut b = [0u8; LISTEN_PID_LEN];
        b[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
        b[LISTEN_PID_PREFIX.len()] = b'0';
        ListenPid(Box::new(std::cell::UnsafeCell::new(b)))
    }

    /// The entry for `envp`; it stays valid while `self` lives (the box never moves).
    pub fn entry(&self) -> *const libc::c_char {
        self.0.get().cast()
    }

    /// Write `pid` in decimal after the prefix, NUL-terminated. No allocation: the child calls
    /// it between clone and exec.
    fn fill(&self, pid: u32) {
        let mut digits = [0u8; 10];
        let mut n = pid;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            n /= 10;
            len += 1;
            if n == 0 {
                break;
            }
        }
        let base: *mut u8 = self.0.get().cast();
        for (i, d) in digits[..len].iter().rev().enumerate() {
            // SAFETY: within the box (prefix + at most 10 digits + NUL = LISTEN_PID_LEN); the
            // parent does not touch it while the child runs (CLONE_VFORK).
            unsafe { base.add(LISTEN_PID_PREFIX.len() + i).write(*d) };
        }
        // SAFETY: as above.
        unsafe { base.add(LISTEN_PID_PREFIX.len() + len).write(0) };
    }
}

/// `dup2(src, target)`, or clear close-on-exec when the descriptor already is the target.
///
/// # Safety
/// Only for the child between clone and exec, on descriptors the parent prepared.
unsafe fn install(src: RawFd, target: RawFd) -> bool {
    // SAFETY: plain fcntl/dup2 on descriptors the parent prepared.
    unsafe {
        if src == target {
            libc::fcntl(target, libc::F_SETFD, 0) == 0
        } else {
            libc::dup2(src, target) == target
        }
    }
}
