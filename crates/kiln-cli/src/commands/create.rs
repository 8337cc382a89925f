//! `kiln create [OPTIONS] [CONTEXT|ENDPOINT]`: create or extend a builder instance (flags parsed,
//! command not implemented yet).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln create [OPTIONS] [CONTEXT|ENDPOINT]")]
pub struct CreateArgs {
    /// Append a node to builder instead of changing it
    #[arg(long)]
    pub append: bool,

    /// Boot builder after creation
    #[arg(long)]
    pub bootstrap: bool,

    /// BuildKit daemon config file
    #[arg(long = "buildkitd-config", value_name = "FILE")]
    pub buildkitd_config: Option<PathBuf>,

    /// BuildKit daemon flags
    #[arg(
        long = "buildkitd-flags",
        value_name = "FLAGS",
        allow_hyphen_values = true
    )]
    pub buildkitd_flags: Option<String>,

    /// Driver to use (available: "docker-container", "kubernetes", "remote")
    #[arg(long, value_name = "DRIVER")]
    pub driver: Option<String>,

    /// Options for the driver
    #[arg(long = "driver-opt", value_name = "OPTION")]
    pub driver_opt: Vec<String>,

    /// Remove a node from builder instead of changing it
    #[arg(long)]
    pub leave: bool,

    /// Builder instance name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Create/modify node with given name
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,

    /// Fixed platforms for current node
    #[arg(long, value_name = "PLATFORMS")]
    pub platform: Vec<String>,

    /// Set the current builder instance
    #[arg(long = "use")]
    pub use_builder: bool,

    /// A context name or endpoint (e.g. "tcp://host:1234", "ssh://user@host")
    #[arg(value_name = "CONTEXT|ENDPOINT")]
    pub endpoint: Option<String>,
}

pub fn run(_args: &CreateArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("create").into())
}
