//! Layer tars written from directory trees, whiteouts in OCI form: from an overlay upper
//! directory (native diff) or from a tree and its list of changes (naive diff).

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::FileType;
use rustix::io::Errno;
use tar_split::EntryKind;

pub use crate::tar_pipe::TarPipe;
use crate::tar_writer::{EntryMeta, TarWriter};
use crate::tree::{self, child_path, Node};
use crate::{Change, ChangeKind, DriverError, Result};

/// How the source tree marks deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpperFormat {
    /// overlayfs: whiteouts are character devices 0/0, opaque directories carry
    /// `trusted.overlay.opaque=y` (or `user.overlay.opaque=y`).
    Overlay,
}

struct Ctx<'a, W: Write> {
    root: &'a Path,
    out: TarWriter<W>,
    /// First path written for each multiply-linked inode: later ones become hard links to it.
    links: HashMap<(u64, u64), Vec<u8>>,
}

fn err_at(op: &'static str, root: &Path, rel: &[u8]) -> impl FnOnce(Errno) -> DriverError {
    let path = root.join(String::from_utf8_lossy(rel).as_ref());
    move |e| DriverError::Io {
        op,
        path,
        source: e.into(),
    }
}

fn write_err(root: &Path) -> impl FnOnce(io::Error) -> DriverError + '_ {
    move |source| DriverError::Io {
        op: "write diff tar",
        path: root.to_owned(),
        source,
    }
}

fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn is_opaque(xattrs: &[(Vec<u8>, Vec<u8>)]) -> bool {
    xattrs.iter().any(|(k, v)| {
        (k.as_slice() == b"trusted.overlay.opaque" || k.as_slice() == b"user.overlay.opaque")
            && v.as_slice() == b"y"
    })
}

impl<W: Write> Ctx<'_, W> {
    /// Writes the member for `node` (in `dir`, at `rel`), reading its content from the tree.
    fn member(
        &mut self,
        dir: BorrowedFd<'_>,
        node: &Node,
        rel: &[u8],
        xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let st = &node.stat;
        let kind = match node.kind() {
            FileType::RegularFile => EntryKind::Regular,
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            FileType::CharacterDevice => EntryKind::CharDevice,
            FileType::BlockDevice => EntryKind::BlockDevice,
            FileType::Fifo => EntryKind::Fifo,
            // Sockets cannot be carried in a tar.
            _ => return Ok(()),
        };
        let mut path = rel.to_vec();
        if kind == EntryKind::Directory {
            path.push(b'/');
        }
        let mut meta = EntryMeta::new(kind, path);
        meta.mode = st.st_mode & 0o7777;
        meta.uid = st.st_uid.into();
        meta.gid = st.st_gid.into();
        meta.mtime = st.st_mtime;
        meta.xattrs = xattrs
            .into_iter()
            .filter(|(k, _)| !is_overlay_xattr(k))
            .collect();
        match kind {
            EntryKind::Symlink => {
                meta.link_name = tree::read_link(dir, &node.name).map_err(err_at(
                    "read link",
                    self.root,
                    rel,
                ))?;
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                meta.dev = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            }
            EntryKind::Regular if st.st_nlink > 1 => {
                if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                    meta.kind = EntryKind::HardLink;
                    meta.link_name = first.clone();
                    meta.xattrs.clear();
                    return self
                        .out
                        .append(&meta, &mut io::empty())
                        .map_err(write_err(self.root));
                }
                self.links.insert((st.st_dev, st.st_ino), rel.to_vec());
            }
            _ => {}
        }
        if kind == EntryKind::Regular {
            meta.size = u64::try_from(st.st_size).unwrap_or(0);
            let mut f = tree::open_file(dir, &node.name).map_err(err_at("open", self.root, rel))?;
            // Fewer blocks than bytes: there may be holes, which stay holes in the tar.
            if (st.st_blocks as u64).saturating_mul(512) < meta.size {
                let regions = data_regions(&f, meta.size).map_err(err_at(
                    "find data regions",
                    self.root,
                    rel,
                ))?;
                let stored: u64 = regions.iter().map(|r| r.1).sum();
                if stored < meta.size {
                    return self
                        .out
                        .append_sparse(&meta, &regions, &f)
                        .map_err(write_err(self.root));
                }
            }
            return self.out.append(&meta, &mut f).map_err(write_err(self.root));
        }
        self.out
            .append(&meta, &mut io::empty())
            .map_err(write_err(self.root))
    }

    fn whiteout(&mut self, rel_dir: &[u8], name: &[u8]) -> Result<()> {
        let mut wh = b".wh.".to_vec();
        wh.extend_from_slice(name);
        let meta = EntryMeta::new(EntryKind::Regular, child_path(rel_dir, &wh));
        self.out
            .append(&meta, &mut io::empty())
            .map_err(write_err(self.root))
    }

    /// Writes the overlay upper directory `dir` (at `rel`) recursively, whiteouts converted.
    fn upper_dir(&mut self, dir: BorrowedFd<'_>, rel: &[u8]) -> Result<()> {
        let nodes = tree::list(dir).map_err(err_at("read directory", self.root, rel))?;
        for node in &nodes {
            let child = child_path(rel, &node.name);
            let kind = node.kind();
            if kind == FileType::CharacterDevice && node.stat.st_rdev == 0 {
                self.whiteout(rel, &node.name)?;
                continue;
            }
            let xattrs =
                tree::xattrs(dir, &node.name).map_err(err_at("read xattrs", self.root, &child))?;
            let opaque = kind == FileType::Directory && is_opaque(&xattrs);
            self.member(dir, node, &child, xattrs)?;
            if kind == FileType::Directory {
                if opaque {
                    let meta =
                        EntryMeta::new(EntryKind::Regular, child_path(&child, b".wh..wh..opq"));
                    self.out
                        .append(&meta, &mut io::empty())
                        .map_err(write_err(self.root))?;
                }
                let sub = tree::open_subdir(dir, &node.name)
                    .map_err(err_at("open", self.root, &child))?;
                self.upper_dir(sub.as_fd(), &child)?;
            }
        }
        Ok(())
    }
}

/// Writes the tar of an overlay upper directory `upper` to `out`: every entry as it is, character
/// devices 0/0 as `.wh.NAME`, opaque directories followed by `.wh..wh..opq`, overlay xattrs
/// left out, hard links within the tree as hard-link members.
pub fn write_upper_tar(upper: &Path, _format: UpperFormat, out: &mut dyn Write) -> Result<()> {
    let root = crate::fsutil::open_dir(upper)?;
    let mut ctx = Ctx {
        root: upper,
        out: TarWriter::new(out),
        links: HashMap::new(),
    };
    // An opaque upper root (a tar with `./.wh..wh..opq`) hides everything below it.
    let root_xattrs =
        tree::xattrs(root.as_fd(), b".").map_err(err_at("read xattrs", upper, b""))?;
    if is_opaque(&root_xattrs) {
        let meta = EntryMeta::new(EntryKind::Regular, b".wh..wh..opq".to_vec());
        ctx.out
            .append(&meta, &mut io::empty())
            .map_err(write_err(upper))?;
    }
    ctx.upper_dir(root.as_fd(), b"")?;
    ctx.out.finish().map_err(write_err(upper))?;
    Ok(())
}

/// Writes the tar of `changes` (sorted, as [`crate::changes::changes_dirs`] gives them) to
/// `out`, reading added and modified entries from the tree `layer` and writing deletions as
/// `.wh.NAME` whiteouts.
pub fn write_changes_tar(layer: &Path, changes: &[Change], out: &mut dyn Write) -> Result<()> {
    let root = crate::fsutil::open_dir(layer)?;
    let mut ctx = Ctx {
        root: layer,
        out: TarWriter::new(out),
        links: HashMap::new(),
    };
    let mut cache: Option<(Vec<u8>, OwnedFd)> = None;
    for c in changes {
        let rel = c.path.strip_prefix(b"/").unwrap_or(&c.path);
        let (dir_rel, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        if name.is_empty() {
            continue;
        }
        if c.kind == ChangeKind::Delete {
            ctx.whiteout(dir_rel, name)?;
            continue;
        }
        if cache.as_ref().map(|(p, _)| p.as_slice()) != Some(dir_rel) {
            let fd = open_beneath(root.as_fd(), dir_rel).map_err(err_at("open", layer, dir_rel))?;
            cache = Some((dir_rel.to_vec(), fd));
        }
        let Some((_, dir)) = cache.as_ref() else {
            continue;
        };
        let stat = match rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(e) => return Err(err_at("stat", layer, rel)(e)),
        };
        let node = Node {
            name: name.to_vec(),
            stat,
        };
        let xattrs = tree::xattrs(dir.as_fd(), name).map_err(err_at("read xattrs", layer, rel))?;
        ctx.member(dir.as_fd(), &node, rel, xattrs)?;
    }
    ctx.out.finish().map_err(write_err(layer))?;
    Ok(())
}

/// The data regions (offset, length) of a file of `size` bytes, by `SEEK_DATA`/`SEEK_HOLE`; a
/// file ending in a hole gets a final empty region at `size`, as GNU tar writes it. Where the
/// filesystem cannot tell, the whole file is one region.
fn data_regions(f: &std::fs::File, size: u64) -> std::result::Result<Vec<(u64, u64)>, Errno> {
    use rustix::fs::{seek, SeekFrom};
    let mut regions = Vec::new();
    let mut off = 0;
    while off < size {
        let start = match seek(f, SeekFrom::Data(off)) {
            Ok(p) => p.min(size),
            Err(Errno::NXIO) => size,
            Err(Errno::INVAL | Errno::NOTSUP) => return Ok(vec![(0, size)]),
            Err(e) => return Err(e),
        };
        if start >= size {
            break;
        }
        let end = seek(f, SeekFrom::Hole(start))?.min(size);
        regions.push((start, end - start));
        off = end;
    }
    if regions.last().is_none_or(|&(o, l)| o + l < size) {
        regions.push((size, 0));
    }
    Ok(regions)
}

/// Opens the directory `rel` beneath `root` component by component, never through a symlink.
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    rel: &[u8],
) -> std::result::Result<OwnedFd, Errno> {
    let mut fd = rustix::fs::openat(root, ".", tree::dir_flags(), rustix::fs::Mode::empty())?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        fd = tree::open_subdir(fd.as_fd(), comp)?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;

    fn names(tar: &[u8]) -> Vec<(String, EntryKind)> {
        let mut r = tar_split::TarReader::new(tar, tar_split::NullSink);
        let mut out = Vec::new();
        while let Some(h) = r.next().unwrap() {
            out.push((String::from_utf8_lossy(&h.path).into_owned(), h.kind));
        }
        out
    }

    #[test]
    fn upper_dir_whiteouts_become_oci_entries() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: whiteout devices and trusted xattrs need root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path();
        fs::create_dir(up.join("dir")).unwrap();
        fs::write(up.join("dir/f"), b"x").unwrap();
        fs::hard_link(up.join("dir/f"), up.join("h")).unwrap();
        rustix::fs::lsetxattr(
            up.join("dir"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            up.join("gone"),
            FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::lsetxattr(
            up,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let mut out = Vec::new();
        write_upper_tar(up, UpperFormat::Overlay, &mut out).unwrap();
        assert_eq!(
            names(&out),
            vec![
                (".wh..wh..opq".into(), EntryKind::Regular),
                ("dir/".into(), EntryKind::Directory),
                ("dir/.wh..wh..opq".into(), EntryKind::Regular),
                ("dir/f".into(), EntryKind::Regular),
                (".wh.gone".into(), EntryKind::Regular),
                ("h".into(), EntryKind::HardLink),
            ]
        );
    }

    #[test]
    fn changes_of_two_trees_and_their_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let (p, l) = (tmp.path().join("p"), tmp.path().join("l"));
        for d in [&p, &l] {
            fs::create_dir_all(d.join("same")).unwrap();
            fs::write(d.join("same/f"), b"1").unwrap();
        }
        fs::write(p.join("gone"), b"g").unwrap();
        fs::create_dir(p.join("gonedir")).unwrap();
        fs::write(p.join("gonedir/x"), b"g").unwrap();
        fs::write(p.join("rewritten"), b"aaaa").unwrap();
        fs::write(l.join("rewritten"), b"bbbb").unwrap();
        let t = fs::metadata(p.join("rewritten"))
            .unwrap()
            .modified()
            .unwrap();
        fs::File::options()
            .write(true)
            .open(l.join("rewritten"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        fs::create_dir(l.join("new")).unwrap();
        fs::write(l.join("new/n"), b"nn").unwrap();
        let ch = crate::changes::changes_dirs(&l, Some(&p)).unwrap();
        let got: Vec<(String, ChangeKind)> = ch
            .iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/gone".into(), ChangeKind::Delete),
                ("/gonedir".into(), ChangeKind::Delete),
                ("/new".into(), ChangeKind::Add),
                ("/new/n".into(), ChangeKind::Add),
                ("/rewritten".into(), ChangeKind::Modify),
            ]
        );
        assert_eq!(crate::changes::changes_size(&l, &ch).unwrap(), 6);
        let mut pipe = TarPipe::spawn("t", move |w| write_changes_tar(&l, &ch, w)).unwrap();
        let mut out = Vec::new();
        pipe.read_to_end(&mut out).unwrap();
        assert_eq!(
            names(&out),
            vec![
                (".wh.gone".into(), EntryKind::Regular),
                (".wh.gonedir".into(), EntryKind::Regular),
                ("new/".into(), EntryKind::Directory),
                ("new/n".into(), EntryKind::Regular),
                ("rewritten".into(), EntryKind::Regular),
            ]
        );
    }

    #[test]
    fn a_failing_writer_is_an_error_at_the_end() {
        let mut pipe = TarPipe::spawn("t", |w| {
            w.write_all(b"partial").unwrap();
            Err(DriverError::NotMounted { id: "x".into() })
        })
        .unwrap();
        let mut out = Vec::new();
        assert!(pipe.read_to_end(&mut out).is_err());
    }

    #[test]
    fn sparse_files_stay_sparse_through_a_diff() {
        let tmp = tempfile::tempdir().unwrap();
        let (p, l) = (tmp.path().join("p"), tmp.path().join("l"));
        fs::create_dir(&p).unwrap();
        fs::create_dir(&l).unwrap();
        let f = fs::File::create(l.join("sparse")).unwrap();
        f.set_len(512 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"middle", 100 << 20).unwrap();
        drop(f);
        let ch = crate::changes::changes_dirs(&l, Some(&p)).unwrap();
        let mut out = Vec::new();
        write_changes_tar(&l, &ch, &mut out).unwrap();
        assert!(
            out.len() < 1 << 20,
            "the tar holds the holes: {} bytes",
            out.len()
        );
        if let Ok(p) = std::env::var("SPARSE_TAR_OUT") {
            fs::write(p, &out).unwrap();
        }
        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        let mut r = tar_split::TarReader::new(&out[..], tar_split::NullSink);
        let opts = crate::apply::ApplyOptions::new("t", crate::apply::WhiteoutMode::Delete);
        assert_eq!(
            crate::apply::apply_tar(&dst, &mut r, &opts).unwrap(),
            512 << 20
        );
        let md = fs::metadata(dst.join("sparse")).unwrap();
        assert_eq!(md.len(), 512 << 20);
        assert!(std::os::unix::fs::MetadataExt::blocks(&md) * 512 < 1 << 20);
        let mut got = [0u8; 6];
        std::os::unix::fs::FileExt::read_exact_at(
            &fs::File::open(dst.join("sparse")).unwrap(),
            &mut got,
            100 << 20,
        )
        .unwrap();
        assert_eq!(&got, b"middle");
    }
}
