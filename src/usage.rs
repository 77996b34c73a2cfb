//! Usage errors found after parsing. Their own module, so every subcommand can raise one
//! without depending on another subcommand's module.

use std::ffi::OsString;

/// A usage error found after parsing (exit 125).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Split `PROGRAM ARGS...` (clap guarantees at least one element).
pub fn split_command(mut command: Vec<OsString>) -> anyhow::Result<(OsString, Vec<OsString>)> {
    if command.is_empty() {
        return Err(UsageError("missing PROGRAM".into()).into());
    }
    let program = command.remove(0);
    Ok((program, command))
}
