//! Typed Dockerfile instructions, like BuildKit's `frontend/dockerfile/instructions`.
//!
//! [`parse_instruction`] turns one AST node from `kiln-dockerfile-parser` into an
//! [`Instruction`]: a [`Stage`] for `FROM`, otherwise a [`Command`]. It checks argument
//! counts and flags (BuildKit's `BFlags`: `unknown flag: --boo`, booleans, repeatable
//! strings), rejects unknown instructions with a "did you mean" suggestion, attaches heredoc
//! bodies (inline `COPY`/`ADD` sources, `RUN` script files), and records doc comments of
//! stages and `ARG`s. [`parse`] does this for a whole file and groups commands into stages.
//!
//! Variables are not expanded here (BuildKit expands during conversion to LLB): values keep
//! their `$VAR` references and quotes. `RUN --mount` values are kept raw and syntax-checked;
//! [`RunCommand::mounts`] parses them once an expander is available. Every command keeps
//! its source lines and its AST node. No I/O.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bflag;
mod commands;
mod error;
mod goparse;
mod mount;
mod parse;

pub use commands::{
    AddCommand, ArgCommand, CmdCommand, Command, CommandMeta, CopyCommand, EntrypointCommand,
    EnvCommand, ExposeCommand, HealthCheckCommand, HealthConfig, Instruction, KeyValuePair,
    KeyValuePairOptional, LabelCommand, MaintainerCommand, OnbuildCommand, RunCommand,
    ShellCommand, ShellDependantCmdLine, ShellInlineFile, SourceContent, SourcesAndDest, Stage,
    StopSignalCommand, UserCommand, VolumeCommand, WorkdirCommand, find_stage,
};
pub use error::{Error, ErrorKind, suggest};
pub use mount::{Device, Expander, Mount, MountType, ShareMode, parse_device, parse_mount};
pub use parse::{INSTRUCTIONS, parse, parse_command, parse_instruction};
