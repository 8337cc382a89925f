//! `kiln ls`: list builder instances (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln ls [OPTIONS]")]
pub struct LsArgs {
    /// Format the output
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

pub fn run(_args: &LsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("ls").into())
}
