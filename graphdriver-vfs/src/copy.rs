//! Copying a layer's tree into its child: everything a layer tar can carry is kept (types,
//! owners, modes, times, xattrs, hard links, holes of sparse files), without ever following a
//! symlink. Files are reflinked (`FICLONE`) where the filesystem can, else copied extent by extent.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use graphdriver::tree::{self, child_path, Node};
use graphdriver::{fsutil, DriverError, Result};
use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, SeekFrom, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;

struct Copier<'a> {
    src_root: &'a Path,
    privileged: bool,
    /// Destination path of the first copy of each multiply-linked source inode.
    links: HashMap<(u64, u64), Vec<u8>>,
    dst_root: rustix::fd::OwnedFd,
    buf: Vec<u8>,
}

/// Copies the tree `src` into the existing empty directory `dst` (the directory's own attributes
/// included). Owners, device nodes and `trusted.*`/`security.*` xattrs need root: without it
/// files belong to the caller and device nodes are left out.
pub fn copy_tree(src: &Path, dst: &Path, privileged: bool) -> Result<()> {
    let sfd = fsutil::open_dir(src)?;
    let dfd = fsutil::open_dir(dst)?;
    let mut c = Copier {
        src_root: src,
        privileged,
        links: HashMap::new(),
        dst_root: rfs::openat(&dfd, ".", tree::dir_flags(), Mode::empty())
            .map_err(io_err("open", dst))?,
        buf: Vec::new(),
    };
    c.dir(sfd.as_fd(), dfd.as_fd(), b"")?;
    let st = rfs::fstat(&sfd).map_err(io_err("stat", src))?;
    c.attrs_fd(sfd.as_fd(), dfd.as_fd(), &st, b"")
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> DriverError + 'a {
    move |e| DriverError::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

fn times(st: &rfs::Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

impl Copier<'_> {
    fn err(&self, op: &'static str, rel: &[u8]) -> impl FnOnce(Errno) -> DriverError {
        let path = self.src_root.join(String::from_utf8_lossy(rel).as_ref());
        move |e| DriverError::Io {
            op,
            path,
            source: e.into(),
        }
    }

    fn dir(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rel: &[u8]) -> Result<()> {
        let nodes = tree::list(src).map_err(self.err("read directory", rel))?;
        for node in &nodes {
            let child = child_path(rel, &node.name);
            self.entry(src, dst, node, &child)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        node: &Node,
        rel: &[u8],
    ) -> Result<()> {
        let st = &node.stat;
        let name = node.name.as_slice();
        let kind = node.kind();
        if kind != FileType::Directory && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                let (tdir, tname) = split(first);
                let tfd = open_beneath(self.dst_root.as_fd(), tdir)
                    .map_err(self.err("open link target", rel))?;
                return rfs::linkat(&tfd, tname, dst, name, AtFlags::empty())
                    .map_err(self.err("hard link", rel));
            }
            self.links.insert((st.st_dev, st.st_ino), rel.to_vec());
        }
        match kind {
            FileType::Directory => {
                rfs::mkdirat(dst, name, Mode::from_raw_mode(0o700))
                    .map_err(self.err("create directory", rel))?;
                let s = tree::open_subdir(src, name).map_err(self.err("open", rel))?;
                let d = tree::open_subdir(dst, name).map_err(self.err("open copy", rel))?;
                self.dir(s.as_fd(), d.as_fd(), rel)?;
                // After the contents: adding them changed the directory's mtime.
                self.attrs_fd(s.as_fd(), d.as_fd(), st, rel)
            }
            FileType::RegularFile => {
                let s = tree::open_file(src, name).map_err(self.err("open", rel))?;
                let d = rfs::openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map(File::from)
                .map_err(self.err("create", rel))?;
                self.contents(&s, &d, st, rel)?;
                self.attrs_fd(s.as_fd(), d.as_fd(), st, rel)
            }
            FileType::Symlink => {
                let target = tree::read_link(src, name).map_err(self.err("read link", rel))?;
                rfs::symlinkat(target.as_slice(), dst, name)
                    .map_err(self.err("create symlink", rel))?;
                self.attrs_at(src, dst, name, st, rel, false)
            }
            FileType::CharacterDevice | FileType::BlockDevice if !self.privileged => Ok(()),
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                rfs::mknodat(
                    dst,
                    name,
                    kind,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )
                .map_err(self.err("create node", rel))?;
                self.attrs_at(src, dst, name, st, rel, true)
            }
            // Sockets belong to running processes, not to layers.
            _ => Ok(()),
        }
    }

    /// Reflinks `s` into `d`, else copies its data extents so holes stay holes.
    fn contents(&mut self, s: &File, d: &File, st: &rfs::Stat, rel: &[u8]) -> Result<()> {
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if size == 0 || rfs::ioctl_ficlone(d, s).is_ok() {
            return Ok(());
        }
        let mut off = 0u64;
        while off < size {
            let start = match rfs::seek(s, SeekFrom::Data(off)) {
                Ok(p) => p,
                Err(Errno::NXIO) => break,
                // No SEEK_DATA here: the whole file is one extent.
                Err(Errno::INVAL) | Err(Errno::NOTSUP) if off == 0 => 0,
                Err(e) => return Err(self.err("seek data", rel)(e)),
            };
            let end = match rfs::seek(s, SeekFrom::Hole(start)) {
                Ok(p) => p.min(size),
                Err(_) => size,
            };
            self.copy_range(s, d, start, end, rel)?;
            off = end;
        }
        d.set_len(size).map_err(|source| DriverError::Io {
            op: "truncate copy",
            path: self.src_root.join(String::from_utf8_lossy(rel).as_ref()),
            source,
        })
    }

    fn copy_range(&mut self, s: &File, d: &File, start: u64, end: u64, rel: &[u8]) -> Result<()> {
        let (mut off_in, mut off_out) = (start, start);
        while off_in < end {
            let len = usize::try_from(end - off_in)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            match rfs::copy_file_range(s, Some(&mut off_in), d, Some(&mut off_out), len) {
                Ok(0) => break,
                Ok(_) => {}
                Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                    return self.copy_by_read(s, d, off_in, end, rel);
                }
                Err(e) => return Err(self.err("copy", rel)(e)),
            }
        }
        Ok(())
    }

    fn copy_by_read(
        &mut self,
        s: &File,
        d: &File,
        mut off: u64,
        end: u64,
        rel: &[u8],
    ) -> Result<()> {
        use std::os::unix::fs::FileExt;
        if self.buf.is_empty() {
            self.buf = vec![0; 256 * 1024];
        }
        let wrap = |source| DriverError::Io {
            op: "copy",
            path: self.src_root.join(String::from_utf8_lossy(rel).as_ref()),
            source,
        };
        while off < end {
            let want = usize::try_from(end - off)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let n = s.read_at(&mut self.buf[..want], off).map_err(wrap)?;
            if n == 0 {
                break;
            }
            d.write_all_at(&self.buf[..n], off).map_err(wrap)?;
            off += n as u64;
        }
        Ok(())
    }

    fn owner(&self, st: &rfs::Stat) -> Option<(rfs::Uid, rfs::Gid)> {
        self.privileged
            .then(|| (rfs::Uid::from_raw(st.st_uid), rfs::Gid::from_raw(st.st_gid)))
    }

    fn copy_xattrs(
        &self,
        src: BorrowedFd<'_>,
        name: &[u8],
        set: impl Fn(&[u8], &[u8]) -> rustix::io::Result<()>,
        rel: &[u8],
    ) -> Result<()> {
        let xattrs = tree::xattrs(src, name).map_err(self.err("read xattrs", rel))?;
        for (k, v) in xattrs {
            if !self.privileged && !k.starts_with(b"user.") {
                continue;
            }
            set(&k, &v).map_err(self.err("set xattr", rel))?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a copied file or directory (order: chown clears
    /// setuid bits and file capabilities).
    fn attrs_fd(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        st: &rfs::Stat,
        rel: &[u8],
    ) -> Result<()> {
        if let Some((u, g)) = self.owner(st) {
            rfs::fchown(dst, Some(u), Some(g)).map_err(self.err("chown", rel))?;
        }
        rfs::fchmod(dst, Mode::from_raw_mode(st.st_mode & 0o7777))
            .map_err(self.err("chmod", rel))?;
        self.copy_xattrs_fd(src, dst, rel)?;
        rfs::futimens(dst, &times(st)).map_err(self.err("set times", rel))
    }

    fn copy_xattrs_fd(&self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rel: &[u8]) -> Result<()> {
        let mut list = vec![0u8; 4096];
        let n = loop {
            match rfs::flistxattr(src, &mut list[..]) {
                Ok(n) => break n,
                Err(Errno::RANGE) => list.resize(list.len() * 4, 0),
                Err(Errno::NOTSUP) => return Ok(()),
                Err(e) => return Err(self.err("list xattrs", rel)(e)),
            }
        };
        for k in list[..n].split(|&b| b == 0).filter(|k| !k.is_empty()) {
            if !self.privileged && !k.starts_with(b"user.") {
                continue;
            }
            let mut v = vec![0u8; 256];
            let len = loop {
                match rfs::fgetxattr(src, k, &mut v[..]) {
                    Ok(len) => break Some(len),
                    Err(Errno::RANGE) => v.resize(v.len() * 8, 0),
                    Err(Errno::NODATA) => break None,
                    Err(e) => return Err(self.err("read xattr", rel)(e)),
                }
            };
            if let Some(len) = len {
                rfs::fsetxattr(dst, k, &v[..len], XattrFlags::empty())
                    .map_err(self.err("set xattr", rel))?;
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a copied symlink, device or FIFO.
    fn attrs_at(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        name: &[u8],
        st: &rfs::Stat,
        rel: &[u8],
        mode: bool,
    ) -> Result<()> {
        if let Some((u, g)) = self.owner(st) {
            rfs::chownat(dst, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(self.err("chown", rel))?;
        }
        if mode {
            rfs::chmodat(
                dst,
                name,
                Mode::from_raw_mode(st.st_mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(self.err("chmod", rel))?;
        }
        let dpath = tree::proc_path(dst, name);
        self.copy_xattrs(
            src,
            name,
            |k, v| rfs::lsetxattr(&dpath, k, v, XattrFlags::empty()),
            rel,
        )?;
        rfs::utimensat(dst, name, &times(st), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(self.err("set times", rel))
    }
}

fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&rel[..0], rel),
    }
}

fn open_beneath(root: BorrowedFd<'_>, rel: &[u8]) -> rustix::io::Result<rustix::fd::OwnedFd> {
    let mut fd = rfs::openat(root, ".", tree::dir_flags(), Mode::empty())?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        fd = tree::open_subdir(fd.as_fd(), comp)?;
    }
    Ok(fd)
}
