//! `kiln inspect [NAME]`: show a builder instance (flags parsed, command not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln inspect [OPTIONS] [NAME]")]
pub struct InspectArgs {
    /// Ensure builder has booted before inspecting
    #[arg(long)]
    pub bootstrap: bool,

    /// The builder to inspect (default: the current one)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(_args: &InspectArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("inspect").into())
}
