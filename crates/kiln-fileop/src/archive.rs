//! `ADD` of local archives: detection by content (BuildKit's `isArchivePath`: a regular
//! file whose decompressed stream starts with a valid tar header) and contained extraction
//! (BuildKit's root-bound untar).
//!
//! Rules: compression is recognised by magic bytes, never by name (gzip, bzip2, xz, zstd, or
//! none); anything that is not a tar stream is not an archive and is copied as a file. The
//! archive is extracted *into* the destination, which is always taken as a directory and
//! created (mode 0755, `owner`) if missing. Entries keep the archive's owner, mode and
//! times unless `owner` is given; parent directories the archive does not list are created
//! 0755 and owned by root. Entry names are cleaned (`/a` is `a`); a name that climbs out
//! (`../x`) is [`Error::ArchiveEscape`]; symlinks the archive makes are followed *inside* the
//! extraction directory by later entries (an absolute target is taken relative to it), so
//! nothing is ever written outside it. Whiteout files (`.wh.*`) are ordinary files here.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};

use crate::copy::{mkdir_all, remove_all};
use crate::error::{Error, Result};
use crate::meta;
use crate::owner::{Owner, open_file_in};
use crate::root::{Root, clean, display, lstat_at};

/// How an archive's bytes are compressed, told by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No recognised compression magic.
    None,
    /// `1f 8b 08`.
    Gzip,
    /// `BZh`.
    Bzip2,
    /// `fd 37 7a 58 5a 00`.
    Xz,
    /// `28 b5 2f fd`, or a zstd skippable frame (`5? 2a 4d 18`).
    Zstd,
}

/// Recognises the compression of a stream from its first bytes (moby's `DetectCompression`).
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
    {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `file` in the decompressor its first bytes call for.
pub fn decompress(file: File) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let kind = detect_compression(reader.fill_buf()?);
    Ok(match kind {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

/// Options of [`unpack_archive`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Owner of every extracted entry and of the created destination (`ADD --chown`);
    /// `None` keeps the archive's owners.
    pub owner: Option<Owner>,
    /// Times of the created destination directories (`SOURCE_DATE_EPOCH`); entries keep
    /// the archive's times.
    pub mtime: Option<SystemTime>,
}

/// Whether `path` beneath `root` is a tar archive BuildKit's `ADD` would extract: a regular
/// file (symlinks followed beneath the root) whose decompressed content starts with a valid
/// tar header. Unreadable or absent files are not archives.
pub fn is_archive(root: &Root, path: &str) -> Result<bool> {
    let Some(file) = open_regular(root, path)? else {
        return Ok(false);
    };
    let Ok(reader) = decompress(file) else {
        return Ok(false);
    };
    let mut archive = tar::Archive::new(reader);
    let first = match archive.entries() {
        Ok(mut entries) => entries.next(),
        Err(_) => return Ok(false),
    };
    Ok(matches!(first, Some(Ok(_))))
}

fn open_regular(root: &Root, path: &str) -> Result<Option<File>> {
    let Some(fd) = open_file_in(root, path)? else {
        return Ok(None);
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", path, e))?;
    if meta::file_type(&st) != FileType::RegularFile {
        return Ok(None);
    }
    Ok(Some(File::from(fd)))
}

/// Extracts the archive at `src_path` beneath `src` into the directory `dest` beneath `dst`
/// (see the module docs). Returns `Ok(false)` without touching anything when the file is
/// not a tar archive (the caller then copies it as a file).
pub fn unpack_archive(
    src: &Root,
    src_path: &str,
    dst: &Root,
    dest: &str,
    opts: &UnpackOptions,
) -> Result<bool> {
    if !is_archive(src, src_path)? {
        return Ok(false);
    }
    let archive_name = display(&clean(src_path));
    let Some(file) = open_regular(src, src_path)? else {
        return Ok(false);
    };
    let comps = mkdir_all(dst, dest, 0o755, opts.owner, opts.mtime)?;
    let into = dst
        .open_dir(&comps, false)
        .map_err(|e| Error::io("open", display(&comps), e))?;
    let root = Root::from_fd(
        into,
        dst.host_path()
            .join(display(&comps).trim_start_matches('/')),
    );
    let reader = decompress(file).map_err(|e| Error::Archive {
        archive: archive_name.clone(),
        reason: e.to_string(),
    })?;
    Extractor {
        root: &root,
        archive: &archive_name,
        owner: opts.owner,
        dir_times: Vec::new(),
    }
    .run(reader)?;
    Ok(true)
}

struct Extractor<'a> {
    root: &'a Root,
    archive: &'a str,
    owner: Option<Owner>,
    dir_times: Vec<(Vec<OsString>, Timestamps)>,
}

impl Extractor<'_> {
    fn bad(&self, entry: &str, e: impl std::fmt::Display) -> Error {
        Error::Archive {
            archive: self.archive.to_string(),
            reason: format!("entry {entry:?}: {e}"),
        }
    }

    fn run(mut self, reader: Box<dyn Read>) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| Error::Archive {
            archive: self.archive.to_string(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::Archive {
                archive: self.archive.to_string(),
                reason: e.to_string(),
            })?;
            self.entry(&mut entry)?;
        }
        // Directory times last, deepest first, so later entries do not disturb them.
        for (comps, times) in self.dir_times.iter().rev() {
            let (dir, name) = split(comps);
            if let Ok(parent) = self.root.open_dir(dir, false) {
                let _ = meta::set_times_at(&parent, &name, times);
            }
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let Some(name) = clean_entry(&raw_name).map_err(|()| Error::ArchiveEscape {
            archive: self.archive.to_string(),
            entry: shown.clone(),
        })?
        else {
            return Ok(());
        };
        let header = entry.header();
        let old = header.as_old();
        let num = |raw: &[u8], parsed: io::Result<u64>, what: &str| {
            lenient_number(raw, parsed).map_err(|e| self.bad(&shown, format!("{what}: {e}")))
        };
        let mode = num(&old.mode, header.mode().map(u64::from), "mode")? as u32 & 0o7777;
        let uid = num(&old.uid, header.uid(), "uid")?;
        let gid = num(&old.gid, header.gid(), "gid")?;
        let owner = self.owner.unwrap_or(Owner {
            uid: u32::try_from(uid).map_err(|_| self.bad(&shown, "uid out of range"))?,
            gid: u32::try_from(gid).map_err(|_| self.bad(&shown, "gid out of range"))?,
        });
        let mtime = header.mtime().unwrap_or(0);
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: mtime as _,
                tv_nsec: 0,
            },
            last_modification: Timespec {
                tv_sec: mtime as _,
                tv_nsec: 0,
            },
        };

        // Resolve the entry's directory inside the extraction root (following links the
        // archive made, contained), then create what is missing of it.
        let is_dir = kind == tar::EntryType::Directory;
        let resolved = self.root.resolve(&display(&name), is_dir)?;
        let comps = resolved.comps;
        let (dir_comps, leaf) = split(&comps);
        if comps.is_empty() {
            return Ok(());
        }
        let path = display(&comps);
        let parent = self.make_parents(dir_comps)?;
        let parent = parent.as_fd();

        if let Some(existing) =
            lstat_at(parent, &leaf).map_err(|e| Error::io("stat", path.clone(), e))?
        {
            if !(is_dir && meta::file_type(&existing) == FileType::Directory) {
                remove_all(parent, &leaf, &path)?;
            }
        }

        match kind {
            tar::EntryType::Directory => {
                match rustix::fs::mkdirat(parent, &leaf, Mode::from_raw_mode(mode & 0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(Error::io("mkdir", path, e)),
                }
                meta::chown_at(parent, &leaf, owner)
                    .map_err(|e| Error::io("chown", path.clone(), e))?;
                meta::chmod_at(parent, &leaf, mode)
                    .map_err(|e| Error::io("chmod", path.clone(), e))?;
                self.dir_times.push((comps.clone(), times));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rustix::fs::openat(
                    parent,
                    &leaf,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| Error::io("create", path.clone(), e))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| self.bad(&shown, e))?;
                drop(file);
                self.finish(parent, &leaf, owner, mode, &times, &path)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, &leaf)
                    .map_err(|e| Error::io("symlink", path.clone(), e))?;
                meta::chown_at(parent, &leaf, owner)
                    .map_err(|e| Error::io("chown", path.clone(), e))?;
                meta::set_times_at(parent, &leaf, &times)
                    .map_err(|e| Error::io("utimes", path.clone(), e))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let target_name = String::from_utf8_lossy(&target).into_owned();
                let escape = || Error::ArchiveEscape {
                    archive: self.archive.to_string(),
                    entry: target_name.clone(),
                };
                let Some(link) = clean_entry(&target).map_err(|()| escape())? else {
                    return Err(escape());
                };
                let link = self.root.resolve(&display(&link), false)?;
                let (ldir, lname) = split(&link.comps);
                let old = self
                    .root
                    .open_dir(ldir, false)
                    .map_err(|e| Error::io("open", display(ldir), e))?;
                rustix::fs::linkat(&old, &lname, parent, &leaf, AtFlags::empty())
                    .map_err(|e| Error::io("link", path.clone(), e))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                rustix::fs::mknodat(
                    parent,
                    &leaf,
                    ft,
                    Mode::from_raw_mode(mode & 0o777),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| Error::io("mknod", path.clone(), e))?;
                self.finish(parent, &leaf, owner, mode, &times, &path)?;
            }
            other => {
                return Err(self.bad(&shown, format!("unsupported tar entry type {other:?}")));
            }
        }
        Ok(())
    }

    fn finish(
        &self,
        parent: BorrowedFd<'_>,
        leaf: &OsStr,
        owner: Owner,
        mode: u32,
        times: &Timestamps,
        path: &str,
    ) -> Result<()> {
        rustix::fs::chownat(
            parent,
            leaf,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("chown", path, e))?;
        meta::chmod_at(parent, leaf, mode).map_err(|e| Error::io("chmod", path, e))?;
        meta::set_times_at(parent, leaf, times).map_err(|e| Error::io("utimes", path, e))?;
        Ok(())
    }

    /// Creates the missing directories of `dir` (0755, root-owned, as BuildKit's implied
    /// parents) and returns a descriptor of it.
    fn make_parents(&self, dir: &[OsString]) -> Result<std::os::fd::OwnedFd> {
        let mut fd = self
            .root
            .open_dir(&[], false)
            .map_err(|e| Error::io("open", "/", e))?;
        for (i, c) in dir.iter().enumerate() {
            let here = || display(&dir[..=i]);
            match lstat_at(&fd, c).map_err(|e| Error::io("stat", here(), e))? {
                Some(st) if meta::file_type(&st) == FileType::Directory => {}
                Some(_) => return Err(Error::NotADirectory { path: here() }),
                None => {
                    rustix::fs::mkdirat(&fd, c.as_os_str(), Mode::from_raw_mode(0o755))
                        .map_err(|e| Error::io("mkdir", here(), e))?;
                    meta::chown_at(&fd, c, Owner::ROOT)
                        .map_err(|e| Error::io("chown", here(), e))?;
                    meta::chmod_at(&fd, c, 0o755).map_err(|e| Error::io("chmod", here(), e))?;
                }
            }
            fd = rustix::fs::openat(
                &fd,
                c.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("open", here(), e))?;
        }
        Ok(fd)
    }
}

/// A numeric header field as Go's tar reader reads it: an empty field (only NULs and
/// spaces) is 0, anything else must parse.
fn lenient_number(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    match parsed {
        Ok(n) => Ok(n),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(e),
    }
}

fn split(comps: &[OsString]) -> (&[OsString], OsString) {
    match comps.split_last() {
        Some((last, parent)) => (parent, last.clone()),
        None => (&[], OsString::from(".")),
    }
}

/// Cleans an entry name: leading `/` dropped, `.` and empty components removed, `..` applied;
/// `Ok(None)` for the root itself, `Err` when the name climbs out of it.
fn clean_entry(name: &[u8]) -> std::result::Result<Option<Vec<OsString>>, ()> {
    let mut out: Vec<OsString> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(());
                }
            }
            c => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}
