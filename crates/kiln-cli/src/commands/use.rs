//! `kiln use NAME`: set the current builder instance (flags parsed, command not implemented
//! yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln use [OPTIONS] NAME")]
pub struct UseArgs {
    /// Set builder as default for current context
    #[arg(long)]
    pub default: bool,

    /// Builder persists context changes
    #[arg(long)]
    pub global: bool,

    /// The builder to use
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn run(_args: &UseArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("use").into())
}
