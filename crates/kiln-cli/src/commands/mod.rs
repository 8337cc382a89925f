//! One module per `kiln` verb, each holding that verb's clap flags and its entry point; this
//! file routes a parsed command line to it.

pub mod bake;
pub mod build;
pub mod create;
pub mod du;
pub mod imagetools;
pub mod inspect;
pub mod login;
pub mod logout;
pub mod ls;
pub mod prune;
pub mod rm;
pub mod stop;
pub mod r#use;
pub mod version;

use std::process::ExitCode;

use clap::ArgMatches;

use crate::cli::{Cli, Command};
use crate::options::parse_go_bool;

/// Value parser for pflag-style booleans: `--push`, `--push=true`, `--rm=false`, `--pull=1`.
pub(crate) fn go_bool(s: &str) -> Result<bool, String> {
    parse_go_bool(s).ok_or_else(|| format!("strconv.ParseBool: parsing {s:?}: invalid syntax"))
}

/// Runs the parsed command line. `matches` is what clap parsed it from (for flag order).
pub fn dispatch(cli: Cli, matches: &ArgMatches) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Bake(args) => bake::run(&args, &global),
        Command::Build(args) => build::run(&args, &global, matches.subcommand_matches("build")),
        Command::Create(args) => create::run(&args, &global),
        Command::Du(args) => du::run(&args, &global),
        Command::Imagetools(args) => imagetools::run(&args, &global),
        Command::Inspect(args) => inspect::run(&args, &global),
        Command::Ls(args) => ls::run(&args, &global),
        Command::Prune(args) => prune::run(&args, &global),
        Command::Rm(args) => rm::run(&args, &global),
        Command::Stop(args) => stop::run(&args, &global),
        Command::Use(args) => r#use::run(&args, &global),
        Command::Version(args) => version::run(&args, &global),
        Command::Login(args) => login::run(&args, &global),
        Command::Logout(args) => logout::run(&args, &global),
    }
}
