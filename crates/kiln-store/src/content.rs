//! The content store's contract: role traits ([`Provider`], [`Ingester`], [`Manager`],
//! [`IngestManager`]), their value types, and the helpers most callers want ([`read_blob`],
//! [`write_blob`]).
//!
//! # Terms
//!
//! - A **blob** is immutable bytes named by their [`Digest`]. Once [`Provider::open`] finds a
//!   blob, its bytes never change; it only disappears by [`Manager::delete`] or garbage collection.
//! - An **ingest** is an in-progress write, named by a caller-chosen **reference** string
//!   (containerd's `ref`, e.g. `layer-sha256:…`). It lives under `content/ingest/` until it is
//!   committed (renamed into `content/blobs/`), aborted, or found stale.
//!
//! # Lifecycle of a write
//!
//! 1. [`Ingester::writer`] with a reference and, when known, the expected digest and size. If the
//!    expected blob is already present the answer is [`Ingest::Present`] and nothing is written.
//!    Otherwise the ingest is locked for this writer; if an earlier writer of the same reference
//!    died or dropped its writer, the new one **resumes**: [`ContentWriter::offset`] says how many
//!    bytes are already there (a downloader continues with an HTTP range request from there).
//! 2. Write bytes with [`std::io::Write`]; they are hashed as they go.
//! 3. [`ContentWriter::commit`] fsyncs, checks size and digest, and renames the file into
//!    `content/blobs/<alg>/<hex>`, then fsyncs that directory. On a size or digest mismatch the
//!    ingest is deleted and nothing is committed. If the blob appeared meanwhile (another writer of
//!    the same content), commit still succeeds and discards this copy.
//! 4. Dropping a writer without committing keeps the ingest for a later resume. Stale ingests
//!    (unlocked and older than [`crate::StoreOptions::ingest_expiry`]) are removed when the store is
//!    opened and by garbage collection; [`IngestManager::abort`] removes one at once.
//!
//! # Concurrency and blocking
//!
//! Every method is safe to call from many threads at once. All calls do blocking file I/O
//! (`std::fs`); async callers run them under `tokio::task::spawn_blocking` (the store is cheap to
//! clone into the closure). Writers of the *same* digest under *different* references are safe:
//! each writes its own ingest, the first commit wins and the others succeed as no-ops. Writers of
//! the *same* reference are serialized by a lock on the ingest (see [`WriterOptions::wait`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Object, Result};

/// What the store knows about a committed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was committed.
    pub committed_at: SystemTime,
}

/// An open, read-only blob: a [`std::fs::File`] with its size and digest.
///
/// Implements [`Read`] and [`Seek`]; [`Blob::read_at`] reads at an offset without moving the cursor
/// (safe to share between threads through `&Blob`). The file stays readable even if the blob is
/// deleted while open.
#[derive(Debug)]
pub struct Blob {
    file: File,
    size: u64,
    digest: Digest,
    path: PathBuf,
}

impl Blob {
    pub(crate) fn new(file: File, size: u64, digest: Digest, path: PathBuf) -> Blob {
        Blob {
            file,
            size,
            digest,
            path,
        }
    }

    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's path inside the store (for diagnostics; do not write to it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at or past the end.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    /// Fills `buf` from `offset`, or fails with `UnexpectedEof`.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// The underlying file (read-only).
    pub fn into_file(self) -> File {
        self.file
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for Blob {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Options for [`Ingester::writer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    pub(crate) reference: String,
    pub(crate) expected: Option<Digest>,
    pub(crate) size: Option<u64>,
    pub(crate) lease: Option<String>,
    pub(crate) wait: bool,
}

impl WriterOptions {
    /// A writer for the ingest `reference` (1 to 255 of `A-Z a-z 0-9 - _ . : @ + =`, no `..`).
    pub fn new(reference: impl Into<String>) -> WriterOptions {
        WriterOptions {
            reference: reference.into(),
            expected: None,
            size: None,
            lease: None,
            wait: false,
        }
    }

    /// The digest the data must have. Also picks the hash algorithm (default sha256).
    pub fn expected(mut self, digest: Digest) -> Self {
        self.expected = Some(digest);
        self
    }

    /// The size the data must have.
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Holds the expected digest (at once) and the committed digest (at commit) in this lease,
    /// so that garbage collection cannot remove the blob before a record references it.
    pub fn lease(mut self, id: impl Into<String>) -> Self {
        self.lease = Some(id.into());
        self
    }

    /// When another writer holds the reference, block until it finishes instead of failing with
    /// [`Error::Locked`]. If it committed the expected blob, the answer is then
    /// [`Ingest::Present`]. The wait cannot be cancelled: use it only on blocking threads.
    pub fn wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// The ingest reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }
}

/// The answer of [`Ingester::writer`].
#[derive(Debug)]
pub enum Ingest {
    /// The expected blob is already in the store; nothing to write.
    Present(Info),
    /// Write the data (from [`ContentWriter::offset`] on) and commit.
    Write(Box<dyn ContentWriter>),
}

/// An in-progress write. Dropping it without [`commit`](ContentWriter::commit) keeps the data for
/// a later resume and releases the lock.
pub trait ContentWriter: io::Write + Send + fmt::Debug {
    /// The ingest reference.
    fn reference(&self) -> &str;

    /// Bytes written so far, including any resumed from an earlier writer.
    fn offset(&self) -> u64;

    /// The digest of the bytes written so far.
    fn digest(&self) -> Digest;

    /// Discards everything written so far (for a source that cannot resume at [`offset`]).
    ///
    /// [`offset`]: ContentWriter::offset
    fn reset(&mut self) -> Result<()>;

    /// Verifies and commits the data as a blob; see the module docs for the steps.
    ///
    /// Returns the blob's [`Info`] whether this writer put it there or it was already present.
    /// [`Error::SizeMismatch`] or [`Error::DigestMismatch`] delete the ingest.
    /// [`Error::WriterFailed`] (an earlier write failed) keeps it for a resume.
    fn commit(self: Box<Self>) -> Result<Info>;
}

/// Read access to blobs.
pub trait Provider: Send + Sync {
    /// Opens a blob for reading.
    ///
    /// Missing blob: [`Error::NotFound`] with [`Object::Blob`]. Safe concurrently with every other
    /// operation; a blob deleted while open stays readable through the returned handle.
    fn open(&self, digest: &Digest) -> Result<Blob>;
}

/// Write access: creates writers.
pub trait Ingester: Send + Sync {
    /// Starts or resumes the ingest named by `opts`' reference.
    ///
    /// An ingest left by an earlier writer is resumed only when both name the same expected digest
    /// (and size, if given), so that every resumed byte is verified at commit; otherwise it
    /// restarts from zero.
    ///
    /// Returns [`Ingest::Present`] when an expected digest was given and that blob exists;
    /// [`Error::Locked`] when another writer holds the reference (unless [`WriterOptions::wait`]);
    /// [`Error::InvalidName`] for a bad reference; [`Error::NotFound`] for an unknown lease.
    /// The caller owns the returned writer: commit it, or drop it to leave the ingest resumable.
    fn writer(&self, opts: WriterOptions) -> Result<Ingest>;
}

/// Inspection and deletion of committed blobs.
pub trait Manager: Send + Sync {
    /// Size and commit time of a blob. Missing blob: [`Error::NotFound`].
    fn info(&self, digest: &Digest) -> Result<Info>;

    /// Whether a blob is present.
    fn exists(&self, digest: &Digest) -> Result<bool> {
        match self.info(digest) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Calls `f` for every blob, in no particular order. Blobs committed or deleted during the walk
    /// may or may not be seen. Stops at, and returns, the first error from `f`. Files under
    /// `content/blobs/` that are not valid blobs are skipped (see [`crate::Store::fsck`]).
    fn walk(&self, f: &mut dyn FnMut(Info) -> Result<()>) -> Result<()>;

    /// Removes a blob at once, whatever references it; prefer garbage collection, which respects
    /// images, cache records and leases. Missing blob: [`Error::NotFound`]. Open readers keep
    /// their data.
    fn delete(&self, digest: &Digest) -> Result<()>;
}

/// The state of one ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    /// Its reference.
    pub reference: String,
    /// Bytes written so far.
    pub offset: u64,
    /// The expected size, when given.
    pub total: Option<u64>,
    /// The expected digest, when given.
    pub expected: Option<Digest>,
    /// When the ingest was started.
    pub started_at: SystemTime,
    /// When data was last written.
    pub updated_at: SystemTime,
}

/// Inspection and removal of in-progress writes.
pub trait IngestManager: Send + Sync {
    /// The state of one ingest. Unknown reference: [`Error::NotFound`] with [`Object::Ingest`].
    fn ingest_status(&self, reference: &str) -> Result<IngestStatus>;

    /// Every ingest on disk, active or resumable, sorted by reference.
    fn list_ingests(&self) -> Result<Vec<IngestStatus>>;

    /// Removes an ingest and its data. [`Error::Locked`] while a writer holds it;
    /// [`Error::NotFound`] if there is none.
    fn abort(&self, reference: &str) -> Result<()>;
}

/// Reads a whole blob into memory, refusing blobs over `limit` bytes, and verifies its digest
/// (so a corrupted manifest or config is caught where it is parsed).
pub fn read_blob(provider: &dyn Provider, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
    let mut blob = provider.open(digest)?;
    if blob.size() > limit {
        return Err(Error::TooLarge {
            object: Object::Blob(digest.clone()),
            size: blob.size(),
            limit,
        });
    }
    let mut data = Vec::with_capacity(usize::try_from(blob.size()).unwrap_or(0));
    let path = blob.path().to_path_buf();
    blob.read_to_end(&mut data).ctx("reading", &path)?;
    let actual = digest.algorithm().digest(&data);
    if &actual != digest {
        return Err(Error::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    Ok(data)
}

/// Writes `data` as a blob through `ingester` (containerd's `content.WriteBlob`): opens or resumes
/// the ingest, skips what a resumed ingest already holds, copies the rest, commits.
///
/// `data` is read from its current position, which is taken as the blob's first byte. An
/// already-present blob is success without reading `data`. A resumed ingest is continued by
/// seeking past what it holds. For a source that cannot seek (an HTTP body), drive the
/// [`ContentWriter`] yourself: ask for the rest with a range request from
/// [`ContentWriter::offset`], or [`ContentWriter::reset`].
pub fn write_blob<R: Read + Seek>(
    ingester: &dyn Ingester,
    opts: WriterOptions,
    data: &mut R,
) -> Result<Info> {
    let reference = opts.reference.clone();
    let mut writer = match ingester.writer(opts)? {
        Ingest::Present(info) => return Ok(info),
        Ingest::Write(w) => w,
    };
    let ingest_err = |source: io::Error| Error::Copy {
        object: Object::Ingest(reference.clone()),
        source,
    };
    if writer.offset() > 0 {
        // A mismatch between what the ingest holds and `data` is caught by the digest at commit.
        let start = data.stream_position().map_err(ingest_err)?;
        data.seek(SeekFrom::Start(start.saturating_add(writer.offset())))
            .map_err(ingest_err)?;
    }
    io::copy(data, &mut writer).map_err(ingest_err)?;
    writer.commit()
}
