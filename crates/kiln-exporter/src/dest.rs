//! Output destinations: a file replaced atomically (temporary file, fsync, rename) so a failed
//! export leaves the previous file untouched, or standard output (`dest=-`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::compression::unique_ref;
use crate::error::{Error, Result};

/// A file written beside its destination and renamed into place by [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed and the destination is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dest` (its directory must exist).
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| Error::io("writing", dest, io::Error::other("not a file path")))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", unique_ref("out")));
        let tmp = dir.join(tmp_name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("creating", &tmp, e))?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Flushes, fsyncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all()
                .map_err(|e| Error::io("syncing", &self.tmp, e))?;
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io("renaming into", &self.dest, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Where a tarball output goes: `dest=-` is standard output, anything else a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output.
    Stdout,
    /// A file, replaced atomically.
    File(PathBuf),
}

impl Destination {
    /// Parses a `dest=` value.
    pub fn parse(dest: &str) -> Destination {
        if dest == "-" {
            Destination::Stdout
        } else {
            Destination::File(PathBuf::from(dest))
        }
    }

    /// Runs `write` on the destination; a file is committed only when `write` succeeds.
    pub fn write_with<F>(&self, write: F) -> Result<()>
    where
        F: FnOnce(&mut dyn Write) -> Result<()>,
    {
        match self {
            Destination::Stdout => {
                let stdout = io::stdout();
                let mut lock = io::BufWriter::new(stdout.lock());
                write(&mut lock)?;
                lock.flush()
                    .map_err(|e| Error::io("writing", "<stdout>", e))
            }
            Destination::File(path) => {
                let mut file = io::BufWriter::new(AtomicFile::create(path)?);
                write(&mut file)?;
                let file = file
                    .into_inner()
                    .map_err(|e| Error::io("writing", path, e.into_error()))?;
                file.commit()
            }
        }
    }
}
