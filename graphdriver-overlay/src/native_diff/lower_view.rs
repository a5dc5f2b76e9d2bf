//! The merged view of a layer's lower directories, as overlayfs would show it, computed from the
//! directories themselves (no mount): what a path is below a layer, and what a directory holds.
//!
//! overlayfs' rules, top layer first: a whiteout (character device 0/0) hides the name in the
//! layers below; an opaque directory (`trusted.overlay.opaque=y`) hides the directories below it
//! in lower layers; a non-directory hides everything below its name.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Stat};
use rustix::io::Errno;

use super::tree::{dir_flags, open_root, sorted_names};

/// The xattr marking an opaque directory in an overlay layer.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Whether a stat is an overlay whiteout.
pub(crate) fn is_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

/// Whether the directory `fd` is opaque.
pub(crate) fn is_opaque(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut value = [0u8; 4];
    match rfs::fgetxattr(fd, OPAQUE_XATTR, &mut value) {
        Ok(n) => Ok(&value[..n] == b"y"),
        Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// The lower directories of a layer, top first, opened once.
pub(crate) struct LowerView {
    roots: Vec<OwnedFd>,
}

/// Where a directory was found in one lower layer.
enum DirLookup {
    /// The directory is there, opened; `opaque`: a directory on the way (itself included)
    /// hides the layers below.
    Found { fd: OwnedFd, opaque: bool },
    /// Not in this layer; `hidden`: nor in any layer below.
    Missing { hidden: bool },
}

impl LowerView {
    /// Opens the lower directories `lowers` (top first).
    pub(crate) fn open(lowers: &[PathBuf]) -> io::Result<Self> {
        let roots = lowers
            .iter()
            .map(|path| open_root(path))
            .collect::<io::Result<_>>()?;
        Ok(LowerView { roots })
    }

    /// Walks `dirs` in one layer.
    fn find_dir(root: &OwnedFd, dirs: &[&[u8]]) -> io::Result<DirLookup> {
        let mut fd = rfs::openat(root, ".", dir_flags(), Mode::empty())?;
        let mut opaque = false;
        for name in dirs {
            match rfs::openat(&fd, *name, dir_flags(), Mode::empty()) {
                Ok(child) => {
                    opaque |= is_opaque(child.as_fd())?;
                    fd = child;
                }
                Err(Errno::NOENT) => return Ok(DirLookup::Missing { hidden: opaque }),
                // A file, symlink or whiteout stands where a directory would be: it hides the
                // layers below.
                Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
                    return Ok(DirLookup::Missing { hidden: true })
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(DirLookup::Found { fd, opaque })
    }

    /// What `path` (components from the root, non-empty) is in the merged lower view: its
    /// `lstat`, or `None` when no lower layer shows it.
    pub(crate) fn lookup(&self, path: &[&[u8]]) -> io::Result<Option<Stat>> {
        let Some((name, dirs)) = path.split_last() else {
            return Ok(None);
        };
        for root in &self.roots {
            match Self::find_dir(root, dirs)? {
                DirLookup::Missing { hidden: true } => return Ok(None),
                DirLookup::Missing { hidden: false } => continue,
                DirLookup::Found { fd, opaque } => {
                    match rfs::statat(&fd, *name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(stat) if is_whiteout(&stat) => return Ok(None),
                        Ok(stat) => return Ok(Some(stat)),
                        Err(Errno::NOENT) if !opaque => continue,
                        Err(Errno::NOENT) => return Ok(None),
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Ok(None)
    }

    /// The names the merged lower view shows in directory `dirs` (empty for the root).
    pub(crate) fn names(&self, dirs: &[&[u8]]) -> io::Result<BTreeSet<Vec<u8>>> {
        let mut shown = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for root in &self.roots {
            let (fd, opaque) = match Self::find_dir(root, dirs)? {
                DirLookup::Missing { hidden: true } => break,
                DirLookup::Missing { hidden: false } => continue,
                DirLookup::Found { fd, opaque } => (fd, opaque),
            };
            for name in sorted_names(fd.as_fd())? {
                if shown.contains(&name) || hidden.contains(&name) {
                    continue;
                }
                let stat = match rfs::statat(&fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    Err(Errno::NOENT) => continue,
                    Err(err) => return Err(err.into()),
                };
                if is_whiteout(&stat) {
                    hidden.insert(name);
                } else {
                    shown.insert(name);
                }
            }
            if opaque {
                break;
            }
        }
        Ok(shown)
    }
}
