//! BuildKit's file operations on real directory trees: what Dockerfile `COPY`, `ADD` (local
//! archives included) and `WORKDIR` do to a snapshot, matching BuildKit's file op backend
//! (`solver/llbsolver/file/backend.go` over `tonistiigi/fsutil/copy`).
//!
//! Every operation works beneath a [`Root`] — the mounted or plain directory of a snapshot or
//! a build context — and never leaves it: paths are resolved component by component, a
//! symlink met on the way is followed *inside* the root (an absolute target is relative to
//! the root, `..` stops at it), and every directory is then opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` so the kernel refuses any escape. Entries
//! are created and changed through their parent's descriptor with `O_NOFOLLOW` /
//! `AT_SYMLINK_NOFOLLOW`; all descriptors are close-on-exec.
//!
//! - [`copy`]: the copy action with every BuildKit rule (wildcards, directory contents,
//!   trailing-slash destinations, symlink following at the source, hard links, special files,
//!   owners, `--chmod` octal or symbolic, mtimes, include/exclude patterns, `--parents`,
//!   `ADD` archive extraction). [`CopyOptions::dockerfile`] gives Dockerfile's settings.
//! - [`unpack_archive`], [`is_archive`], [`detect_compression`]: `ADD` of local tar archives
//!   (gzip, bzip2, xz, zstd, plain), detected by content, extracted without escaping.
//! - [`mkdir`], [`mkfile`], [`rm`], [`symlink`]: the other file actions.
//! - [`resolve_chown`]: `--chown` names resolved against the destination's `/etc/passwd`
//!   and `/etc/group`; [`Chmod`]: `--chmod` values.
//!
//! ```no_run
//! use kiln_fileop::{copy, CopyOptions, Root};
//!
//! let context = Root::open("/tmp/context")?;
//! let rootfs = Root::open("/tmp/rootfs")?;
//! copy(&context, "files/*.txt", &rootfs, "/globbed/", &CopyOptions::dockerfile())?;
//! # Ok::<(), kiln_fileop::Error>(())
//! ```
//!
//! The operations are synchronous and not atomic: on error the destination may hold part of
//! the result (BuildKit runs them on a fresh snapshot that is dropped on failure). They need
//! the privileges their options imply (chown, device nodes).

mod archive;
mod copy;
mod error;
mod glob;
mod meta;
mod mode;
mod ops;
mod owner;
mod root;

pub use archive::{
    Compression, UnpackOptions, decompress, detect_compression, is_archive, unpack_archive,
};
pub use copy::{
    CopiedEntry, CopyHook, CopyOptions, EntryKind, MULTI_SOURCE_DEST_ERROR, copy,
    dest_accepts_sources, resolve_wildcards,
};
pub use error::{Error, Result};
pub use glob::{Glob, contains_wildcards};
pub use mode::{Chmod, Clause};
pub use ops::{MkdirOptions, MkfileOptions, RmOptions, SymlinkOptions, mkdir, mkfile, rm, symlink};
pub use owner::{Owner, resolve_chown};
pub use root::Root;
