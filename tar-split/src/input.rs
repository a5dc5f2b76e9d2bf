//! The parser's input: a large buffer over the caller's reader, counting consumed bytes, that can
//! also hand big data reads straight to the caller's buffer (no second copy).

use std::io::{ErrorKind, Read};

use crate::Error;

/// Size of the read buffer: large, so that small members cost few `read` calls.
pub(crate) const BUF_SIZE: usize = 256 << 10;

/// Data reads at least this large bypass the buffer when it is empty.
const DIRECT_MIN: usize = 64 << 10;

/// Where the header parser gets its bytes: a stream ([`Input`]) or a recorded segment.
pub(crate) trait Source {
    /// Appends up to `n` bytes to `raw`; fewer only at the end of the input. Returns the count.
    fn take(&mut self, n: u64, raw: &mut Vec<u8>) -> Result<u64, Error>;
    /// Bytes consumed so far.
    fn offset(&self) -> u64;
}

/// A buffered reader that counts what it consumed.
pub(crate) struct Input<'a> {
    inner: Box<dyn Read + 'a>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl<'a> Input<'a> {
    pub fn new(inner: Box<dyn Read + 'a>) -> Self {
        Input {
            inner,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// One `read` of the inner reader into `out` (retrying on `EINTR`); 0 marks the end.
    fn read_inner(
        inner: &mut dyn Read,
        out: &mut [u8],
        offset: u64,
        eof: &mut bool,
    ) -> Result<usize, Error> {
        loop {
            match inner.read(out) {
                Ok(0) => {
                    *eof = true;
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::Io { offset, source }),
            }
        }
    }

    /// The buffered bytes, refilling when empty; empty only at the end of the input.
    pub fn fill(&mut self) -> Result<&[u8], Error> {
        if self.start == self.end && !self.eof {
            let n = Self::read_inner(&mut *self.inner, &mut self.buf, self.offset, &mut self.eof)?;
            self.start = 0;
            self.end = n;
        }
        Ok(&self.buf[self.start..self.end])
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Reads data for a caller: from the buffer when it holds some, else straight into `out`
    /// for big reads. Returns 0 only at the end of the input.
    pub fn read_data(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.start == self.end && out.len() >= DIRECT_MIN && !self.eof {
            let n = Self::read_inner(&mut *self.inner, out, self.offset, &mut self.eof)?;
            self.offset += n as u64;
            return Ok(n);
        }
        let avail = self.fill()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Source for Input<'_> {
    fn take(&mut self, n: u64, raw: &mut Vec<u8>) -> Result<u64, Error> {
        let mut got = 0u64;
        while got < n {
            let avail = self.fill()?;
            if avail.is_empty() {
                break;
            }
            let k = avail.len().min((n - got).min(usize::MAX as u64) as usize);
            raw.extend_from_slice(&avail[..k]);
            self.consume(k);
            got += k as u64;
        }
        Ok(got)
    }

    fn offset(&self) -> u64 {
        self.offset
    }
}

/// A recorded segment read as a source (the assembler re-parses the headers it emits).
pub(crate) struct SliceSource<'s> {
    pub data: &'s [u8],
    pub pos: usize,
}

impl Source for SliceSource<'_> {
    fn take(&mut self, n: u64, raw: &mut Vec<u8>) -> Result<u64, Error> {
        let k = (self.data.len() - self.pos).min(n.min(usize::MAX as u64) as usize);
        raw.extend_from_slice(&self.data[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k as u64)
    }

    fn offset(&self) -> u64 {
        self.pos as u64
    }
}
