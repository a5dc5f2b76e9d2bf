//! Register: one pass over a layer tar. One core decompresses and hashes (the DiffID); the other
//! parses, records the tar-split and has the driver extract; nothing of the layer exists for
//! anyone until the one metadata commit at the end.

use std::io::Read;

use metadata::{ChainId, Descriptor, DiffId, Digest, MetadataTransaction};

use crate::chain::chain_id_of;
use crate::error::{Result, StoreError};
use crate::ingest::{ingest, Ingested};
use crate::layer::Layer;
use crate::store::{LayerEntry, Store};
use crate::writeback::with_early_writeback;

/// A fresh random directory ID: 32 random bytes in hex.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Passes entries on to `inner` and sums the file sizes they record (kept for fsck, which
/// checks a stored tar-split against it).
struct SizeCounting<S> {
    inner: S,
    file_sizes: u64,
}

impl<S: tar_split::EntrySink> tar_split::EntrySink for SizeCounting<S> {
    fn segment(&mut self, raw: &[u8]) -> std::io::Result<()> {
        self.inner.segment(raw)
    }

    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> std::io::Result<()> {
        self.file_sizes += size;
        self.inner.file(name, size, crc)
    }
}

/// What the extracting side produced.
struct Extracted {
    applied_size: u64,
    /// Bytes the parser consumed: the whole uncompressed stream.
    parsed: u64,
}

impl Store {
    /// Registers the layer tar `tar` (plain, gzip or zstd) on top of `parent` and returns a
    /// reference to it. The same chain registered twice is one layer with two references.
    pub fn register(&self, tar: impl Read + Send, parent: Option<&ChainId>) -> Result<Layer> {
        self.register_with_descriptor(tar, parent, None)
    }

    /// [`Store::register`], recording `descriptor` with the layer (when the layer is new).
    pub fn register_with_descriptor(
        &self,
        tar: impl Read + Send,
        parent: Option<&ChainId>,
        descriptor: Option<Descriptor>,
    ) -> Result<Layer> {
        self.ensure_writable()?;
        let parent_cache = self.hold_parent(parent)?;
        let result = self.register_held(tar, parent, parent_cache.as_deref(), descriptor);
        // The parent's temporary reference ends either way; a new child now counts as its child.
        self.drop_parent_hold(parent);
        result
    }

    /// Checks the parent and the depth, and takes a temporary reference on the parent so it
    /// cannot be deleted while its child is being extracted. Returns the parent's cache-ID.
    fn hold_parent(&self, parent: Option<&ChainId>) -> Result<Option<String>> {
        let Some(parent) = parent else {
            return Ok(None);
        };
        let mut state = self.inner.state.lock();
        let entry = state
            .layers
            .get_mut(parent)
            .ok_or_else(|| StoreError::LayerDoesNotExist(parent.clone()))?;
        if entry.depth + 1 > self.inner.max_depth {
            return Err(StoreError::MaxDepthExceeded {
                parent: parent.clone(),
                depth: entry.depth + 1,
                max: self.inner.max_depth,
            });
        }
        entry.refs += 1;
        Ok(Some(entry.record.cache_id.clone()))
    }

    fn drop_parent_hold(&self, parent: Option<&ChainId>) {
        if let Some(parent) = parent {
            let mut state = self.inner.state.lock();
            if let Some(entry) = state.layers.get_mut(parent) {
                entry.refs = entry.refs.saturating_sub(1);
            }
        }
    }

    fn register_held(
        &self,
        tar: impl Read + Send,
        parent: Option<&ChainId>,
        parent_cache: Option<&str>,
        descriptor: Option<Descriptor>,
    ) -> Result<Layer> {
        let meta = &self.inner.meta;
        let driver = &self.inner.driver;
        let cache_id = random_id();
        meta.begin_creation(&cache_id)?;
        let created = driver
            .create(&cache_id, parent_cache, &Default::default())
            .map_err(StoreError::from);
        if let Err(err) = created {
            return Err(self.discard(&cache_id, err));
        }
        let mut tx = match meta.begin() {
            Ok(tx) => tx,
            Err(err) => return Err(self.discard(&cache_id, err.into())),
        };
        let parent_name = parent.map_or_else(|| "none".to_owned(), |p| p.to_string());
        let (extracted, ingested) = with_early_writeback(&self.inner.root, || {
            ingest(tar, |input| {
                self.extract(input, &cache_id, parent_cache, &mut tx, &parent_name)
            })
        });
        let outcome = match (extracted, ingested) {
            (Err(err), _) => Err(err),
            (Ok(_), Err(err)) => Err(StoreError::InvalidLayer {
                parent: parent_name.clone(),
                reason: format!("reading the layer: {err}"),
                source: Some(Box::new(err)),
            }),
            (Ok(extracted), Ok(ingested)) => Ok((extracted, ingested)),
        };
        let (extracted, ingested) = match outcome {
            Ok(v) => v,
            Err(err) => {
                tx.cancel();
                return Err(self.discard(&cache_id, err));
            }
        };
        self.commit_layer(tx, &cache_id, parent, descriptor, extracted, &ingested)
    }

    /// The extracting side: parse, record the tar-split, apply through the driver.
    fn extract(
        &self,
        input: &mut dyn Read,
        cache_id: &str,
        parent_cache: Option<&str>,
        tx: &mut MetadataTransaction,
        parent_name: &str,
    ) -> Result<Extracted> {
        let invalid = |reason: String, source: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::InvalidLayer {
                parent: parent_name.to_owned(),
                reason,
                source: Some(source),
            }
        };
        let mut sink = SizeCounting {
            inner: tar_split::binary::BinaryWriter::new(tx.tar_split_writer()),
            file_sizes: 0,
        };
        let mut reader = tar_split::TarReader::new(input, &mut sink);
        let applied_size = self
            .inner
            .driver
            .apply_diff(cache_id, parent_cache, &mut reader)?;
        let parsed = reader
            .finish()
            .map_err(|e| invalid(format!("malformed tar: {e}"), Box::new(e)))?;
        let file_sizes = sink.file_sizes;
        sink.inner
            .finish()
            .map_err(|e| StoreError::io("recording the tar-split", e))?;
        tx.set_tar_split_file_sizes(file_sizes);
        Ok(Extracted {
            applied_size,
            parsed,
        })
    }

    /// Dedup or commit: the layer becomes visible to everyone with the one metadata commit.
    fn commit_layer(
        &self,
        mut tx: MetadataTransaction,
        cache_id: &str,
        parent: Option<&ChainId>,
        descriptor: Option<Descriptor>,
        extracted: Extracted,
        ingested: &Ingested,
    ) -> Result<Layer> {
        if extracted.parsed != ingested.size {
            tx.cancel();
            let err = StoreError::InvalidLayer {
                parent: parent.map_or_else(|| "none".to_owned(), |p| p.to_string()),
                reason: format!(
                    "the parser consumed {} bytes of a {}-byte stream",
                    extracted.parsed, ingested.size
                ),
                source: None,
            };
            return Err(self.discard(cache_id, err));
        }
        let diff_id = DiffId::from(Digest::from_sha256_bytes(&ingested.sha256));
        let chain_id = chain_id_of(parent, &diff_id);
        if let Some(layer) = self.take_existing(&chain_id) {
            tx.cancel();
            self.discard_quietly(cache_id);
            return Ok(layer);
        }
        if let Err(err) = self.inner.driver.finalize(cache_id) {
            tx.cancel();
            return Err(self.discard(cache_id, err.into()));
        }
        tx.set_diff_id(diff_id);
        tx.set_parent(parent.cloned());
        tx.set_size(extracted.applied_size);
        tx.set_cache_id(cache_id.to_owned());
        tx.set_descriptor(descriptor);
        let mut state = self.inner.state.lock();
        if let Some(entry) = state.layers.get_mut(&chain_id) {
            // Another thread registered the same chain while this one extracted.
            entry.refs += 1;
            let layer = Layer::new(self.clone(), &entry.record);
            drop(state);
            tx.cancel();
            self.discard_quietly(cache_id);
            return Ok(layer);
        }
        if let Err(err) = tx.commit(&chain_id) {
            drop(state);
            return Err(self.discard(cache_id, err.into()));
        }
        let record = match self.inner.meta.layer(&chain_id) {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Err(StoreError::Corrupt {
                    chain_id,
                    reason: "the committed record cannot be read back".to_owned(),
                })
            }
            Err(err) => return Err(err.into()),
        };
        let depth = match parent.and_then(|p| state.layers.get_mut(p)) {
            Some(p) => {
                p.children += 1;
                p.depth + 1
            }
            None => 1,
        };
        let layer = Layer::new(self.clone(), &record);
        state.layers.insert(
            chain_id,
            LayerEntry {
                record,
                refs: 1,
                children: 0,
                depth,
            },
        );
        Ok(layer)
    }

    /// A new reference to `chain_id` if the store has it.
    fn take_existing(&self, chain_id: &ChainId) -> Option<Layer> {
        let mut state = self.inner.state.lock();
        let entry = state.layers.get_mut(chain_id)?;
        entry.refs += 1;
        Some(Layer::new(self.clone(), &entry.record))
    }

    /// Removes a staged layer after a failure, keeping both errors if that fails too.
    fn discard(&self, cache_id: &str, err: StoreError) -> StoreError {
        let cleanup = self.try_discard(cache_id).err();
        err.with_cleanup(cleanup)
    }

    /// Removes a duplicate's staged directory; a failure leaves a pending record that the next
    /// open rolls back, so it is not the caller's problem.
    fn discard_quietly(&self, cache_id: &str) {
        let _ = self.try_discard(cache_id);
    }

    fn try_discard(&self, cache_id: &str) -> Result<()> {
        self.inner.driver.remove(cache_id)?;
        self.inner.meta.clear_pending(cache_id)?;
        Ok(())
    }
}
