//! Where a slot's processes run: here, on another machine over ssh, or as a Slurm job step.
//!
//! The scheduler sees one [`Launcher`] per host and asks it for workers; only the local one
//! runs `--exec` jobs itself (one process per job, the fastest path). The others start
//! `childproc cluster-remote` on the far side through their engine and talk to it over the
//! engine's stdin/stdout, which [`IpcWorker::start_remote`] turns into the same connection a
//! local worker has.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::attempt::{Attempt, finish_here, start_here};
use super::output::JobOut;
use super::tasks::Task;
use super::worker::{IpcWorker, Worker};
use crate::error_line;
use crate::process::{Input, Limits, Output, SpawnError, Spec};
use crate::values::HostSpec;

/// What a persistent worker is for.
pub(crate) enum Role<'a> {
    /// A built-in task worker, with the `cluster-remote` options of its stop policy.
    Task(Task, &'a [String]),
    /// The user's IPC worker: its argv, the command line as given, and the `cluster-remote`
    /// options of its stop policy (`--kill-signal`, `--kill-after`).
    /// And the channel's serialization.
    Worker(
        &'a [String],
        &'a str,
        &'a [String],
        crate::ipc::Serialization,
    ),
    /// A server of `--exec` jobs (remote launchers only), with the job limits as arguments.
    Exec(&'a [String]),
}

/// Per-host bookkeeping shared by the host's slots.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    /// The name in the joblog's Host column and the summary.
    pub label: Arc<str>,
    down: AtomicBool,
}

impl HostState {
    pub(crate) fn new(label: &str) -> HostState {
        HostState {
            label: label.into(),
            ..HostState::default()
        }
    }

    /// Mark the host down once; true for the caller that did it.
    pub(crate) fn mark_down(&self, why: &str) -> bool {
        let first = !self.down.swap(true, Ordering::SeqCst);
        if first {
            error_line(&format!(
                "host {} is down: {why}; its jobs go to the other hosts",
                self.label
            ));
        }
        first
    }

    /// Whether the host has been marked down.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

pub(crate) trait Launcher: Send + Sync {
    fn state(&self) -> &HostState;

    /// Start a persistent worker for `role`.
    fn start(&self, role: &Role) -> Result<Box<dyn Worker>, SpawnError>;

    /// Whether `--exec` jobs are spawned right here (no server in between).
    fn runs_here(&self) -> bool {
        false
    }

    /// Run one `--exec` job right here (only where [`Launcher::runs_here`]), its output
    /// going to `out`.
    fn attempt(
        &self,
        argv: &[OsString],
        limits: &Limits,
        out: &mut JobOut,
    ) -> Result<Attempt, SpawnError> {
        let _ = (argv, limits, out);
        Err(SpawnError::Io {
            what: "--exec jobs run through the host's exec server".into(),
            source: std::io::Error::other("not on this machine"),
        })
    }

    /// End of the run: release shared connections.
    fn close(&self) {}

    /// The Host of a job run through a connection whose far side said it is `reported`:
    /// a named host keeps its name; a scheduler's node is known only then.
    fn host_of(&self, reported: Option<&str>) -> Arc<str> {
        let _ = reported;
        Arc::clone(&self.state().label)
    }

    /// Whether the host is known before the run (a scheduler's nodes are not).
    fn named_up_front(&self) -> bool {
        true
    }
}

/// This machine: workers on a socketpair, `--exec` jobs spawned directly.
pub(crate) struct Local {
    state: HostState,
}

impl Default for Local {
    fn default() -> Local {
        Local {
            state: HostState::new(":"),
        }
    }
}

impl Launcher for Local {
    fn state(&self) -> &HostState {
        &self.state
    }

    fn start(&self, role: &Role) -> Result<Box<dyn Worker>, SpawnError> {
        let spec = match role {
            Role::Task(..) => {
                let exe = std::env::current_exe().map_err(|e| SpawnError::Io {
                    what: "cannot find childproc's own executable".into(),
                    source: e,
                })?;
                Spec::new(exe.into_os_string(), vec!["cluster-worker".into()])
            }
            Role::Worker(argv, ..) => Spec::new(
                OsString::from(&argv[0]),
                argv[1..].iter().map(OsString::from).collect(),
            ),
            Role::Exec(_) => {
                return Err(SpawnError::Io {
                    what: "--exec jobs run directly on this machine".into(),
                    source: std::io::Error::other("no exec server here"),
                });
            }
        };
        let ser = match role {
            Role::Worker(.., ser) => *ser,
            _ => crate::ipc::Serialization::Json,
        };
        Ok(Box::new(IpcWorker::start(spec, ser)?))
    }

    fn runs_here(&self) -> bool {
        true
    }

    fn attempt(
        &self,
        argv: &[OsString],
        limits: &Limits,
        out: &mut JobOut,
    ) -> Result<Attempt, SpawnError> {
        let stdio = out.stdio().map_err(|e| SpawnError::Io {
            what: "cannot hand the job its --results files".into(),
            source: e,
        })?;
        let child = start_here(argv, stdio)?;
        Ok(finish_here(child, limits, out))
    }
}

/// The `cluster-remote` arguments for `role`.
fn remote_args(role: &Role) -> Vec<String> {
    let mut v = vec!["cluster-remote".to_string()];
    match role {
        Role::Task(t, stop) => {
            v.extend(["--task".into(), t.name().into()]);
            v.extend(stop.iter().cloned());
        }
        Role::Worker(_, line, stop, ser) => {
            v.extend(["--worker".into(), (*line).to_string()]);
            v.extend(stop.iter().cloned());
            if *ser == crate::ipc::Serialization::Advanced {
                v.extend(["--serialization".into(), "advanced".into()]);
            }
        }
        Role::Exec(limits) => {
            v.push("--exec".into());
            v.extend(limits.iter().cloned());
        }
    }
    v
}

/// One OpenSSH host. Connections to it share one master connection (ControlMaster), so
/// starting or restarting a slot costs a channel, not a TCP and key exchange.
pub(crate) struct Ssh {
    state: HostState,
    /// The user's `--ssh`, split.
    client: Vec<String>,
    dest: String,
    port: Option<u16>,
    remote_childproc: String,
    control: Option<PathBuf>,
    /// Whether the master connection has been set up (tried once, by the first slot).
    master: std::sync::Mutex<bool>,
}

impl Ssh {
    pub(crate) fn new(
        host: &HostSpec,
        client: Vec<String>,
        remote_childproc: String,
        control_dir: Option<&std::path::Path>,
    ) -> Ssh {
        Ssh {
            state: HostState::new(&host.label()),
            client,
            dest: host.dest.clone().unwrap_or_default(),
            port: host.port,
            remote_childproc,
            control: control_dir.map(|d| d.join("%C")),
            master: std::sync::Mutex::new(false),
        }
    }

    /// The ssh command line up to and including the destination, with `extra` options. The
    /// user's options come first: ssh keeps the first value it gets for an option, so theirs
    /// win over ours.
    fn command(&self, extra: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = self.client.iter().map(OsString::from).collect();
        v.extend(["-T", "-o", "BatchMode=yes"].map(OsString::from));
        v.extend(extra.iter().map(OsString::from));
        if let Some(cp) = &self.control {
            let mut p = OsString::from("ControlPath=");
            p.push(cp);
            v.extend([OsString::from("-o"), p]);
        }
        if let Some(port) = self.port {
            v.extend([OsString::from("-p"), OsString::from(port.to_string())]);
        }
        v.push(OsString::from("--"));
        v.push(OsString::from(&self.dest));
        v
    }
}

impl Ssh {
    /// Open the shared master connection before the host's first session, once, while the
    /// host's other slots wait: otherwise they all race to become the master, and the losers
    /// connect on their own (and say so on stderr). `-f` makes ssh detach (setsid) once logged
    /// in, so stopping a slot's group never takes the master with it. If it fails, the slot's
    /// own connection attempt reports why.
    fn connect_master(&self) {
        if self.control.is_none() {
            return;
        }
        let Ok(mut tried) = self.master.lock() else {
            return;
        };
        if *tried {
            return;
        }
        *tried = true;
        // ControlPersist: the master outlives a run that is killed, but not by long.
        let argv = self.command(&[
            "-o",
            "ControlMaster=yes",
            "-o",
            "ControlPersist=60",
            "-N",
            "-f",
        ]);
        // Not through the engine: its end kills what is left of the child's process group,
        // and the detaching master may not have left that group yet (a race seen here).
        let ok = duct::cmd(&argv[0], &argv[1..])
            .stdin_null()
            .stdout_null()
            .stderr_null()
            .unchecked()
            .start()
            .is_ok_and(|h| succeeds_within(&h, MASTER_LOGIN_TIME));
        // Not up: the next connection tries again (a host may come back).
        *tried = ok;
    }
}

/// Whether a plain helper command (duct's handle: a pid-reuse-safe wait, nothing more needed
/// here) exits successfully within `limit`; killed and reaped if it does not.
fn succeeds_within(h: &duct::Handle, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        match h.try_wait() {
            Ok(Some(out)) => return out.status.success(),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = h.kill();
                let _ = h.wait();
                return false;
            }
        }
    }
}

/// How long the master connection may take to log in.
const MASTER_LOGIN_TIME: Duration = Duration::from_secs(30);

impl Launcher for Ssh {
    fn state(&self) -> &HostState {
        &self.state
    }

    fn start(&self, role: &Role) -> Result<Box<dyn Worker>, SpawnError> {
        self.connect_master();
        // ssh joins its arguments into one line for the remote shell: quote every word, so
        // each arrives as exactly one literal argument. Inputs never go into this line; they
        // travel as JSON over the connection.
        let mut words = vec![self.remote_childproc.clone()];
        words.extend(remote_args(role));
        if matches!(role, Role::Exec(_)) {
            // Over ssh a start line per job costs nothing (see RemoteArgs::announce_starts).
            words.push("--announce-starts".into());
        }
        let line = shell_words::join(&words);
        // Sessions only ever use the master (ControlMaster=no): with no master they connect
        // on their own rather than race to become one.
        let mut argv = if self.control.is_some() {
            self.command(&["-o", "ControlMaster=no"])
        } else {
            self.command(&[])
        };
        argv.push(OsString::from(line));
        let spec = Spec::new(argv[0].clone(), argv[1..].to_vec());
        Ok(Box::new(IpcWorker::start_remote(spec, "ssh")?))
    }

    fn close(&self) {
        if self.control.is_none() {
            return;
        }
        // Stop the master connection now rather than after ControlPersist.
        let argv = self.command(&["-O", "exit"]);
        let mut spec = Spec::new(argv[0].clone(), argv[1..].to_vec());
        spec.stdin = Input::Null;
        spec.stdout = Output::Null;
        spec.stderr = Output::Null;
        if let Ok(child) = crate::process::spawn(spec) {
            let _ = child.finish(Duration::from_secs(5));
        }
    }
}

/// Slurm: every slot is one job step (`srun -N1 -n1`), inside the current allocation when
/// there is one.
pub(crate) struct Slurm {
    state: HostState,
    srun_args: Vec<String>,
    remote_childproc: String,
    in_allocation: bool,
}

impl Slurm {
    pub(crate) fn new(srun_args: Vec<String>, remote_childproc: String) -> Slurm {
        Slurm {
            state: HostState::new("slurm"),
            srun_args,
            remote_childproc,
            in_allocation: in_allocation(),
        }
    }
}

/// Whether we run inside a Slurm allocation (salloc, sbatch).
fn in_allocation() -> bool {
    std::env::var_os("SLURM_JOB_ID").is_some()
}

/// The task count of the current allocation, if any.
pub(crate) fn allocation_tasks() -> Option<usize> {
    ["SLURM_NTASKS", "SLURM_NPROCS"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find_map(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

impl Launcher for Slurm {
    fn state(&self) -> &HostState {
        &self.state
    }

    fn start(&self, role: &Role) -> Result<Box<dyn Worker>, SpawnError> {
        // srun runs argv directly (no shell), so nothing needs quoting here.
        let mut args: Vec<OsString> = ["-N1", "-n1"].map(OsString::from).to_vec();
        if self.in_allocation {
            args.push("--exclusive".into());
        }
        args.extend(self.srun_args.iter().map(OsString::from));
        args.push(OsString::from(&self.remote_childproc));
        args.extend(remote_args(role).into_iter().map(OsString::from));
        let mut spec = Spec::new("srun", args);
        // If we die, srun must live long enough to cancel its step (it does on SIGTERM).
        spec.death_signal = libc::SIGTERM;
        spec.guarded = false;
        Ok(Box::new(IpcWorker::start_remote(spec, "srun")?))
    }

    fn host_of(&self, reported: Option<&str>) -> Arc<str> {
        reported.map_or_else(|| Arc::clone(&self.state().label), Arc::from)
    }

    fn named_up_front(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_line_quotes_every_word() {
        let h = crate::values::parse_host("me@box:2222").unwrap();
        let s = Ssh::new(
            &h,
            vec!["ssh".into(), "-F".into(), "cfg".into()],
            "/opt/my cp".into(),
            None,
        );
        let base = s.command(&[]);
        let words: Vec<_> = base
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&words[..3], ["ssh", "-F", "cfg"]);
        assert_eq!(&words[words.len() - 4..], ["-p", "2222", "--", "me@box"]);
        let argv = vec!["node".to_string(), "w.js".to_string()];
        let line = shell_words::join(std::iter::once("/opt/my cp".to_string()).chain(remote_args(
            &Role::Worker(
                &argv,
                "node 'my w.js'; rm -rf ~",
                &[],
                crate::ipc::Serialization::Json,
            ),
        )));
        assert_eq!(
            shell_words::split(&line).unwrap(),
            [
                "/opt/my cp",
                "cluster-remote",
                "--worker",
                "node 'my w.js'; rm -rf ~"
            ]
        );
    }
}
