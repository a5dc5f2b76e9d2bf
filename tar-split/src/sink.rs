//! Where a disassembler puts the entries it records.

use crate::{Entry, FileEntry};

/// Receives the entries of a stream as it is disassembled, in stream order.
///
/// Implementations encode them (Go JSON, the compact binary form) or keep them; an error stops the
/// disassembly and is handed back to its caller.
pub trait EntrySink {
    /// Records raw bytes of the stream. Never called with an empty slice.
    fn segment(&mut self, raw: &[u8]) -> std::io::Result<()>;
    /// Records a member whose payload is kept outside the metadata.
    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> std::io::Result<()>;
}

/// A sink that drops everything: for parsing a tar without recording it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EntrySink for NullSink {
    fn segment(&mut self, _raw: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn file(&mut self, _name: &[u8], _size: u64, _crc: Option<u64>) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps every entry in memory: for tests and small archives.
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    /// The entries recorded so far, in stream order.
    pub entries: Vec<Entry>,
}

impl EntrySink for VecSink {
    fn segment(&mut self, raw: &[u8]) -> std::io::Result<()> {
        self.entries.push(Entry::Segment(raw.to_vec()));
        Ok(())
    }
    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> std::io::Result<()> {
        self.entries.push(Entry::File(FileEntry {
            name: name.to_vec(),
            size,
            crc,
        }));
        Ok(())
    }
}

impl<S: EntrySink + ?Sized> EntrySink for &mut S {
    fn segment(&mut self, raw: &[u8]) -> std::io::Result<()> {
        (**self).segment(raw)
    }
    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> std::io::Result<()> {
        (**self).file(name, size, crc)
    }
}

impl<S: EntrySink + ?Sized> EntrySink for Box<S> {
    fn segment(&mut self, raw: &[u8]) -> std::io::Result<()> {
        (**self).segment(raw)
    }
    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> std::io::Result<()> {
        (**self).file(name, size, crc)
    }
}
