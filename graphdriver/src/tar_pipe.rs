//! A tar written by a worker thread and read as a stream: how a driver hands out a diff without
//! holding it in memory.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::{DriverError, Result};

/// Chunks of tar in flight between the writer thread and the reader: bounds memory to
/// `CHANNEL_DEPTH * CHUNK` bytes whatever the layer's size.
const CHUNK: usize = 256 * 1024;
const CHANNEL_DEPTH: usize = 4;

/// The writing end: buffers a chunk, then hands it to the reader.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::SyncSender<Vec<u8>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the diff reader went away"))
    }
}

/// A reader of a tar that a worker thread writes: memory stays flat whatever the layer's size.
/// A failure of the writer reaches the reader as an error at the end of the data, never as a
/// short tar taken for a whole one.
pub struct TarPipe {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    worker: Option<JoinHandle<Result<()>>>,
}

impl TarPipe {
    /// Starts `write` on a new thread; read the tar it writes from the result.
    pub fn spawn(
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let worker = std::thread::Builder::new()
            .name(format!("diff-{name}"))
            .spawn(move || {
                let mut out = ChunkWriter {
                    buf: Vec::with_capacity(CHUNK),
                    tx,
                };
                write(&mut out)?;
                out.flush().map_err(|source| DriverError::Io {
                    op: "write diff tar",
                    path: PathBuf::new(),
                    source,
                })
            })
            .map_err(|source| DriverError::Io {
                op: "spawn diff thread",
                path: PathBuf::from(name),
                source,
            })?;
        Ok(Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
            worker: Some(worker),
        })
    }
}

impl Read for TarPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                // The writer is done: its result decides between the end and an error.
                Err(_) => {
                    return match self.worker.take().map(JoinHandle::join) {
                        None | Some(Ok(Ok(()))) => Ok(0),
                        Some(Ok(Err(e))) => Err(io::Error::other(e)),
                        Some(Err(_)) => Err(io::Error::other("the diff writer thread panicked")),
                    };
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
