//! Copy-on-write snapshots (overlayfs, with a copying fallback), layer diffs and layer apply.
//!
//! - [`Snapshotter`] / [`SnapshotReader`]: containerd's snapshot model; methods return
//!   [`Mount`] plans and never mount. [`mount()`] / [`unmount()`] carry plans out.
//! - [`write_overlay_diff`], [`write_tree_diff`], [`diff_mounts`]: a snapshot's changes as an
//!   uncompressed OCI layer tar.
//! - [`apply_layer`]: an OCI layer tar onto a directory, contained beneath it.

mod apply;
mod differ;
mod error;
mod fsutil;
mod meta;
pub mod mount;
mod snapshots;
mod snapshotter;

pub use apply::{ApplyOptions, ApplyStats, WhiteoutMode, apply_layer};
pub use differ::{
    DiffOptions, DiffStats, OPAQUE_MARKER, WHITEOUT_PREFIX, diff_mounts, write_overlay_diff,
    write_tree_diff,
};
pub use error::{Error, Result};
pub use mount::{Mount, mount, unmount};
pub use snapshots::{Backend, Copying, CopyingSnapshotter, Overlay, OverlaySnapshotter, Snapshots};
pub use snapshotter::{Info, Kind, SnapshotDirs, SnapshotReader, Snapshotter, Usage};
