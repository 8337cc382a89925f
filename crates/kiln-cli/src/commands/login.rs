//! `kiln login [SERVER]`: store registry credentials, as `docker login` (flags parsed, command
//! not implemented yet).

use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln login [OPTIONS] [SERVER]")]
pub struct LoginArgs {
    /// Password or Personal Access Token (PAT)
    #[arg(
        short = 'p',
        long,
        value_name = "PASSWORD",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,

    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,

    /// Username
    #[arg(short = 'u', long, value_name = "USERNAME")]
    pub username: Option<String>,

    /// The registry (default: docker.io)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub fn run(_args: &LoginArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("login").into())
}
