//! `kiln prune`: remove build cache (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln prune [OPTIONS]")]
pub struct PruneArgs {
    /// Include internal/frontend images
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Provide filter values (e.g., "until=24h")
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Maximum amount of disk space allowed to keep for cache
    #[arg(long = "max-used-space", value_name = "BYTES")]
    pub max_used_space: Option<String>,

    /// Target amount of free disk space after pruning
    #[arg(long = "min-free-space", value_name = "BYTES")]
    pub min_free_space: Option<String>,

    /// Amount of disk space always allowed to keep for cache
    #[arg(long = "reserved-space", value_name = "BYTES")]
    pub reserved_space: Option<String>,

    /// Amount of disk space to keep for cache (deprecated: use --reserved-space)
    #[arg(long = "keep-storage", value_name = "BYTES", hide = true)]
    pub keep_storage: Option<String>,

    /// Provide a more verbose output
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(_args: &PruneArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("prune").into())
}
