//! `kiln stop [NAME]`: stop a builder instance (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln stop [NAME]")]
pub struct StopArgs {
    /// The builder to stop (default: the current one)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(_args: &StopArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("stop").into())
}
