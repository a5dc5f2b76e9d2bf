//! Read-only layers: the handle a caller holds, and the facts the store reports of a layer.

use std::collections::BTreeMap;

use metadata::{ChainId, Descriptor, DiffId, LayerRecord};

use crate::error::{Result, StoreError};
use crate::export::TarStream;
use crate::Store;

/// A reference to a registered layer. It keeps the layer alive until it is given back to
/// [`Store::release`]; dropping it without releasing keeps the reference for the life of the
/// store (as Docker's layer store does).
pub struct Layer {
    store: Store,
    chain_id: ChainId,
    diff_id: DiffId,
    parent: Option<ChainId>,
    cache_id: String,
    diff_size: u64,
    descriptor: Option<Descriptor>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("chain_id", &self.chain_id)
            .field("diff_id", &self.diff_id)
            .field("parent", &self.parent)
            .finish()
    }
}

impl Layer {
    pub(crate) fn new(store: Store, record: &LayerRecord) -> Layer {
        Layer {
            store,
            chain_id: record.chain_id.clone(),
            diff_id: record.diff_id.clone(),
            parent: record.parent.clone(),
            cache_id: record.cache_id.clone(),
            diff_size: record.size,
            descriptor: record.descriptor.clone(),
        }
    }

    /// The layer's ChainID.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The DiffID: sha256 of the layer's uncompressed tar.
    pub fn diff_id(&self) -> &DiffId {
        &self.diff_id
    }

    /// The parent's ChainID; `None` for a base layer.
    pub fn parent(&self) -> Option<&ChainId> {
        self.parent.as_ref()
    }

    /// The driver's directory ID of this layer.
    pub fn cache_id(&self) -> &str {
        &self.cache_id
    }

    /// The descriptor it was registered with, if any.
    pub fn descriptor(&self) -> Option<&Descriptor> {
        self.descriptor.as_ref()
    }

    /// The size of this layer's own content.
    pub fn diff_size(&self) -> u64 {
        self.diff_size
    }

    /// The size of the whole chain: this layer's content and all its ancestors'.
    pub fn size(&self) -> Result<u64> {
        Ok(self.store.info(&self.chain_id)?.size)
    }

    /// The driver's facts of this layer (paths such as `UpperDir`).
    pub fn metadata(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.store.inner.driver.metadata(&self.cache_id)?)
    }

    /// The layer's tar, byte for byte the tar it was registered from, verified against the
    /// DiffID: a mismatch makes the last read fail with an error naming the layer, and the last
    /// bytes of the stream are held back until it verifies.
    pub fn tar_stream(&self) -> Result<TarStream> {
        TarStream::open(&self.store, &self.chain_id, &self.diff_id, &self.cache_id)
    }

    /// The tars of this layer's ancestors above `ancestor` (exclusive) and of this layer, oldest
    /// first, joined into one tar (the end-of-archive blocks of all but the last are left out);
    /// every layer's part is verified against its DiffID as it streams. `None` means the whole
    /// chain.
    pub fn tar_stream_from(&self, ancestor: Option<&ChainId>) -> Result<TarStream> {
        let mut chain = Vec::new();
        let mut cur = Some(self.chain_id.clone());
        loop {
            let Some(c) = cur else {
                if ancestor.is_some() {
                    return Err(StoreError::NotAncestor {
                        layer: self.chain_id.clone(),
                        ancestor: Box::new(
                            ancestor.cloned().unwrap_or_else(|| self.chain_id.clone()),
                        ),
                    });
                }
                break;
            };
            if Some(&c) == ancestor {
                break;
            }
            let info = self.store.info(&c)?;
            chain.push(info);
            cur = chain.last().and_then(|i| i.parent.clone());
        }
        chain.reverse();
        TarStream::open_chain(&self.store, chain)
    }
}

/// What the store knows of a layer, as `ls` and `inspect` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's ChainID.
    pub chain_id: ChainId,
    /// Its DiffID.
    pub diff_id: DiffId,
    /// Its parent's ChainID.
    pub parent: Option<ChainId>,
    /// The size of the whole chain.
    pub size: u64,
    /// The size of this layer's own content.
    pub diff_size: u64,
    /// The driver's directory ID.
    pub cache_id: String,
    /// The descriptor it was registered with.
    pub descriptor: Option<Descriptor>,
    /// 1 for a base layer.
    pub depth: usize,
    /// References held by this process.
    pub references: usize,
    /// Layers and read-write layers standing on it.
    pub children: usize,
}

/// What [`Store::release`] reports of a deleted layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMetadata {
    /// The deleted layer's ChainID.
    pub chain_id: ChainId,
    /// Its DiffID.
    pub diff_id: DiffId,
    /// The size of its own content.
    pub diff_size: u64,
}

impl LayerMetadata {
    pub(crate) fn from_record(record: &LayerRecord) -> Self {
        LayerMetadata {
            chain_id: record.chain_id.clone(),
            diff_id: record.diff_id.clone(),
            diff_size: record.size,
        }
    }
}
