//! `mcp serve`.

use clap::Args;

use crate::cli::{Global, Target};
use crate::error::CliError;

/// `mcp serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// The stdio server: a name from mcp.json, or a command after `--`.
    #[command(flatten)]
    pub target: Target,
}

/// Run `mcp serve`.
pub async fn run(_args: &ServeArgs, _global: &Global) -> Result<(), CliError> {
    Err(CliError::Usage("not yet".into()))
}
