//! [`spawn`]: a [`Spec`] turned into a started child, in four steps — the stdio plan, the C
//! strings (argv, environment, paths), the descriptor plan, and the launch.
#![deny(unsafe_code)]

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::Instant;

use super::{Input, Output, Running, SpawnError, Spec, guard, launch, resolve, signals, sys};

/// Start the child described by `spec` in a new process group.
///
/// Must be called from a thread that outlives the child: `PR_SET_PDEATHSIG` fires when the
/// *thread* that spawned it exits, not only the process.
pub fn spawn(mut spec: Spec) -> Result<Running, SpawnError> {
    let cwd = resolve::working_dir(spec.cwd.as_deref())?;
    let exe = resolve::program(&spec.program, spec.child_path().as_deref(), &cwd)?;
    let take_tty = matches!(spec.stdin, Input::Inherit) && sys::own_foreground_tty();
    let mut stdio = Stdio::plan(&mut spec)?;
    let fds = child_fds(
        spec.fd3.take().into_iter().chain(spec.fds.drain(..)),
        &mut stdio.keep,
    )?;
    let strings = Strings::of(&spec, &exe, &cwd)?;
    let guard_slot = if spec.guarded { guard::reserve() } else { None };
    let plan = launch_plan(
        &spec,
        strings,
        stdio.raw,
        fds,
        take_tty,
        guard_slot.as_ref(),
    );
    // Handlers first, so a signal that arrives while the child starts is counted, not fatal.
    let _ = signals::Waker::for_thread();
    let started = Instant::now();
    let (pid, pidfd) = match launch::launch(&plan) {
        Ok(ok) => ok,
        Err((e, step)) => {
            if let Some(slot) = guard_slot {
                guard::release(slot);
            }
            return Err(launch_error(&spec.program, e, step));
        }
    };
    Ok(stdio.started(pid, pidfd, started, take_tty, guard_slot))
}

/// The child's fds 0-2 and our ends of its pipes.
struct Stdio {
    /// What to install as 0, 1, 2 in the child (`None`: inherit ours).
    raw: [Option<RawFd>; 3],
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    feed: Option<(OwnedFd, Vec<u8>)>,
    /// Descriptors the child gets; ours to close once it has started.
    keep: Vec<OwnedFd>,
}

impl Stdio {
    fn plan(spec: &mut Spec) -> Result<Stdio, SpawnError> {
        let mut s = Stdio {
            raw: [None; 3],
            stdout: None,
            stderr: None,
            feed: None,
            keep: Vec::new(),
        };
        s.raw[0] = s.stdin(std::mem::replace(&mut spec.stdin, Input::Null))?;
        s.raw[1] = s.stdout(std::mem::replace(&mut spec.stdout, Output::Null))?;
        s.raw[2] = s.stderr(std::mem::replace(&mut spec.stderr, Output::Null))?;
        Ok(s)
    }

    /// Keep `fd` open until the child has started; its number for the child.
    fn give(&mut self, fd: OwnedFd) -> RawFd {
        let raw = fd.as_raw_fd();
        self.keep.push(fd);
        raw
    }

    fn stdin(&mut self, input: Input) -> Result<Option<RawFd>, SpawnError> {
        Ok(match input {
            Input::Inherit => None,
            Input::Null => Some(self.give(null(false)?)),
            Input::File(f) => Some(self.give(f.into())),
            Input::Bytes(b) => {
                let (r, w) = pipe()?;
                self.feed = Some((w, b));
                Some(self.give(r))
            }
        })
    }

    fn stdout(&mut self, output: Output) -> Result<Option<RawFd>, SpawnError> {
        Ok(match output {
            Output::Inherit => None,
            Output::Null | Output::SameAsStdout => Some(self.give(null(true)?)),
            Output::File(f) => Some(self.give(f.into())),
            Output::Pipe => {
                let (r, w) = pipe()?;
                self.stdout = Some(r);
                Some(self.give(w))
            }
        })
    }

    fn stderr(&mut self, output: Output) -> Result<Option<RawFd>, SpawnError> {
        Ok(match output {
            Output::Inherit => None,
            Output::Null => Some(self.give(null(true)?)),
            Output::File(f) => Some(self.give(f.into())),
            // Installed after fd 1, so fd 1 already is the child's stdout.
            Output::SameAsStdout => Some(1),
            Output::Pipe => {
                let (r, w) = pipe()?;
                self.stderr = Some(r);
                Some(self.give(w))
            }
        })
    }

    /// The child is running: close our copies of its ends (EOF on the pipes depends on it),
    /// hand it the terminal, and make our ends non-blocking for the supervisor.
    fn started(
        self,
        pid: i32,
        pidfd: OwnedFd,
        started: Instant,
        took_tty: bool,
        guard: Option<guard::Slot>,
    ) -> Running {
        drop(self.keep);
        if took_tty {
            sys::give_tty(pid);
        }
        let feed = self.feed.as_ref().map(|(w, _)| w);
        for fd in [self.stdout.as_ref(), self.stderr.as_ref(), feed]
            .into_iter()
            .flatten()
        {
            sys::set_nonblocking(fd.as_raw_fd());
        }
        Running {
            pid,
            started,
            pidfd,
            stdout: self.stdout,
            stderr: self.stderr,
            stdin: self.feed,
            took_tty,
            guard,
            hold: None,
        }
    }
}

fn null(write: bool) -> Result<OwnedFd, SpawnError> {
    let f = File::options()
        .read(!write)
        .write(write)
        .open("/dev/null")
        .map_err(|source| SpawnError::Io {
            what: "/dev/null".into(),
            source,
        })?;
    Ok(OwnedFd::from(f))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Io {
        what: "cannot create a pipe".into(),
        source: e.into(),
    })
}

/// The descriptors the child gets on 3, 4, …, as raw numbers (kept open in `keep` until it has
/// started). A source whose number lies inside that range, and is not its own target, is first
/// moved above it, so installing one never overwrites another that is still to come.
fn child_fds(
    fds: impl Iterator<Item = OwnedFd>,
    keep: &mut Vec<OwnedFd>,
) -> Result<Vec<RawFd>, SpawnError> {
    let fds: Vec<OwnedFd> = fds.collect();
    let top = 3 + fds.len() as RawFd;
    let mut raw = Vec::with_capacity(fds.len());
    for (i, fd) in fds.into_iter().enumerate() {
        let n = fd.as_raw_fd();
        let fd = if n < top && n != 3 + i as RawFd {
            let moved = sys::dup_at_least(n, top).map_err(|source| SpawnError::Io {
                what: "cannot move a descriptor for the child".into(),
                source,
            })?;
            keep.push(fd);
            moved
        } else {
            fd
        };
        raw.push(fd.as_raw_fd());
        keep.push(fd);
    }
    Ok(raw)
}

/// The C strings the child's exec needs, owned until it has started.
struct Strings {
    /// argv, the program as the user gave it first.
    args: Vec<CString>,
    env: Vec<CString>,
    path: CString,
    cwd: Option<CString>,
}

impl Strings {
    fn of(spec: &Spec, exe: &Path, cwd: &Path) -> Result<Strings, SpawnError> {
        let mut args = Vec::with_capacity(spec.args.len() + 1);
        args.push(cstr(spec.program.as_bytes(), "the program name")?);
        for a in &spec.args {
            args.push(cstr(a.as_bytes(), "an argument")?);
        }
        let env = child_environment(spec)
            .into_iter()
            .map(|kv| cstr(&kv, "an environment entry"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Strings {
            args,
            env,
            path: cstr(exe.as_os_str().as_bytes(), "the program path")?,
            cwd: match spec.cwd {
                Some(_) => Some(cstr(cwd.as_os_str().as_bytes(), "the working directory")?),
                None => None,
            },
        })
    }
}

fn cstr(b: &[u8], what: &str) -> Result<CString, SpawnError> {
    CString::new(b).map_err(|_| SpawnError::Io {
        what: format!("{what} contains a NUL byte"),
        source: std::io::ErrorKind::InvalidInput.into(),
    })
}

/// `KEY=VALUE` entries of the child's environment: ours (unless cleared), then `--env`.
fn child_environment(spec: &Spec) -> Vec<Vec<u8>> {
    let mut vars: Vec<(OsString, OsString)> = if spec.env_clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for (k, v) in &spec.env {
        match vars.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => vars.push((k.clone(), v.clone())),
        }
    }
    if spec.listen_pid {
        vars.retain(|(k, _)| k != "LISTEN_PID");
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        })
        .collect()
}

/// NUL-terminated pointers into `v`.
fn ptrs(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Everything the child-side launcher reads, prepared here in the parent.
fn launch_plan(
    spec: &Spec,
    s: Strings,
    stdio: [Option<RawFd>; 3],
    fds: Vec<RawFd>,
    take_tty: bool,
    guard: Option<&guard::Slot>,
) -> launch::Plan {
    let listen_env = spec.listen_pid.then(launch::ListenPid::new);
    let mut envp = ptrs(&s.env);
    if let Some(l) = &listen_env {
        envp.insert(0, l.entry());
    }
    let sh_argv: Vec<*const libc::c_char> = [launch::SHELL.as_ptr(), s.path.as_ptr()]
        .into_iter()
        .chain(s.args[1..].iter().map(|c| c.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    launch::Plan {
        argv: ptrs(&s.args),
        path: s.path,
        sh_argv,
        envp,
        listen_pid: listen_env,
        cwd: s.cwd,
        stdio,
        fds,
        take_tty,
        parent: sys::getpid(),
        // Its group (pgid = pid) dies with us even if we are SIGKILLed.
        guard: guard.map_or(std::ptr::null(), guard::Slot::cell),
        death_signal: spec.death_signal,
        _args: s.args,
        _env: s.env,
    }
}

fn launch_error(program: &OsString, e: std::io::Error, step: &str) -> SpawnError {
    if step == "execve" {
        return exec_error(program, e);
    }
    SpawnError::Io {
        what: format!("cannot start {} ({step})", program.to_string_lossy()),
        source: e,
    }
}

fn exec_error(program: &OsString, e: std::io::Error) -> SpawnError {
    let shown = program.to_string_lossy().into_owned();
    match e.raw_os_error() {
        Some(libc::ENOENT) => SpawnError::NotFound(format!("{shown} (or its #! interpreter)")),
        Some(libc::EACCES) | Some(libc::EPERM) => SpawnError::NotExecutable(shown),
        Some(libc::ENOEXEC) => SpawnError::ExecFormat(shown),
        Some(libc::EISDIR) => SpawnError::IsDirectory(shown),
        _ => SpawnError::Io {
            what: format!("cannot run {shown}"),
            source: e,
        },
    }
}
