//! Safe wrappers over the system calls the engine makes from ordinary (parent-side) code.
//!
//! This is the one file of the engine, with the child-side launcher (launch.rs) and the forked
//! guard (guard.rs), allowed to use `unsafe`: every other file of `src/process` denies it. Each
//! wrapper is a single call with arguments it owns or borrows, so its safety argument is local.
//! They add no allocation and no system call beyond the one they wrap.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use super::Status;

/// `-1` from a call becomes the `errno` it left.
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Send `sig` to process group `pgid`; an already-empty group (ESRCH) is not an error to us.
pub fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::kill(-pgid, sig) };
}

/// Send `sig` to our own process group (job control: stop as the terminal would stop us).
pub fn kill_own_group(sig: i32) {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::kill(0, sig) };
}

/// `poll(2)` over `fds`; `timeout_ms < 0` waits without a limit. The one poll of the engine.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd entries.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    check(n).map(|n| n as usize)
}

/// One `pollfd` asking for `events` on `fd`.
pub fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` with `MSG_NOSIGNAL`: a peer that has gone away is an `EPIPE`, not a SIGPIPE.
pub fn send_nosignal(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` with `MSG_DONTWAIT`: what is there now, the socket itself staying blocking.
pub fn recv_dontwait(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `listen(2)` with `backlog` (on a socket already listening it only changes the backlog).
pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: a plain call on a descriptor number.
    check(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// `accept4(2)` with close-on-exec: the connection, or `None` when there is none (or an error).
pub fn accept_cloexec(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: accept4 on a listening socket, not asking for the peer's address.
    let c = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor from accept4, owned by nobody else.
    (c >= 0).then(|| unsafe { OwnedFd::from_raw_fd(c) })
}

/// Bytes written to a socket that its peer has not read yet (SIOCOUTQ); 0 on error.
pub fn unread_by_peer(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r < 0 { 0 } else { n.max(0) as usize }
}

/// Whether our child `pid` has exited, reaping nothing (also true once it has been reaped:
/// then waitid fails).
pub fn has_exited(pid: i32) -> bool {
    !matches!(waitid(pid, libc::WEXITED | libc::WNOWAIT), Ok(None))
}

/// `fstat(2)`: whether `fd` is open, and whether it is a socket.
pub fn fd_kind(fd: RawFd) -> Option<bool> {
    // SAFETY: stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into a local struct; any descriptor number is safe to ask about.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// Close-on-exec, and blocking (a parent may hand over a non-blocking end).
pub fn set_cloexec_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain fcntl calls on a descriptor number.
    unsafe {
        check(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
        let fl = check(libc::fcntl(fd, libc::F_GETFL))?;
        if fl & libc::O_NONBLOCK != 0 {
            check(libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK))?;
        }
    }
    Ok(())
}

/// `write(2)` from `bytes`.
pub fn write(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Add `O_NONBLOCK` to `fd`'s status flags.
pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl with integer arguments on a descriptor the caller owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// A close-on-exec duplicate of `fd` numbered `min` or above.
pub fn dup_at_least(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl with integer arguments.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Our process id.
pub fn getpid() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

/// Our process group id.
pub fn getpgrp() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpgrp() }
}

/// Is stdin a terminal whose foreground group is ours?
pub fn own_foreground_tty() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Is our group the foreground group of the terminal on fd 0?
pub fn in_foreground() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Give the terminal on fd 0 to `pgid`. SIGTTOU is blocked around the call because a background
/// group (which we are when taking the terminal back) would otherwise be stopped by it.
pub fn give_tty(pgid: i32) {
    // SAFETY: signal-mask juggling on local sets and tcsetpgrp with valid arguments.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        libc::tcsetpgrp(0, pgid);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// `waitid(P_PID, pid, flags | WNOHANG)`: the filled-in report, `Ok(None)` when there is
/// nothing to report yet; EINTR is retried, other errors returned.
fn waitid(pid: i32, flags: libc::c_int) -> io::Result<Option<libc::siginfo_t>> {
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on a child of ours into a local siginfo.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                flags | libc::WNOHANG,
            )
        };
        if r == 0 {
            // SAFETY: si_pid is valid to read for a SIGCHLD report (zero when none was filled in).
            return Ok((unsafe { info.si_pid() } == pid).then_some(info));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The child's exit status, if it has exited. With `reap == false` the zombie is left in place
/// (WNOWAIT), which keeps its PID and process-group ID reserved.
pub fn exit_status(pid: i32, reap: bool) -> Option<Status> {
    let flags = libc::WEXITED | if reap { 0 } else { libc::WNOWAIT };
    let info = waitid(pid, flags).ok().flatten()?;
    // SAFETY: si_status is valid to read for a filled-in CLD_* report.
    let code = unsafe { info.si_status() };
    Some(match info.si_code {
        libc::CLD_EXITED => Status::Exited(code),
        _ => Status::Signaled(code),
    })
}

/// The signal that stopped the child, if it has been stopped since last asked (nothing is
/// reaped).
pub fn stop_signal(pid: i32) -> Option<i32> {
    let info = waitid(pid, libc::WSTOPPED).ok().flatten()?;
    // SAFETY: si_status is valid to read for a filled-in CLD_STOPPED report.
    (info.si_code == libc::CLD_STOPPED).then(|| unsafe { info.si_status() })
}

/// User + system CPU time of every child this process has reaped.
pub fn children_cpu() -> Duration {
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the local struct.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// access(2) with X_OK: the kernel's own answer (root, ACLs, noexec mounts).
pub fn executable(path: &CStr) -> bool {
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), libc::X_OK) == 0 }
}

/// SIGCHLD back to its default action.
pub fn default_sigchld() {
    // SAFETY: setting a default disposition.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// Whether `sig` is ignored right now.
pub fn is_ignored(sig: i32) -> bool {
    // SAFETY: sigaction is plain data; querying with a null new action changes nothing.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Handle `sig` by adding one to `count` and writing `byte` to every non-negative descriptor
/// in `wake`. The handler is fixed here, so it is known to be async-signal-safe: atomic
/// operations and write(2) only.
pub fn count_and_wake(
    sig: i32,
    count: &'static AtomicU32,
    wake: &'static [AtomicI32],
    byte: u8,
) -> io::Result<()> {
    // SAFETY: the action only does atomic operations and write(2) from a local buffer.
    let r = unsafe {
        signal_hook::low_level::register(sig, move || {
            count.fetch_add(1, Ordering::SeqCst);
            for slot in wake {
                let fd = slot.load(Ordering::SeqCst);
                if fd >= 0 {
                    let b = [byte];
                    libc::write(fd, b.as_ptr().cast(), 1);
                }
            }
        })
    };
    r.map(drop)
}
