//! A gzip writer that compresses on a thread of its own, so that a disassembler's parsing and
//! checksumming on one core overlap with deflate on the other (deflate at the default level
//! costs about as much as everything else when an archive holds many small files).

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Bytes gathered before a block is handed to the compressing thread.
const BLOCK: usize = 256 * 1024;
/// Blocks in flight: bounds the memory held between the two threads to about `DEPTH * BLOCK`.
const DEPTH: usize = 4;

/// A [`Write`] that gzip-compresses what it is given on a background thread into `W` (one gzip
/// member, as [`GzEncoder`] writes it). Call [`ParallelGzip::finish`] to end the
/// stream and get `W` back; dropping it instead stops the thread and loses the output's end.
pub struct ParallelGzip<W: Write + Send + 'static> {
    block: Vec<u8>,
    to_worker: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for ParallelGzip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzip")
            .field("buffered", &self.block.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> ParallelGzip<W> {
    /// Starts the compressing thread, writing into `out` at `level`.
    pub fn new(out: W, level: Compression) -> io::Result<Self> {
        let (to_worker, blocks) = sync_channel::<Vec<u8>>(DEPTH);
        let (give_back, spare) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let worker = std::thread::Builder::new()
            .name("tar-split-gzip".into())
            .spawn(move || {
                let mut enc = GzEncoder::new(out, level);
                for mut block in blocks {
                    enc.write_all(&block)?;
                    block.clear();
                    // Recycle the buffer; when the writer is gone or has enough, drop it.
                    let _ = give_back.try_send(block);
                }
                enc.finish()
            })?;
        Ok(ParallelGzip {
            block: Vec::with_capacity(BLOCK),
            to_worker: Some(to_worker),
            spare,
            worker: Some(worker),
        })
    }

    fn send_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let full = std::mem::replace(&mut self.block, next);
        let sent = match &self.to_worker {
            Some(tx) => tx.send(full).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped early: its result says why.
            Err(self.join().err().unwrap_or_else(|| {
                io::Error::other("the gzip thread stopped before the end of the stream")
            }))
        }
    }

    fn join(&mut self) -> io::Result<W> {
        self.to_worker = None;
        match self.worker.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the gzip thread panicked"))),
            None => Err(io::Error::other("the gzip stream was already finished")),
        }
    }

    /// Compresses what is left, writes the gzip trailer, and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.send_block()?;
        self.join()
    }
}

impl<W: Write + Send + 'static> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.block.len();
        let n = buf.len().min(room);
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() >= BLOCK {
            self.send_block()?;
        }
        Ok(n)
    }

    /// Hands the buffered bytes to the compressing thread (it does not wait for them to reach
    /// the output: only [`ParallelGzip::finish`] does).
    fn flush(&mut self) -> io::Result<()> {
        self.send_block()
    }
}

impl<W: Write + Send + 'static> Drop for ParallelGzip<W> {
    fn drop(&mut self) {
        // Closing the channel ends the thread; its result is of no use any more.
        self.to_worker = None;
        if let Some(handle) = self.worker.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn decompresses_to_the_input() {
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        let mut p = ParallelGzip::new(Vec::new(), Compression::default()).unwrap();
        for chunk in data.chunks(70_001) {
            p.write_all(chunk).unwrap();
        }
        let got = p.finish().unwrap();
        assert_eq!(&got[..3], &[0x1f, 0x8b, 8]);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&got[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "round trip differs");
    }

    #[test]
    fn output_errors_come_back() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut p = ParallelGzip::new(Broken, Compression::fast()).unwrap();
        let data = vec![7u8; 4 * BLOCK];
        let res = p.write_all(&data).and_then(|()| p.finish().map(drop));
        assert_eq!(res.unwrap_err().to_string(), "disk full");
    }
}
