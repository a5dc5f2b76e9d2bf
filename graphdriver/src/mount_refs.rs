//! Reference counts of layer mounts: a layer is mounted by its first user and unmounted by its
//! last, whichever threads they run on.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{DriverError, Result};

/// Counts the users of each layer's mount, keyed by layer ID.
///
/// The mount and unmount themselves are the driver's, passed as closures: they run under the
/// layer's own lock, so two users of one layer never mount it twice, while different layers
/// mount in parallel.
#[derive(Debug, Default)]
pub struct MountRefs {
    layers: Mutex<HashMap<String, Arc<Mutex<usize>>>>,
}

impl MountRefs {
    /// An empty counter: nothing mounted.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, id: &str) -> Arc<Mutex<usize>> {
        self.layers.lock().entry(id.to_owned()).or_default().clone()
    }

    /// Counts one more user of `id`'s mount, calling `mount` first when there was none. Returns
    /// the new count. When `mount` fails the count is unchanged and its error returned.
    pub fn get(&self, id: &str, mount: impl FnOnce() -> Result<()>) -> Result<usize> {
        let slot = self.slot(id);
        let mut count = slot.lock();
        if *count == 0 {
            mount()?;
        }
        *count += 1;
        Ok(*count)
    }

    /// Drops one user of `id`'s mount, calling `unmount` when it was the last. Returns the
    /// remaining count. When `unmount` fails the last user is kept (the mount is still there) and
    /// its error returned; dropping a user of a layer nobody mounted is
    /// [`DriverError::NotMounted`].
    pub fn put(&self, id: &str, unmount: impl FnOnce() -> Result<()>) -> Result<usize> {
        let slot = self.slot(id);
        let mut count = slot.lock();
        match *count {
            0 => Err(DriverError::NotMounted { id: id.to_owned() }),
            1 => {
                unmount()?;
                *count = 0;
                Ok(0)
            }
            n => {
                *count = n - 1;
                Ok(n - 1)
            }
        }
    }

    /// Records `count` users of a mount found already in place (left by an earlier process, seen
    /// in `/proc/self/mountinfo`), so that it is adopted rather than mounted twice. Adds to any
    /// count already held.
    pub fn adopt(&self, id: &str, count: usize) {
        *self.slot(id).lock() += count;
    }

    /// The number of users of `id`'s mount (0: not mounted by this counter).
    pub fn count(&self, id: &str) -> usize {
        self.layers.lock().get(id).map_or(0, |slot| *slot.lock())
    }

    /// The IDs of the layers with at least one user, sorted.
    pub fn mounted(&self) -> Vec<String> {
        let layers = self.layers.lock();
        let mut ids: Vec<String> = layers
            .iter()
            .filter(|(_, slot)| *slot.lock() > 0)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Unmounts every counted mount whatever its count (for a driver's `cleanup`), calling
    /// `unmount` once per layer. Keeps going after a failure; returns the first error, and the
    /// layers that failed keep their counts.
    pub fn unmount_all(&self, mut unmount: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let mut first_err = None;
        for id in self.mounted() {
            let slot = self.slot(&id);
            let mut count = slot.lock();
            if *count == 0 {
                continue;
            }
            match unmount(&id) {
                Ok(()) => *count = 0,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn mounts_once_and_unmounts_with_the_last_user() {
        let refs = MountRefs::new();
        let mounts = AtomicUsize::new(0);
        let unmounts = AtomicUsize::new(0);
        let mount = || {
            mounts.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        let unmount = || {
            unmounts.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        assert_eq!(refs.get("a", mount).unwrap(), 1);
        assert_eq!(refs.get("a", mount).unwrap(), 2);
        assert_eq!(refs.put("a", unmount).unwrap(), 1);
        assert_eq!(unmounts.load(Ordering::SeqCst), 0);
        assert_eq!(refs.put("a", unmount).unwrap(), 0);
        assert_eq!(mounts.load(Ordering::SeqCst), 1);
        assert_eq!(unmounts.load(Ordering::SeqCst), 1);
        assert!(matches!(
            refs.put("a", unmount),
            Err(DriverError::NotMounted { .. })
        ));
    }

    #[test]
    fn failed_mount_and_unmount_keep_counts() {
        let refs = MountRefs::new();
        let busy = || Err(DriverError::NotMounted { id: "x".into() });
        assert!(refs.get("a", busy).is_err());
        assert_eq!(refs.count("a"), 0);
        refs.adopt("a", 1);
        assert!(refs.put("a", busy).is_err());
        assert_eq!(refs.count("a"), 1);
        assert_eq!(refs.mounted(), vec!["a".to_owned()]);
        refs.unmount_all(|_| Ok(())).unwrap();
        assert!(refs.mounted().is_empty());
    }

    #[test]
    fn concurrent_users_mount_once() {
        let refs = Arc::new(MountRefs::new());
        let mounts = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (refs, mounts) = (refs.clone(), mounts.clone());
                std::thread::spawn(move || {
                    refs.get("l", || {
                        mounts.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(mounts.load(Ordering::SeqCst), 1);
        assert_eq!(refs.count("l"), 8);
    }
}
