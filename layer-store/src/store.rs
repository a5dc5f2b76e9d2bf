//! The store: opening, the in-memory view of layers and mounts, references and release.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::Driver;
use metadata::{ChainId, LayerRecord, LayerState, MetadataStore, MountRecord, OpenOptions};
use parking_lot::Mutex;

use crate::error::{Result, StoreError};
use crate::layer::{Layer, LayerInfo, LayerMetadata};
use crate::options::{DriverChoice, StoreOptions};
use crate::recovery::{self, Recovery};

/// A layer as the store keeps it in memory.
pub(crate) struct LayerEntry {
    pub record: LayerRecord,
    /// Handles handed out by `register`/`get` and not yet released.
    pub refs: usize,
    /// Layers and read-write layers standing directly on this one.
    pub children: usize,
    /// 1 for a base layer.
    pub depth: usize,
}

/// A read-write layer as the store keeps it in memory.
pub(crate) struct MountEntry {
    pub record: MountRecord,
    /// Mounts made through this store and not yet unmounted.
    pub mount_count: usize,
}

#[derive(Default)]
pub(crate) struct State {
    pub layers: HashMap<ChainId, LayerEntry>,
    pub mounts: HashMap<String, MountEntry>,
}

pub(crate) struct Inner {
    pub root: PathBuf,
    pub meta: MetadataStore,
    pub driver: Arc<dyn Driver>,
    pub max_depth: usize,
    pub read_only: bool,
    pub state: Mutex<State>,
    pub recovery: Recovery,
}

/// A content-addressed store of image layers (see the crate docs). Cheap to clone; all clones
/// share one store. `Send + Sync`: register, export and release from any thread.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.inner.root)
            .field("driver", &self.inner.driver.name())
            .field("read_only", &self.inner.read_only)
            .finish()
    }
}

/// The driver a store at `root` uses: the one whose home exists, else overlay where it works,
/// else vfs.
fn open_driver(root: &Path, choice: &DriverChoice, read_only: bool) -> Result<Arc<dyn Driver>> {
    let overlay_home = root.join("overlay");
    let vfs_home = root.join("vfs");
    let overlay = || -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(graphdriver_overlay::OverlayDriver::new(
            &overlay_home,
            graphdriver_overlay::OverlayOptions {
                // A read-only open changes nothing on disk (no test mount, no housekeeping).
                passive: read_only && overlay_home.is_dir(),
                ..Default::default()
            },
        )?))
    };
    let vfs =
        || -> Result<Arc<dyn Driver>> { Ok(Arc::new(graphdriver_vfs::VfsDriver::new(&vfs_home)?)) };
    match choice {
        DriverChoice::Custom(driver) => Ok(driver.clone()),
        DriverChoice::Overlay => overlay(),
        DriverChoice::Vfs => vfs(),
        DriverChoice::Auto => {
            if overlay_home.is_dir() {
                overlay()
            } else if vfs_home.is_dir() {
                vfs()
            } else {
                overlay().or_else(|_| vfs())
            }
        }
    }
}

impl Store {
    /// Opens (creating when writable and missing) the store at `opts.root`. A writable open
    /// finishes what a crash interrupted: it rolls back layers left being created, finishes
    /// removals, and removes staged leftovers; [`Store::recovery`] tells what it did and what it
    /// could not fix.
    pub fn open(opts: StoreOptions) -> Result<Store> {
        let root = opts.root.clone();
        if !opts.read_only {
            std::fs::create_dir_all(&root).map_err(|e| {
                StoreError::io(format!("creating store root {}", root.display()), e)
            })?;
        }
        let driver = open_driver(&root, &opts.driver, opts.read_only)?;
        let driver_max = driver.capabilities().max_depth;
        if opts.max_depth > driver_max {
            return Err(StoreError::NotSupported(format!(
                "a maximum depth of {} layers: the {} driver mounts at most {driver_max}",
                opts.max_depth,
                driver.name()
            )));
        }
        let meta = MetadataStore::open(
            &root,
            &OpenOptions {
                driver: driver.name().to_owned(),
                read_only: opts.read_only,
                ..OpenOptions::default()
            },
        )?;
        let recovery = if opts.read_only {
            Recovery::default()
        } else {
            recovery::recover(&meta, driver.as_ref(), &root)?
        };
        let state = load_state(&meta, driver.as_ref())?;
        let inner = Inner {
            root,
            meta,
            driver,
            max_depth: opts.max_depth,
            read_only: opts.read_only,
            state: Mutex::new(state),
            recovery,
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// What opening the store found and did about an interrupted past.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The graph driver's name.
    pub fn driver_name(&self) -> &str {
        self.inner.driver.name()
    }

    /// The graph driver's status, as key/value pairs.
    pub fn driver_status(&self) -> Vec<(String, String)> {
        self.inner.driver.status()
    }

    /// The graph driver, for callers that need its paths (fsck, the CLI's status).
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.inner.driver
    }

    /// The metadata database.
    pub fn metadata_store(&self) -> &MetadataStore {
        &self.inner.meta
    }

    /// The maximum chain depth this store accepts.
    pub fn max_depth(&self) -> usize {
        self.inner.max_depth
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if self.inner.read_only {
            Err(StoreError::ReadOnly(self.inner.root.clone()))
        } else {
            Ok(())
        }
    }

    /// A new reference to the layer `chain_id`; release it with [`Store::release`].
    pub fn get(&self, chain_id: &ChainId) -> Result<Layer> {
        let mut state = self.inner.state.lock();
        let entry = state
            .layers
            .get_mut(chain_id)
            .ok_or_else(|| StoreError::LayerDoesNotExist(chain_id.clone()))?;
        entry.refs += 1;
        Ok(Layer::new(self.clone(), &entry.record))
    }

    /// Every layer in the store, by ChainID (no references are taken).
    pub fn map(&self) -> BTreeMap<ChainId, LayerInfo> {
        let state = self.inner.state.lock();
        state
            .layers
            .values()
            .map(|e| (e.record.chain_id.clone(), layer_info(&state, e)))
            .collect()
    }

    /// One layer's facts (no reference is taken).
    pub fn info(&self, chain_id: &ChainId) -> Result<LayerInfo> {
        let state = self.inner.state.lock();
        let entry = state
            .layers
            .get(chain_id)
            .ok_or_else(|| StoreError::LayerDoesNotExist(chain_id.clone()))?;
        Ok(layer_info(&state, entry))
    }

    /// Drops the reference `layer` holds. A layer with no references and no children is deleted
    /// (its record first, in one transaction, then its directory), and its parent loses the
    /// child it had, in turn. Returns what was deleted, top first.
    pub fn release(&self, layer: Layer) -> Result<Vec<LayerMetadata>> {
        self.ensure_writable()?;
        let chain_id = layer.chain_id().clone();
        let mut state = self.inner.state.lock();
        let entry = state
            .layers
            .get_mut(&chain_id)
            .ok_or_else(|| StoreError::LayerDoesNotExist(chain_id.clone()))?;
        if entry.refs == 0 {
            return Err(StoreError::LayerNotRetained(chain_id));
        }
        entry.refs -= 1;
        self.delete_unused(&mut state, Some(chain_id))
    }

    /// Deletes `start` and then its ancestors while each has no references and no children.
    pub(crate) fn delete_unused(
        &self,
        state: &mut State,
        start: Option<ChainId>,
    ) -> Result<Vec<LayerMetadata>> {
        let mut deleted = Vec::new();
        let mut next = start;
        while let Some(chain_id) = next.take() {
            let Some(entry) = state.layers.get(&chain_id) else {
                break;
            };
            if entry.refs > 0 || entry.children > 0 {
                break;
            }
            let record = entry.record.clone();
            self.delete_layer(&record)?;
            state.layers.remove(&chain_id);
            deleted.push(LayerMetadata::from_record(&record));
            if let Some(parent) = &record.parent {
                if let Some(p) = state.layers.get_mut(parent) {
                    p.children = p.children.saturating_sub(1);
                }
                next = Some(parent.clone());
            }
        }
        Ok(deleted)
    }

    /// Deletes one layer: marks it being removed, removes its directory, then its record. A
    /// crash in between leaves a record in state `Removing`, which the next open finishes.
    fn delete_layer(&self, record: &LayerRecord) -> Result<()> {
        let meta = &self.inner.meta;
        meta.set_state(&record.chain_id, LayerState::Removing)?;
        self.inner.driver.remove(&record.cache_id)?;
        meta.remove_layer(&record.chain_id)?;
        Ok(())
    }

    /// Unmounts everything the driver mounted (call before the process exits).
    pub fn cleanup(&self) -> Result<()> {
        self.inner.driver.cleanup()?;
        Ok(())
    }
}

fn layer_info(state: &State, entry: &LayerEntry) -> LayerInfo {
    let mut chain_size = 0u64;
    let mut cur = Some(&entry.record);
    while let Some(rec) = cur {
        chain_size += rec.size;
        cur = rec
            .parent
            .as_ref()
            .and_then(|p| state.layers.get(p))
            .map(|e| &e.record);
    }
    LayerInfo {
        chain_id: entry.record.chain_id.clone(),
        diff_id: entry.record.diff_id.clone(),
        parent: entry.record.parent.clone(),
        size: chain_size,
        diff_size: entry.record.size,
        cache_id: entry.record.cache_id.clone(),
        descriptor: entry.record.descriptor.clone(),
        depth: entry.depth,
        references: entry.refs,
        children: entry.children,
    }
}

/// Builds the in-memory view from the database: every committed layer, its depth and children,
/// and every read-write layer.
fn load_state(meta: &MetadataStore, driver: &dyn Driver) -> Result<State> {
    let mut state = State::default();
    for record in meta.layers()? {
        if record.state != LayerState::Committed {
            continue;
        }
        state.layers.insert(
            record.chain_id.clone(),
            LayerEntry {
                record,
                refs: 0,
                children: 0,
                depth: 0,
            },
        );
    }
    let parents: Vec<ChainId> = state
        .layers
        .values()
        .filter_map(|e| e.record.parent.clone())
        .collect();
    for parent in parents {
        if let Some(p) = state.layers.get_mut(&parent) {
            p.children += 1;
        }
    }
    for mount in meta.mounts()? {
        if let Some(parent) = &mount.parent {
            if let Some(p) = state.layers.get_mut(parent) {
                p.children += 1;
            }
        }
        state.mounts.insert(
            mount.name.clone(),
            MountEntry {
                // A mount left by an earlier process (`layer-store rw mount`) still counts.
                mount_count: driver.mount_count(&mount.mount_id),
                record: mount,
            },
        );
    }
    let ids: Vec<ChainId> = state.layers.keys().cloned().collect();
    for id in ids {
        let depth = depth_of(&state, &id);
        if let Some(e) = state.layers.get_mut(&id) {
            e.depth = depth;
        }
    }
    Ok(state)
}

/// The depth of a layer: 1 for a base layer. A missing parent or a cycle ends the walk (fsck
/// reports both).
fn depth_of(state: &State, id: &ChainId) -> usize {
    let mut depth = 0;
    let mut cur = Some(id);
    while let Some(c) = cur {
        depth += 1;
        if depth > state.layers.len() {
            break;
        }
        cur = state.layers.get(c).and_then(|e| e.record.parent.as_ref());
    }
    depth
}
