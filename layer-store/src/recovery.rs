//! What opening a writable store does about a crash: layers left being created are rolled back,
//! removals left half done are finished, staged leftovers and spools are removed. Nothing is
//! skipped silently: what cannot be fixed here is reported for fsck.

use std::collections::HashSet;
use std::path::Path;

use graphdriver::Driver;
use metadata::{ChainId, LayerState, MetadataStore};

use crate::error::Result;

/// What opening the store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Cache-IDs of layers a crash left being created, now rolled back.
    pub rolled_back: Vec<String>,
    /// Layers a crash left being removed, now removed.
    pub finished_removals: Vec<ChainId>,
    /// Incomplete driver directories no record named, now removed.
    pub removed_staged: Vec<String>,
    /// Temporary files removed from `<root>/tmp`.
    pub removed_temp: usize,
    /// Complete driver directories that no layer or read-write layer names: left in place for
    /// `store-fsck --repair` to decide.
    pub orphans: Vec<String>,
    /// Things opening could not fix, one sentence each (run store-fsck).
    pub problems: Vec<String>,
}

impl Recovery {
    /// Whether opening found nothing to do.
    pub fn is_clean(&self) -> bool {
        *self == Recovery::default()
    }
}

pub(crate) fn recover(meta: &MetadataStore, driver: &dyn Driver, root: &Path) -> Result<Recovery> {
    let mut report = Recovery::default();
    let mut named: HashSet<String> = HashSet::new();
    for record in meta.layers()? {
        if record.state == LayerState::Removing {
            match driver.remove(&record.cache_id) {
                Ok(()) => {
                    meta.remove_layer(&record.chain_id)?;
                    report.finished_removals.push(record.chain_id);
                }
                Err(err) => {
                    named.insert(record.cache_id.clone());
                    report.problems.push(format!(
                        "cannot finish removing layer {}: {err}",
                        record.chain_id
                    ));
                }
            }
        } else {
            named.insert(record.cache_id);
        }
    }
    for mount in meta.mounts()? {
        named.insert(mount.mount_id);
        if let Some(init) = mount.init_id {
            named.insert(init);
        }
    }
    for pending in meta.pending()? {
        // A creation whose record was committed just before the crash only lost its cleanup.
        if named.contains(&pending.cache_id) {
            meta.clear_pending(&pending.cache_id)?;
            continue;
        }
        match driver.remove(&pending.cache_id) {
            Ok(()) => {
                meta.clear_pending(&pending.cache_id)?;
                report.rolled_back.push(pending.cache_id);
            }
            Err(err) => report.problems.push(format!(
                "cannot roll back the interrupted creation of {}: {err}",
                pending.cache_id
            )),
        }
    }
    for listing in driver.layers()? {
        if named.contains(&listing.id) {
            if !listing.complete {
                report.problems.push(format!(
                    "driver directory {} is named by the metadata but incomplete",
                    listing.id
                ));
            }
            continue;
        }
        if listing.complete {
            report.orphans.push(listing.id);
        } else {
            match driver.remove(&listing.id) {
                Ok(()) => report.removed_staged.push(listing.id),
                Err(err) => report.problems.push(format!(
                    "cannot remove staged directory {}: {err}",
                    listing.id
                )),
            }
        }
    }
    report.removed_temp = clear_temp(&root.join("tmp"), &mut report.problems);
    Ok(report)
}

/// Removes everything in the store's temp directory (spools of interrupted transactions).
fn clear_temp(tmp: &Path, problems: &mut Vec<String>) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        match result {
            Ok(()) => removed += 1,
            Err(err) => problems.push(format!("cannot remove {}: {err}", path.display())),
        }
    }
    removed
}
