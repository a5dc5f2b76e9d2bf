//! Read-write layers: a container's writable layer above an init layer above an image layer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use graphdriver::{Change, CreateOpts, MountOpts};
use metadata::{ChainId, MountRecord};

use crate::error::{Result, StoreError};
use crate::layer::LayerMetadata;
use crate::options::RwLayerOpts;
use crate::register::random_id;
use crate::store::{MountEntry, Store};

/// A read-write layer. The handle names it; the store keeps its state, so handles are cheap to
/// get again with [`Store::get_rw_layer`].
pub struct RwLayer {
    store: Store,
    name: String,
    mount_id: String,
    init_id: Option<String>,
    parent: Option<ChainId>,
    mount_label: Option<String>,
}

impl std::fmt::Debug for RwLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLayer")
            .field("name", &self.name)
            .field("mount_id", &self.mount_id)
            .field("parent", &self.parent)
            .finish()
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Creates the read-write layer `name` above `parent` (an init layer `<mount-id>-init`,
    /// prepared by `opts.init`, and the writable layer above it) and records it in one
    /// transaction. The parent gains a child until the read-write layer is released.
    pub fn create_rw_layer(
        &self,
        name: &str,
        parent: Option<&ChainId>,
        opts: RwLayerOpts,
    ) -> Result<RwLayer> {
        self.ensure_writable()?;
        let mut state = self.inner.state.lock();
        if state.mounts.contains_key(name) {
            return Err(StoreError::MountNameConflict(name.to_owned()));
        }
        let parent_cache = match parent {
            None => None,
            Some(p) => Some(
                state
                    .layers
                    .get(p)
                    .ok_or_else(|| StoreError::LayerDoesNotExist(p.clone()))?
                    .record
                    .cache_id
                    .clone(),
            ),
        };
        let driver = &self.inner.driver;
        let mount_id = random_id();
        let init_id = format!("{mount_id}-init");
        let create_opts = CreateOpts {
            mount_label: opts.mount_label.clone(),
            storage_opts: opts.storage_opts.clone(),
        };
        // Pending records first: a crash before the mount record commits leaves directories
        // the next open rolls back, never orphans.
        self.inner.meta.begin_creation(&init_id)?;
        self.inner.meta.begin_creation(&mount_id)?;
        let made = (|| -> Result<()> {
            driver.create_read_write(&init_id, parent_cache.as_deref(), &create_opts)?;
            if let Some(init) = opts.init {
                let mount_opts = MountOpts {
                    mount_label: opts.mount_label.clone(),
                    read_only: false,
                };
                let path = driver.get(&init_id, &mount_opts)?;
                let ran = init(&path)
                    .map_err(|e| StoreError::io(format!("init function for {name:?}"), e));
                driver.put(&init_id)?;
                ran?;
            }
            driver.create_read_write(&mount_id, Some(&init_id), &create_opts)?;
            Ok(())
        })();
        let record = MountRecord {
            name: name.to_owned(),
            mount_id: mount_id.clone(),
            init_id: Some(init_id.clone()),
            parent: parent.cloned(),
            created_unix_nanos: now_nanos(),
        };
        let recorded = made.and_then(|()| Ok(self.inner.meta.set_mount(&record)?));
        if let Err(err) = recorded {
            let cleanup = (|| -> Result<()> {
                driver.remove(&mount_id)?;
                driver.remove(&init_id)?;
                self.inner.meta.clear_pending(&mount_id)?;
                self.inner.meta.clear_pending(&init_id)?;
                Ok(())
            })();
            return Err(err.with_cleanup(cleanup.err()));
        }
        // The mount record names both directories now; a crash here leaves pending records
        // that the next open clears without touching the directories.
        self.inner.meta.clear_pending(&mount_id)?;
        self.inner.meta.clear_pending(&init_id)?;
        if let Some(p) = parent.and_then(|p| state.layers.get_mut(p)) {
            p.children += 1;
        }
        state.mounts.insert(
            name.to_owned(),
            MountEntry {
                record: record.clone(),
                mount_count: 0,
            },
        );
        Ok(self.rw_handle(&record, opts.mount_label))
    }

    fn rw_handle(&self, record: &MountRecord, mount_label: Option<String>) -> RwLayer {
        RwLayer {
            store: self.clone(),
            name: record.name.clone(),
            mount_id: record.mount_id.clone(),
            init_id: record.init_id.clone(),
            parent: record.parent.clone(),
            mount_label,
        }
    }

    /// The read-write layer `name`.
    pub fn get_rw_layer(&self, name: &str) -> Result<RwLayer> {
        let state = self.inner.state.lock();
        let entry = state
            .mounts
            .get(name)
            .ok_or_else(|| StoreError::MountDoesNotExist(name.to_owned()))?;
        Ok(self.rw_handle(&entry.record, None))
    }

    /// The mount-ID (the driver's directory ID) of the read-write layer `name`.
    pub fn get_mount_id(&self, name: &str) -> Result<String> {
        Ok(self.get_rw_layer(name)?.mount_id)
    }

    /// Every read-write layer's record, by name.
    pub fn rw_layers(&self) -> BTreeMap<String, MountRecord> {
        let state = self.inner.state.lock();
        state
            .mounts
            .iter()
            .map(|(k, v)| (k.clone(), v.record.clone()))
            .collect()
    }

    /// Deletes the read-write layer and its init layer; its parent loses a child and is deleted
    /// in turn if nothing else holds it. A mounted layer is an [`StoreError::ActiveMount`] error.
    pub fn release_rw_layer(&self, rw: RwLayer) -> Result<Vec<LayerMetadata>> {
        self.ensure_writable()?;
        let mut state = self.inner.state.lock();
        let entry = state
            .mounts
            .get(&rw.name)
            .ok_or_else(|| StoreError::MountDoesNotExist(rw.name.clone()))?;
        if entry.mount_count > 0 {
            return Err(StoreError::ActiveMount {
                name: rw.name.clone(),
                count: entry.mount_count,
            });
        }
        let record = entry.record.clone();
        let driver = &self.inner.driver;
        driver.remove(&record.mount_id)?;
        if let Some(init) = &record.init_id {
            driver.remove(init)?;
        }
        self.inner.meta.remove_mount(&record.name)?;
        state.mounts.remove(&record.name);
        let Some(parent) = record.parent else {
            return Ok(Vec::new());
        };
        if let Some(p) = state.layers.get_mut(&parent) {
            p.children = p.children.saturating_sub(1);
        }
        self.delete_unused(&mut state, Some(parent))
    }
}

impl RwLayer {
    /// The read-write layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The driver's directory ID of the writable layer.
    pub fn mount_id(&self) -> &str {
        &self.mount_id
    }

    /// The driver's directory ID of the init layer.
    pub fn init_id(&self) -> Option<&str> {
        self.init_id.as_deref()
    }

    /// The image layer it stands on.
    pub fn parent(&self) -> Option<&ChainId> {
        self.parent.as_ref()
    }

    /// Mounts the layer (or counts one more user of its mount) and returns the merged root.
    pub fn mount(&self) -> Result<PathBuf> {
        let mut state = self.store.inner.state.lock();
        let entry = state
            .mounts
            .get_mut(&self.name)
            .ok_or_else(|| StoreError::MountDoesNotExist(self.name.clone()))?;
        let path = self.store.inner.driver.get(
            &self.mount_id,
            &MountOpts {
                mount_label: self.mount_label.clone(),
                read_only: false,
            },
        )?;
        entry.mount_count += 1;
        Ok(path)
    }

    /// Drops one user of the mount; the last one unmounts it.
    pub fn unmount(&self) -> Result<()> {
        let mut state = self.store.inner.state.lock();
        let entry = state
            .mounts
            .get_mut(&self.name)
            .ok_or_else(|| StoreError::MountDoesNotExist(self.name.clone()))?;
        if entry.mount_count == 0 {
            return Err(StoreError::NotMounted(self.name.clone()));
        }
        self.store.inner.driver.put(&self.mount_id)?;
        entry.mount_count -= 1;
        Ok(())
    }

    /// A tar of what changed in the layer (against its init layer), whiteouts in OCI form.
    pub fn tar_stream(&self) -> Result<Box<dyn Read + Send>> {
        Ok(self
            .store
            .inner
            .driver
            .diff(&self.mount_id, self.init_id.as_deref())?)
    }

    /// The paths that changed in the layer (against its init layer).
    pub fn changes(&self) -> Result<Vec<Change>> {
        Ok(self
            .store
            .inner
            .driver
            .changes(&self.mount_id, self.init_id.as_deref())?)
    }

    /// The size of what changed in the layer.
    pub fn size(&self) -> Result<u64> {
        Ok(self
            .store
            .inner
            .driver
            .diff_size(&self.mount_id, self.init_id.as_deref())?)
    }

    /// The driver's facts of the layer (paths such as `MergedDir`).
    pub fn metadata(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.store.inner.driver.metadata(&self.mount_id)?)
    }

    /// Registers what changed in this layer as a new layer on its parent (`rw commit`).
    pub fn commit(&self) -> Result<crate::Layer> {
        let diff = self.tar_stream()?;
        self.store.register(diff, self.parent.as_ref())
    }
}
