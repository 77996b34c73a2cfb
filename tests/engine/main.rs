//! The process engine's shared behaviour, one file per behaviour: every case is written once and
//! runs for each of `spawn`, `exec` and `execfile` (`case!` in `tests/common/mode.rs`), so a test
//! named `exit::death_by_sigpipe_is_silent::exec` is that behaviour checked through `exec`.
//! What only one subcommand has lives in `tests/spawn.rs`, `tests/exec.rs`, `tests/execfile.rs`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod descriptors;
mod env;
mod exit;
mod json;
mod lookup;
mod output;
mod signals;
mod stdin;
mod timeouts;
mod usage;

use std::time::Duration;

const SECS10: Duration = Duration::from_secs(10);
const SECS30: Duration = Duration::from_secs(30);
const SECS60: Duration = Duration::from_secs(60);
