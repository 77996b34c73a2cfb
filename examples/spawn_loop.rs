//! The floor for `cluster --exec`: N threads each spawning and waiting for `PROGRAM INPUT` in a
//! loop with std's `Command` (posix_spawn), nothing else — the same argv a job gets (which
//! matters: GNU `true` with one argument initialises its locale). Used by `bench/cluster.sh`.
//!
//! usage: spawn_loop THREADS JOBS PROGRAM

use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let mut a = std::env::args().skip(1);
    let threads: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let jobs: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let program = a.next().unwrap_or_else(|| "true".into());
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let program = program.clone();
            let n = jobs / threads + usize::from(i < jobs % threads);
            std::thread::spawn(move || {
                for k in 0..n {
                    let out = Command::new(&program)
                        .arg((k + 1).to_string())
                        .stdin(Stdio::null())
                        .output()
                        .expect("spawn");
                    assert!(out.status.success());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    println!("{:.1}", t.elapsed().as_secs_f64() * 1e6 / jobs as f64);
}
