//! Reading a directory tree fd-relative, never following symlinks: listings with `lstat`
//! results, xattrs, link targets. Shared by changes, diffs and the vfs copy.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// One entry of a directory: its name and `lstat`.
pub struct Node {
    /// The entry's name.
    pub name: Vec<u8>,
    /// Its `lstat` (symlinks are not followed).
    pub stat: Stat,
}

impl Node {
    /// The entry's type.
    pub fn kind(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode)
    }
}

/// Flags for opening a directory during a walk: never through a symlink.
pub fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The entries of directory `dir` (without `.` and `..`), sorted by name.
pub fn list(dir: BorrowedFd<'_>) -> Result<Vec<Node>, Errno> {
    let mut out = Vec::new();
    let mut entries = rfs::Dir::read_from(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let stat = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        out.push(Node {
            name: name.to_vec(),
            stat,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Opens subdirectory `name` of `dir`, never through a symlink.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    rfs::openat(dir, name, dir_flags(), Mode::empty())
}

/// Opens regular file `name` of `dir` for reading, never through a symlink. Anything else
/// standing there (a FIFO that would block the open, a device node whose open has effects) is
/// refused with `EINVAL` before it is opened.
pub fn open_file(dir: BorrowedFd<'_>, name: &[u8]) -> Result<File, Errno> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Errno::INVAL);
    }
    // NONBLOCK: should a FIFO take its place meanwhile, the open still returns at once.
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
}

/// The target of symlink `name` in `dir`.
pub fn read_link(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Vec<u8>, Errno> {
    Ok(rfs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

/// `/proc/self/fd/<dir>/<name>`: a short path to `name` in `dir`, for the `l*xattr` calls that
/// have no fd-relative form (the last component is not followed).
pub fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(p))
}

/// Extended attributes as (name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattrs of `name` in `dir` (symlinks not followed), sorted by name. Filesystems without
/// xattr support give none.
pub fn xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Xattrs, Errno> {
    let path = proc_path(dir, name);
    let mut list = vec![0u8; 4096];
    let n = loop {
        match rfs::llistxattr(&path, &mut list[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => list.resize(list.len() * 4, 0),
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for xname in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 256];
        let len = loop {
            match rfs::lgetxattr(&path, xname, &mut value[..]) {
                Ok(len) => break Some(len),
                Err(Errno::RANGE) => value.resize(value.len() * 8, 0),
                // Removed meanwhile, or not readable by this user: not part of what we see.
                Err(Errno::NODATA) | Err(Errno::PERM) | Err(Errno::ACCESS) => break None,
                Err(e) => return Err(e),
            }
        };
        if let Some(len) = len {
            value.truncate(len);
            out.push((xname.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// Joins a parent path (`""` for the root) and a name with `/`.
pub fn child_path(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix.len() + 1 + name.len());
    p.extend_from_slice(prefix);
    if !prefix.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}
