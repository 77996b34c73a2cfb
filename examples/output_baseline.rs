//! The baseline for `exec`'s capture: a plain `std::process::Command::output()` of
//! `sh -c COMMAND`, written to stdout. Used by `bench/engine.sh`.

use std::io::Write;
use std::process::Command;

fn main() {
    let cmd = std::env::args().nth(1).expect("a command line");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run");
    std::io::stdout().write_all(&out.stdout).expect("write");
}
