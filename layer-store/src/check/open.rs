//! Opening a store for a check: its metadata (read-only, or as the single writer for a repair)
//! and its own driver, without the recovery a normal writable open runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::Driver;
use metadata::{MetadataStore, OpenOptions};

use crate::error::{Result, StoreError};

/// The store's metadata and a driver of the kind it was created with.
pub(crate) fn open(root: &Path, writable: bool) -> Result<(MetadataStore, Arc<dyn Driver>)> {
    let db = root.join(metadata::DB_FILE);
    if !db.exists() {
        return Err(StoreError::Metadata(metadata::Error::NotFound {
            what: format!("layer store at {} (no {})", root.display(), db.display()),
        }));
    }
    let opts = OpenOptions {
        read_only: !writable,
        ..OpenOptions::default()
    };
    let meta = MetadataStore::open(root, &opts)?;
    let home = root.join(meta.driver());
    let driver: Arc<dyn Driver> = match meta.driver() {
        "overlay" => Arc::new(graphdriver_overlay::OverlayDriver::new(
            &home,
            graphdriver_overlay::OverlayOptions::default(),
        )?),
        "vfs" => Arc::new(graphdriver_vfs::VfsDriver::new(&home)?),
        other => {
            return Err(StoreError::NotSupported(format!(
                "the store at {} uses driver {other:?}, which this program does not know",
                root.display()
            )))
        }
    };
    Ok((meta, driver))
}

/// Whether another process holds the store's writer lock now (its pid file names a live
/// process other than this one).
pub(crate) fn live_writer(root: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join(metadata::PID_FILE)) else {
        return false;
    };
    match text.trim().parse::<u32>() {
        Ok(pid) => pid != std::process::id() && super::layout::process_alive(pid),
        Err(_) => false,
    }
}

/// redb's integrity check run on a copy of the database file, so that a read-only check can
/// run it without taking the writer lock (only while nobody writes: a copy taken during a
/// commit could be torn).
pub(crate) fn check_copy_integrity(root: &Path) -> std::io::Result<Result<bool, metadata::Error>> {
    let scratch = scratch_dir()?;
    let result = (|| {
        std::fs::copy(
            root.join(metadata::DB_FILE),
            scratch.join(metadata::DB_FILE),
        )?;
        let opts = OpenOptions {
            read_only: false,
            tmp_dir: Some(scratch.join(metadata::TMP_DIR)),
            ..OpenOptions::default()
        };
        Ok(MetadataStore::open(&scratch, &opts).and_then(|mut m| m.check_integrity()))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// A fresh private directory under the system's temp directory.
fn scratch_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!(
            "store-fsck-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 8]>())
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no fresh scratch directory name"))
}
