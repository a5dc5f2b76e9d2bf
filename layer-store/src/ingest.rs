//! The input side of register: decompression and hashing on one core, handing the identical
//! uncompressed bytes to the extracting side (the other core) through a small ring of buffers,
//! so memory stays flat whatever the layer's size.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use sha2::{Digest as _, Sha256};

/// Size of one buffer handed from the hashing thread to the extracting thread.
const CHUNK: usize = 1 << 20;
/// Buffers in flight: bounds memory at `CHUNK * (DEPTH + 2)`.
const DEPTH: usize = 4;

/// How the input was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// A plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd.
    Zstd,
}

/// What the hashing side saw of the input.
#[derive(Debug, Clone)]
pub(crate) struct Ingested {
    /// SHA-256 of the uncompressed stream.
    pub sha256: [u8; 32],
    /// Bytes of the uncompressed stream.
    pub size: u64,
    /// How the input was compressed.
    #[cfg_attr(not(test), allow(dead_code))]
    pub compression: Compression,
}

enum Message {
    Data(Vec<u8>),
    Failed(io::Error),
}

/// The consumer's end: a `Read` over the chunks the hashing thread sends.
struct ChunkReader {
    chunks: Receiver<Message>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Message::Data(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    self.pos = 0;
                    // The producer may have stopped; a lost buffer is fine then.
                    let _ = self.recycle.try_send(used);
                }
                Ok(Message::Failed(err)) => {
                    self.done = true;
                    return Err(err);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Reads up to `n` bytes (fewer only at EOF).
fn read_head(input: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.resize(CHUNK, 0);
    let mut filled = 0;
    while filled < CHUNK {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(filled)
}

/// The producer: detects compression, decompresses, hashes and sends chunks until EOF or until the
/// consumer hangs up.
fn produce(
    mut input: &mut dyn Read,
    chunks: SyncSender<Message>,
    recycle: Receiver<Vec<u8>>,
) -> io::Result<Ingested> {
    let head = read_head(&mut input, 4)?;
    let compression = detect(&head);
    let joined = io::Cursor::new(head).chain(input);
    let mut reader: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(joined),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(joined)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(joined)?),
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let mut buf = recycle.try_recv().unwrap_or_default();
        let n = match fill(&mut reader, &mut buf) {
            Ok(n) => n,
            Err(err) => {
                let copy = io::Error::new(err.kind(), err.to_string());
                let _ = chunks.send(Message::Failed(copy));
                return Err(err);
            }
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf);
        size += n as u64;
        if chunks.send(Message::Data(buf)).is_err() {
            // The consumer stopped (it failed); its error is the one reported.
            break;
        }
    }
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(&hasher.finalize());
    Ok(Ingested {
        sha256,
        size,
        compression,
    })
}

/// Runs `consume` over the uncompressed bytes of `input` while another thread decompresses and
/// hashes them. After `consume` returns, any bytes it left unread are drained (and hashed), so
/// the digest is always of the whole input.
pub(crate) fn ingest<R, T, E>(
    mut input: R,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> (Result<T, E>, io::Result<Ingested>)
where
    R: Read + Send,
{
    let (chunk_tx, chunk_rx) = sync_channel::<Message>(DEPTH);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(&mut input, chunk_tx, recycle_rx));
        let mut reader = ChunkReader {
            chunks: chunk_rx,
            recycle: recycle_tx,
            current: Vec::new(),
            pos: 0,
            done: false,
        };
        let consumed = consume(&mut reader);
        if consumed.is_ok() {
            // Hash what the consumer left (bytes after the archive it did not need).
            let _ = io::copy(&mut reader, &mut io::sink());
        }
        drop(reader);
        let ingested = match producer.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the hashing thread panicked")),
        };
        (consumed, ingested)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(data));
        out
    }

    #[test]
    fn passes_identical_bytes_and_hashes_them() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let (got, ingested) = ingest(&data[..], |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        });
        assert_eq!(got.unwrap(), data);
        let ingested = ingested.unwrap();
        assert_eq!(ingested.size, data.len() as u64);
        assert_eq!(ingested.sha256, sha(&data));
        assert_eq!(ingested.compression, Compression::None);
    }

    #[test]
    fn decompresses_gzip_and_zstd_and_hashes_the_plain_bytes() {
        let data = b"not really a tar, but bytes all the same".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        for (input, kind) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let (got, ingested) = ingest(&input[..], |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| v)
            });
            assert_eq!(got.unwrap(), data);
            let ingested = ingested.unwrap();
            assert_eq!(ingested.sha256, sha(&data));
            assert_eq!(ingested.compression, kind);
        }
    }

    #[test]
    fn unread_rest_is_still_hashed() {
        let data = vec![5u8; CHUNK + 3];
        let (got, ingested) = ingest(&data[..], |r| {
            let mut first = [0u8; 10];
            r.read_exact(&mut first).map(|_| first)
        });
        assert_eq!(got.unwrap(), [5u8; 10]);
        assert_eq!(ingested.unwrap().sha256, sha(&data));
    }

    #[test]
    fn a_failing_consumer_stops_the_producer() {
        let data = vec![1u8; 20 * CHUNK];
        let (got, _ingested) = ingest(&data[..], |_r| Err::<(), _>("refused"));
        assert_eq!(got.unwrap_err(), "refused");
    }
}
