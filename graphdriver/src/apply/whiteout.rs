//! Whiteouts and opaque markers: OCI deletions turned into the driver's native form (overlay
//! devices and xattrs) or carried out in place (vfs).

use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, XattrFlags};
use rustix::io::Errno;
use tar_split::Header;

use super::entry::Applier;
use super::path::{has_dotdot, join};
use super::walker::{dir_flags, WalkError};
use super::WhiteoutMode;
use crate::fsutil::remove_all_at;
use crate::Result;

impl Applier<'_> {
    /// A `.wh.NAME` member in directory `dirs`: NAME is hidden (overlay) or removed (vfs).
    pub(super) fn whiteout(
        &mut self,
        header: &Header,
        dirs: &[&[u8]],
        target: &[u8],
    ) -> Result<()> {
        if target.is_empty() || target == b"." || target == b".." || has_dotdot(&header.path) {
            return Err(self.err(header, "whiteout names no file of the layer", None));
        }
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let dir = self
                    .walker
                    .dir(dirs, true)
                    .map_err(|e| self.walk_err(header, e))?;
                let mk = || {
                    rfs::mknodat(
                        &dir,
                        target,
                        FileType::CharacterDevice,
                        Mode::empty(),
                        rfs::makedev(0, 0),
                    )
                };
                match mk() {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        self.clear_name(header, dir.as_fd(), dirs.len(), target)?;
                        mk().map_err(|e| self.err(header, "create whiteout", Some(e)))?;
                    }
                    Err(e) => return Err(self.err(header, "create whiteout", Some(e))),
                }
                if let Some((u, g)) = self.owner(header)? {
                    rfs::chownat(&dir, target, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| self.err(header, "chown whiteout", Some(e)))?;
                }
                Ok(())
            }
            WhiteoutMode::Delete => {
                let mut full = dirs.to_vec();
                full.push(target);
                if self.unpacked.contains(&join(&full)) {
                    // A whiteout hides lower layers' files, not this layer's own.
                    return Ok(());
                }
                let dir = match self.walker.dir(dirs, false) {
                    Ok(fd) => fd,
                    // Nothing there (or not a real directory): nothing to delete.
                    Err(WalkError {
                        errno: Errno::NOENT | Errno::NOTDIR | Errno::LOOP,
                        ..
                    }) => return Ok(()),
                    Err(e) => return Err(self.walk_err(header, e)),
                };
                self.walker
                    .ensure_writable(dir.as_fd(), dirs)
                    .map_err(|e| self.walk_err(header, e))?;
                self.clear_name(header, dir.as_fd(), dirs.len(), target)
            }
        }
    }

    pub(super) fn opaque(&mut self, header: &Header, dirs: &[&[u8]]) -> Result<()> {
        if has_dotdot(&header.path) {
            return Err(self.err(header, "opaque marker with a `..` in its name", None));
        }
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let xattr: &[u8] = if self.opts.privileged {
                    b"trusted.overlay.opaque"
                } else {
                    b"user.overlay.opaque"
                };
                let fd = self.walker.dir(dirs, true).map_err(|e| WalkError {
                    errno: e.errno,
                    what: e.what,
                });
                let fd = match fd {
                    Ok(fd) => fd,
                    Err(e) => return Err(self.walk_err(header, e)),
                };
                rfs::fsetxattr(&fd, xattr, b"y", XattrFlags::empty())
                    .map_err(|e| self.err(header, "mark directory opaque", Some(e)))
            }
            WhiteoutMode::Delete => {
                let fd = match self.walker.dir(dirs, false) {
                    Ok(fd) => fd,
                    Err(WalkError {
                        errno: Errno::NOENT | Errno::NOTDIR | Errno::LOOP,
                        ..
                    }) => return Ok(()),
                    Err(e) => return Err(self.walk_err(header, e)),
                };
                self.walker
                    .ensure_writable(fd.as_fd(), dirs)
                    .map_err(|e| self.walk_err(header, e))?;
                self.walker.forget_below(dirs.len());
                let prefix = join(dirs);
                self.clear_lower(header, fd.as_fd(), prefix)
            }
        }
    }

    /// Removes from directory `fd` (at cleaned path `prefix`) everything this tar did not put
    /// there, descending into the directories it did.
    fn clear_lower(&self, header: &Header, fd: BorrowedFd<'_>, prefix: Vec<u8>) -> Result<()> {
        let mut keep_dirs = Vec::new();
        let mut entries =
            rfs::Dir::read_from(fd).map_err(|e| self.err(header, "read directory", Some(e)))?;
        let mut remove = Vec::new();
        while let Some(entry) = entries.read() {
            let entry = entry.map_err(|e| self.err(header, "read directory", Some(e)))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut full = prefix.clone();
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(name);
            if !self.unpacked.contains(&full) {
                remove.push(name.to_vec());
            } else if entry.file_type() == FileType::Directory {
                keep_dirs.push((name.to_vec(), full));
            }
        }
        for name in remove {
            remove_all_at(fd, &name).map_err(|(what, e)| self.err(header, what, Some(e)))?;
        }
        for (name, full) in keep_dirs {
            let sub = rfs::openat(fd, name.as_slice(), dir_flags(), Mode::empty())
                .map_err(|e| self.err(header, "open directory", Some(e)))?;
            self.clear_lower(header, sub.as_fd(), full)?;
        }
        Ok(())
    }
}
