//! [`MetadataTransaction`]: everything about one new layer, gathered without any lock and
//! written in one redb commit.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use redb::ReadableTable;
use sha2::{Digest as _, Sha256};

use crate::descriptor::Descriptor;
use crate::error::Error;
use crate::id::{ChainId, DiffId, Digest};
use crate::record::{LayerRecord, LayerState, TarSplitInfo};
use crate::shared::{RedbContext, Shared};
use crate::store::now_unix_nanos;
use crate::tables::{LAYERS, PENDING, TAR_SPLIT};

/// zstd level for tar-split chunks: tar headers compress well already at the fast levels.
const ZSTD_LEVEL: i32 = 3;
/// Buffer between the compressor and the spool file.
const SPOOL_BUFFER: usize = 256 << 10;

/// The record of one new layer, filled by setters and a streaming tar-split writer on any
/// thread, then committed whole (or dropped, which records nothing).
///
/// It takes no lock until [`Self::commit`], so many may be open and streaming at once.
pub struct MetadataTransaction {
    shared: Arc<Shared>,
    diff_id: Option<DiffId>,
    parent: Option<ChainId>,
    size: u64,
    cache_id: Option<String>,
    descriptor: Option<Descriptor>,
    file_sizes: u64,
    writer: TarSplitWriter,
}

impl std::fmt::Debug for MetadataTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataTransaction")
            .field("diff_id", &self.diff_id)
            .field("parent", &self.parent)
            .field("cache_id", &self.cache_id)
            .field("tar_split_bytes", &self.writer.raw_bytes)
            .finish_non_exhaustive()
    }
}

impl MetadataTransaction {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let writer = TarSplitWriter::new(shared.tmp_dir.clone(), shared.chunk_size);
        MetadataTransaction {
            shared,
            diff_id: None,
            parent: None,
            size: 0,
            cache_id: None,
            descriptor: None,
            file_sizes: 0,
            writer,
        }
    }

    /// Sets the layer's DiffID (required).
    pub fn set_diff_id(&mut self, d: DiffId) {
        self.diff_id = Some(d);
    }

    /// Sets the layer below (`None`, the default, for a base layer).
    pub fn set_parent(&mut self, p: Option<ChainId>) {
        self.parent = p;
    }

    /// Sets the layer's own content size.
    pub fn set_size(&mut self, s: u64) {
        self.size = s;
    }

    /// Sets the driver's directory name for the layer (required).
    pub fn set_cache_id(&mut self, c: String) {
        self.cache_id = Some(c);
    }

    /// Sets the OCI descriptor the layer was registered with.
    pub fn set_descriptor(&mut self, d: Option<Descriptor>) {
        self.descriptor = d;
    }

    /// Sets the sum of the file sizes the tar-split data records (kept for fsck).
    pub fn set_tar_split_file_sizes(&mut self, total: u64) {
        self.file_sizes = total;
    }

    /// Where to write the layer's raw tar-split bytes. They are compressed in chunks as they
    /// come and spooled to an anonymous file in the store's tmp directory, so memory stays
    /// bounded by one chunk whatever the layer's size.
    pub fn tar_split_writer(&mut self) -> &mut TarSplitWriter {
        &mut self.writer
    }

    /// Records the layer as `id` in one durable redb write transaction: the record (state
    /// [`LayerState::Committed`]), its tar-split chunks, and the removal of the pending record
    /// of its cache-ID. Only this takes the database's write lock, and holds it only while the
    /// already compressed chunks are copied in.
    ///
    /// Fails, recording nothing, with [`Error::AlreadyExists`] if `id` is taken,
    /// [`Error::NotFound`] if the parent is not recorded, and [`Error::Invalid`] if the DiffID
    /// or cache-ID is missing, or `id` is not the ChainID of the parent and DiffID.
    pub fn commit(self, id: &ChainId) -> Result<(), Error> {
        let shared = Arc::clone(&self.shared);
        let prepared = self.prepare(id)?;
        commit_records(&shared, vec![prepared])
    }

    /// Checks the transaction and finishes its tar-split stream: everything before the lock.
    fn prepare(self, id: &ChainId) -> Result<(LayerRecord, Spooled), Error> {
        let invalid = |reason: String| Error::Invalid {
            what: format!("transaction for layer {id}"),
            reason,
        };
        let diff_id = self
            .diff_id
            .ok_or_else(|| invalid("no DiffID set".into()))?;
        let cache_id = self
            .cache_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid("no cache-ID set".into()))?;
        let expected = ChainId::new(self.parent.as_ref(), &diff_id);
        if &expected != id {
            return Err(invalid(format!(
                "the ChainID of DiffID {diff_id} over parent {} is {expected}",
                self.parent
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), ChainId::to_string)
            )));
        }
        let spooled = self
            .writer
            .finish()
            .map_err(|e| Error::io(format!("spooling tar-split data of layer {id}"), e))?;
        let record = LayerRecord {
            chain_id: id.clone(),
            diff_id,
            parent: self.parent,
            size: self.size,
            cache_id,
            descriptor: self.descriptor,
            created_unix_nanos: now_unix_nanos(),
            state: LayerState::Committed,
            tar_split: TarSplitInfo {
                chunks: spooled.chunk_count(),
                stored_bytes: spooled.stored_bytes,
                raw_bytes: spooled.raw_bytes,
                sha256: spooled.sha256.clone(),
                file_sizes: self.file_sizes,
            },
        };
        Ok((record, spooled))
    }

    /// Drops the transaction: nothing is recorded and its spool is freed. Dropping it without a
    /// commit does the same.
    pub fn cancel(self) {}
}

/// Commits several transactions as one, all or nothing (see
/// [`crate::MetadataStore::commit_batch`]).
pub(crate) fn commit_batch(
    shared: &Arc<Shared>,
    txns: Vec<(MetadataTransaction, ChainId)>,
) -> Result<(), Error> {
    let mut prepared = Vec::with_capacity(txns.len());
    for (t, id) in txns {
        if !Arc::ptr_eq(&t.shared, shared) {
            return Err(Error::Invalid {
                what: format!("transaction for layer {id}"),
                reason: "it was begun on another store".into(),
            });
        }
        prepared.push(t.prepare(&id)?);
    }
    commit_records(shared, prepared)
}

/// One write transaction recording every layer of `batch`, in order (a layer may stand on one
/// earlier in the batch).
fn commit_records(sh: &Shared, batch: Vec<(LayerRecord, Spooled)>) -> Result<(), Error> {
    let op = match batch.as_slice() {
        [(r, _)] => format!("committing layer {}", r.chain_id),
        _ => format!("committing {} layers", batch.len()),
    };
    let op = op.as_str();
    sh.write(op, |w| {
        let mut layers = w.open_table(LAYERS).ctx(sh, op)?;
        let mut chunks = w.open_table(TAR_SPLIT).ctx(sh, op)?;
        let mut pending = w.open_table(PENDING).ctx(sh, op)?;
        let mut buf = Vec::new();
        for (record, mut spooled) in batch {
            let id = record.chain_id.as_str();
            if layers.get(id).ctx(sh, op)?.is_some() {
                return Err(Error::AlreadyExists {
                    chain: record.chain_id.clone(),
                });
            }
            if let Some(parent) = &record.parent {
                check_parent(sh, op, &layers, parent, id)?;
            }
            layers.insert(id, record.encode().as_slice()).ctx(sh, op)?;

            // Chunks without a record can only be debris; never let them join this layer's data.
            chunks
                .retain_in((id, 0u32)..=(id, u32::MAX), |_, _| false)
                .ctx(sh, op)?;
            let mut n = 0u32;
            while let Some(chunk) = spooled.next_chunk(&mut buf).map_err(|err| {
                Error::io(format!("reading the tar-split spool of layer {id}"), err)
            })? {
                chunks.insert((id, n), chunk).ctx(sh, op)?;
                n += 1;
            }
            pending.remove(record.cache_id.as_str()).ctx(sh, op)?;
        }
        Ok(())
    })
}

/// A new layer's parent must be recorded, and not on its way out.
fn check_parent(
    sh: &Shared,
    op: &str,
    layers: &redb::Table<&str, &[u8]>,
    parent: &ChainId,
    id: &str,
) -> Result<(), Error> {
    let p = parent.as_str();
    let state = match layers.get(p).ctx(sh, op)? {
        None => {
            return Err(Error::NotFound {
                what: format!("parent layer {p} of layer {id}"),
            })
        }
        Some(v) => {
            LayerRecord::decode(p, v.value())
                .map_err(|reason| sh.corrupt(format_args!("layer record {p}"), reason))?
                .state
        }
    };
    match state {
        LayerState::Committed => Ok(()),
        LayerState::Removing => Err(Error::Invalid {
            what: format!("transaction for layer {id}"),
            reason: format!("its parent {p} is being removed"),
        }),
    }
}

/// The streaming sink for a layer's raw tar-split bytes (see
/// [`MetadataTransaction::tar_split_writer`]). Write errors are sticky: after one, the
/// transaction cannot commit.
pub struct TarSplitWriter {
    tmp_dir: PathBuf,
    chunk_size: usize,
    /// Raw bytes of the chunk being filled.
    buf: Vec<u8>,
    /// Full chunks, compressed; created at the first full chunk, so a small layer never
    /// touches the disk.
    spool: Option<BufWriter<File>>,
    /// Compressed length of each chunk in the spool, in order.
    spooled_lens: Vec<u32>,
    hasher: Sha256,
    raw_bytes: u64,
    stored_bytes: u64,
    failed: Option<String>,
}

thread_local! {
    /// One compressor per thread, reused: creating a zstd context costs more than compressing
    /// a small layer's tar-split data.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

impl std::fmt::Debug for TarSplitWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarSplitWriter")
            .field("raw_bytes", &self.raw_bytes)
            .field("chunks", &(self.spooled_lens.len()))
            .finish_non_exhaustive()
    }
}

impl TarSplitWriter {
    fn new(tmp_dir: PathBuf, chunk_size: usize) -> Self {
        TarSplitWriter {
            tmp_dir,
            chunk_size,
            buf: Vec::new(),
            spool: None,
            spooled_lens: Vec::new(),
            hasher: Sha256::new(),
            raw_bytes: 0,
            stored_bytes: 0,
            failed: None,
        }
    }

    /// Raw bytes written so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    fn compress(&mut self) -> io::Result<Vec<u8>> {
        let out = COMPRESSOR.with(|cell| -> io::Result<Vec<u8>> {
            let mut slot = cell.try_borrow_mut().map_err(io::Error::other)?;
            let c = match &mut *slot {
                Some(c) => c,
                None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
            };
            c.compress(&self.buf)
        })?;
        self.buf.clear();
        self.stored_bytes += out.len() as u64;
        Ok(out)
    }

    /// Compresses the full chunk in `buf` and appends it to the spool.
    fn spill(&mut self) -> io::Result<()> {
        let chunk = self.compress()?;
        let len = u32::try_from(chunk.len())
            .map_err(|_| io::Error::other("compressed chunk larger than 4 GiB"))?;
        let spool = match &mut self.spool {
            Some(s) => s,
            None => {
                let file = tempfile::tempfile_in(&self.tmp_dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("creating a spool file in {}: {e}", self.tmp_dir.display()),
                    )
                })?;
                self.spool
                    .insert(BufWriter::with_capacity(SPOOL_BUFFER, file))
            }
        };
        spool.write_all(&chunk)?;
        self.spooled_lens.push(len);
        Ok(())
    }

    fn write_inner(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.chunk_size);
            }
            let n = (self.chunk_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            self.hasher.update(&data[..n]);
            self.raw_bytes += n as u64;
            data = &data[n..];
            if self.buf.len() == self.chunk_size {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Compresses the last chunk and rewinds the spool for reading.
    fn finish(mut self) -> io::Result<Spooled> {
        if let Some(f) = self.failed.take() {
            return Err(io::Error::other(format!("an earlier write failed: {f}")));
        }
        let last = if self.buf.is_empty() {
            None
        } else {
            Some(self.compress()?)
        };
        let spool = match self.spool.take() {
            None => None,
            Some(w) => {
                let mut file = w.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                Some(BufReader::with_capacity(SPOOL_BUFFER, file))
            }
        };
        Ok(Spooled {
            spool,
            lens: std::mem::take(&mut self.spooled_lens).into_iter(),
            last,
            raw_bytes: self.raw_bytes,
            stored_bytes: self.stored_bytes,
            sha256: Digest::from_sha256_bytes(&self.hasher.finalize_reset().into()),
        })
    }
}

impl Write for TarSplitWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(io::Error::other(format!("an earlier write failed: {f}")));
        }
        match self.write_inner(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A finished tar-split stream: compressed chunks in the spool, then the last one in memory.
struct Spooled {
    spool: Option<BufReader<File>>,
    lens: std::vec::IntoIter<u32>,
    last: Option<Vec<u8>>,
    raw_bytes: u64,
    stored_bytes: u64,
    sha256: Digest,
}

impl Spooled {
    fn chunk_count(&self) -> u32 {
        // At most 4 Gi chunks of at least 512 bytes: beyond what any layer's tar-split reaches.
        u32::try_from(self.lens.len() + usize::from(self.last.is_some())).unwrap_or(u32::MAX)
    }

    /// The next compressed chunk, read into `buf` when it comes from the spool.
    fn next_chunk<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> io::Result<Option<&'a [u8]>> {
        if let Some(len) = self.lens.next() {
            let spool = self
                .spool
                .as_mut()
                .ok_or_else(|| io::Error::other("spool missing"))?;
            buf.resize(len as usize, 0);
            spool.read_exact(buf)?;
            return Ok(Some(buf.as_slice()));
        }
        Ok(self.last.take().map(|last| {
            *buf = last;
            buf.as_slice()
        }))
    }
}
