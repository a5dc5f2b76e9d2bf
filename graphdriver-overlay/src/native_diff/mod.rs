//! A layer's diff read natively from its upper directory (`diff/`), whiteouts converted to OCI
//! form, and tars applied into it with whiteouts in overlay form.
//!
//! The upper directory alone is the layer's diff because layers are mounted with
//! `redirect_dir=off` and `metacopy=off`: every changed file is copied up whole, a renamed
//! directory is copied rather than redirected.

mod changes;
mod lower_view;
mod tree;

use std::collections::HashSet;
use std::path::Path;

use graphdriver::apply::{apply_tar, ApplyOptions, WhiteoutMode};
use graphdriver::{Change, DriverError, Result};
use rustix::fs::FileType;
use tar_split::TarReader;

fn walk_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DriverError + 'a {
    move |source| DriverError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Applies `tar` into the upper directory `diff` of layer `id`: OCI whiteouts become character
/// devices 0/0 and opaque markers the `trusted.overlay.opaque=y` xattr. `lowers` are the parents'
/// diff directories, nearest first: a directory the tar needs but does not list takes the
/// attributes it has in the nearest of them, so the merged view keeps them.
pub(crate) fn apply(
    diff: &Path,
    id: &str,
    lowers: Vec<std::path::PathBuf>,
    tar: &mut TarReader<'_>,
) -> Result<u64> {
    let mut opts = ApplyOptions::new(id, WhiteoutMode::Overlay);
    opts.lower_dirs = lowers;
    apply_tar(diff, tar, &opts)
}

/// The paths that changed in the layer whose upper directory is `diff`, against the merged view
/// of its parents' diff directories `lowers` (top first).
pub(crate) fn changes(diff: &Path, lowers: &[std::path::PathBuf]) -> Result<Vec<Change>> {
    changes::changes(diff, lowers).map_err(walk_err("compute changes of", diff))
}

/// The bytes of file content in the upper directory `diff`: regular files' sizes, each hard-linked
/// file counted once.
pub(crate) fn size(diff: &Path) -> Result<u64> {
    let mut total = 0u64;
    let mut seen = HashSet::new();
    tree::walk(diff, |entry| {
        if entry.file_type() == FileType::RegularFile
            && (entry.stat.st_nlink <= 1 || seen.insert((entry.stat.st_dev, entry.stat.st_ino)))
        {
            total += entry.stat.st_size as u64;
        }
        Ok(true)
    })
    .map_err(walk_err("measure", diff))?;
    Ok(total)
}
