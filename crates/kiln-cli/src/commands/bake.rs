//! `kiln bake [OPTIONS] [TARGET...]`: build the targets of a bake/compose file (flags parsed,
//! command not implemented yet).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::go_bool;
use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln bake [OPTIONS] [TARGET...]")]
pub struct BakeArgs {
    /// Allow build to access specified resources
    #[arg(long, value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,

    /// Set method for evaluating build ("check", "outline", "targets")
    #[arg(long, value_name = "METHOD", default_value = "build")]
    pub call: String,

    /// Shorthand for "--call=check"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool, value_name = "BOOL")]
    pub check: Option<bool>,

    /// Build definition file
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,

    /// List targets or variables
    #[arg(long, value_name = "TYPE")]
    pub list: Option<String>,

    /// Shorthand for "--set=*.output=type=docker"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub load: bool,

    /// Write build result metadata to a file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// Do not use cache when building the image
    #[arg(long = "no-cache", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool, value_name = "BOOL")]
    pub no_cache: Option<bool>,

    /// Print the options without building
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub print: bool,

    /// Set type of progress output ("auto", "quiet", "plain", "tty", "rawjson"). Use plain to show container output
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: String,

    /// Shorthand for "--set=*.attest=type=provenance"
    #[arg(long, value_name = "VALUE")]
    pub provenance: Option<String>,

    /// Always attempt to pull all referenced images
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool, value_name = "BOOL")]
    pub pull: Option<bool>,

    /// Shorthand for "--set=*.output=type=registry"
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, value_name = "BOOL", hide_default_value = true)]
    pub push: bool,

    /// Shorthand for "--set=*.attest=type=sbom"
    #[arg(long, value_name = "VALUE")]
    pub sbom: Option<String>,

    /// Override target value (e.g., "targetpattern.key=value")
    #[arg(long, value_name = "OVERRIDE")]
    pub set: Vec<String>,

    /// List available targets (deprecated: use --list=targets)
    #[arg(long = "list-targets", hide = true)]
    pub list_targets: bool,

    /// List defined variables (deprecated: use --list=variables)
    #[arg(long = "list-variables", hide = true)]
    pub list_variables: bool,

    /// Targets (or groups) to build; a git or HTTP URL first reads the definition remotely
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

pub fn run(_args: &BakeArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented::command("bake").into())
}
