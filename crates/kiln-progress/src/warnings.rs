//! The warnings summary buildx prints after the progress: `N warnings found (use docker
//! --debug to expand):` and one ` - Rule: message (line N)` line per warning.

use std::io::{self, Write};

use crate::event::{Range, SourceInfo, VertexWarning};
use crate::mode::Resolved;

/// Renders the `Dockerfile:7` excerpt of a warning (kiln-subrequests' excerpt printer).
pub type ExcerptFn<'a> = &'a dyn Fn(&SourceInfo, &[Range]) -> String;

/// How to print the warnings summary.
#[derive(Clone, Copy, Default)]
pub struct WarningsStyle<'a> {
    /// `--debug`: print each warning's detail, `More info: URL` and source excerpt.
    pub debug: bool,
    /// Yellow header (buildx always colors it; the CLI turns it off for `NO_COLOR`).
    pub color: bool,
    /// Renders the `Dockerfile:7` excerpt of a warning in debug mode (kiln-subrequests'
    /// excerpt printer); without it the excerpt is left out.
    pub excerpt: Option<ExcerptFn<'a>>,
}

impl std::fmt::Debug for WarningsStyle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarningsStyle")
            .field("debug", &self.debug)
            .field("color", &self.color)
            .field("excerpt", &self.excerpt.is_some())
            .finish()
    }
}

/// Prints the summary of `warnings` as buildx does after a build; nothing for no warnings
/// and in quiet and rawjson modes.
pub fn print_warnings(
    w: &mut dyn Write,
    warnings: &[VertexWarning],
    mode: Resolved,
    style: WarningsStyle<'_>,
) -> io::Result<()> {
    if warnings.is_empty() || matches!(mode, Resolved::Quiet | Resolved::RawJson) {
        return Ok(());
    }
    write!(w, "\n ")?;
    let mut head = if warnings.len() == 1 {
        "1 warning found".to_string()
    } else {
        format!("{} warnings found", warnings.len())
    };
    if !style.debug {
        head.push_str(" (use docker --debug to expand)");
    }
    head.push_str(":\n");
    if style.color {
        write!(w, "\x1b[33m{head}\x1b[0m")?;
    } else {
        w.write_all(head.as_bytes())?;
    }
    for warn in warnings {
        w.write_all(b" - ")?;
        w.write_all(&warn.short)?;
        writeln!(w)?;
        if !style.debug {
            continue;
        }
        for d in &warn.detail {
            w.write_all(d)?;
            writeln!(w)?;
        }
        if !warn.url.is_empty() {
            writeln!(w, "More info: {}", warn.url)?;
        }
        if let (Some(info), Some(excerpt)) = (&warn.source_info, style.excerpt) {
            if !warn.range.is_empty() {
                w.write_all(excerpt(info, &warn.range).as_bytes())?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}
