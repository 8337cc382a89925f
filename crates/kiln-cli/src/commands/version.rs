//! `kiln version`: print kiln's version and commit, buildx style (`kiln v0.1.0 <commit>`).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use crate::cli::{GlobalArgs, VERSION};

#[derive(Debug, Clone, Args)]
#[command(override_usage = "kiln version")]
pub struct VersionArgs {}

/// The line `kiln version` prints.
pub fn version_line() -> String {
    format!("kiln {VERSION}")
}

pub fn run(_args: &VersionArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stdout(), "{}", version_line())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_has_name_version_and_commit() {
        let line = version_line();
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert_eq!(parts[0], "kiln");
        assert_eq!(parts[1], concat!("v", env!("CARGO_PKG_VERSION")));
        assert!(!parts[2].is_empty());
    }
}
