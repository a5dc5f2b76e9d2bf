//! The changes of a layer, read from its upper directory alone and looked up in the lower view.

use std::io;
use std::path::{Path, PathBuf};

use graphdriver::{Change, ChangeKind};
use rustix::fs::{FileType, Stat};

use super::lower_view::{is_opaque, is_whiteout, LowerView};
use super::tree::walk;

/// Splits `/a/b` into its components.
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect()
}

/// Whether a directory copied up into the upper layer is the same as the lower one: overlayfs
/// copies a directory up whenever something beneath it changes, which is not a change of the
/// directory itself.
fn same_dir(upper: &Stat, lower: &Stat) -> bool {
    FileType::from_raw_mode(lower.st_mode) == FileType::Directory
        && upper.st_mode == lower.st_mode
        && upper.st_uid == lower.st_uid
        && upper.st_gid == lower.st_gid
        && upper.st_mtime == lower.st_mtime
        && upper.st_mtime_nsec == lower.st_mtime_nsec
}

/// The changes in `upper` against the merged view of `lowers` (top first), sorted by path:
/// a whiteout of something shown below is a deletion, an opaque directory deletes what the lower
/// view held in it and the upper does not, anything else is an addition or, when the lower view
/// has the path, a modification (directories only when their own metadata changed).
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let view = LowerView::open(lowers)?;
    let mut out = Vec::new();
    walk(upper, |entry| {
        let comps = components(entry.path);
        let below = view.lookup(&comps)?;
        if is_whiteout(entry.stat) {
            if below.is_some() {
                out.push(Change {
                    path: entry.path.to_vec(),
                    kind: ChangeKind::Delete,
                });
            }
            return Ok(false);
        }
        let is_dir = entry.file_type() == FileType::Directory;
        match &below {
            None => out.push(Change {
                path: entry.path.to_vec(),
                kind: ChangeKind::Add,
            }),
            Some(lower) if is_dir && same_dir(entry.stat, lower) => {}
            Some(_) => out.push(Change {
                path: entry.path.to_vec(),
                kind: ChangeKind::Modify,
            }),
        }
        if is_dir && below.is_some() {
            let fd = rustix::fs::openat(
                entry.dir,
                entry.name,
                super::tree::dir_flags(),
                rustix::fs::Mode::empty(),
            )?;
            if is_opaque(std::os::fd::AsFd::as_fd(&fd))? {
                let kept = super::tree::sorted_names(std::os::fd::AsFd::as_fd(&fd))?;
                for name in view.names(&comps)? {
                    if kept.binary_search(&name).is_err() {
                        let mut path = entry.path.to_vec();
                        path.push(b'/');
                        path.extend_from_slice(&name);
                        out.push(Change {
                            path,
                            kind: ChangeKind::Delete,
                        });
                    }
                }
            }
        }
        Ok(true)
    })?;
    out.sort();
    Ok(out)
}
