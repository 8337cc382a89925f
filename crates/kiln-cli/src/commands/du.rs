//! `kiln du`: disk usage of the build cache (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln du [OPTIONS]")]
pub struct DuArgs {
    /// Provide filter values
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Provide a more verbose output
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(_args: &DuArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("du").into())
}
