//! Changes between two directory trees (the naive diff a copy-based driver uses) and the size of
//! a set of changes.

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Stat};
use rustix::io::Errno;

use crate::tree::{self, child_path, Node};
use crate::{Change, ChangeKind, DriverError, Result};

fn io_err(op: &'static str, path: &Path, rel: &[u8]) -> impl FnOnce(Errno) -> DriverError {
    let mut p = path.as_os_str().as_encoded_bytes().to_vec();
    if !rel.is_empty() {
        p.push(b'/');
        p.extend_from_slice(rel);
    }
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&p).into_owned());
    move |e| DriverError::Io {
        op,
        path,
        source: e.into(),
    }
}

/// The changes that turn the tree `parent` (an empty tree when `None`) into the tree `layer`,
/// sorted by path. A path counts as modified when its type, mode, owner, device number, xattrs
/// or (for non-directories) size, mtime, link target or content differ; a directory whose
/// contents changed is listed as modified too, so a diff tar carries its attributes. Under a
/// deleted or added directory only the directory itself is a deletion, while every entry of an
/// added directory is listed.
pub fn changes_dirs(layer: &Path, parent: Option<&Path>) -> Result<Vec<Change>> {
    let lfd = crate::fsutil::open_dir(layer)?;
    let pfd = parent.map(crate::fsutil::open_dir).transpose()?;
    let mut walk = Compare {
        layer,
        out: Vec::new(),
    };
    walk.dir(lfd.as_fd(), pfd.as_ref().map(|f| f.as_fd()), &[])?;
    let mut out = walk.out;
    out.sort();
    Ok(out)
}

struct Compare<'p> {
    layer: &'p Path,
    out: Vec<Change>,
}

fn abs(rel: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(rel.len() + 1);
    p.push(b'/');
    p.extend_from_slice(rel);
    p
}

impl Compare<'_> {
    fn push(&mut self, rel: &[u8], kind: ChangeKind) {
        self.out.push(Change {
            path: abs(rel),
            kind,
        });
    }

    /// Compares directory `l` (at `prefix`) with `p`; returns whether anything beneath changed.
    fn dir(&mut self, l: BorrowedFd<'_>, p: Option<BorrowedFd<'_>>, prefix: &[u8]) -> Result<bool> {
        let before = self.out.len();
        let lnodes = tree::list(l).map_err(io_err("read directory", self.layer, prefix))?;
        let pnodes = match p {
            Some(p) => {
                tree::list(p).map_err(io_err("read parent directory", self.layer, prefix))?
            }
            None => Vec::new(),
        };
        let (mut i, mut j) = (0, 0);
        while i < lnodes.len() || j < pnodes.len() {
            let ord = match (lnodes.get(i), pnodes.get(j)) {
                (Some(a), Some(b)) => a.name.cmp(&b.name),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Greater => {
                    self.push(&child_path(prefix, &pnodes[j].name), ChangeKind::Delete);
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    let n = &lnodes[i];
                    let rel = child_path(prefix, &n.name);
                    self.push(&rel, ChangeKind::Add);
                    if n.kind() == FileType::Directory {
                        let sub = tree::open_subdir(l, &n.name)
                            .map_err(io_err("open", self.layer, &rel))?;
                        self.dir(sub.as_fd(), None, &rel)?;
                    }
                    i += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (a, b) = (&lnodes[i], &pnodes[j]);
                    let rel = child_path(prefix, &a.name);
                    // Equal names need parent nodes, which only a parent directory gives.
                    let Some(pdir) = p else { break };
                    let changed = self.differs(l, pdir, a, b, &rel)?;
                    let at = self.out.len();
                    let mut inner = false;
                    if a.kind() == FileType::Directory {
                        let sub = tree::open_subdir(l, &a.name)
                            .map_err(io_err("open", self.layer, &rel))?;
                        let psub: Option<OwnedFd> = if b.kind() == FileType::Directory {
                            Some(tree::open_subdir(pdir, &b.name).map_err(io_err(
                                "open parent",
                                self.layer,
                                &rel,
                            ))?)
                        } else {
                            None
                        };
                        inner = self.dir(sub.as_fd(), psub.as_ref().map(|f| f.as_fd()), &rel)?;
                    }
                    if changed || inner {
                        self.out.insert(
                            at,
                            Change {
                                path: abs(&rel),
                                kind: ChangeKind::Modify,
                            },
                        );
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(self.out.len() > before)
    }

    fn differs(
        &self,
        l: BorrowedFd<'_>,
        p: BorrowedFd<'_>,
        a: &Node,
        b: &Node,
        rel: &[u8],
    ) -> Result<bool> {
        let (sa, sb) = (&a.stat, &b.stat);
        if sa.st_mode != sb.st_mode
            || sa.st_uid != sb.st_uid
            || sa.st_gid != sb.st_gid
            || sa.st_rdev != sb.st_rdev
        {
            return Ok(true);
        }
        let kind = a.kind();
        if kind != FileType::Directory
            && (sa.st_size != sb.st_size
                || sa.st_mtime != sb.st_mtime
                || sa.st_mtime_nsec != sb.st_mtime_nsec)
        {
            return Ok(true);
        }
        let xa = tree::xattrs(l, &a.name).map_err(io_err("read xattrs", self.layer, rel))?;
        let xb = tree::xattrs(p, &b.name).map_err(io_err("read xattrs", self.layer, rel))?;
        if xa != xb {
            return Ok(true);
        }
        match kind {
            FileType::Symlink => {
                let ta =
                    tree::read_link(l, &a.name).map_err(io_err("read link", self.layer, rel))?;
                let tb =
                    tree::read_link(p, &b.name).map_err(io_err("read link", self.layer, rel))?;
                Ok(ta != tb)
            }
            FileType::RegularFile if !same_inode(sa, sb) => {
                // Same size and mtime: only the bytes can tell (a copy keeps both).
                let fa = tree::open_file(l, &a.name).map_err(io_err("open", self.layer, rel))?;
                let fb = tree::open_file(p, &b.name).map_err(io_err("open", self.layer, rel))?;
                same_content(fa, fb)
                    .map(|same| !same)
                    .map_err(|e| DriverError::Io {
                        op: "compare",
                        path: self.layer.join(String::from_utf8_lossy(rel).as_ref()),
                        source: e,
                    })
            }
            _ => Ok(false),
        }
    }
}

fn same_inode(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

fn same_content(mut a: impl Read, mut b: impl Read) -> std::io::Result<bool> {
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(&mut a, &mut ba)?;
        let m = read_full(&mut b, &mut bb[..n.max(1)])?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The size of `changes` in bytes of regular file content found under `layer`: each added or
/// modified regular file counted once per inode (hard links share their size).
pub fn changes_size(layer: &Path, changes: &[Change]) -> Result<u64> {
    let root = crate::fsutil::open_dir(layer)?;
    let mut seen = HashSet::new();
    let mut size = 0;
    for c in changes.iter().filter(|c| c.kind != ChangeKind::Delete) {
        let rel = c.path.strip_prefix(b"/").unwrap_or(&c.path);
        let Some(st) = stat_beneath(root.as_fd(), rel).map_err(io_err("stat", layer, rel))? else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
            && seen.insert((st.st_dev, st.st_ino))
        {
            size += u64::try_from(st.st_size).unwrap_or(0);
        }
    }
    Ok(size)
}

/// `lstat` of `rel` beneath `root`, walking without symlinks; `None` when it is not there.
pub(crate) fn stat_beneath(
    root: BorrowedFd<'_>,
    rel: &[u8],
) -> std::result::Result<Option<Stat>, Errno> {
    let comps: Vec<&[u8]> = rel
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let Some((name, dirs)) = comps.split_last() else {
        return rustix::fs::fstat(root).map(Some);
    };
    let mut fd: Option<OwnedFd> = None;
    for d in dirs {
        let next = match &fd {
            Some(f) => tree::open_subdir(f.as_fd(), d),
            None => tree::open_subdir(root, d),
        };
        match next {
            Ok(n) => fd = Some(n),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let dir = fd.as_ref().map_or(root, |f| f.as_fd());
    match rustix::fs::statat(dir, *name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
