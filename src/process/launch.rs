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

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Everything the child needs, prepared in the parent.
pub struct Plan {
    pub path: CString,
    /// NUL-terminated pointers into `_args` (argv[0] first).
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
    /// Where to chdir before exec (`None`: stay in ours).
    pub cwd: Option<CString>,
    /// Descriptors to install as 0, 1, 2 (`None`: inherit ours).
    pub stdio: [Option<RawFd>; 3],
    /// A descriptor to install as 3.
    pub fd3: Option<RawFd>,
    pub take_tty: bool,
    pub parent: libc::pid_t,
    /// The guard's pipe (see guard.rs), -1 for none: the child registers its own group there
    /// before exec, so there is no moment in which a SIGKILL to us would orphan it.
    pub guard: RawFd,
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
        // The child is exiting (or exited) with 127 before exec: reap it.
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        super::guard::unregister(pid);
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
            libc::_exit(127);
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
            libc::_exit(125);
        }
        if plan.guard >= 0 {
            let me = (libc::syscall(libc::SYS_getpid) as i32).to_ne_bytes();
            libc::write(plan.guard, me.as_ptr().cast(), me.len());
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
        if let Some(src) = plan.fd3
            && !install(src, 3)
        {
            return fail(shared, "setting up fd 3");
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
        fail(shared, "execve")
    }
}

/// `dup2(src, target)`, or clear close-on-exec when the descriptor already is the target.
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
