//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::time::{Duration, Instant};

/// `childproc` as built for this test run.
pub fn cp() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("childproc").expect("binary built")
}

pub fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("childproc")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// True once `pid` is gone or a zombie (dead, waiting for a reaper that is not ours).
pub fn gone_within(pid: i32, limit: Duration) -> bool {
    let t = Instant::now();
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) => {
                let state = s
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next());
                if state == Some("Z") {
                    return true;
                }
            }
        }
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// All live descendants of `pid`, from /proc. Children are listed per thread, and the cluster
/// primary's slot threads are the ones that spawn.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
                for c in s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
                    out.push(c);
                    frontier.push(c);
                }
            }
        }
    }
    out
}

/// Wait for a file holding a pid (written by a test's child) and return the pid.
pub fn read_pid(path: &std::path::Path, limit: Duration) -> i32 {
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        assert!(t.elapsed() < limit, "no pid written to {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn have_node() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
