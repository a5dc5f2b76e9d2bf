//! Opening a store for a check: its metadata (read-only, or as the single writer for a repair)
//! and its own driver, without the recovery a normal writable open runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::Driver;
use metadata::{MetadataStore, OpenOptions};

use crate::error::{Result, StoreError};

/// What [`open`] opened.
pub(crate) struct Opened {
    pub meta: MetadataStore,
    pub driver: Arc<dyn Driver>,
    /// The database was left by a writer that did not close it: this is a recovered copy of it
    /// in a scratch directory (removed with the checker), so that a read-only check can run.
    pub recovered_copy: Option<PathBuf>,
}

/// The store's metadata and a driver of the kind it was created with. A read-only open of a
/// database a crashed writer left needing recovery checks a recovered copy instead.
pub(crate) fn open(root: &Path, writable: bool) -> Result<Opened> {
    let db = root.join(metadata::DB_FILE);
    if !db.exists() {
        return Err(StoreError::from(metadata::Error::NotFound {
            what: format!("layer store at {} (no {})", root.display(), db.display()),
        }));
    }
    let opts = OpenOptions {
        read_only: !writable,
        ..OpenOptions::default()
    };
    let (meta, recovered_copy) = match MetadataStore::open(root, &opts) {
        Ok(meta) => (meta, None),
        Err(metadata::Error::NeedsRecovery { .. }) if !writable => {
            let (meta, dir) = recovered_copy(root)?;
            (meta, Some(dir))
        }
        Err(e) => return Err(e.into()),
    };
    let home = root.join(meta.driver());
    let driver: Arc<dyn Driver> = match meta.driver() {
        // A check without repair changes nothing on disk: the driver opens passively (no
        // probe mount, no start-up housekeeping such as pruning dangling `l/` links).
        "overlay" => Arc::new(graphdriver_overlay::OverlayDriver::new(
            &home,
            graphdriver_overlay::OverlayOptions {
                passive: !writable,
                ..graphdriver_overlay::OverlayOptions::default()
            },
        )?),
        "vfs" => Arc::new(graphdriver_vfs::VfsDriver::new(&home)?),
        other => {
            return Err(StoreError::NotSupported(format!(
                "the store at {} uses driver {other:?}, which this program does not know",
                root.display()
            )))
        }
    };
    Ok(Opened {
        meta,
        driver,
        recovered_copy,
    })
}

/// A copy of the database in a scratch directory, opened for writing there so that redb
/// recovers the copy; the store's own file is not touched.
fn recovered_copy(root: &Path) -> Result<(MetadataStore, PathBuf)> {
    let scratch = scratch_dir().map_err(|e| StoreError::io("making a scratch directory", e))?;
    let opened = (|| {
        std::fs::copy(
            root.join(metadata::DB_FILE),
            scratch.join(metadata::DB_FILE),
        )
        .map_err(|e| {
            StoreError::io(
                format!("copying {}", root.join(metadata::DB_FILE).display()),
                e,
            )
        })?;
        let opts = OpenOptions {
            tmp_dir: Some(scratch.join(metadata::TMP_DIR)),
            ..OpenOptions::default()
        };
        Ok(MetadataStore::open(&scratch, &opts)?)
    })();
    match opened {
        Ok(meta) => Ok((meta, scratch)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e)
        }
    }
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
