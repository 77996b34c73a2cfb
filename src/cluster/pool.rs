//! The hosts of a run, started from the [`PoolPlan`]: one [`Launcher`] per host, and for each
//! slot the index of its launcher. The temporary directory holds ssh's ControlMaster sockets;
//! it lives as long as the run.

use std::sync::Arc;

use super::launch::{self, Launcher};
use super::plan::PoolPlan;

pub(crate) struct Pool {
    launchers: Vec<Arc<dyn Launcher>>,
    slots: Vec<usize>,
    _control: Option<tempfile::TempDir>,
}

impl Pool {
    pub(crate) fn start(plan: &PoolPlan) -> Pool {
        match plan {
            PoolPlan::Local { workers } => Pool::one(Arc::new(launch::Local::default()), *workers),
            PoolPlan::Slurm {
                workers,
                srun_args,
                remote_childproc,
            } => {
                let l = launch::Slurm::new(srun_args.clone(), remote_childproc.clone());
                Pool::one(Arc::new(l), *workers)
            }
            PoolPlan::Hosts {
                client,
                remote_childproc,
                hosts,
                slots,
            } => {
                // A private directory for the ControlMaster sockets (short: a socket path has
                // ~100 bytes).
                let control = tempfile::Builder::new()
                    .prefix("cp-ssh-")
                    .tempdir_in("/tmp")
                    .ok();
                let dir = control.as_ref().map(|d| d.path());
                let launchers = hosts
                    .iter()
                    .map(|(h, _)| -> Arc<dyn Launcher> {
                        match h.dest {
                            None => Arc::new(launch::Local::default()),
                            Some(_) => Arc::new(launch::Ssh::new(
                                h,
                                client.clone(),
                                remote_childproc.clone(),
                                dir,
                            )),
                        }
                    })
                    .collect();
                Pool {
                    launchers,
                    slots: slots.clone(),
                    _control: control,
                }
            }
        }
    }

    fn one(l: Arc<dyn Launcher>, slots: usize) -> Pool {
        Pool {
            launchers: vec![l],
            slots: vec![0; slots],
            _control: None,
        }
    }

    /// The launcher of each slot, in slot order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Arc<dyn Launcher>> {
        self.slots.iter().map(|&h| &self.launchers[h])
    }

    pub(crate) fn workers(&self) -> usize {
        self.slots.len()
    }

    /// End of the run: release shared connections.
    pub(crate) fn close(&self) {
        for l in &self.launchers {
            l.close();
        }
    }

    /// The hosts the summary lists, each with whether it went down: those named up front; a
    /// scheduler's nodes show up under their own names in the reporter's counts (its launcher
    /// is listed only if it went down).
    pub(crate) fn hosts(&self) -> Vec<(String, bool)> {
        self.launchers
            .iter()
            .map(|l| (l, l.state().is_down()))
            .filter(|(l, down)| l.named_up_front() || *down)
            .map(|(l, down)| (l.state().label.to_string(), down))
            .collect()
    }
}
