//! `--deep`: every layer's tar reassembled from its tar-split and its files, hashed and compared
//! with its DiffID, on `jobs` threads. Each layer is itself a two-stage pipeline (one thread
//! reads files and assembles, the other hashes), as an export is, so a single large layer still
//! uses two cores.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};

use graphdriver::Driver;
use metadata::{ChainId, DiffId, MetadataStore};
use sha2::{Digest as _, Sha256};
use tar_split::binary::BinaryReader;

use super::finding::{codes, Finding, Hint};

/// Bytes handed from the assembling thread to the hashing one at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the two.
const DEPTH: usize = 4;

/// How far a deep check has come; handed to the progress callback after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Layers finished.
    pub layers_done: usize,
    /// Layers to check.
    pub layers_total: usize,
    /// Bytes of tar hashed so far.
    pub bytes_done: u64,
    /// The layers' recorded content sizes added up: an estimate of the bytes to hash (the tar
    /// headers come on top).
    pub bytes_total: u64,
}

/// A progress callback; called from the checking threads.
pub type ProgressFn = dyn Fn(Progress) + Send + Sync;

/// One layer to verify.
#[derive(Debug, Clone)]
pub(crate) struct DeepItem {
    pub chain_id: ChainId,
    pub diff_id: DiffId,
    pub cache_id: String,
    pub size: u64,
}

struct Shared<'a> {
    meta: &'a MetadataStore,
    driver: &'a dyn Driver,
    progress: Option<&'a ProgressFn>,
    layers_total: usize,
    bytes_total: u64,
    layers_done: AtomicUsize,
    bytes_done: AtomicU64,
}

impl Shared<'_> {
    fn report(&self) {
        if let Some(p) = self.progress {
            p(Progress {
                layers_done: self.layers_done.load(Ordering::Relaxed),
                layers_total: self.layers_total,
                bytes_done: self.bytes_done.load(Ordering::Relaxed),
                bytes_total: self.bytes_total,
            });
        }
    }
}

/// What a deep check found and how much it read.
pub(crate) struct DeepOutcome {
    pub findings: Vec<Finding>,
    pub layers: usize,
    pub bytes: u64,
}

/// Verifies every item on `jobs` threads (largest layers first, so that the threads finish
/// together). Findings come back in the items' ChainID order.
pub(crate) fn deep_check(
    meta: &MetadataStore,
    driver: &dyn Driver,
    mut items: Vec<DeepItem>,
    jobs: usize,
    progress: Option<&ProgressFn>,
) -> DeepOutcome {
    items.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| a.chain_id.cmp(&b.chain_id))
    });
    let shared = Shared {
        meta,
        driver,
        progress,
        layers_total: items.len(),
        bytes_total: items.iter().map(|i| i.size).sum(),
        layers_done: AtomicUsize::new(0),
        bytes_done: AtomicU64::new(0),
    };
    let next = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, items.len().max(1));
    let mut results: Vec<(ChainId, Option<Finding>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut found = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let finding = verify(&shared, item).err().map(|reason| {
                            let key = item.chain_id.as_str().to_owned();
                            Finding::new(codes::CONTENT_MISMATCH, &key, reason)
                                .fix(Hint::Damaged { key })
                        });
                        shared.layers_done.fetch_add(1, Ordering::Relaxed);
                        shared.report();
                        found.push((item.chain_id.clone(), finding));
                    }
                    found
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    results.sort_by(|a, b| a.0.cmp(&b.0));
    DeepOutcome {
        layers: results.len(),
        findings: results.into_iter().filter_map(|(_, f)| f).collect(),
        bytes: shared.bytes_done.load(Ordering::Relaxed),
    }
}

/// Reassembles one layer and compares its digest with the DiffID. The error is the reason, naming
/// the first file whose size or CRC-64 differs or that is missing when the assembler found one.
fn verify(shared: &Shared<'_>, item: &DeepItem) -> Result<(), String> {
    let reader = shared
        .meta
        .tar_split(&item.chain_id)
        .map_err(|e| format!("its tar-split data cannot be read: {e}"))?;
    let getter = shared
        .driver
        .file_getter(&item.cache_id)
        .map_err(|e| format!("its files cannot be read: {e}"))?;
    let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
    std::thread::scope(|s| {
        let assembler = s.spawn(move || {
            let mut out = ChunkWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            let entries = BinaryReader::new(reader)
                .map(|e| e.map_err(|e| tar_split::Error::InvalidMetadata(e.to_string())));
            let assembled = tar_split::assemble(entries, getter, &mut out);
            let flushed = out.flush_chunk();
            assembled
                .map(|_| ())
                .map_err(|e| e.to_string())
                .and(flushed.map_err(|e| format!("passing on the reassembled tar: {e}")))
        });
        let mut hasher = Sha256::new();
        for chunk in rx {
            hasher.update(&chunk);
            shared
                .bytes_done
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            shared.report();
        }
        assembler
            .join()
            .map_err(|_| "the assembling thread failed".to_owned())??;
        let digest = metadata::Digest::from_sha256_bytes(&hasher.finalize().into()).to_string();
        if digest == item.diff_id.as_str() {
            Ok(())
        } else {
            Err(format!(
                "the reassembled tar has digest {digest}, not its DiffID {}",
                item.diff_id
            ))
        }
    })
}

/// Passes what is written on in chunks of [`CHUNK`] bytes.
struct ChunkWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the hashing side went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
