//! The top-level command line: global flags, the list of subcommands, and how clap's parse
//! errors are reported (as the Docker CLI reports cobra flag errors).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::commands::{
    bake, build, create, du, imagetools, inspect, login, logout, ls, prune, rm, stop, r#use,
    version,
};
use crate::error::{EXIT_FAILURE, EXIT_USAGE};

/// `kiln v0.1.0 <commit>`, as `kiln version` and `kiln --version` print it.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"), " ", env!("KILN_COMMIT"));

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version = VERSION,
    about = "Build container images: a drop-in for docker buildx with BuildKit built in",
    long_about = None,
    arg_required_else_help = true,
    args_override_self = true,
    max_term_width = 120
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Override the configured builder instance
    #[arg(
        long,
        global = true,
        env = "BUILDX_BUILDER",
        value_name = "NAME",
        display_order = 1000
    )]
    pub builder: Option<String>,

    /// Enable debug logging
    #[arg(short = 'D', long, global = true, display_order = 1001)]
    pub debug: bool,

    /// Path to kiln's configuration file (registries, mirrors, GC policy)
    #[arg(
        long,
        global = true,
        env = "KILN_CONFIG",
        value_name = "PATH",
        display_order = 1002,
        default_value = "/etc/kiln/kiln.toml"
    )]
    pub config: PathBuf,

    /// Directory holding kiln's state (content store, snapshots, cache)
    #[arg(
        long,
        global = true,
        env = "KILN_ROOT",
        value_name = "DIR",
        display_order = 1003,
        default_value = "/var/lib/kiln"
    )]
    pub root: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build from a file
    #[command(visible_alias = "f")]
    Bake(bake::BakeArgs),
    /// Start a build
    #[command(visible_alias = "b")]
    Build(Box<build::BuildArgs>),
    /// Create a new builder instance
    Create(create::CreateArgs),
    /// Disk usage
    Du(du::DuArgs),
    /// Commands to work on images in registry
    Imagetools(imagetools::ImagetoolsArgs),
    /// Inspect current builder instance
    Inspect(inspect::InspectArgs),
    /// List builder instances
    Ls(ls::LsArgs),
    /// Remove build cache
    Prune(prune::PruneArgs),
    /// Remove one or more builder instances
    Rm(rm::RmArgs),
    /// Stop builder instance
    Stop(stop::StopArgs),
    /// Set the current builder instance
    Use(r#use::UseArgs),
    /// Show kiln version information
    Version(version::VersionArgs),
    /// Authenticate to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(logout::LogoutArgs),
}

/// The subcommand path the user typed (`kiln imagetools create`), for `See '... --help'.`.
fn command_path(args: &[OsString]) -> String {
    let root = Cli::command();
    let mut path = vec!["kiln".to_string()];
    let mut current = &root;
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let Some(arg) = arg.to_str() else { break };
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') {
            if matches!(arg, "--builder" | "--config" | "--root") {
                it.next();
            }
            continue;
        }
        match current.find_subcommand(arg) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                current = sub;
            }
            None => break,
        }
    }
    path.join(" ")
}

fn context_str(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    }
}

/// `--push[=<BOOL>]` / `-c, --cpu-shares <N>` → the flag's names only.
fn flag_names(display: &str) -> &str {
    let end = display.find(['[', '=', ' ', '<']).unwrap_or(display.len());
    display[..end].trim_end_matches(',')
}

/// clap's message without its `error: ` prefix, usage and help footer; tips are kept.
fn clap_message(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let mut lines = Vec::new();
    let mut first_paragraph = true;
    for (i, line) in rendered.lines().enumerate() {
        if i == 0 {
            lines.push(line.strip_prefix("error: ").unwrap_or(line).to_string());
        } else if line.trim().is_empty() {
            first_paragraph = false;
        } else if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        } else if first_paragraph || line.trim_start().starts_with("tip:") {
            lines.push(line.to_string());
        }
    }
    lines.join("\n")
}

/// The message for a flag error, worded like pflag's where the two differ.
fn usage_message(err: &clap::Error) -> String {
    match err.kind() {
        ErrorKind::UnknownArgument => match context_str(err, ContextKind::InvalidArg) {
            Some(arg) if arg.starts_with("--") => {
                let name = arg.split('=').next().unwrap_or(&arg);
                let mut msg = format!("unknown flag: {name}");
                if let Some(s) = context_str(err, ContextKind::SuggestedArg) {
                    msg.push_str(&format!("\n  tip: a similar flag exists: '{s}'"));
                }
                msg
            }
            Some(arg) if arg.starts_with('-') && arg.len() > 1 => {
                let c = arg[1..].chars().next().unwrap_or('-');
                format!("unknown shorthand flag: '{c}' in {arg}")
            }
            _ => clap_message(err),
        },
        ErrorKind::ValueValidation => {
            match (
                context_str(err, ContextKind::InvalidArg),
                context_str(err, ContextKind::InvalidValue),
            ) {
                (Some(arg), Some(value)) => {
                    let reason = std::error::Error::source(err)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "invalid value".to_string());
                    format!(
                        "invalid argument {value:?} for \"{}\" flag: {reason}",
                        flag_names(&arg)
                    )
                }
                _ => clap_message(err),
            }
        }
        _ => clap_message(err),
    }
}

/// Reports a command line clap could not parse and returns the exit code: help and version
/// exit 0; an unknown command exits 1 (buildx); flag errors exit 125 (the Docker CLI).
pub fn report_parse_error(err: &clap::Error, args: &[OsString]) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `kiln` or `kiln imagetools` alone: help on stdout, success (buildx).
            let _ = write!(std::io::stdout(), "{}", err.render());
            ExitCode::SUCCESS
        }
        ErrorKind::MissingSubcommand => {
            // The same, when an environment variable (KILN_ROOT, KILN_CONFIG...) stood in for
            // an argument, so clap did not take the command line for empty.
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut path = Vec::new();
            for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
                let Some(sub) = cmd.find_subcommand(arg) else {
                    continue;
                };
                path.push(sub.get_name().to_string());
                let next = sub.clone();
                cmd = next;
            }
            if !path.is_empty() {
                cmd = cmd.bin_name(format!("kiln {}", path.join(" ")));
            }
            let _ = write!(std::io::stdout(), "{}", cmd.render_help());
            ExitCode::SUCCESS
        }
        ErrorKind::InvalidSubcommand => {
            let name = context_str(err, ContextKind::InvalidSubcommand).unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "ERROR: unknown command: {name:?}\nSee '{} --help'.",
                command_path(args)
            );
            ExitCode::from(EXIT_FAILURE)
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "ERROR: {}\nSee '{} --help'.",
                usage_message(err),
                command_path(args)
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn parse_err(args: &[&str]) -> clap::Error {
        Cli::try_parse_from(args).unwrap_err()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_paths() {
        assert_eq!(command_path(&os(&["kiln", "build", "-x"])), "kiln build");
        assert_eq!(command_path(&os(&["kiln", "b", "."])), "kiln build");
        assert_eq!(
            command_path(&os(&[
                "kiln",
                "--builder",
                "x",
                "imagetools",
                "create",
                "-t",
                "a"
            ])),
            "kiln imagetools create"
        );
        assert_eq!(command_path(&os(&["kiln", "--nope"])), "kiln");
    }

    #[test]
    fn unknown_flags_read_like_pflag() {
        let e = parse_err(&["kiln", "build", "--frobnicate", "."]);
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert_eq!(usage_message(&e), "unknown flag: --frobnicate");
        let e = parse_err(&["kiln", "build", "-z", "."]);
        assert_eq!(usage_message(&e), "unknown shorthand flag: 'z' in -z");
    }

    #[test]
    fn bad_bool_value_names_flag_and_value() {
        let e = parse_err(&["kiln", "build", "--push=maybe", "."]);
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        let msg = usage_message(&e);
        assert!(
            msg.starts_with(r#"invalid argument "maybe" for "--push" flag: "#),
            "{msg}"
        );
    }

    #[test]
    fn aliases_and_globals() {
        let cli = Cli::try_parse_from(["kiln", "b", "-D", "--builder", "x", "."]).unwrap();
        assert!(matches!(cli.command, Command::Build(_)));
        assert!(cli.global.debug);
        assert_eq!(cli.global.builder.as_deref(), Some("x"));
        let cli = Cli::try_parse_from(["kiln", "f"]).unwrap();
        assert!(matches!(cli.command, Command::Bake(_)));
    }

    #[test]
    fn missing_arguments_are_named() {
        let e = parse_err(&["kiln", "use"]);
        let msg = usage_message(&e);
        assert!(msg.contains("<NAME>"), "{msg}");
        assert!(!msg.contains("Usage:"), "{msg}");
    }

    #[test]
    fn flag_names_strip_value_names() {
        assert_eq!(flag_names("--push[=<BOOL>]"), "--push");
        assert_eq!(flag_names("--cpu-shares <CPU_SHARES>"), "--cpu-shares");
        assert_eq!(flag_names("--shm-size=<BYTES>"), "--shm-size");
    }
}
