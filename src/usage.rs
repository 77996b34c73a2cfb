//! Usage errors found after parsing. Their own module, so every subcommand can raise one
//! without depending on another subcommand's module.

/// A usage error found after parsing (exit 125).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
