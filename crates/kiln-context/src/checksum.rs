//! BuildKit's `cache/contenthash` over a scanned [`Tree`]: the digest of what a COPY/ADD
//! source selects — a file, a directory (Merkle over its children), a wildcard's matched set,
//! or a subtree filtered by include/exclude patterns. File contents are read only for files
//! the selection covers and only when the [`DigestCache`] has no trusted digest for them.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use kiln_dockerignore::{MatchInfo, PatternMatcher};
use rayon::prelude::*;
use rustix::fs::{Mode, OFlags};
use sha2::{Digest as _, Sha256};

use crate::cache::{DigestCache, now};
use crate::digest::{Digest, header_digest, write_header};
use crate::glob;
use crate::tree::{BENEATH, Kind, Meta, Tree, list_xattrs};
use crate::{Error, Result};

/// One COPY/ADD source as the build graph hands it over (BuildKit's `ChecksumOpts` +
/// selector path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// The source path relative to the context root (`foo`, `dir/`, `/src/*.go`, `.`).
    /// A trailing `/` leaves the directory's own metadata out when patterns are in use
    /// (as BuildKit: `COPY dir/ ...` copies the contents).
    pub path: String,
    /// Follow a symlink named by `path` itself (COPY follows the source's final symlink).
    pub follow_links: bool,
    /// Treat `*`, `?`, `[` in `path` as a wildcard (BuildKit sets this when the source
    /// contains one; [`Selector::copy_source`] does it for you).
    pub wildcard: bool,
    /// Only paths under the source matching these (relative to the source) are covered.
    pub include_patterns: Vec<String>,
    /// Paths under the source matching these are left out (`COPY --exclude`).
    pub exclude_patterns: Vec<String>,
}

impl Selector {
    /// The selector of a plain `COPY <src>` source: symlinks followed, wildcard detected.
    pub fn copy_source(path: &str) -> Self {
        Selector {
            path: path.to_string(),
            follow_links: true,
            wildcard: glob::contains_wildcards(path),
            ..Selector::default()
        }
    }
}

/// What a hasher did, for the progress log and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Files whose content was read and hashed.
    pub files_hashed: u64,
    /// Bytes of file content read.
    pub bytes_read: u64,
    /// Files whose digest came from the cache (no read).
    pub cache_hits: u64,
}

/// Computes selector digests over one [`Tree`], remembering every digest it computed for
/// later selectors of the same build. Not `Sync`: use one hasher per thread of solver work
/// (file content hashing inside one call is parallel already).
#[derive(Debug)]
pub struct Hasher<'t, C: DigestCache> {
    tree: &'t Tree,
    cache: C,
    files: HashMap<usize, Digest>,
    dirs: HashMap<usize, Digest>,
    stats: HashStats,
}

const MAX_LINKS: usize = 255;

/// One file read by [`hash_file`].
struct Hashed {
    node: usize,
    digest: Digest,
    /// When the read started (for the cache's racy rule).
    started: (i64, u32),
    read: u64,
}

struct Included {
    path: String,
    digest: Digest,
    included: bool,
    inc: MatchInfo,
    exc: MatchInfo,
}

impl<'t, C: DigestCache> Hasher<'t, C> {
    /// A hasher over `tree` using `cache` for file digests.
    pub fn new(tree: &'t Tree, cache: C) -> Self {
        Hasher {
            tree,
            cache,
            files: HashMap::new(),
            dirs: HashMap::new(),
            stats: HashStats::default(),
        }
    }

    /// What was read and reused so far.
    pub fn stats(&self) -> HashStats {
        self.stats
    }

    /// Gives the cache back (to [`save`](crate::HashCache::save) it).
    pub fn into_cache(self) -> C {
        self.cache
    }

    /// The digest of everything `sel` selects, as BuildKit's `contenthash.Checksum`:
    ///
    /// - plain path: a file, symlink or device → its record digest (header + content); a
    ///   directory → the Merkle digest of its header and children; the root is `.`/`/`;
    /// - wildcard or include/exclude patterns → the digest over the matched entries (their
    ///   base names and record digests, parents' headers included), or the single match's
    ///   own digest; an empty match gives the digest of nothing (`sha256:e3b0…`).
    ///
    /// Errors: [`Error::NotFound`] / [`Error::Excluded`] when a plain path does not exist in
    /// the tree (the latter when `.dockerignore` is why), [`Error::TooManyLinks`],
    /// [`Error::BadWildcard`], [`Error::Pattern`], and I/O errors naming the file read.
    pub fn checksum(&mut self, sel: &Selector) -> Result<Digest> {
        let elems = clean_elems(&sel.path);
        if !sel.wildcard && sel.include_patterns.is_empty() && sel.exclude_patterns.is_empty() {
            let node = self.resolve(&elems, sel.follow_links)?;
            return self.node_digest(node);
        }
        let included = self.included_paths(sel, &elems)?;
        let base = go_base(&sel.path);
        match included.as_slice() {
            [] => Ok(Digest::empty()),
            [only] if go_base(&only.path) == base => Ok(only.digest),
            all => {
                let mut h = Sha256::new();
                for (i, w) in all.iter().enumerate() {
                    if i != 0 {
                        h.update([0u8]);
                    }
                    h.update(go_base(&w.path).as_bytes());
                    w.digest.feed_oci(&mut h);
                }
                Ok(Digest::finish(h))
            }
        }
    }

    /// Resolves cleaned elements to a node, following symlinks inside the tree (a link is
    /// resolved lexically against the context root and can never leave it: `..` stops at
    /// the root, absolute targets restart at the root).
    fn resolve(&self, elems: &[String], follow_trailing: bool) -> Result<usize> {
        let shown = elems.join("/");
        let mut stack: Vec<usize> = vec![0];
        let mut remaining: Vec<String> = elems.iter().rev().cloned().collect();
        let mut links = 0usize;
        while let Some(part) = remaining.pop() {
            let cur = *stack.last().unwrap_or(&0);
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let child = self
                .child(cur, part.as_bytes())
                .ok_or_else(|| self.tree.missing(&shown))?;
            let node = self
                .tree
                .node(child)
                .ok_or_else(|| self.tree.missing(&shown))?;
            match &node.meta.kind {
                Kind::Symlink(target) if follow_trailing || !remaining.is_empty() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Error::TooManyLinks { path: shown });
                    }
                    let target = String::from_utf8_lossy(target);
                    if target.starts_with('/') {
                        stack.truncate(1);
                    }
                    for e in target.split('/').rev() {
                        remaining.push(e.to_string());
                    }
                }
                Kind::Dir => stack.push(child),
                _ if remaining.is_empty() => stack.push(child),
                _ => return Err(self.tree.missing(&shown)),
            }
        }
        Ok(*stack.last().unwrap_or(&0))
    }

    fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        let node = self.tree.node(dir)?;
        let nodes = self.tree.nodes();
        node.children
            .binary_search_by(|&c| {
                nodes
                    .get(c)
                    .map(|n| n.name.as_slice())
                    .unwrap_or_default()
                    .cmp(name)
            })
            .ok()
            .and_then(|at| node.children.get(at).copied())
    }

    /// Record digest for non-dirs, contents digest for dirs.
    fn node_digest(&mut self, node: usize) -> Result<Digest> {
        let files = self.files_below(node);
        self.hash_files(&files)?;
        self.digest_of(node)
    }

    fn files_below(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo = vec![node];
        while let Some(i) = todo.pop() {
            let Some(n) = self.tree.node(i) else { continue };
            match n.meta.kind {
                Kind::File if !self.files.contains_key(&i) => out.push(i),
                Kind::Dir if !self.dirs.contains_key(&i) => todo.extend(n.children.iter().copied()),
                _ => {}
            }
        }
        out
    }

    fn digest_of(&mut self, node: usize) -> Result<Digest> {
        let n = self.tree.node(node).ok_or_else(|| self.tree.missing(""))?;
        match n.meta.kind {
            Kind::Dir => self.dir_digest(node),
            _ => self.record_digest(node),
        }
    }

    /// The record digest: file (header + content), dir header, symlink, device, fifo.
    fn record_digest(&mut self, node: usize) -> Result<Digest> {
        let n = self.tree.node(node).ok_or_else(|| self.tree.missing(""))?;
        match n.meta.kind {
            Kind::File => {
                if let Some(d) = self.files.get(&node) {
                    return Ok(*d);
                }
                self.hash_files(&[node])?;
                self.files
                    .get(&node)
                    .copied()
                    .ok_or_else(|| self.tree.missing(&n.path))
            }
            _ if node == 0 => Ok(Digest::empty()),
            _ => Ok(header_digest(&n.meta, &n.xattrs)),
        }
    }

    /// BuildKit's directory-contents digest: `"\0"` + own header digest, then for each
    /// child in name-byte order `"\0" + name` + the child's digest (contents digest for
    /// directories), digests written as `sha256:<hex>`.
    fn dir_digest(&mut self, node: usize) -> Result<Digest> {
        if let Some(d) = self.dirs.get(&node) {
            return Ok(*d);
        }
        let tree = self.tree;
        let n = tree.node(node).ok_or_else(|| tree.missing(""))?;
        let mut h = Sha256::new();
        h.update([0u8]);
        self.record_digest(node)?.feed_oci(&mut h);
        for &c in &n.children {
            let Some(child) = tree.node(c) else { continue };
            h.update([0u8]);
            h.update(&child.name);
            self.digest_of(c)?.feed_oci(&mut h);
        }
        let d = Digest::finish(h);
        self.dirs.insert(node, d);
        Ok(d)
    }

    /// Fills `self.files` for `nodes`: cache first, then the misses read in parallel.
    fn hash_files(&mut self, nodes: &[usize]) -> Result<()> {
        let tree = self.tree;
        let mut misses = Vec::new();
        for &i in nodes {
            if self.files.contains_key(&i) {
                continue;
            }
            let Some(n) = tree.node(i) else { continue };
            if n.meta.kind != Kind::File {
                continue;
            }
            match self.cache.lookup(&n.raw_path, &n.meta.fingerprint()) {
                Some(d) => {
                    self.stats.cache_hits += 1;
                    self.files.insert(i, d);
                }
                None => misses.push(i),
            }
        }
        let results: Vec<Result<Hashed>> = misses
            .par_iter()
            .map(|&i| {
                let started = now();
                let (digest, read) = hash_file(tree, i)?;
                Ok(Hashed {
                    node: i,
                    digest,
                    started,
                    read,
                })
            })
            .collect();
        for r in results {
            let Hashed {
                node: i,
                digest: d,
                started,
                read,
            } = r?;
            self.stats.files_hashed += 1;
            self.stats.bytes_read += read;
            if let Some(n) = tree.node(i) {
                self.cache
                    .record(&n.raw_path, n.meta.fingerprint(), started, d);
            }
            self.files.insert(i, d);
        }
        Ok(())
    }

    /// BuildKit's `includedPaths`: walk the subtree the selector names in key order and
    /// keep directory headers and non-directories that match.
    fn included_paths(&mut self, sel: &Selector, elems: &[String]) -> Result<Vec<Included>> {
        let matcher = |what, pats: &[String]| -> Result<Option<PatternMatcher>> {
            if pats.is_empty() {
                return Ok(None);
            }
            PatternMatcher::new(pats)
                .map(Some)
                .map_err(|source| Error::Pattern { what, source })
        };
        let include = matcher("include", &sel.include_patterns)?;
        let exclude = matcher("exclude", &sel.exclude_patterns)?;
        let ends_in_sep = sel.path.ends_with('/');
        let p = format!("/{}", elems.join("/"));
        let p = if p == "/" { String::new() } else { p };

        // (node to start from, the path the user wrote for it)
        let (start, orig_prefix) = if sel.wildcard {
            let (lit, rest) = glob::split_wildcards(elems);
            if lit.is_empty() {
                (Some(0), String::new())
            } else {
                match self.resolve(&lit, !rest.is_empty()) {
                    Ok(n) => (Some(n), format!("/{}", lit.join("/"))),
                    Err(Error::NotFound { .. } | Error::Excluded { .. }) => (None, String::new()),
                    Err(e) => return Err(e),
                }
            }
        } else {
            let n = self.resolve(elems, false)?;
            if self.tree.node(n).is_some_and(|n| n.meta.kind != Kind::Dir) {
                // Deliberate difference: BuildKit's iteration skips a plain file given with
                // patterns (its digest would be that of nothing); kiln covers the file.
                let d = self.record_digest(n)?;
                return Ok(vec![Included {
                    path: p,
                    digest: d,
                    included: true,
                    inc: MatchInfo::default(),
                    exc: MatchInfo::default(),
                }]);
            }
            (Some(n), p.clone())
        };
        let Some(start) = start else {
            return Ok(Vec::new());
        };
        // Candidates in key order: the start's header (when it is a directory other than the
        // root) and every entry below it.
        let mut order = Vec::new();
        let mut todo = vec![start];
        while let Some(i) = todo.pop() {
            let Some(n) = self.tree.node(i) else { continue };
            if i != 0 {
                order.push(i);
            }
            if n.meta.kind == Kind::Dir {
                todo.extend(n.children.iter().rev().copied());
            }
        }
        if self
            .tree
            .node(start)
            .is_some_and(|n| n.meta.kind != Kind::Dir)
        {
            order.clear();
        }
        let resolved_prefix = self
            .tree
            .node(start)
            .map(|n| {
                if n.path.is_empty() {
                    String::new()
                } else {
                    format!("/{}", n.path)
                }
            })
            .unwrap_or_default();
        let mut out: Vec<Included> = Vec::new();
        let mut parents: Vec<usize> = Vec::new(); // indices into `all`
        let mut all: Vec<Included> = Vec::new();
        let mut last_matched = String::new();
        let mut wanted_files: Vec<(usize, usize)> = Vec::new();
        for i in order {
            let Some(n) = self.tree.node(i) else { continue };
            let abs = format!("/{}", n.path);
            let fn_ = match abs.strip_prefix(&resolved_prefix) {
                Some(rest) if !resolved_prefix.is_empty() => format!("{orig_prefix}{rest}"),
                _ => abs,
            };
            while let Some(&last) = parents.last() {
                let lp = all
                    .get(last)
                    .map(|w| format!("{}/", w.path))
                    .unwrap_or_default();
                if fn_.starts_with(&lp) {
                    break;
                }
                parents.pop();
            }
            let is_dir = n.meta.kind == Kind::Dir;
            if is_dir && fn_ == p && ends_in_sep {
                continue;
            }
            let candidate = if sel.wildcard {
                if last_matched.is_empty() || !fn_.starts_with(&format!("{last_matched}/")) {
                    match glob::path_match(&p, &fn_) {
                        None => {
                            return Err(Error::BadWildcard {
                                pattern: sel.path.clone(),
                            });
                        }
                        Some(false) => continue,
                        Some(true) => last_matched = fn_.clone(),
                    }
                }
                trim_rel(&fn_, &last_matched)
            } else {
                if !format!("{fn_}/").starts_with(&format!("{p}/")) {
                    break;
                }
                trim_rel(&fn_, &p)
            };
            let parent = parents.last().and_then(|&k| all.get(k));
            let mut entry = Included {
                path: fn_,
                digest: Digest::empty(),
                included: false,
                inc: MatchInfo::default(),
                exc: MatchInfo::default(),
            };
            let should = should_include(
                &candidate,
                include.as_ref(),
                exclude.as_ref(),
                &mut entry,
                parent,
            )?;
            if !should && !is_dir {
                continue;
            }
            if is_dir {
                entry.digest = self.record_digest(i)?;
            }
            let at = all.len();
            if should {
                for &k in &parents {
                    if let Some(pd) = all.get_mut(k)
                        && !pd.included
                    {
                        pd.included = true;
                        out.push(Included {
                            path: pd.path.clone(),
                            digest: pd.digest,
                            included: true,
                            inc: MatchInfo::default(),
                            exc: MatchInfo::default(),
                        });
                    }
                }
                entry.included = true;
                if !is_dir {
                    wanted_files.push((out.len(), i));
                }
                out.push(Included {
                    path: entry.path.clone(),
                    digest: entry.digest,
                    included: true,
                    inc: MatchInfo::default(),
                    exc: MatchInfo::default(),
                });
            }
            all.push(entry);
            if is_dir {
                parents.push(at);
            }
        }
        // Content digests of the included files, read in one parallel batch.
        let needed: Vec<usize> = wanted_files.iter().map(|&(_, i)| i).collect();
        self.hash_files(&needed)?;
        for (slot, i) in wanted_files {
            let follow = sel.follow_links
                && self
                    .tree
                    .node(i)
                    .is_some_and(|n| matches!(n.meta.kind, Kind::Symlink(_)));
            let d = if follow {
                let path = self
                    .tree
                    .node(i)
                    .map(|n| n.path.clone())
                    .unwrap_or_default();
                let target = self.resolve(&clean_elems(&path), true)?;
                self.node_digest(target)?
            } else {
                self.record_digest(i)?
            };
            if let Some(w) = out.get_mut(slot) {
                w.digest = d;
            }
        }
        Ok(out)
    }
}

fn should_include(
    candidate: &str,
    include: Option<&PatternMatcher>,
    exclude: Option<&PatternMatcher>,
    entry: &mut Included,
    parent: Option<&Included>,
) -> Result<bool> {
    if let Some(m) = include {
        let info = parent.map(|p| p.inc.clone()).unwrap_or_default();
        let (hit, info) = m
            .matches_using_parent_results(candidate, &info)
            .map_err(|source| Error::Pattern {
                what: "include",
                source,
            })?;
        entry.inc = info;
        if !hit {
            return Ok(false);
        }
    }
    if let Some(m) = exclude {
        let info = parent.map(|p| p.exc.clone()).unwrap_or_default();
        let (hit, info) = m
            .matches_using_parent_results(candidate, &info)
            .map_err(|source| Error::Pattern {
                what: "exclude",
                source,
            })?;
        entry.exc = info;
        if hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `strings.TrimSuffix(strings.TrimPrefix(fn+"/", prefix+"/"), "/")`.
fn trim_rel(fn_: &str, prefix: &str) -> String {
    let full = format!("{fn_}/");
    let pre = format!("{prefix}/");
    let rest = full.strip_prefix(&pre).unwrap_or(&full);
    rest.strip_suffix('/').unwrap_or(rest).to_string()
}

/// The path's elements after lexical cleaning as if rooted (`../x` → `x`).
pub(crate) fn clean_elems(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in path.split('/') {
        match e {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_string()),
        }
    }
    out
}

/// Go's `path.Base`.
fn go_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Reads and hashes one file beneath the root: `openat2(RESOLVE_BENEATH | NO_SYMLINKS)`
/// with `O_NOFOLLOW`, so a file swapped for a symlink after the scan is refused. Returns
/// the digest and the bytes read.
fn hash_file(tree: &Tree, i: usize) -> Result<(Digest, u64)> {
    let n = tree.node(i).ok_or_else(|| tree.missing(""))?;
    let path = std::ffi::OsStr::from_bytes(&n.raw_path);
    let fd = rustix::fs::openat2(
        tree.root.as_fd(),
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        BENEATH,
    )
    .map_err(tree.io_err(&n.path, "opening"))?;
    let st = rustix::fs::fstat(&fd).map_err(tree.io_err(&n.path, "stat"))?;
    let now_meta = Meta::from_stat(&st, Kind::File);
    if now_meta.fingerprint() != n.meta.fingerprint() {
        return Err(Error::Changed {
            path: n.path.clone(),
        });
    }
    let xattrs = list_xattrs(&fd).map_err(tree.io_err(&n.path, "listing xattrs"))?;
    let mut h = Sha256::new();
    write_header(&mut h, &n.meta, &xattrs);
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    if n.meta.size > 0 {
        loop {
            let got = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Io {
                        root: tree.root_path.clone(),
                        path: n.path.clone(),
                        op: "reading",
                        source,
                    });
                }
            };
            h.update(buf.get(..got).unwrap_or_default());
            total += got as u64;
        }
    }
    if total != n.meta.size {
        return Err(Error::Changed {
            path: n.path.clone(),
        });
    }
    Ok((Digest::finish(h), total))
}
