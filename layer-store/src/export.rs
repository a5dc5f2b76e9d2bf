//! Export: a layer's tar put back together from its tar-split and the driver's files, hashed as
//! it streams and verified against the DiffID.
//!
//! A background thread assembles (reading files, checking each one's size and CRC-64) while the
//! caller's thread hashes and copies: the two cores share the work. The last chunk of the stream
//! is held back until the whole stream has verified, so a consumer never receives a complete tar
//! whose content does not match its DiffID.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use metadata::{ChainId, DiffId};
use sha2::{Digest as _, Sha256};
use tar_split::Entry;

use crate::error::{Result, StoreError};
use crate::layer::LayerInfo;
use crate::Store;

const CHUNK: usize = 1 << 20;
const DEPTH: usize = 4;
/// Bytes after a layer's last member (end-of-archive blocks, record padding, trailing data) that
/// `tar_stream_from` is willing to hold back to cut them out.
const MAX_TAIL: u64 = 16 << 20;

enum Message {
    Data(Vec<u8>),
    Failed(StoreError),
}

/// One layer's part of an export.
struct Part {
    chain_id: ChainId,
    diff_id: DiffId,
    cache_id: String,
    /// `None`: the whole stream. `Some(n)`: the last `n` bytes are the archive's end (after the
    /// last member's data), to be cut at the next 512-byte boundary.
    tail: Option<u64>,
}

/// A verified tar stream of one layer or of a chain of layers. Read it to the end: only a read
/// that returns 0 means the content verified.
pub struct TarStream {
    chunks: Receiver<Message>,
    held: Option<Vec<u8>>,
    out: Vec<u8>,
    pos: usize,
    finished: bool,
    failed: bool,
}

impl std::fmt::Debug for TarStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarStream").finish_non_exhaustive()
    }
}

impl TarStream {
    pub(crate) fn open(
        store: &Store,
        chain_id: &ChainId,
        diff_id: &DiffId,
        cache_id: &str,
    ) -> Result<TarStream> {
        let part = Part {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            cache_id: cache_id.to_owned(),
            tail: None,
        };
        Ok(Self::spawn(store.clone(), vec![part]))
    }

    pub(crate) fn open_chain(store: &Store, chain: Vec<LayerInfo>) -> Result<TarStream> {
        let last = chain.len().saturating_sub(1);
        let mut parts = Vec::with_capacity(chain.len());
        for (i, info) in chain.into_iter().enumerate() {
            let tail = if i == last {
                None
            } else {
                let tail = tail_len(store, &info.chain_id)?;
                if tail > MAX_TAIL {
                    return Err(StoreError::NotSupported(format!(
                        "layer {} ends with {tail} bytes after its last member; \
                         joining it with others would hold them all in memory",
                        info.chain_id
                    )));
                }
                Some(tail)
            };
            parts.push(Part {
                chain_id: info.chain_id,
                diff_id: info.diff_id,
                cache_id: info.cache_id,
                tail,
            });
        }
        Ok(Self::spawn(store.clone(), parts))
    }

    fn spawn(store: Store, parts: Vec<Part>) -> TarStream {
        let (tx, rx) = sync_channel(DEPTH);
        std::thread::spawn(move || {
            let mut sender = ChunkSender {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = parts
                .iter()
                .try_for_each(|part| assemble_part(&store, part, &mut sender))
                .and_then(|()| sender.flush_chunk());
            // Let go of the store before the reader can see the end of the stream, so a caller
            // that closes the store after reading finds it closed.
            drop(store);
            if let Err(err) = result {
                let _ = tx.send(Message::Failed(err));
            }
        });
        TarStream {
            chunks: rx,
            held: None,
            out: Vec::new(),
            pos: 0,
            finished: false,
            failed: false,
        }
    }
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.failed {
                return Err(io::Error::other("the export failed earlier"));
            }
            match self.chunks.recv() {
                Ok(Message::Data(chunk)) => {
                    if let Some(prev) = self.held.replace(chunk) {
                        self.out = prev;
                        self.pos = 0;
                    }
                }
                Ok(Message::Failed(err)) => {
                    self.failed = true;
                    return Err(io::Error::other(err));
                }
                Err(_) => {
                    // The producer finished and every part verified.
                    self.finished = true;
                    self.out = self.held.take().unwrap_or_default();
                    self.pos = 0;
                }
            }
        }
    }
}

/// Sends the bytes written to it in chunks of `CHUNK` bytes.
struct ChunkSender {
    tx: SyncSender<Message>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn flush_chunk(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(Message::Data(chunk)).map_err(|_| {
            StoreError::io(
                "export",
                io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"),
            )
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush_chunk().map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes everything written and forwards all of it, or all but the archive's end.
struct PartWriter<'a> {
    out: &'a mut ChunkSender,
    hasher: Sha256,
    written: u64,
    /// With a tail to cut: the bytes held back (at most the tail's length).
    holdback: Option<(u64, Vec<u8>)>,
}

impl Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.written += data.len() as u64;
        match &mut self.holdback {
            None => self.out.write_all(data)?,
            Some((tail, held)) => {
                held.extend_from_slice(data);
                let tail = *tail as usize;
                if held.len() > tail {
                    let release = held.len() - tail;
                    self.out.write_all(&held[..release])?;
                    held.drain(..release);
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn entries(
    store: &Store,
    chain_id: &ChainId,
) -> Result<tar_split::binary::BinaryReader<metadata::TarSplitReader>> {
    let reader = store.inner.meta.tar_split(chain_id)?;
    Ok(tar_split::binary::BinaryReader::new(reader))
}

/// Bytes of the layer's stream after its last file entry: the archive's end, plus the last
/// member's padding, which the caller keeps by cutting at the next 512-byte boundary.
fn tail_len(store: &Store, chain_id: &ChainId) -> Result<u64> {
    let mut tail = 0u64;
    for entry in entries(store, chain_id)? {
        match entry.map_err(|e| StoreError::Corrupt {
            chain_id: chain_id.clone(),
            reason: format!("stored tar-split does not decode: {e}"),
        })? {
            Entry::Segment(bytes) => tail += bytes.len() as u64,
            Entry::File(_) => tail = 0,
        }
    }
    Ok(tail)
}

fn assemble_part(store: &Store, part: &Part, out: &mut ChunkSender) -> Result<()> {
    let corrupt = |reason: String| StoreError::Corrupt {
        chain_id: part.chain_id.clone(),
        reason,
    };
    let getter = store.inner.driver.file_getter(&part.cache_id)?;
    let mut writer = PartWriter {
        out,
        hasher: Sha256::new(),
        written: 0,
        holdback: part.tail.map(|t| (t, Vec::new())),
    };
    tar_split::assemble(entries(store, &part.chain_id)?, getter, &mut writer)
        .map_err(|e| corrupt(e.to_string()))?;
    let digest = metadata::Digest::from_sha256_bytes(&writer.hasher.finalize_reset().into());
    if digest != *part.diff_id.digest() {
        return Err(corrupt(format!(
            "the reassembled tar has digest {digest}, not its DiffID {}",
            part.diff_id
        )));
    }
    if let Some((tail, held)) = writer.holdback.take() {
        // Keep the last member's padding: up to the next 512-byte boundary after its data.
        let members_end = writer.written - tail;
        let keep = (members_end.next_multiple_of(512) - members_end) as usize;
        writer
            .out
            .write_all(&held[..keep.min(held.len())])
            .map_err(|e| StoreError::io("export", e))?;
    }
    Ok(())
}
