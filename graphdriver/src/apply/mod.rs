//! Applying a layer tar to a directory, confined to it.
//!
//! # Security
//! The tar is hostile input. Whatever its names, symlinks and hard links say, nothing is created,
//! changed or removed outside the layer directory given to [`apply_tar`]:
//! - names are cleaned lexically (a leading `/` dropped, `..` never climbs above the root);
//! - directories are walked one component at a time with `openat(O_NOFOLLOW|O_DIRECTORY)` from
//!   the layer root's descriptor: no symlink is ever followed, whoever made it; a symlink or file
//!   standing where the entry needs a directory is replaced by a directory, inside the layer;
//! - every object is created with `O_EXCL`-style calls (`openat(O_CREAT|O_EXCL)`, `mkdirat`,
//!   `symlinkat`, `mknodat`, `linkat`); something already at the name is removed first, so a file
//!   written over a symlink replaces the symlink and never writes through it;
//! - a hard link's target is found by the same walk (no symlinks) and linked with `linkat`
//!   without following, so it is always a file of the layer;
//! - whiteouts naming `.`, `..`, or with a `..` anywhere in their name are refused;
//! - xattrs in the `trusted.overlay.*` and `user.overlay.*` spaces are refused (they would
//!   forge overlayfs whiteouts, opaque directories or redirects);
//! - header sizes are bounded by the parser (`tar_split::Limits`) before anything is allocated.
//!
//! What a tar can do: fill the layer directory with any tree it likes (including setuid files
//! and, when privileged, device nodes), within the space the filesystem gives it. On an error the
//! layer directory holds part of the tar: the caller removes it (nothing outside it was touched).

mod entry;
mod inherit;
pub(crate) mod path;
#[cfg(test)]
mod tests;
pub(crate) mod walker;
mod whiteout;

use std::path::Path;

use tar_split::TarReader;

use crate::{DriverError, Result};

pub use entry::Applier;

/// How OCI whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) land on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// overlayfs form, for an upper directory: a whiteout becomes a character device 0/0 named
    /// `NAME`; an opaque marker sets `trusted.overlay.opaque=y` on its directory
    /// (`user.overlay.opaque=y` when not privileged, for `userxattr` mounts).
    Overlay,
    /// Deletion in place, for a directory that already holds the parent's tree (vfs): a whiteout
    /// removes `NAME`; an opaque marker removes what the directory held before this tar.
    Delete,
}

/// How [`apply_tar`] applies a tar.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The native form of whiteouts.
    pub whiteouts: WhiteoutMode,
    /// The layer's ID, named in errors.
    pub layer_id: String,
    /// Restore owners, device nodes and `trusted.*`/`security.*` xattrs (needs root). Without
    /// it files belong to the caller, device nodes are skipped and only `user.*` xattrs are set.
    /// Device nodes the kernel refuses even so (root in a user namespace) are skipped too.
    pub privileged: bool,
    /// The parent layers' directories, nearest first (overlay: the lower `diff/` dirs). A
    /// directory the tar needs but does not list (a member `a/b/f` without `a/b/`, a whiteout's
    /// parent) is created with the attributes of the same directory in the nearest parent that
    /// has it, so the upper directory does not change the merged view's owner, mode or times.
    /// Empty: such directories are created 0755, owned by the caller (also in `Delete` mode,
    /// where the parent's directory is already in place).
    pub lower_dirs: Vec<std::path::PathBuf>,
}

impl ApplyOptions {
    /// Options for layer `layer_id`, privileged when the process runs as root.
    pub fn new(layer_id: impl Into<String>, whiteouts: WhiteoutMode) -> Self {
        Self {
            whiteouts,
            layer_id: layer_id.into(),
            privileged: rustix::process::geteuid().is_root(),
            lower_dirs: Vec::new(),
        }
    }
}

/// Applies every member of `tar` to the directory `layer_root` (which must exist) and returns
/// the applied size: the sum of the regular files' sizes. Reads members until the archive ends;
/// the caller then calls `tar.finish()` to consume and record what follows the last member.
///
/// On error, the error names the entry and the layer; `layer_root` may hold part of the tar and
/// the caller removes it. Nothing outside `layer_root` was created, changed or removed.
pub fn apply_tar(layer_root: &Path, tar: &mut TarReader<'_>, opts: &ApplyOptions) -> Result<u64> {
    let mut applier = Applier::new(layer_root, opts)?;
    loop {
        let header = tar.next().map_err(|source| DriverError::Tar {
            id: opts.layer_id.clone(),
            source,
        })?;
        let Some(header) = header else { break };
        applier.apply(&header, tar)?;
    }
    applier.finish()
}
