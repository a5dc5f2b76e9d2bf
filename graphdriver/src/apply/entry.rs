//! The per-entry work of applying a tar: one filesystem object per member, fd-relative.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar_split::{EntryKind, Header, Timestamp};

use super::path::{clean, join};
use super::walker::{dir_flags, kind_at, WalkError, Walker};
use super::{ApplyOptions, WhiteoutMode};
use crate::fsutil::remove_all_at;
use crate::{DriverError, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Size of the reused copy buffer: large enough that big files move in few syscalls.
const COPY_BUF: usize = 256 * 1024;

/// A directory whose mode and times are set once everything inside it exists: adding entries
/// changes a directory's mtime, and a read-only mode would stop an unprivileged caller adding them.
pub(super) struct DeferredDir {
    pub(super) path: Vec<u8>,
    pub(super) mode: u32,
    /// `None`: keep the times (a mode restored after making the directory writable).
    pub(super) times: Option<Timestamps>,
    /// Set by the directory's own member: applied after any other entry for the same path.
    pub(super) from_header: bool,
}

/// Applies tar members one at a time to a layer directory (see the module's security notes).
/// [`super::apply_tar`] drives it from a `TarReader`; it can be driven from any parser.
pub struct Applier<'o> {
    pub(super) opts: &'o ApplyOptions,
    pub(super) walker: Walker,
    pub(super) buf: Vec<u8>,
    pub(super) deferred: Vec<DeferredDir>,
    /// Paths this tar created (and their ancestors): in `Delete` mode, whiteouts and opaque
    /// markers remove only what lower layers put there.
    pub(super) unpacked: HashSet<Vec<u8>>,
    /// The parent layers' roots ([`ApplyOptions::lower_dirs`]), opened once.
    pub(super) lowers: Vec<OwnedFd>,
    pub(super) size: u64,
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn timespec(t: Timestamp) -> Timespec {
    Timespec {
        tv_sec: t.secs,
        tv_nsec: t.nanos.into(),
    }
}

impl<'o> Applier<'o> {
    /// Starts applying to `layer_root`, an existing directory.
    pub fn new(layer_root: &Path, opts: &'o ApplyOptions) -> Result<Self> {
        let root =
            rfs::open(layer_root, dir_flags(), Mode::empty()).map_err(|e| DriverError::Io {
                op: "open layer directory",
                path: layer_root.to_owned(),
                source: e.into(),
            })?;
        let lowers = opts
            .lower_dirs
            .iter()
            .map(|p| crate::fsutil::open_dir(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            opts,
            walker: Walker::new(root, !opts.privileged),
            buf: Vec::new(),
            deferred: Vec::new(),
            unpacked: HashSet::new(),
            lowers,
            size: 0,
        })
    }

    pub(super) fn err(
        &self,
        header: &Header,
        reason: impl Into<String>,
        errno: Option<Errno>,
    ) -> DriverError {
        DriverError::Apply {
            id: self.opts.layer_id.clone(),
            entry: lossy(&header.path),
            reason: reason.into(),
            source: errno.map(Into::into),
        }
    }

    pub(super) fn walk_err(&self, header: &Header, e: WalkError) -> DriverError {
        self.err(header, e.what, Some(e.errno))
    }

    /// Applies one member; `data` yields its data section (the physical runs for sparse members).
    pub fn apply(&mut self, header: &Header, data: &mut dyn Read) -> Result<()> {
        let r = self.apply_member(header, data);
        // Directories the member needed but the tar did not list take their parent layer's
        // attributes (even when the member failed: they exist now).
        let created = std::mem::take(&mut self.walker.created);
        if !created.is_empty() && !self.lowers.is_empty() {
            for rel in created {
                self.adopt_lower_attrs(header, &rel)?;
            }
        }
        r
    }

    fn apply_member(&mut self, header: &Header, data: &mut dyn Read) -> Result<()> {
        if header.kind == EntryKind::GlobalHeader {
            return Ok(());
        }
        if header.path.contains(&0) || header.link_name.contains(&0) {
            return Err(self.err(header, "NUL byte in name", None));
        }
        let comps = clean(&header.path);
        if comps
            .iter()
            .any(|c| c.starts_with(AUFS_META_PREFIX) && *c != OPAQUE_MARKER)
        {
            // AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): not layer content.
            return Ok(());
        }
        if let Some((last, dirs)) = comps.split_last() {
            if *last == OPAQUE_MARKER {
                return self.opaque(header, dirs);
            }
            if let Some(target) = last.strip_prefix(WHITEOUT_PREFIX) {
                return self.whiteout(header, dirs, target);
            }
        }
        self.check_xattrs(header)?;
        if self.opts.whiteouts == WhiteoutMode::Delete {
            self.remember(&comps);
        }
        let Some((name, dirs)) = comps.split_last() else {
            return self.root_entry(header);
        };
        let dirfd = match self.walker.dir(dirs, true) {
            Ok(fd) => fd,
            Err(e) => return Err(self.walk_err(header, e)),
        };
        match header.kind {
            EntryKind::Regular => self.regular(header, dirfd.as_fd(), dirs.len(), name, data),
            EntryKind::Directory => self.directory(header, dirfd.as_fd(), dirs.len(), name, &comps),
            EntryKind::Symlink => self.symlink(header, dirfd.as_fd(), dirs.len(), name),
            EntryKind::HardLink => self.hard_link(header, dirfd.as_fd(), dirs.len(), name, &comps),
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {
                self.special(header, dirfd.as_fd(), dirs.len(), name)
            }
            EntryKind::GlobalHeader => Ok(()),
            EntryKind::Other(flag) => Err(self.err(
                header,
                format!("unsupported member type {:?}", char::from(flag)),
                None,
            )),
        }
    }

    /// Sets the deferred modes and times of directories and returns the applied size.
    pub fn finish(mut self) -> Result<u64> {
        let mut deferred = std::mem::take(&mut self.deferred);
        // Deepest first (a path sorts after its ancestors): a directory left without search
        // permission for the caller is closed only after everything below it is done.
        deferred.extend(
            self.walker
                .made_writable
                .drain(..)
                .map(|(path, mode)| DeferredDir {
                    path,
                    mode,
                    times: None,
                    from_header: false,
                }),
        );
        deferred.sort_by(|a, b| b.path.cmp(&a.path).then(a.from_header.cmp(&b.from_header)));
        for d in &deferred {
            let comps = clean(&d.path);
            let fd = match self.walker.dir(&comps, false) {
                Ok(fd) => fd,
                // Removed or replaced by a later member of the same tar.
                Err(WalkError {
                    errno: Errno::NOENT | Errno::NOTDIR | Errno::LOOP,
                    ..
                }) => continue,
                Err(e) => {
                    return Err(DriverError::Apply {
                        id: self.opts.layer_id.clone(),
                        entry: lossy(&d.path),
                        reason: e.what.into(),
                        source: Some(e.errno.into()),
                    })
                }
            };
            let r = rfs::fchmod(&fd, Mode::from_raw_mode(d.mode & 0o7777))
                .and_then(|()| d.times.as_ref().map_or(Ok(()), |t| rfs::futimens(&fd, t)));
            if let Err(e) = r {
                return Err(DriverError::Apply {
                    id: self.opts.layer_id.clone(),
                    entry: lossy(&d.path),
                    reason: "setting directory mode and times".into(),
                    source: Some(e.into()),
                });
            }
        }
        Ok(self.size)
    }

    /// Remembers `comps` and its ancestors as this tar's own paths.
    pub(super) fn remember(&mut self, comps: &[&[u8]]) {
        for n in (1..=comps.len()).rev() {
            if !self.unpacked.insert(join(&comps[..n])) {
                break;
            }
        }
    }

    fn check_xattrs(&self, header: &Header) -> Result<()> {
        for (name, _) in &header.xattrs {
            if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                return Err(self.err(
                    header,
                    format!("refusing overlayfs xattr {:?} from a tar", lossy(name)),
                    None,
                ));
            }
            if name.is_empty() || name.contains(&0) {
                return Err(self.err(header, "invalid xattr name", None));
            }
        }
        Ok(())
    }

    fn times(header: &Header) -> Timestamps {
        Timestamps {
            last_access: timespec(header.atime.unwrap_or(header.mtime)),
            last_modification: timespec(header.mtime),
        }
    }

    pub(super) fn owner(&self, header: &Header) -> Result<Option<(rfs::Uid, rfs::Gid)>> {
        if !self.opts.privileged {
            return Ok(None);
        }
        let id = |v: u64| u32::try_from(v).ok().filter(|v| *v != u32::MAX);
        match (id(header.uid), id(header.gid)) {
            (Some(u), Some(g)) => Ok(Some((rfs::Uid::from_raw(u), rfs::Gid::from_raw(g)))),
            _ => Err(self.err(
                header,
                format!("owner {}:{} out of range", header.uid, header.gid),
                None,
            )),
        }
    }

    /// Whether an xattr is set in this mode (unprivileged callers can only set `user.*`).
    pub(super) fn settable(&self, name: &[u8]) -> bool {
        self.opts.privileged || name.starts_with(b"user.")
    }

    /// Removes whatever stands at `name` in `dir` (at depth `depth`) so the entry can be created.
    pub(super) fn clear_name(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
    ) -> Result<()> {
        self.walker.forget_below(depth);
        remove_all_at(dir, name).map_err(|(what, e)| self.err(header, what, Some(e)))
    }

    fn regular(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
        data: &mut dyn Read,
    ) -> Result<()> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rfs::openat(dir, name, flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear_name(header, dir, depth, name)?;
                rfs::openat(dir, name, flags, mode)
                    .map_err(|e| self.err(header, "create file", Some(e)))?
            }
            Err(e) => return Err(self.err(header, "create file", Some(e))),
        };
        let file = File::from(fd);
        self.write_data(header, &file, data)?;
        self.size += header.size;
        self.set_fd_metadata(header, file.as_fd(), true)?;
        rfs::futimens(&file, &Self::times(header))
            .map_err(|e| self.err(header, "set times", Some(e)))
    }

    fn write_data(&mut self, header: &Header, file: &File, data: &mut dyn Read) -> Result<()> {
        if self.buf.is_empty() {
            self.buf = vec![0; COPY_BUF];
        }
        let mut buf = std::mem::take(&mut self.buf);
        let r = match &header.sparse {
            None => copy_exact(data, &mut buf, header.size, |chunk, _| {
                (&*file).write_all(chunk)
            }),
            Some(map) => {
                let mut r = Ok(());
                for region in &map.regions {
                    r = copy_exact(data, &mut buf, region.length, |chunk, done| {
                        file.write_all_at(chunk, region.offset + done)
                    });
                    if r.is_err() {
                        break;
                    }
                }
                // The holes stay holes: only the runs were written.
                r.and_then(|()| file.set_len(map.real_size).map_err(CopyError::Write))
            }
        };
        self.buf = buf;
        r.map_err(|e| {
            let (reason, source) = match e {
                CopyError::Read(e) => (format!("reading the member's data: {e}"), e),
                CopyError::Write(e) => ("writing file data".to_owned(), e),
            };
            DriverError::Apply {
                id: self.opts.layer_id.clone(),
                entry: lossy(&header.path),
                reason,
                source: Some(source),
            }
        })
    }

    /// Owner, then mode (a chown clears setuid/setgid), then xattrs (a chown clears
    /// `security.capability`), on an open file or directory.
    fn set_fd_metadata(&self, header: &Header, fd: BorrowedFd<'_>, with_mode: bool) -> Result<()> {
        if let Some((u, g)) = self.owner(header)? {
            rfs::fchown(fd, Some(u), Some(g)).map_err(|e| self.err(header, "chown", Some(e)))?;
        }
        if with_mode {
            rfs::fchmod(fd, Mode::from_raw_mode(header.mode & 0o7777))
                .map_err(|e| self.err(header, "chmod", Some(e)))?;
        }
        for (name, value) in &header.xattrs {
            if self.settable(name) {
                rfs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty())
                    .map_err(|e| self.err(header, format!("set xattr {}", lossy(name)), Some(e)))?;
            }
        }
        Ok(())
    }

    fn directory(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
        comps: &[&[u8]],
    ) -> Result<()> {
        let mode = Mode::from_raw_mode(0o700);
        let existed = match rfs::mkdirat(dir, name, mode) {
            Ok(()) => false,
            Err(Errno::EXIST) => {
                if kind_at(dir, name).map_err(|e| self.err(header, "stat", Some(e)))?
                    == Some(FileType::Directory)
                {
                    true
                } else {
                    self.clear_name(header, dir, depth, name)?;
                    rfs::mkdirat(dir, name, mode)
                        .map_err(|e| self.err(header, "create directory", Some(e)))?;
                    false
                }
            }
            Err(e) => return Err(self.err(header, "create directory", Some(e))),
        };
        let fd = rfs::openat(dir, name, dir_flags(), Mode::empty())
            .map_err(|e| self.err(header, "open directory", Some(e)))?;
        if existed && self.opts.whiteouts == WhiteoutMode::Delete {
            // An upper directory's attributes replace the lower one's: drop xattrs the tar lacks.
            self.drop_other_xattrs(header, fd.as_fd())?;
        }
        self.set_fd_metadata(header, fd.as_fd(), false)?;
        self.deferred.push(DeferredDir {
            path: join(comps),
            mode: header.mode,
            times: Some(Self::times(header)),
            from_header: true,
        });
        self.walker.push(depth, name, fd);
        Ok(())
    }

    fn drop_other_xattrs(&self, header: &Header, fd: BorrowedFd<'_>) -> Result<()> {
        let mut list = vec![0u8; 64 * 1024];
        let n = match rfs::flistxattr(fd, &mut list[..]) {
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(self.err(header, "list xattrs", Some(e))),
        };
        for name in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let keep = header.xattrs.iter().any(|(k, _)| k.as_slice() == name)
                || !self.settable(name)
                || name.starts_with(b"trusted.overlay.")
                || name.starts_with(b"user.overlay.")
                || name.starts_with(b"security.selinux");
            if !keep {
                rfs::fremovexattr(fd, name).map_err(|e| {
                    self.err(header, format!("remove xattr {}", lossy(name)), Some(e))
                })?;
            }
        }
        Ok(())
    }

    /// A `./` member: the layer root's own owner, mode, xattrs and times.
    fn root_entry(&mut self, header: &Header) -> Result<()> {
        if header.kind != EntryKind::Directory {
            return Err(self.err(header, "a non-directory member names the layer root", None));
        }
        let root = self.walker.root();
        self.set_fd_metadata(header, root.as_fd(), false)?;
        self.deferred.push(DeferredDir {
            path: Vec::new(),
            mode: header.mode,
            times: Some(Self::times(header)),
            from_header: true,
        });
        Ok(())
    }

    fn symlink(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
    ) -> Result<()> {
        // The target is stored verbatim: it is never followed while extracting.
        let target = header.link_name.as_slice();
        match rfs::symlinkat(target, dir, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_name(header, dir, depth, name)?;
                rfs::symlinkat(target, dir, name)
                    .map_err(|e| self.err(header, "create symlink", Some(e)))?;
            }
            Err(e) => return Err(self.err(header, "create symlink", Some(e))),
        }
        self.set_at_metadata(header, dir, name)
    }

    /// Owner, xattrs and times of an object that cannot be opened (symlink, device, FIFO).
    fn set_at_metadata(&self, header: &Header, dir: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
        if let Some((u, g)) = self.owner(header)? {
            rfs::chownat(dir, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| self.err(header, "chown", Some(e)))?;
        }
        if header.kind != EntryKind::Symlink {
            rfs::chmodat(
                dir,
                name,
                Mode::from_raw_mode(header.mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(|e| self.err(header, "chmod", Some(e)))?;
        }
        let settable: Vec<_> = header
            .xattrs
            .iter()
            .filter(|(n, _)| self.settable(n))
            .collect();
        if !settable.is_empty() {
            // No fd-relative lsetxattr exists: name the object through the directory's fd in
            // /proc, which resolves to this very directory, and do not follow the last component.
            let path = crate::tree::proc_path(dir, name);
            for (xname, value) in settable {
                rfs::lsetxattr(&path, xname.as_slice(), value, XattrFlags::empty()).map_err(
                    |e| self.err(header, format!("set xattr {}", lossy(xname)), Some(e)),
                )?;
            }
        }
        rfs::utimensat(dir, name, &Self::times(header), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(header, "set times", Some(e)))
    }

    fn hard_link(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
        comps: &[&[u8]],
    ) -> Result<()> {
        let target = clean(&header.link_name);
        let Some((tname, tdirs)) = target.split_last() else {
            return Err(self.err(header, "hard link to the layer root", None));
        };
        if target == comps {
            return Err(self.err(header, "hard link to itself", None));
        }
        let tdir = open_existing_dir(self.walker.root().as_fd(), tdirs).map_err(|e| {
            self.err(
                header,
                format!(
                    "hard link target {:?} is not inside the layer without symlinks",
                    lossy(&header.link_name)
                ),
                Some(e),
            )
        })?;
        let link = |_: ()| rfs::linkat(&tdir, *tname, dir, name, AtFlags::empty());
        match link(()) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                self.clear_name(header, dir, depth, name)?;
                link(()).map_err(|e| self.err(header, "create hard link", Some(e)))
            }
            Err(e) => Err(self.err(
                header,
                format!("hard link to {:?}", lossy(&header.link_name)),
                Some(e),
            )),
        }
    }

    fn special(
        &mut self,
        header: &Header,
        dir: BorrowedFd<'_>,
        depth: usize,
        name: &[u8],
    ) -> Result<()> {
        let (ftype, dev) = match header.kind {
            EntryKind::Fifo => (FileType::Fifo, 0),
            // Device nodes need CAP_MKNOD; an unprivileged apply leaves them out.
            EntryKind::CharDevice if self.opts.privileged => (
                FileType::CharacterDevice,
                rfs::makedev(header.dev_major, header.dev_minor),
            ),
            EntryKind::BlockDevice if self.opts.privileged => (
                FileType::BlockDevice,
                rfs::makedev(header.dev_major, header.dev_minor),
            ),
            _ => return Ok(()),
        };
        let mode = Mode::from_raw_mode(header.mode & 0o7777);
        match rfs::mknodat(dir, name, ftype, mode, dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_name(header, dir, depth, name)?;
                rfs::mknodat(dir, name, ftype, mode, dev)
                    .map_err(|e| self.err(header, "create node", Some(e)))?;
            }
            // Root in a user namespace may not make devices (the kernel says EPERM): leave them
            // out as an unprivileged apply does; container runtimes provide /dev anyway.
            Err(Errno::PERM) if ftype != FileType::Fifo => return Ok(()),
            Err(e) => return Err(self.err(header, "create node", Some(e))),
        }
        self.set_at_metadata(header, dir, name)
    }
}

/// Which side of a copy failed: the tar (truncated, corrupt) or the layer's filesystem.
enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Reads exactly `len` bytes from `data` through `buf`, handing each chunk and its offset within
/// the run to `write`. A short read is an error: the member's data ended early.
fn copy_exact(
    data: &mut dyn Read,
    buf: &mut [u8],
    len: u64,
    mut write: impl FnMut(&[u8], u64) -> std::io::Result<()>,
) -> std::result::Result<(), CopyError> {
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(CopyError::Read(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("member data ended after {done} of {len} bytes"),
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        write(&buf[..n], done).map_err(CopyError::Write)?;
        done += n as u64;
    }
    Ok(())
}

/// Opens the existing directory at `dirs` below `root`, one component at a time, following no
/// symlink and creating nothing.
pub(super) fn open_existing_dir(
    root: BorrowedFd<'_>,
    dirs: &[&[u8]],
) -> std::result::Result<OwnedFd, Errno> {
    let Some((first, rest)) = dirs.split_first() else {
        return rfs::openat(root, ".", dir_flags(), Mode::empty());
    };
    let mut fd = rfs::openat(root, *first, dir_flags(), Mode::empty())?;
    for comp in rest {
        fd = rfs::openat(&fd, *comp, dir_flags(), Mode::empty())?;
    }
    Ok(fd)
}
