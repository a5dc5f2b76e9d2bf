//! A compact encoding of tar-split entries, for the store's own database: the same entries as the
//! Go JSON form, without the base64 and JSON overhead. Convert to JSON with
//! [`JsonWriter`](crate::json::JsonWriter) when a Go-format copy is needed; the round trip is
//! lossless (equal [`Entry`] values).
//!
//! Layout: one version byte ([`VERSION`]), then records, then an end record, so that a truncated
//! stream is detected. Integers are LEB128 varints.
//!
//! ```text
//! 0x01 len:varint bytes[len]                          segment
//! 0x02 name_len:varint name[name_len] size:varint     file without checksum
//! 0x03 name_len:varint name[name_len] size:varint crc:u64 big-endian
//!                                                     file with its CRC-64/GO-ISO
//! 0x00                                                end of the entries
//! ```
//!
//! Changing the layout means a new version byte: readers refuse versions they do not know, and
//! stored metadata written with an old version must stay readable.

use std::io::{self, BufReader, Read, Write};

use crate::{Entry, EntrySink, FileEntry};

/// The layout version this module writes (the first byte of every encoding).
pub const VERSION: u8 = 1;

const TAG_END: u8 = 0x00;
const TAG_SEGMENT: u8 = 0x01;
const TAG_FILE: u8 = 0x02;
const TAG_FILE_CRC: u8 = 0x03;
const FLUSH_AT: usize = 64 * 1024;

/// Size caps of a [`BinaryReader`]: a record claiming more is refused before it is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryLimits {
    /// Largest segment, in bytes (default 17 MiB, as
    /// [`JsonLimits::max_segment`](crate::json::JsonLimits::max_segment)).
    pub max_segment: usize,
    /// Largest file name, in bytes (default 1 MiB).
    pub max_name: usize,
}

impl Default for BinaryLimits {
    fn default() -> Self {
        let json = crate::json::JsonLimits::default();
        BinaryLimits {
            max_segment: json.max_segment,
            max_name: json.max_name,
        }
    }
}

/// An error reading the binary encoding. `offset` is the byte offset in the encoding.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    /// The underlying reader failed.
    #[error("reading binary tar-split metadata at byte {offset}: {source}")]
    Io {
        /// Bytes consumed before the failure.
        offset: u64,
        /// The cause.
        source: io::Error,
    },
    /// The input ends before the end record (or is empty).
    #[error("binary tar-split metadata is truncated at byte {offset}")]
    Truncated {
        /// Where the input ended.
        offset: u64,
    },
    /// The version byte is not one this reader knows.
    #[error("binary tar-split metadata has unknown version {found} (this reader knows {VERSION})")]
    Version {
        /// The version byte found.
        found: u8,
    },
    /// A record starts with an unknown tag.
    #[error("binary tar-split metadata: unknown record tag 0x{tag:02x} at byte {offset}")]
    UnknownTag {
        /// Where the record starts.
        offset: u64,
        /// The tag found.
        tag: u8,
    },
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("binary tar-split metadata: invalid varint at byte {offset}")]
    Varint {
        /// Where the varint starts.
        offset: u64,
    },
    /// A record claims a length above the reader's [`BinaryLimits`].
    #[error("binary tar-split metadata: {field} of {len} bytes at byte {offset} exceeds the limit of {limit}")]
    TooLarge {
        /// Where the length was read.
        offset: u64,
        /// Which length.
        field: &'static str,
        /// The length claimed.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// Bytes follow the end record.
    #[error("binary tar-split metadata: unexpected data after the end record at byte {offset}")]
    TrailingData {
        /// Where the extra data starts.
        offset: u64,
    },
}

/// An [`EntrySink`] writing the binary encoding. Call [`BinaryWriter::finish`] at the end: it
/// writes the end record and the buffered bytes.
#[derive(Debug)]
pub struct BinaryWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> BinaryWriter<W> {
    /// A writer into `out`; the version byte is written first.
    pub fn new(out: W) -> Self {
        let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
        buf.push(VERSION);
        BinaryWriter { out, buf }
    }

    /// Writes the end record and everything buffered, flushes the output and returns it.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(TAG_END);
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn maybe_drain(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: Write> EntrySink for BinaryWriter<W> {
    fn segment(&mut self, raw: &[u8]) -> io::Result<()> {
        self.buf.push(TAG_SEGMENT);
        push_varint(&mut self.buf, raw.len() as u64);
        if raw.len() >= FLUSH_AT {
            // Big segments (trailing data chunks) go straight through, not via the buffer.
            self.out.write_all(&self.buf)?;
            self.buf.clear();
            return self.out.write_all(raw);
        }
        self.buf.extend_from_slice(raw);
        self.maybe_drain()
    }

    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> io::Result<()> {
        self.buf.push(if crc.is_some() {
            TAG_FILE_CRC
        } else {
            TAG_FILE
        });
        push_varint(&mut self.buf, name.len() as u64);
        self.buf.extend_from_slice(name);
        push_varint(&mut self.buf, size);
        if let Some(crc) = crc {
            self.buf.extend_from_slice(&crc.to_be_bytes());
        }
        self.maybe_drain()
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads the binary encoding back: an [`Iterator`] of entries in stream order. It checks the
/// version byte, refuses lengths above its [`BinaryLimits`], requires the end record, and ends
/// after the first error.
#[derive(Debug)]
pub struct BinaryReader<R: Read> {
    input: BufReader<R>,
    offset: u64,
    limits: BinaryLimits,
    started: bool,
    done: bool,
}

impl<R: Read> BinaryReader<R> {
    /// A reader of `input` with the default limits.
    pub fn new(input: R) -> Self {
        Self::with_limits(input, BinaryLimits::default())
    }

    /// A reader of `input` with the given limits.
    pub fn with_limits(input: R, limits: BinaryLimits) -> Self {
        BinaryReader {
            input: BufReader::with_capacity(FLUSH_AT, input),
            offset: 0,
            limits,
            started: false,
            done: false,
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BinaryError> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(BinaryError::Truncated {
                offset: self.offset,
            }),
            Err(source) => Err(BinaryError::Io {
                offset: self.offset,
                source,
            }),
        }
    }

    fn byte(&mut self) -> Result<u8, BinaryError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, BinaryError> {
        let start = self.offset;
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(BinaryError::Varint { offset: start });
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BinaryError::Varint { offset: start })
    }

    fn bytes(&mut self, field: &'static str, limit: usize) -> Result<Vec<u8>, BinaryError> {
        let offset = self.offset;
        let len = self.varint()?;
        if len > limit as u64 {
            return Err(BinaryError::TooLarge {
                offset,
                field,
                len,
                limit,
            });
        }
        let mut v = vec![0u8; len as usize];
        self.exact(&mut v)?;
        Ok(v)
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, BinaryError> {
        if !self.started {
            self.started = true;
            let v = self.byte()?;
            if v != VERSION {
                return Err(BinaryError::Version { found: v });
            }
        }
        let at = self.offset;
        match self.byte()? {
            TAG_END => {
                let mut probe = [0u8; 1];
                match self.input.read(&mut probe) {
                    Ok(0) => Ok(None),
                    Ok(_) => Err(BinaryError::TrailingData {
                        offset: self.offset,
                    }),
                    Err(source) => Err(BinaryError::Io {
                        offset: self.offset,
                        source,
                    }),
                }
            }
            TAG_SEGMENT => Ok(Some(Entry::Segment(
                self.bytes("segment", self.limits.max_segment)?,
            ))),
            tag @ (TAG_FILE | TAG_FILE_CRC) => {
                let name = self.bytes("name", self.limits.max_name)?;
                let size = self.varint()?;
                let crc = if tag == TAG_FILE_CRC {
                    let mut b = [0u8; 8];
                    self.exact(&mut b)?;
                    Some(u64::from_be_bytes(b))
                } else {
                    None
                };
                Ok(Some(Entry::File(FileEntry { name, size, crc })))
            }
            tag => Err(BinaryError::UnknownTag { offset: at, tag }),
        }
    }
}

impl<R: Read> Iterator for BinaryReader<R> {
    type Item = Result<Entry, BinaryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let res = self.next_entry();
        match res {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for BinaryReader<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::Segment(vec![1, 2, 3]),
            Entry::File(FileEntry {
                name: b"./a".to_vec(),
                size: 6,
                crc: Some(0x614c3eeee2d81000),
            }),
            Entry::File(FileEntry {
                name: b"dir\xff/".to_vec(),
                size: 0,
                crc: None,
            }),
            Entry::Segment(vec![0; 200_000]),
        ]
    }

    fn encode(entries: &[Entry]) -> Vec<u8> {
        let mut w = BinaryWriter::new(Vec::new());
        for e in entries {
            match e {
                Entry::Segment(s) => w.segment(s).unwrap(),
                Entry::File(f) => w.file(&f.name, f.size, f.crc).unwrap(),
            }
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips() {
        let entries = sample();
        let bytes = encode(&entries);
        let back: Vec<Entry> = BinaryReader::new(&bytes[..]).map(Result::unwrap).collect();
        assert_eq!(back, entries);
    }

    #[test]
    fn empty_stream_is_version_and_end() {
        let bytes = encode(&[]);
        assert_eq!(bytes, [VERSION, TAG_END]);
        assert_eq!(BinaryReader::new(&bytes[..]).count(), 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample()[..3]);
        for cut in 0..bytes.len() {
            let res: Result<Vec<Entry>, _> = BinaryReader::new(&bytes[..cut]).collect();
            assert!(
                matches!(res, Err(BinaryError::Truncated { .. })),
                "cut at {cut}: {res:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_input() {
        let check = |bytes: &[u8], want: fn(&BinaryError) -> bool| {
            let err = BinaryReader::new(bytes)
                .find_map(Result::err)
                .expect("an error");
            assert!(want(&err), "{bytes:?}: {err:?}");
        };
        check(&[9, 0], |e| matches!(e, BinaryError::Version { found: 9 }));
        check(&[VERSION, 7], |e| {
            matches!(e, BinaryError::UnknownTag { tag: 7, .. })
        });
        check(&[VERSION, TAG_END, 0], |e| {
            matches!(e, BinaryError::TrailingData { .. })
        });
        // A segment claiming 2^63 bytes is refused before any allocation.
        let mut huge = vec![VERSION, TAG_SEGMENT];
        push_varint(&mut huge, 1 << 63);
        check(&huge, |e| matches!(e, BinaryError::TooLarge { .. }));
        let overlong = [
            VERSION,
            TAG_SEGMENT,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x7f,
        ];
        check(&overlong, |e| matches!(e, BinaryError::Varint { .. }));
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = vec![VERSION, TAG_FILE, 0];
            push_varint(&mut b, v);
            b.push(TAG_END);
            let got: Vec<Entry> = BinaryReader::new(&b[..]).map(Result::unwrap).collect();
            assert_eq!(
                got,
                vec![Entry::File(FileEntry {
                    name: vec![],
                    size: v,
                    crc: None
                })]
            );
        }
    }
}
