//! The joblog: GNU parallel's nine TSV columns, one row per reported job.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Context;

use super::job::JobReport;

/// An open joblog.
pub(crate) struct Joblog {
    out: BufWriter<std::fs::File>,
}

impl Joblog {
    /// Create the joblog with its header. Written through at once: a joblog that cannot be
    /// written fails the run before any job starts (a full disk, /dev/full).
    pub(crate) fn create(p: &Path) -> anyhow::Result<Joblog> {
        let f = std::fs::File::create(p).with_context(|| format!("--joblog {}", p.display()))?;
        let mut out = BufWriter::new(f);
        writeln!(
            out,
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
        )
        .and_then(|()| out.flush())
        .with_context(|| format!("--joblog {}", p.display()))?;
        Ok(Joblog { out })
    }

    /// Write one job's row. Each row is flushed: a write error shows at the row that failed,
    /// not at the end.
    pub(crate) fn row(&mut self, r: &JobReport) -> Result<(), String> {
        write_row(&mut self.out, r)
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("--joblog: cannot write job {}'s row: {e}", r.job.seq))
    }

    /// Periodic, from the reporter's tick.
    pub(crate) fn tick(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// The end of the run.
    pub(crate) fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// One joblog row: GNU parallel's columns and formats. Send is 0 (jobs get no stdin); Receive
/// counts stdout bytes only.
fn write_row(j: &mut impl Write, r: &JobReport) -> std::io::Result<()> {
    let start = r
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let ended = r.outcome.ended();
    write!(
        j,
        "{}\t{}\t{:.3}\t{:10.3}\t0\t{}\t{}\t{}\t",
        r.job.seq,
        r.host_name().replace(['\t', '\n'], " "),
        start,
        r.duration.as_secs_f64(),
        r.output.len(),
        ended.exit,
        ended.signal,
    )?;
    let command: Vec<u8> = r
        .command
        .iter()
        .map(|&b| if b == b'\t' || b == b'\n' { b' ' } else { b })
        .collect();
    j.write_all(&command)?;
    j.write_all(b"\n")
}
