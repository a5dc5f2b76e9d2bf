//! Directories a tar needs but does not list inherit the attributes of the same directory in
//! the nearest parent layer, so an overlay upper directory does not change the merged view.

use std::os::fd::AsFd;

use rustix::fs::{self as rfs, FileType, Timespec, Timestamps, XattrFlags};
use tar_split::Header;

use super::entry::{open_existing_dir, Applier, DeferredDir};
use super::path::clean;
use crate::Result;

impl Applier<'_> {
    /// Gives the implicitly created directory `rel` the owner, mode, xattrs and times of the
    /// same directory in the nearest parent layer that has one there.
    pub(super) fn adopt_lower_attrs(&mut self, header: &Header, rel: &[u8]) -> Result<()> {
        let comps = clean(rel);
        let mut found = None;
        for lower in &self.lowers {
            match crate::changes::stat_beneath(lower.as_fd(), rel) {
                Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    let (name, dirs) = comps
                        .split_last()
                        .map_or((&b""[..], &[][..]), |(n, d)| (*n, d));
                    let dir = open_existing_dir(lower.as_fd(), dirs)
                        .map_err(|e| self.err(header, "open parent layer", Some(e)))?;
                    let xattrs = crate::tree::xattrs(dir.as_fd(), name)
                        .map_err(|e| self.err(header, "read parent layer xattrs", Some(e)))?;
                    found = Some((st, xattrs));
                    break;
                }
                // Something else stands there (a file, a whiteout): nothing to inherit.
                Ok(Some(_)) => break,
                Ok(None) => continue,
                Err(e) => return Err(self.err(header, "stat in parent layer", Some(e))),
            }
        }
        let Some((st, xattrs)) = found else {
            return Ok(());
        };
        let fd = open_existing_dir(self.walker.root().as_fd(), &comps)
            .map_err(|e| self.err(header, "open created directory", Some(e)))?;
        if self.opts.privileged {
            rfs::fchown(
                &fd,
                Some(rfs::Uid::from_raw(st.st_uid)),
                Some(rfs::Gid::from_raw(st.st_gid)),
            )
            .map_err(|e| self.err(header, "chown created directory", Some(e)))?;
        }
        for (k, v) in xattrs {
            if self.settable(&k)
                && !k.starts_with(b"trusted.overlay.")
                && !k.starts_with(b"user.overlay.")
            {
                rfs::fsetxattr(&fd, k.as_slice(), &v, XattrFlags::empty())
                    .map_err(|e| self.err(header, "set xattr on created directory", Some(e)))?;
            }
        }
        self.deferred.push(DeferredDir {
            path: rel.to_vec(),
            mode: st.st_mode & 0o7777,
            from_header: false,
            times: Some(Timestamps {
                last_access: Timespec {
                    tv_sec: st.st_atime,
                    tv_nsec: st.st_atime_nsec as _,
                },
                last_modification: Timespec {
                    tv_sec: st.st_mtime,
                    tv_nsec: st.st_mtime_nsec as _,
                },
            }),
        });
        Ok(())
    }
}
