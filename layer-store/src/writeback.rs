//! Early writeback during register: while one core extracts and the other hashes, the disk would
//! sit idle until the final `syncfs` makes the layer durable, and then do all of its work at once.
//! A helper thread asks the kernel to write back the store's filesystem every half second during
//! the extraction, so the final sync (the durability point, unchanged) finds little left to do.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the store's filesystem is synced while a layer is being extracted.
const PERIOD: Duration = Duration::from_millis(500);

/// Runs `work` while a scoped thread syncs the filesystem holding `root` every [`PERIOD`].
/// Sync failures are ignored here: the final sync in `finalize` is the one whose result counts.
pub(crate) fn with_early_writeback<T>(root: &Path, work: impl FnOnce() -> T) -> T {
    let Ok(dir) = std::fs::File::open(root) else {
        return work();
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let syncer = scope.spawn(|| loop {
            std::thread::park_timeout(PERIOD);
            if done.load(Ordering::Acquire) {
                break;
            }
            let _ = rustix::fs::syncfs(&dir);
        });
        let result = work();
        done.store(true, Ordering::Release);
        syncer.thread().unpark();
        result
    })
}
