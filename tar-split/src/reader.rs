//! [`TarReader`]: a streaming tar parser that records tar-split entries as it goes.

use std::io::{self, BufRead, Read, Write};

use crate::clean::SeenNames;
use crate::crc64::Crc64;
use crate::error::show;
use crate::input::{Input, Source};
use crate::parse::{parse_member, Step};
use crate::sparse::LogicalCrc;
use crate::{EntrySink, Error, Header, Limits};

/// Trailing bytes after the end of the archive are recorded in segments of at most this size,
/// cut at fixed offsets from the end of the archive.
pub(crate) const TRAILING_CHUNK: usize = 1 << 20;

/// Reads a tar stream member by member and records its tar-split entries into a sink.
///
/// A member's data is read through `Read`, `BufRead` (no copy) or [`TarReader::copy_data_to`]
/// (big writes straight from the buffer); whatever is left unread is read and checksummed by the
/// next call to [`TarReader::next`]. The entries recorded are the same however the data is read.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Read;
/// let file = std::fs::File::open("layer.tar")?;
/// let mut sink = tar_split::VecSink::default();
/// let mut tr = tar_split::TarReader::new(file, &mut sink);
/// while let Some(h) = tr.next()? {
///     let mut data = Vec::new();
///     tr.read_to_end(&mut data)?;
///     println!("{} ({} bytes)", String::from_utf8_lossy(&h.path), data.len());
/// }
/// let consumed = tr.finish()?;
/// # Ok(()) }
/// ```
pub struct TarReader<'a> {
    input: Input<'a>,
    sink: Box<dyn EntrySink + 'a>,
    limits: Limits,
    /// Bytes consumed since the last segment was recorded.
    raw: Vec<u8>,
    seen: SeenNames,
    /// The member whose data is being read.
    current: Option<Current>,
    /// Padding after the current member's data, read (into the next segment) by the next call.
    pad: u64,
    /// The archive has ended (`next` returned `None`).
    ended: bool,
    /// `next` failed: the stream position is unknown, so every later call fails too.
    failed: bool,
}

/// The member whose data is being read.
struct Current {
    name: Vec<u8>,
    entry_size: u64,
    remaining: u64,
    /// `None` when the Go tar-split records no checksum (size 0).
    crc: Option<Crc64>,
    sparse: Option<LogicalCrc>,
}

impl Current {
    fn feed(&mut self, data: &[u8]) {
        self.remaining -= data.len() as u64;
        if let Some(crc) = &mut self.crc {
            match &mut self.sparse {
                Some(walk) => walk.feed(crc, data),
                None => crc.update(data),
            }
        }
    }
}

impl<'a> TarReader<'a> {
    /// Parses `input`, recording tar-split entries into `sink` as it goes, with default
    /// [`Limits`].
    pub fn new<R: Read + 'a, S: EntrySink + 'a>(input: R, sink: S) -> Self {
        Self::with_limits(input, sink, Limits::default())
    }

    /// Parses `input`, recording tar-split entries into `sink`, refusing archives that exceed
    /// `limits`.
    pub fn with_limits<R: Read + 'a, S: EntrySink + 'a>(input: R, sink: S, limits: Limits) -> Self {
        TarReader {
            input: Input::new(Box::new(input)),
            sink: Box::new(sink),
            limits,
            raw: Vec::new(),
            seen: SeenNames::default(),
            current: None,
            pad: 0,
            ended: false,
            failed: false,
        }
    }

    /// The next member's header (extension headers merged), or `None` at the end of the archive
    /// (end-of-archive blocks, or the end of the input at a member boundary). Any unread data of
    /// the previous member is read (and checksummed) first.
    // Not `Iterator::next`: it fails, and the reader is also the `Read` of the member's data.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Header>, Error> {
        if self.failed {
            return Err(Error::Io {
                offset: self.input.offset(),
                source: io::Error::other("the tar reader failed earlier"),
            });
        }
        let result = self.next_member();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn next_member(&mut self) -> Result<Option<Header>, Error> {
        if self.ended {
            return Ok(None);
        }
        self.end_member()?;
        let pad = std::mem::take(&mut self.pad);
        let member = match parse_member(&mut self.input, &mut self.raw, pad, &self.limits)? {
            Step::End => {
                self.ended = true;
                return Ok(None);
            }
            Step::Member(m) => m,
        };
        if !self.seen.insert(&member.header.path) {
            return Err(Error::DuplicatePath {
                name: show(&member.header.path),
                offset: member.offset,
            });
        }
        self.flush_raw()?;
        let crc = (member.entry_size > 0).then(Crc64::new);
        let sparse = match (&member.header.sparse, crc) {
            (Some(map), Some(_)) => Some(LogicalCrc::new(map.regions.clone())),
            _ => None,
        };
        self.current = Some(Current {
            name: member.header.path.clone(),
            entry_size: member.entry_size,
            remaining: member.physical,
            crc,
            sparse,
        });
        self.pad = member.pad_after;
        Ok(Some(member.header))
    }

    /// Reads everything after the last member (end-of-archive blocks, record padding, trailing
    /// bytes), records it, and returns the total number of bytes consumed from the input.
    ///
    /// Called before `next` returned `None`, it first reads the remaining members.
    pub fn finish(mut self) -> Result<u64, Error> {
        while self.next()?.is_some() {}
        self.flush_raw()?;
        loop {
            let avail = self.input.fill()?;
            if avail.is_empty() {
                break;
            }
            let k = avail.len().min(TRAILING_CHUNK - self.raw.len());
            self.raw.extend_from_slice(&avail[..k]);
            self.input.consume(k);
            if self.raw.len() == TRAILING_CHUNK {
                self.flush_raw()?;
            }
        }
        self.flush_raw()?;
        Ok(self.input.offset())
    }

    /// Writes the rest of the current member's data (as `Read` would give it) to `out` straight
    /// from the internal buffer, in writes of up to 256 KiB, and returns the bytes written.
    /// Cheaper than `std::io::copy`, which goes through an 8 KiB intermediate buffer.
    pub fn copy_data_to<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<u64, Error> {
        let mut total = 0u64;
        loop {
            let Some(cur) = &self.current else {
                return Ok(total);
            };
            if cur.remaining == 0 {
                return Ok(total);
            }
            let remaining = cur.remaining;
            let avail = self.input.fill()?;
            if avail.is_empty() {
                return Err(Error::UnexpectedEof {
                    offset: self.input.offset(),
                    what: format!("the data of {:?}", show(&cur.name)),
                });
            }
            let k = avail.len().min(remaining.min(usize::MAX as u64) as usize);
            out.write_all(&avail[..k]).map_err(Error::Output)?;
            if let Some(cur) = &mut self.current {
                cur.feed(&avail[..k]);
            }
            self.input.consume(k);
            total += k as u64;
        }
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.input.offset()
    }

    fn flush_raw(&mut self) -> Result<(), Error> {
        if !self.raw.is_empty() {
            self.sink.segment(&self.raw).map_err(Error::Sink)?;
            self.raw.clear();
        }
        Ok(())
    }

    /// Reads the rest of the current member's data and records its file entry.
    fn end_member(&mut self) -> Result<(), Error> {
        let Some(mut cur) = self.current.take() else {
            return Ok(());
        };
        while cur.remaining > 0 {
            let avail = self.input.fill()?;
            if avail.is_empty() {
                return Err(Error::UnexpectedEof {
                    offset: self.input.offset(),
                    what: format!("the data of {:?}", show(&cur.name)),
                });
            }
            let k = avail
                .len()
                .min(cur.remaining.min(usize::MAX as u64) as usize);
            cur.feed(&avail[..k]);
            self.input.consume(k);
        }
        let crc = cur.crc.map(|mut crc| {
            if let Some(walk) = &mut cur.sparse {
                walk.finish(&mut crc, cur.entry_size);
            }
            crc.sum()
        });
        self.sink
            .file(&cur.name, cur.entry_size, crc)
            .map_err(Error::Sink)
    }

    fn eof_in_data(&self) -> io::Error {
        let name = self
            .current
            .as_ref()
            .map(|c| show(&c.name))
            .unwrap_or_default();
        Error::UnexpectedEof {
            offset: self.input.offset(),
            what: format!("the data of {name:?}"),
        }
        .into_io()
    }
}

/// Reads the current member's data: the physical data for sparse members (the runs back to
/// back, as in the archive; [`Header::sparse`] says where they go), nothing for header-only
/// kinds, and nothing before the first `next` or after the end.
impl Read for TarReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some(cur) = &self.current else {
            return Ok(0);
        };
        if cur.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = out.len().min(cur.remaining.min(usize::MAX as u64) as usize);
        let n = self
            .input
            .read_data(&mut out[..want])
            .map_err(Error::into_io)?;
        if n == 0 {
            return Err(self.eof_in_data());
        }
        if let Some(cur) = &mut self.current {
            cur.feed(&out[..n]);
        }
        Ok(n)
    }
}

/// Hands out the current member's data straight from the internal buffer.
impl BufRead for TarReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let remaining = match &self.current {
            Some(cur) if cur.remaining > 0 => cur.remaining,
            _ => return Ok(&[]),
        };
        let empty = self.input.fill().map_err(Error::into_io)?.is_empty();
        if empty {
            return Err(self.eof_in_data());
        }
        let avail = self.input.fill().map_err(Error::into_io)?;
        let k = avail.len().min(remaining.min(usize::MAX as u64) as usize);
        Ok(&avail[..k])
    }

    fn consume(&mut self, amt: usize) {
        let Some(cur) = &mut self.current else { return };
        let amt = amt.min(cur.remaining.min(usize::MAX as u64) as usize);
        if amt == 0 {
            return;
        }
        // fill_buf handed out these bytes, so they are buffered.
        if let Ok(avail) = self.input.fill() {
            let amt = amt.min(avail.len());
            cur.feed(&avail[..amt]);
            self.input.consume(amt);
        }
    }
}
