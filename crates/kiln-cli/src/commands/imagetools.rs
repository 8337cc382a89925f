//! `kiln imagetools inspect|create`: work on images in a registry (flags parsed, commands not
//! implemented yet).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::GlobalArgs;
use crate::error::NotImplemented;

#[derive(Debug, Clone, Args)]
#[command(arg_required_else_help = true)]
pub struct ImagetoolsArgs {
    #[command(subcommand)]
    pub command: ImagetoolsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImagetoolsCommand {
    /// Create a new image based on source images
    Create(CreateArgs),
    /// Show details of an image in the registry
    Inspect(InspectArgs),
}

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln imagetools create [OPTIONS] [SOURCE] [SOURCE...]")]
pub struct CreateArgs {
    /// Add annotation to the image
    #[arg(long, value_name = "ANNOTATION")]
    pub annotation: Vec<String>,

    /// Append to existing manifest
    #[arg(long)]
    pub append: bool,

    /// Show final image instead of pushing
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Read source descriptor from file
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,

    /// When only a single source is specified, prefer outputting an image index or manifest list instead of performing a carbon copy
    #[arg(long = "prefer-index", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "true", value_parser = super::go_bool, value_name = "BOOL")]
    pub prefer_index: bool,

    /// Set type of progress output ("auto", "plain", "tty", "rawjson"). Use plain to show container output
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: String,

    /// Set reference for new image
    #[arg(short = 't', long = "tag", value_name = "IMAGE")]
    pub tags: Vec<String>,

    /// Source images (references or digests)
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln imagetools inspect [OPTIONS] NAME")]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,

    /// Show original, unformatted JSON manifest
    #[arg(long)]
    pub raw: bool,

    /// The image to inspect
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn run(args: &ImagetoolsArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let verb = match args.command {
        ImagetoolsCommand::Create(_) => "imagetools create",
        ImagetoolsCommand::Inspect(_) => "imagetools inspect",
    };
    Err(NotImplemented::command(verb).into())
}
