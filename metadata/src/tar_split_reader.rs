//! [`TarSplitReader`]: a layer's stored tar-split stream, decompressed chunk by chunk and
//! verified at its end.

use std::io::{self, Read};
use std::sync::Arc;

use redb::ReadOnlyTable;
use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::id::{ChainId, Digest};
use crate::record::{LayerRecord, TarSplitInfo};
use crate::shared::{RedbContext, Shared};
use crate::store::CHUNK_SIZE_RANGE;
use crate::tables::{LAYERS, TAR_SPLIT};

type ChunkTable = ReadOnlyTable<(&'static str, u32), &'static [u8]>;

/// Reads a layer's raw tar-split bytes (see [`crate::MetadataStore::tar_split`]).
///
/// It reads from the snapshot taken when it was opened, so later commits do not disturb it. At
/// the end of the stream it checks the chunk count, the sizes and the sha256 recorded at commit;
/// a mismatch, a missing chunk or a chunk that does not decompress is an `io::Error` of kind
/// `InvalidData` wrapping [`Error::Corrupt`] (naming the layer and the chunk), returned instead
/// of the end of the stream and again on every later read.
pub struct TarSplitReader {
    shared: Arc<Shared>,
    /// `None` when the layer has no chunks and the table was never created.
    table: Option<ChunkTable>,
    chain: ChainId,
    info: TarSplitInfo,
    next_chunk: u32,
    buf: Vec<u8>,
    pos: usize,
    hasher: Sha256,
    raw_seen: u64,
    stored_seen: u64,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    /// Set once the end was verified, or a failure was found (kept to repeat it).
    end: Option<Result<(), String>>,
}

impl std::fmt::Debug for TarSplitReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarSplitReader")
            .field("chain", &self.chain)
            .field("next_chunk", &self.next_chunk)
            .finish_non_exhaustive()
    }
}

impl TarSplitReader {
    /// Opens layer `id`'s stream: its record and its chunks from one snapshot.
    pub(crate) fn open(shared: Arc<Shared>, id: &ChainId) -> Result<Option<Self>, Error> {
        let sh = &*shared;
        let op = "opening tar-split data";
        let found = sh.read(op, |txn| {
            let Some(layers) = sh.open_ro(txn, LAYERS)? else {
                return Ok(None);
            };
            let Some(v) = layers.get(id.as_str()).ctx(sh, op)? else {
                return Ok(None);
            };
            let rec = LayerRecord::decode(id.as_str(), v.value())
                .map_err(|reason| sh.corrupt(format_args!("layer record {id}"), reason))?;
            Ok(Some((rec, sh.open_ro(txn, TAR_SPLIT)?)))
        })?;
        let Some((rec, table)) = found else {
            return Ok(None);
        };
        Ok(Some(TarSplitReader {
            shared,
            table,
            chain: rec.chain_id,
            info: rec.tar_split,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            hasher: Sha256::new(),
            raw_seen: 0,
            stored_seen: 0,
            decompressor: None,
            end: None,
        }))
    }

    /// What the layer's record says of its tar-split data.
    pub fn info(&self) -> &TarSplitInfo {
        &self.info
    }

    fn corrupt(&self, what: String, reason: String) -> Error {
        self.shared
            .corrupt(format_args!("{what} of layer {}", self.chain), reason)
    }

    /// Loads, decompresses and hashes the next chunk into `buf`.
    fn load_chunk(&mut self) -> Result<(), Error> {
        let n = self.next_chunk;
        let what = format!("tar-split chunk {n}");
        let id = self.chain.as_str();
        let compressed = match &self.table {
            None => None,
            Some(t) => self.shared.contain(|| {
                t.get((id, n))
                    .map(|v| v.map(|v| v.value().to_vec()))
                    .map_err(|e| self.shared.redb("reading tar-split data", e))
            })?,
        };
        let Some(compressed) = compressed else {
            return Err(self.corrupt(
                what,
                format!("missing (the record says {} chunks)", self.info.chunks),
            ));
        };
        let d = match &mut self.decompressor {
            Some(d) => d,
            None => self.decompressor.insert(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| Error::io("creating a zstd decompressor", e))?,
            ),
        };
        let raw = d
            .decompress(&compressed, *CHUNK_SIZE_RANGE.end())
            .map_err(|e| self.corrupt(what, format!("does not decompress: {e}")))?;
        self.stored_seen += compressed.len() as u64;
        self.raw_seen += raw.len() as u64;
        self.hasher.update(&raw);
        self.buf = raw;
        self.pos = 0;
        self.next_chunk += 1;
        Ok(())
    }

    /// Checks what was read against the record, once every chunk is in.
    fn verify_end(&mut self) -> Result<(), Error> {
        let id = self.chain.as_str();
        let n = self.info.chunks;
        let extra = match &self.table {
            None => false,
            Some(t) => self.shared.contain(|| {
                t.get((id, n))
                    .map(|v| v.is_some())
                    .map_err(|e| self.shared.redb("reading tar-split data", e))
            })?,
        };
        let whole = "tar-split data".to_owned();
        if extra {
            return Err(self.corrupt(whole, format!("chunk {n} exists beyond the recorded {n}")));
        }
        if self.raw_seen != self.info.raw_bytes || self.stored_seen != self.info.stored_bytes {
            return Err(self.corrupt(
                whole,
                format!(
                    "{} raw bytes in {} stored, the record says {} in {}",
                    self.raw_seen, self.stored_seen, self.info.raw_bytes, self.info.stored_bytes
                ),
            ));
        }
        let digest = Digest::from_sha256_bytes(&self.hasher.finalize_reset().into());
        if digest != self.info.sha256 {
            return Err(self.corrupt(
                whole,
                format!("sha256 is {digest}, the record says {}", self.info.sha256),
            ));
        }
        Ok(())
    }
}

impl Read for TarSplitReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(end) = &self.end {
                return match end {
                    Ok(()) => Ok(0),
                    Err(msg) => Err(io::Error::new(io::ErrorKind::InvalidData, msg.clone())),
                };
            }
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if out.is_empty() {
                return Ok(0);
            }
            let step = if self.next_chunk < self.info.chunks {
                self.load_chunk()
            } else {
                self.verify_end().map(|()| {
                    self.end = Some(Ok(()));
                })
            };
            if let Err(e) = step {
                // Later reads repeat the message; this one carries the typed error.
                self.end = Some(Err(e.to_string()));
                return Err(e.into_io());
            }
        }
    }
}
