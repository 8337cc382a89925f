//! A build context given as a tar stream (`kiln build -` with a tarball on stdin): extracted
//! beneath a root, then scanned like a directory.

use std::io::Read;
use std::path::Path;

use kiln_snapshot::{ApplyOptions, WhiteoutMode, apply_layer};

use crate::{Error, Result};

/// Extracts the uncompressed tar `reader` into the directory `target` (which should be
/// empty) and returns the number of entries. Every path is resolved beneath `target`:
/// `../` and absolute names land inside it, symlinks in the archive are created as links and
/// never followed for later entries, hard links pointing out are refused. Files belong to
/// the caller. Entries named `.wh.*` are treated as layer whiteouts (they delete the named
/// sibling rather than being created) — a difference from BuildKit only for archives that
/// contain such names.
///
/// Errors: [`Error::Tar`] with the offending entry; `target` may then hold part of the
/// archive and should be discarded by the caller.
pub fn extract_tar<R: Read>(reader: R, target: &Path) -> Result<u64> {
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Delete,
        same_owner: false,
    };
    std::fs::create_dir_all(target).map_err(|e| Error::Tar {
        target: target.to_path_buf(),
        source: kiln_snapshot::Error::Io {
            op: "creating",
            path: target.to_path_buf(),
            source: e,
        },
    })?;
    apply_layer(target, reader, &opts)
        .map(|s| s.entries)
        .map_err(|source| Error::Tar {
            target: target.to_path_buf(),
            source,
        })
}
