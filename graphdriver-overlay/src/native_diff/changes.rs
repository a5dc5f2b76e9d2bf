//! The changes of a layer, read from its upper directory alone and looked up in the lower view.

use std::io;
use std::path::{Path, PathBuf};

use graphdriver::{Change, ChangeKind};
use rustix::fs::FileType;

use super::lower_view::{is_opaque, is_whiteout, LowerView};
use super::tree::walk;

/// Splits `/a/b` into its components.
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect()
}

/// The changes in `upper` against the merged view of `lowers` (top first), sorted by path:
/// a whiteout of something shown below is a deletion, an opaque directory deletes what the lower
/// view held in it and the upper does not, anything else is an addition or, when the lower view
/// has the path, a modification. A directory of the upper that the lower view has is always a
/// modification: overlayfs copies a directory up when something beneath it changes, and a diff
/// tar must carry the directory's attributes then (as the shared tree comparison does).
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
        out.push(Change {
            path: entry.path.to_vec(),
            kind: if below.is_some() {
                ChangeKind::Modify
            } else {
                ChangeKind::Add
            },
        });
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
