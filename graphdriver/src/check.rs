//! What a driver reports when the store checks it (`store-fsck`), and the helpers a repair shares.
//!
//! The store checks what it can see through the [`crate::Driver`] trait (a directory is missing,
//! incomplete, or named by no record); a driver adds what only it knows about its own layout
//! through [`crate::Driver::check_layer`] and fixes it through [`crate::Driver::repair_layer`].

use std::path::{Path, PathBuf};

use rustix::mount::{unmount as sys_unmount, UnmountFlags};

use crate::{DriverError, Result};

/// One inconsistency a driver found in a layer's on-disk layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverFinding {
    /// A stable kebab-case code (`link-missing`, `lower-mismatch`, ...): scripts match on it, so
    /// a code once published never changes meaning.
    pub code: &'static str,
    /// The layer's driver ID (cache-ID, mount-ID or init-ID).
    pub id: String,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Whether [`crate::Driver::repair_layer`] can fix it without losing anything.
    pub repairable: bool,
}

/// Unmounts the filesystem mounted at `path` (a plain unmount, never a lazy detach: a mount
/// still in use stays and the error says so). For removing mounts that nothing accounts for.
pub fn unmount(path: &Path) -> Result<()> {
    sys_unmount(path, UnmountFlags::empty()).map_err(|e| DriverError::Io {
        op: "unmount",
        path: path.to_owned(),
        source: e.into(),
    })
}
