//! `kiln logout [SERVER]`: forget registry credentials, as `docker logout` (not implemented
//! yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln logout [SERVER]")]
pub struct LogoutArgs {
    /// The registry (default: docker.io)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub fn run(_args: &LogoutArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("logout").into())
}
