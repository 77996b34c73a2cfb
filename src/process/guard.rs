//! The guard: a tiny process that outlives a SIGKILLed childproc just long enough to kill the
//! process groups it was running.
//!
//! `PR_SET_PDEATHSIG` reaches only our direct children; what they started in the background
//! (`sh -c 'sleep 100 & sleep 100'`) would be orphaned. So at the first spawn we map a table of
//! live process groups in memory shared with a forked guard. A child stores its own group id
//! (= its pid) into the slot its parent reserved for it, after `setpgid` and before `execve`
//! (it still shares our memory then, `CLONE_VM`), so there is no instant in which a SIGKILL to
//! us would orphan it; the slot is cleared once its leader is reaped. The guard sleeps on a
//! pidfd of childproc and reads the table only when childproc has died: it SIGKILLs every group
//! still listed, then exits.
//!
//! Why a shared table: the first guard took a registration write before every `execve`, an
//! unregistration write at every reap and a wake-up of the guard for each, about 35 µs per job
//! on this 2-core machine (`cluster --exec` of a libc-free `true`: 1.05× a C vfork loop before
//! the guard, 1.25–1.50× with it). A store into shared memory costs nothing measurable, and the
//! guard stays asleep for the whole run (`bench/cluster.sh`, docs/ARCHITECTURE.md).
//!
//! Trust: the table is reachable only through our own memory. No descriptor of it exists (the
//! mapping is anonymous) and the guard has no pipe a child could reopen through
//! `/proc/<pid>/fd`; a child writes its slot only before it execs, while it runs our code.
//! The guard never acts on group 0 or 1, on a negative id, or on its own or childproc's group.
//!
//! The guard is forked from a possibly multi-threaded process, so it only makes
//! async-signal-safe system calls and never allocates. It leaves our process group (a Ctrl-C
//! at the terminal is not for it), ignores the usual stop signals, and keeps no descriptor but
//! the pidfd, so it never holds one of our pipes open.
//! (Exempt from the engine's `#![deny(unsafe_code)]`: see the SAFETY comments below.)
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::sys;

/// How many groups may be guarded at once (cluster: one per slot, plus a few). A spawn beyond
/// that runs unguarded (its direct child still dies with us, by `PR_SET_PDEATHSIG`).
const CAPACITY: usize = 8192;

/// The shared table and the free slots in it.
struct Table {
    slots: &'static [AtomicI32],
    free: Mutex<Vec<u32>>,
}

/// Set once, at the first spawn (`None` inside if the guard could not start).
static TABLE: OnceLock<Option<Table>> = OnceLock::new();

/// One reserved entry of the table: the child stores its group id through [`Slot::cell`]
/// before exec, and [`release`] clears it once the group is gone.
#[derive(Debug)]
pub struct Slot(u32);

impl Slot {
    /// The entry the child writes its pid to (it shares our memory until it execs).
    pub fn cell(&self) -> *const AtomicI32 {
        table().map_or(std::ptr::null(), |t| &t.slots[self.0 as usize] as *const _)
    }
}

fn table() -> Option<&'static Table> {
    TABLE.get_or_init(start).as_ref()
}

/// Reserve an entry for a child about to start; `None` when there is no guard or no room.
pub fn reserve() -> Option<Slot> {
    let t = table()?;
    let i = t.free.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
    Some(Slot(i))
}

/// The slot's group is over (its leader is reaped, or it never started): forget it.
pub fn release(slot: Slot) {
    if let Some(Some(t)) = TABLE.get() {
        t.slots[slot.0 as usize].store(0, Ordering::Release);
        t.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot.0);
    }
}

fn start() -> Option<Table> {
    let bytes = CAPACITY * std::mem::size_of::<AtomicI32>();
    // SAFETY: a fresh anonymous shared mapping, checked below; it is never unmapped, so the
    // 'static slice over it stays valid.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is zero-filled, aligned and `bytes` long; AtomicI32 has i32's layout.
    let slots: &'static [AtomicI32] =
        unsafe { std::slice::from_raw_parts(p as *const AtomicI32, CAPACITY) };
    // SAFETY: getpid/getpgrp are always safe.
    let (me, my_group) = unsafe { (libc::getpid(), libc::getpgrp()) };
    // SAFETY: fork in a possibly multi-threaded process; the child below only makes
    // async-signal-safe calls on memory it owns or the shared table.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; never returns.
        unsafe { guard_main(slots, me, my_group) }
    }
    if pid < 0 {
        return None;
    }
    let free = (0..CAPACITY as u32).rev().collect();
    Some(Table {
        slots,
        free: Mutex::new(free),
    })
}

/// The guard's whole life: wait for childproc to die, then kill what it left.
///
/// # Safety
/// Only called in the freshly forked child, with `slots` the shared table.
unsafe fn guard_main(slots: &[AtomicI32], parent: libc::pid_t, parent_group: libc::pid_t) -> ! {
    unsafe {
        // No descriptor of ours (or of our children) stays open here.
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
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
        wait_for_death(parent);
        let own = libc::getpgrp();
        for s in slots {
            let g = s.load(Ordering::Acquire);
            if g > 1 && g != own && g != parent_group {
                libc::kill(-g, libc::SIGKILL);
            }
        }
        libc::_exit(0);
    }
}

/// Block until process `parent` has exited: on a pidfd where the kernel has them (5.3+),
/// else by watching for our re-parenting.
///
/// # Safety
/// Plain system calls only (async-signal-safe).
unsafe fn wait_for_death(parent: libc::pid_t) {
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, parent, 0) as libc::c_int;
        // The parent may have died before pidfd_open (its pid reused since): then we were
        // re-parented already, and the pidfd, if any, is of a stranger.
        if libc::getppid() != parent {
            return;
        }
        if fd >= 0 {
            let mut pfd = [sys::pollfd(fd, libc::POLLIN)];
            loop {
                match sys::poll(&mut pfd, -1) {
                    Ok(_) => return,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let tick = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        while libc::getppid() == parent {
            libc::nanosleep(&tick, std::ptr::null_mut());
        }
    }
}
