//! `kiln rm [NAME...]`: remove builder instances (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln rm [OPTIONS] [NAME] [NAME...]")]
pub struct RmArgs {
    /// Remove all inactive builders
    #[arg(long = "all-inactive")]
    pub all_inactive: bool,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Keep the BuildKit daemon running
    #[arg(long = "keep-daemon")]
    pub keep_daemon: bool,

    /// Keep BuildKit state
    #[arg(long = "keep-state")]
    pub keep_state: bool,

    /// Builders to remove (default: the current one)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

pub fn run(_args: &RmArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("rm").into())
}
