//! [`Assembler`] and [`assemble`]: the stream back from its entries and the members' payloads,
//! byte for byte, each payload checked against the recorded length and CRC-64.

use std::io::{self, Read, SeekFrom, Write};

use crate::block::BLOCK;
use crate::crc64::Crc64;
use crate::error::show;
use crate::input::SliceSource;
use crate::parse::{parse_member, Step};
use crate::sparse::LogicalCrc;
use crate::{Entry, Error, FileEntry, FileGetter, Limits, SparseRegion};

/// Payload bytes read per opening of a member's payload.
const CHUNK: usize = 256 << 10;

/// How a file entry's payload goes into the stream, learnt from the header segment before it.
enum Layout {
    /// The whole file, `size` bytes.
    Plain,
    /// Only the data runs of a sparse file; the file's length is the real size.
    Sparse(Vec<SparseRegion>),
    /// Nothing: a header-only member (hard link, symlink, device, directory, fifo) whose header
    /// size field is non-zero. The stream holds no data for it.
    Nothing,
}

/// A member whose payload is being written.
struct Pending {
    entry: FileEntry,
    /// The runs of the file to write, in order (one run `0..size` for plain files).
    runs: Vec<SparseRegion>,
    /// Index of the run being written and bytes of it already written.
    run: usize,
    run_done: u64,
    crc: Crc64,
    sparse: Option<LogicalCrc>,
    /// Whether the file's length was checked.
    length_checked: bool,
}

/// Reads the original tar stream back from tar-split entries and a [`FileGetter`].
///
/// Segments are written verbatim. For each file entry with a non-zero size, the payload is read
/// from the getter and written; its length must equal the recorded size and its CRC-64 the
/// recorded checksum, otherwise reading fails with [`Error::PayloadMismatch`] naming the file.
/// Payloads up to 256 KiB are checked before any of their bytes are handed out; for larger ones
/// the bytes before the mismatch may already have been produced.
///
/// From the header segment before a file entry, the assembler knows the member's layout:
/// for sparse members it writes only the data runs, read at their offsets from the extracted
/// (sparse) file, and checks the CRC over the logical content; for header-only members whose
/// header records a non-zero size it writes nothing, as the stream had nothing.
pub struct Assembler<'a> {
    entries: Box<dyn Iterator<Item = Result<Entry, Error>> + 'a>,
    getter: Box<dyn FileGetter + 'a>,
    /// Bytes ready to hand out: a segment, or a chunk of payload.
    buf: Vec<u8>,
    pos: usize,
    /// Whether `buf` holds the segment just before the next entry (to learn a member's layout).
    buf_is_segment: bool,
    pending: Option<Pending>,
    written: u64,
    done: bool,
    /// An error ended the stream: every later read fails too, so a caller that reads on cannot
    /// take a stream with a hole for a whole one.
    failed: bool,
    limits: Limits,
}

impl<'a> Assembler<'a> {
    /// An assembler over `entries` (in stream order) and the payloads `getter` hands out.
    pub fn new<I, E>(entries: I, getter: Box<dyn FileGetter + 'a>) -> Self
    where
        I: IntoIterator<Item = Result<Entry, E>>,
        I::IntoIter: 'a,
        E: Into<Error>,
    {
        Assembler {
            entries: Box::new(entries.into_iter().map(|r| r.map_err(Into::into))),
            getter,
            buf: Vec::new(),
            pos: 0,
            buf_is_segment: false,
            pending: None,
            written: 0,
            done: false,
            failed: false,
            limits: Limits::default(),
        }
    }

    /// Bytes of the stream produced so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The next bytes of the stream; empty at the end.
    fn chunk(&mut self) -> Result<&[u8], Error> {
        while self.pos == self.buf.len() && !self.done {
            if self.pending.is_some() {
                self.fill_payload()?;
                continue;
            }
            match self.entries.next() {
                None => self.done = true,
                Some(Err(e)) => return Err(e),
                Some(Ok(Entry::Segment(s))) => {
                    self.buf = s;
                    self.pos = 0;
                    self.buf_is_segment = true;
                }
                Some(Ok(Entry::File(f))) => self.start_file(f)?,
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn start_file(&mut self, entry: FileEntry) -> Result<(), Error> {
        let layout = if self.buf_is_segment {
            layout_of(&self.buf, &self.limits)
        } else {
            Layout::Plain
        };
        self.buf.clear();
        self.pos = 0;
        self.buf_is_segment = false;
        if entry.size == 0 {
            return Ok(());
        }
        let name = &entry.name;
        let expected = entry.crc.ok_or_else(|| Error::PayloadMismatch {
            name: show(name),
            reason: format!("the metadata records {} bytes but no checksum", entry.size),
        })?;
        let (runs, sparse) = match layout {
            Layout::Nothing => {
                if expected != 0 {
                    return Err(Error::PayloadMismatch {
                        name: show(name),
                        reason:
                            "a header-only member whose recorded checksum is not that of no data"
                                .into(),
                    });
                }
                return Ok(());
            }
            Layout::Plain => (
                vec![SparseRegion {
                    offset: 0,
                    length: entry.size,
                }],
                None,
            ),
            Layout::Sparse(regions) => (regions.clone(), Some(LogicalCrc::new(regions))),
        };
        self.pending = Some(Pending {
            entry,
            runs,
            run: 0,
            run_done: 0,
            crc: Crc64::new(),
            sparse,
            length_checked: false,
        });
        Ok(())
    }

    /// Reads the next chunk of the pending payload into `buf`; at its end, checks the CRC.
    fn fill_payload(&mut self) -> Result<(), Error> {
        let Some(mut p) = self.pending.take() else {
            return Ok(());
        };
        let name = show(&p.entry.name);
        let get_err = |source: io::Error| Error::Getter {
            name: name.clone(),
            source,
        };
        let mismatch = |reason: String| Error::PayloadMismatch {
            name: name.clone(),
            reason,
        };
        self.buf.clear();
        self.pos = 0;
        {
            let mut payload = self.getter.get(&p.entry.name).map_err(get_err)?;
            if !p.length_checked {
                let len = payload.seek(SeekFrom::End(0)).map_err(get_err)?;
                if len != p.entry.size {
                    return Err(mismatch(format!(
                        "the file has {len} bytes, the metadata records {}",
                        p.entry.size
                    )));
                }
                p.length_checked = true;
            }
            while p.run < p.runs.len() && self.buf.len() < CHUNK {
                let run = p.runs[p.run];
                let left = run.length - p.run_done;
                if left == 0 {
                    p.run += 1;
                    p.run_done = 0;
                    continue;
                }
                payload
                    .seek(SeekFrom::Start(run.offset + p.run_done))
                    .map_err(get_err)?;
                let want = left.min((CHUNK - self.buf.len()) as u64) as usize;
                let at = self.buf.len();
                self.buf.resize(at + want, 0);
                let mut got = 0;
                while got < want {
                    match payload.read(&mut self.buf[at + got..at + want]) {
                        Ok(0) => {
                            return Err(mismatch(format!(
                                "the file ended at byte {} while being read",
                                run.offset + p.run_done + got as u64
                            )))
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(get_err(e)),
                    }
                }
                let data = &self.buf[at..];
                match &mut p.sparse {
                    Some(walk) => walk.feed(&mut p.crc, data),
                    None => p.crc.update(data),
                }
                p.run_done += want as u64;
            }
        }
        let finished = p.run == p.runs.len()
            || (p.run == p.runs.len() - 1 && p.run_done == p.runs[p.run].length);
        if !finished {
            self.pending = Some(p);
            return Ok(());
        }
        {
            if let Some(walk) = &mut p.sparse {
                walk.finish(&mut p.crc, p.entry.size);
            }
            let expected = p.entry.crc.unwrap_or(0);
            if p.crc.sum() != expected {
                return Err(Error::PayloadMismatch {
                    name: show(&p.entry.name),
                    reason: format!(
                        "CRC-64 {:016x}, the metadata records {expected:016x}",
                        p.crc.sum()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Learns a member's layout from its header segment: `[previous padding][extension headers]
/// [header][sparse blocks or map]`. Everything after the padding is whole blocks, so the padding
/// is the segment's length modulo 512. Segments that do not parse (hand-made or foreign
/// metadata) are taken as plain files, as the Go assembler does.
fn layout_of(segment: &[u8], limits: &Limits) -> Layout {
    let mut src = SliceSource {
        data: segment,
        pos: segment.len() % BLOCK,
    };
    let mut scratch = Vec::new();
    match parse_member(&mut src, &mut scratch, 0, limits) {
        Ok(Step::Member(m)) => {
            if let Some(map) = m.header.sparse {
                Layout::Sparse(map.regions)
            } else if m.physical == 0 && m.entry_size > 0 {
                Layout::Nothing
            } else {
                Layout::Plain
            }
        }
        _ => Layout::Plain,
    }
}

impl Read for Assembler<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other(
                "tar-split assembler: an earlier error ended the stream",
            ));
        }
        let chunk = match self.chunk() {
            Ok(c) => c,
            Err(e) => {
                self.failed = true;
                return Err(e.into_io());
            }
        };
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        self.pos += n;
        self.written += n as u64;
        Ok(n)
    }
}

/// Writes the stream described by `entries` to `out`, payloads from `getter`, checking each
/// payload's length and CRC-64 (see [`Assembler`]). Returns the bytes written.
pub fn assemble<'a, I, E>(
    entries: I,
    getter: Box<dyn FileGetter + 'a>,
    out: &mut impl Write,
) -> Result<u64, Error>
where
    I: IntoIterator<Item = Result<Entry, E>>,
    I::IntoIter: 'a,
    E: Into<Error>,
{
    let mut asm = Assembler::new(entries, getter);
    loop {
        let chunk = asm.chunk()?;
        if chunk.is_empty() {
            break;
        }
        out.write_all(chunk).map_err(Error::Output)?;
        let n = chunk.len();
        asm.pos += n;
        asm.written += n as u64;
    }
    out.flush().map_err(Error::Output)?;
    Ok(asm.written)
}
