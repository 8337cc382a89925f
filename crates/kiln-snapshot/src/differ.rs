//! Differs: an overlay upper dir, or two directory trees, to an uncompressed OCI layer tar.
//!
//! Entries come in per-directory lexical order (a directory before its children, like
//! containerd's `diff/walking` and BuildKit's overlay differ); deletions become `.wh.<name>`,
//! opaque directories get a `.wh..wh..opq` entry right after the directory itself.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::io_err;
use crate::fsutil;
use crate::mount::Mount;
use crate::{Error, Result};

/// The prefix of a whiteout entry (OCI image-spec `layer.md`).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Options for writing a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this (SOURCE_DATE_EPOCH, BuildKit's `rewrite-timestamp`).
    pub source_date_epoch: Option<u64>,
}

/// What a written layer holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Entries written (not counting PAX headers).
    pub entries: u64,
    /// Whiteout and opaque entries among them.
    pub whiteouts: u64,
}

/// Writes the changes recorded in the overlay upper dir `upper`, mounted over the lower dirs
/// `lowers` (nearest first), as a layer tar into `out`. The lowers are only read, never mounted.
///
/// Overlay whiteouts (char devices 0/0) become `.wh.` entries; directories with
/// `trusted.overlay.opaque=y` (or `user.overlay.opaque`) are followed by `.wh..wh..opq`.
/// As in BuildKit's overlay differ, whiteouts and opaque markers that hide nothing in the lowers
/// are left out, and copied-up directories that did not change are written only as parents of
/// a change.
/// Upper dirs made with `redirect_dir` or `metacopy` cannot be expressed as a layer and are
/// refused with [`Error::UnsupportedChange`].
pub fn write_overlay_diff<W: Write>(
    upper: &Path,
    lowers: &[PathBuf],
    out: W,
    opts: &DiffOptions,
) -> Result<(W, DiffStats)> {
    let mut w = LayerWriter::new(out, opts);
    let mut pending = Vec::new();
    walk_upper(&mut w, upper, "", lowers, &mut pending)?;
    w.finish()
}

/// Writes the difference from tree `lower` to tree `upper` as a layer tar (the walking
/// differ, for the copying snapshotter). Files are compared by type, mode, owner, size, mtime
/// (nanoseconds), link target, device number and xattrs; regular files whose mtime has no
/// sub-second part are compared by content too.
pub fn write_tree_diff<W: Write>(
    lower: &Path,
    upper: &Path,
    out: W,
    opts: &DiffOptions,
) -> Result<(W, DiffStats)> {
    let mut w = LayerWriter::new(out, opts);
    let mut pending = Vec::new();
    walk_trees(&mut w, Some(lower), upper, "", &mut pending)?;
    w.finish()
}

/// Diffs an active snapshot's mounts (`upper`) against its parent's (`lower`) without mounting:
/// an overlay `upper` whose lower dirs are exactly `lower`'s is diffed from its upper dir;
/// bind mounts of two directories with the walking differ.
pub fn diff_mounts<W: Write>(
    lower: &[Mount],
    upper: &[Mount],
    out: W,
    opts: &DiffOptions,
) -> Result<(W, DiffStats)> {
    let [up] = upper else {
        return Err(Error::UnsupportedMount(format!(
            "{} upper mounts, want 1",
            upper.len()
        )));
    };
    let lower_dirs: Vec<PathBuf> = match lower {
        [] => Vec::new(),
        [m] if m.kind == "bind" => vec![m.source.clone()],
        [m] if m.kind == "overlay" && m.option("upperdir").is_none() => m.lowerdirs(),
        _ => {
            return Err(Error::UnsupportedMount(
                "lower is not one bind or read-only overlay mount".into(),
            ));
        }
    };
    match up.kind.as_str() {
        "overlay" => {
            let Some(upperdir) = up.option("upperdir") else {
                return Err(Error::UnsupportedMount(
                    "overlay upper has no upperdir".into(),
                ));
            };
            if up.lowerdirs() != lower_dirs {
                return Err(Error::UnsupportedMount(
                    "overlay upper does not sit on the given lower".into(),
                ));
            }
            write_overlay_diff(Path::new(upperdir), &lower_dirs, out, opts)
        }
        "bind" => match lower_dirs.as_slice() {
            [] => {
                let mut w = LayerWriter::new(out, opts);
                let mut pending = Vec::new();
                walk_trees(&mut w, None, &up.source, "", &mut pending)?;
                w.finish()
            }
            [l] => write_tree_diff(l, &up.source, out, opts),
            _ => Err(Error::UnsupportedMount(
                "walking diff against a multi-layer overlay view needs it mounted".into(),
            )),
        },
        other => Err(Error::UnsupportedMount(format!("type {other:?}"))),
    }
}

fn join(prefix: &str, name: &OsStr) -> Result<String> {
    let n = name.to_str().ok_or_else(|| Error::UnsupportedChange {
        path: PathBuf::from(name),
        reason: "file name is not UTF-8",
    })?;
    Ok(format!("{prefix}{n}"))
}

fn is_whiteout_dev(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> Result<bool> {
    for name in [&b"trusted.overlay.opaque"[..], b"user.overlay.opaque"] {
        if fsutil::xattr(path, name)?.as_deref() == Some(b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

fn walk_upper<W: Write>(
    w: &mut LayerWriter<W>,
    dir: &Path,
    prefix: &str,
    lowers: &[PathBuf],
    pending: &mut Vec<Pending>,
) -> Result<()> {
    for name in fsutil::sorted_entries(dir)? {
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
        let rel = join(prefix, &name)?;
        for (x, reason) in [
            (
                &b"trusted.overlay.redirect"[..],
                "renamed directory (overlay redirect_dir)",
            ),
            (
                b"trusted.overlay.metacopy",
                "metadata-only copy-up (overlay metacopy)",
            ),
        ] {
            if fsutil::xattr(&path, x)?.is_some() {
                return Err(Error::UnsupportedChange { path, reason });
            }
        }
        let base = lower_lookup(lowers, &rel)?;
        if is_whiteout_dev(&meta) {
            // A whiteout for something no lower has hides nothing: leave it out (BuildKit).
            if base.is_some() {
                flush(w, pending)?;
                w.whiteout(prefix, &name, &meta)?;
            }
            continue;
        }
        let same = match &base {
            Some((bp, bm)) => same_entry(bp, bm, &path, &meta)?,
            None => false,
        };
        if meta.is_dir() {
            let dir_rel = format!("{rel}/");
            pending.push(Pending {
                rel: dir_rel.clone(),
                path: path.clone(),
                meta,
                written: false,
            });
            if !same {
                flush(w, pending)?;
            }
            if base.is_some() && is_opaque(&path)? {
                flush(w, pending)?;
                let m = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
                w.opaque(&rel, &m)?;
            }
            walk_upper(w, &path, &dir_rel, lowers, pending)?;
            pending.pop();
        } else if !same {
            flush(w, pending)?;
            w.add(&rel, &path, &meta)?;
        }
    }
    Ok(())
}

/// A directory not yet written: written only if something under it changes.
struct Pending {
    rel: String,
    path: PathBuf,
    meta: Metadata,
    written: bool,
}

fn flush<W: Write>(w: &mut LayerWriter<W>, pending: &mut [Pending]) -> Result<()> {
    for p in pending.iter_mut().filter(|p| !p.written) {
        w.add(&p.rel, &p.path, &p.meta)?;
        p.written = true;
    }
    Ok(())
}

fn walk_trees<W: Write>(
    w: &mut LayerWriter<W>,
    lower: Option<&Path>,
    upper: &Path,
    prefix: &str,
    pending: &mut Vec<Pending>,
) -> Result<()> {
    let lower_names = match lower {
        Some(l) => fsutil::sorted_entries(l)?,
        None => Vec::new(),
    };
    let upper_names = fsutil::sorted_entries(upper)?;
    let mut all: Vec<&std::ffi::OsString> = lower_names.iter().chain(upper_names.iter()).collect();
    all.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    all.dedup();
    for name in all {
        let rel = join(prefix, name)?;
        let up = upper.join(name);
        let um = match fs::symlink_metadata(&up) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("reading", &up)(e)),
        };
        let lp = lower.map(|l| l.join(name));
        let lm = match &lp {
            Some(lp) => match fs::symlink_metadata(lp) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err("reading", lp)(e)),
            },
            None => None,
        };
        let Some(um) = um else {
            // Deleted.
            flush(w, pending)?;
            let parent_meta = fs::symlink_metadata(upper).map_err(io_err("reading", upper))?;
            w.whiteout(prefix, name, &parent_meta)?;
            continue;
        };
        let same = match (&lm, &lp) {
            (Some(lm), Some(lp)) => same_entry(lp, lm, &up, &um)?,
            _ => false,
        };
        let lower_dir = match (&lm, &lp) {
            (Some(lm), Some(lp)) if lm.is_dir() => Some(lp.as_path()),
            _ => None,
        };
        if um.is_dir() {
            let dir_rel = format!("{rel}/");
            pending.push(Pending {
                rel: dir_rel.clone(),
                path: up.clone(),
                meta: um,
                written: false,
            });
            if !same {
                flush(w, pending)?;
            }
            walk_trees(w, lower_dir, &up, &dir_rel, pending)?;
            pending.pop();
        } else if !same {
            flush(w, pending)?;
            w.add(&rel, &up, &um)?;
        }
    }
    Ok(())
}

/// containerd continuity's `sameFile` (and BuildKit's `sameDirent`): mode, owner, device and
/// `security.capability` must match; for non-directories also size and mtime, with a content
/// comparison when both mtimes lack nanoseconds (unpacked from a tar). Directory mtimes and other
/// xattrs are not compared, so a directory is written only when it changed or holds a change.
fn same_entry(lp: &Path, lm: &Metadata, up: &Path, um: &Metadata) -> Result<bool> {
    if lm.dev() == um.dev() && lm.ino() == um.ino() {
        return Ok(true);
    }
    if lm.mode() != um.mode()
        || lm.uid() != um.uid()
        || lm.gid() != um.gid()
        || lm.rdev() != um.rdev()
    {
        return Ok(false);
    }
    let cap = b"security.capability";
    if fsutil::xattr(lp, cap)? != fsutil::xattr(up, cap)? {
        return Ok(false);
    }
    if lm.is_dir() {
        return Ok(true);
    }
    if lm.size() != um.size() || lm.mtime() != um.mtime() {
        return Ok(false);
    }
    if lm.mtime_nsec() == 0 && um.mtime_nsec() == 0 {
        if lm.file_type().is_symlink() {
            let a = fs::read_link(lp).map_err(io_err("reading link", lp))?;
            let b = fs::read_link(up).map_err(io_err("reading link", up))?;
            return Ok(a == b);
        }
        if lm.size() == 0 || !lm.is_file() {
            return Ok(true);
        }
        return same_content(lp, up);
    }
    Ok(lm.mtime_nsec() == um.mtime_nsec())
}

/// Finds `rel` in the merged view of overlay lower dirs `lowers` (nearest first) without
/// mounting: honours whiteouts, opaque directories and non-directories shadowing a path.
fn lower_lookup(lowers: &[PathBuf], rel: &str) -> Result<Option<(PathBuf, Metadata)>> {
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for layer in lowers {
        let mut cur = layer.clone();
        let mut opaque_above = false;
        for (i, comp) in comps.iter().enumerate() {
            cur.push(comp);
            let meta = match fs::symlink_metadata(&cur) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(io_err("reading", &cur)(e)),
            };
            if is_whiteout_dev(&meta) {
                return Ok(None);
            }
            if i + 1 == comps.len() {
                return Ok(Some((cur, meta)));
            }
            if !meta.is_dir() {
                return Ok(None);
            }
            if is_opaque(&cur)? {
                opaque_above = true;
            }
        }
        if opaque_above {
            return Ok(None);
        }
    }
    Ok(None)
}

fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = File::open(a).map_err(io_err("opening", a))?;
    let mut fb = File::open(b).map_err(io_err("opening", b))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(io_err("reading", a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(io_err("reading", b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes tar entries the way containerd's `archive` change writer does: PAX where USTAR does
/// not fit, hard links within the layer as link entries, xattrs as `SCHILY.xattr.*`.
struct LayerWriter<W: Write> {
    tar: tar::Builder<W>,
    links: HashMap<(u64, u64), String>,
    epoch: Option<u64>,
    stats: DiffStats,
}

impl<W: Write> LayerWriter<W> {
    fn new(out: W, opts: &DiffOptions) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        LayerWriter {
            tar,
            links: HashMap::new(),
            epoch: opts.source_date_epoch,
            stats: DiffStats::default(),
        }
    }

    fn finish(self) -> Result<(W, DiffStats)> {
        let stats = self.stats;
        let out = self.tar.into_inner().map_err(|e| Error::WriteLayer {
            entry: "end of archive".into(),
            source: e,
        })?;
        Ok((out, stats))
    }

    fn mtime(&self, meta: &Metadata) -> u64 {
        let t = u64::try_from(meta.mtime()).unwrap_or(0);
        match self.epoch {
            Some(e) => t.min(e),
            None => t,
        }
    }

    fn whiteout(&mut self, prefix: &str, name: &OsStr, meta: &Metadata) -> Result<()> {
        let rel = join(prefix, name)?;
        let entry = format!("{prefix}{WHITEOUT_PREFIX}{}", &rel[prefix.len()..]);
        self.marker(&entry, meta)
    }

    fn opaque(&mut self, dir_rel: &str, meta: &Metadata) -> Result<()> {
        self.marker(&format!("{dir_rel}/{OPAQUE_MARKER}"), meta)
    }

    fn marker(&mut self, entry: &str, meta: &Metadata) -> Result<()> {
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(self.mtime(meta));
        self.stats.whiteouts += 1;
        self.write(entry, h, None, BTreeMap::new(), io::empty())
    }

    fn add(&mut self, rel: &str, path: &Path, meta: &Metadata) -> Result<()> {
        let ft = meta.file_type();
        let mut h = Header::new_ustar();
        h.set_mode(meta.mode() & 0o7777);
        h.set_mtime(self.mtime(meta));
        h.set_size(0);
        let mut pax = BTreeMap::new();
        for (id, key, set) in [
            (meta.uid(), "uid", Header::set_uid as fn(&mut Header, u64)),
            (meta.gid(), "gid", Header::set_gid),
        ] {
            if u64::from(id) > 0o7_777_777 {
                pax.insert(key.to_owned(), id.to_string().into_bytes());
                set(&mut h, 0);
            } else {
                set(&mut h, u64::from(id));
            }
        }
        for (name, value) in fsutil::xattrs(path)? {
            if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                continue;
            }
            let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(&name));
            pax.insert(key, value);
        }
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(EntryType::Link);
                return self.write(rel, h, Some(first.as_bytes()), pax, io::empty());
            }
            self.links.insert(key, rel.to_owned());
        }
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            self.write(rel, h, None, pax, io::empty())
        } else if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            let f = File::open(path).map_err(io_err("opening", path))?;
            let data = ExactReader {
                inner: f.take(meta.len()),
                left: meta.len(),
            };
            self.write(rel, h, None, pax, data)
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path).map_err(io_err("reading link", path))?;
            self.write(
                rel,
                h,
                Some(target.as_os_str().as_bytes()),
                pax,
                io::empty(),
            )
        } else if ft.is_fifo() {
            h.set_entry_type(EntryType::Fifo);
            self.write(rel, h, None, pax, io::empty())
        } else if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            let dev = meta.rdev();
            let werr = |e| Error::WriteLayer {
                entry: rel.to_owned(),
                source: e,
            };
            h.set_device_major(rustix::fs::major(dev)).map_err(werr)?;
            h.set_device_minor(rustix::fs::minor(dev))
                .map_err(|e| Error::WriteLayer {
                    entry: rel.to_owned(),
                    source: e,
                })?;
            self.write(rel, h, None, pax, io::empty())
        } else {
            Err(Error::UnsupportedChange {
                path: path.to_owned(),
                reason: "socket or unknown file type",
            })
        }
    }

    fn write(
        &mut self,
        name: &str,
        mut h: Header,
        link: Option<&[u8]>,
        mut pax: BTreeMap<String, Vec<u8>>,
        data: impl Read,
    ) -> Result<()> {
        let werr = |e| Error::WriteLayer {
            entry: name.to_owned(),
            source: e,
        };
        if h.set_path(name).is_err() {
            pax.insert("path".into(), name.as_bytes().to_vec());
            let short: String = name.chars().take(99).collect();
            set_raw_name(&mut h, short.as_bytes());
        }
        if let Some(link) = link {
            if link.len() > 100 || h.set_link_name_literal(link).is_err() {
                pax.insert("linkpath".into(), link.to_vec());
                h.set_link_name_literal(&link[..link.len().min(99)])
                    .map_err(werr)?;
            }
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                pax_record(&mut body, k, v);
            }
            let mut ph = Header::new_ustar();
            let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let short: String = format!("PaxHeaders.0/{base}").chars().take(99).collect();
            set_raw_name(&mut ph, short.as_bytes());
            ph.set_entry_type(EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_size(body.len() as u64);
            ph.set_mtime(h.mtime().unwrap_or(0));
            ph.set_cksum();
            self.tar.append(&ph, body.as_slice()).map_err(werr)?;
        }
        h.set_cksum();
        self.tar.append(&h, data).map_err(werr)?;
        self.stats.entries += 1;
        Ok(())
    }
}

fn set_raw_name(h: &mut Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    let n = name.len().min(field.len());
    field[..n].copy_from_slice(&name[..n]);
}

/// One PAX record: `"<len> <key>=<value>\n"` where `<len>` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Errors instead of writing a short entry when a file shrinks while being read.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_are_self_inclusive() {
        for (k, v) in [
            ("path", "a".repeat(5)),
            ("path", "b".repeat(93)),
            ("x", String::new()),
        ] {
            let mut out = Vec::new();
            pax_record(&mut out, k, v.as_bytes());
            let s = String::from_utf8(out).unwrap_or_default();
            let (len, _) = s.split_once(' ').unwrap_or(("0", ""));
            assert_eq!(len.parse::<usize>().ok(), Some(s.len()), "{s:?}");
        }
    }
}
