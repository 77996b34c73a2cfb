//! One slot: a thread that takes jobs from the dispatcher and runs them on its host, in the
//! run's job mode (`ExecSlot`, `IpcSlot`). What both modes share lives here: retries, host
//! failures, and the way a host's last jobs are given up.

use super::dispatch::Dispatcher;
use super::job::{Job, JobReport};
use super::launch::Launcher;
use super::plan::Settings;
use super::worker::Lost;
use crate::error_line;

/// Connection failures in a row after which a slot's host is marked down.
const MAX_CONNECT_TRIES: u32 = 3;

/// What a slot works with.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    /// 1-based, as reported.
    pub n: usize,
    pub settings: &'a Settings,
    pub jobs: &'a Dispatcher,
    pub launcher: &'a dyn Launcher,
}

impl Slot<'_> {
    /// Whether a job that failed after `attempts` tries gets another (`--retries`; none once
    /// the run is stopping), saying so on stderr. A retry is a start: it waits its `--delay`
    /// turn.
    pub(crate) fn retry(&self, seq: u64, attempts: u32, why: &str) -> bool {
        if attempts > self.settings.retries || self.jobs.stopping() || !self.jobs.wait_turn() {
            return false;
        }
        error_line(&format!(
            "job {seq} failed: {why}; retrying (attempt {})",
            attempts + 1
        ));
        true
    }

    /// Wait before trying again, the `k`-th time in a row (exponential backoff).
    pub(crate) fn pause(&self, k: u32) {
        let d = self.settings.backoff.saturating_mul(1 << k.min(10));
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }

    /// A connection to the slot's host failed (`tries` times in a row now). True when the host
    /// is down and the slot should stop; otherwise waits a little before the next try.
    pub(crate) fn connection_failed(&self, lost: &Lost, tries: u32) -> bool {
        let st = self.launcher.state();
        if st.is_down() {
            return true;
        }
        if lost.hopeless || tries >= MAX_CONNECT_TRIES {
            st.mark_down(&lost.why);
            return true;
        }
        error_line(&format!("host {}: {}; reconnecting", st.label, lost.why));
        self.pause(tries.min(5) + 1);
        st.is_down()
    }

    /// This slot's host is down: its jobs go back to the others. The last slot standing fails
    /// everything left, each job exactly once.
    pub(crate) fn host_down(&self, jobs: Vec<Job>) {
        self.jobs.requeue(jobs);
        if !self.jobs.slot_gave_up() {
            return;
        }
        for job in self.jobs.rest() {
            let r = JobReport::not_run(job, self.n, "not run: all hosts are down");
            self.jobs.complete(r);
        }
    }
}
