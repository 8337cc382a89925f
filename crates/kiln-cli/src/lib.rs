//! kiln's command line: buildx-compatible flags parsed in two phases (clap structs in
//! `commands/<verb>.rs`, then typed and validated `options`), the inputs a build reads, and the
//! dispatch to each verb. Only this crate knows clap. It also gives `--call=check|outline`
//! the base images' configurations ([`resolver`]); unlike BuildKit, a base image that cannot
//! be fetched does not fail them: one `WARNING:` line, and the checks that need it are skipped.

pub mod cli;
pub mod commands;
pub mod error;
pub mod inputs;
pub mod logging;
pub mod options;
pub mod resolver;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// Runs `kiln` with these arguments (the first is the program name) and returns its exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = match cli::Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return cli::report_parse_error(&e, &args),
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return cli::report_parse_error(&e, &args),
    };
    let debug = cli.global.debug;
    logging::init(debug);
    match commands::dispatch(cli, &matches) {
        Ok(code) => code,
        Err(err) => error::report(&err, debug),
    }
}
