//! Writes entries as Go tar-split v0.12.1 JSON lines, byte for byte.

use std::io::{self, Write};

use base64::Engine as _;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::escape::push_go_string;
use super::ParallelGzip;
use crate::EntrySink;

/// Lines are gathered in memory and handed to the output in blocks of about this size, so that
/// a compressor below sees few, large writes.
const FLUSH_AT: usize = 64 * 1024;

/// An [`EntrySink`] that writes the Go tar-split JSON-lines format exactly as v0.12.1 does (one
/// object per line, keys `type`, `name`/`name_raw`, `size`, `payload`, `position` in that order,
/// `omitempty` on name and size, Go's HTML-safe string escaping, padded standard base64, and a
/// `position` counting every entry from 0). It writes no trailing empty segment (v0.11.3 and
/// older did; readers accept both).
///
/// The writer does not check for duplicate names: the disassembler does.
///
/// Call [`JsonWriter::finish`] (or [`JsonWriter::finish_gzip`]) at the end: lines are buffered,
/// and dropping the writer loses the buffered ones.
#[derive(Debug)]
pub struct JsonWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    position: u64,
}

impl<W: Write> JsonWriter<W> {
    /// A writer of uncompressed JSON lines into `out`.
    pub fn new(out: W) -> Self {
        JsonWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            position: 0,
        }
    }

    /// How many entries have been written so far (the next entry's `position`).
    pub fn entries_written(&self) -> u64 {
        self.position
    }

    /// Writes every buffered line to the output, flushes it and returns it.
    pub fn finish(mut self) -> io::Result<W> {
        self.drain()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(b",\"position\":");
        push_u64(&mut self.buf, self.position);
        self.buf.extend_from_slice(b"}\n");
        self.position += 1;
        if self.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }
}

impl<W: Write> JsonWriter<GzEncoder<W>> {
    /// A writer of gzip-compressed JSON lines into `out`, at the default level (6) as the Go tool
    /// and Docker write them. The result is one gzip member.
    pub fn gzip(out: W) -> Self {
        Self::gzip_with_level(out, Compression::default())
    }

    /// A writer of gzip-compressed JSON lines into `out` at `level` (containers/storage uses 1;
    /// readers do not care).
    pub fn gzip_with_level(out: W, level: Compression) -> Self {
        JsonWriter::new(GzEncoder::new(out, level))
    }

    /// Writes every buffered line, ends the gzip stream (trailer included) and returns `out`.
    pub fn finish_gzip(self) -> io::Result<W> {
        self.finish()?.finish()
    }
}

impl<W: Write + Send + 'static> JsonWriter<ParallelGzip<W>> {
    /// A writer of gzip-compressed JSON lines into `out` at `level`, compressing on a thread of
    /// its own (see [`ParallelGzip`]).
    pub fn gzip_parallel(out: W, level: Compression) -> io::Result<Self> {
        Ok(JsonWriter::new(ParallelGzip::new(out, level)?))
    }

    /// Writes every buffered line, ends the gzip stream (trailer included), waits for the
    /// compressing thread and returns `out`.
    pub fn finish_parallel_gzip(self) -> io::Result<W> {
        self.finish()?.finish()
    }
}

impl<W: Write> EntrySink for JsonWriter<W> {
    fn segment(&mut self, raw: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(b"{\"type\":2,\"payload\":");
        push_base64(&mut self.buf, raw);
        self.end_line()
    }

    fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> io::Result<()> {
        if size > i64::MAX as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "file {:?}: size {size} does not fit the Go format's int64",
                    String::from_utf8_lossy(name)
                ),
            ));
        }
        self.buf.extend_from_slice(b"{\"type\":1");
        if !name.is_empty() {
            match std::str::from_utf8(name) {
                Ok(s) => {
                    self.buf.extend_from_slice(b",\"name\":");
                    push_go_string(&mut self.buf, s);
                }
                Err(_) => {
                    self.buf.extend_from_slice(b",\"name_raw\":");
                    push_base64(&mut self.buf, name);
                }
            }
        }
        if size != 0 {
            self.buf.extend_from_slice(b",\"size\":");
            push_u64(&mut self.buf, size);
        }
        self.buf.extend_from_slice(b",\"payload\":");
        match crc {
            Some(crc) => push_base64(&mut self.buf, &crc.to_be_bytes()),
            None => self.buf.extend_from_slice(b"null"),
        }
        self.end_line()
    }
}

/// Appends `data` as a quoted, padded standard base64 string.
fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len().div_ceil(3) * 4;
    out.push(b'"');
    let start = out.len();
    out.resize(start + len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(data, &mut out[start..])
        .unwrap_or(0);
    // The slice was sized for the padded output, so the whole of it is always written.
    debug_assert_eq!(written, len);
    out.truncate(start + written);
    out.push(b'"');
}

/// Appends the decimal form of `n`.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: impl FnOnce(&mut JsonWriter<Vec<u8>>)) -> String {
        let mut w = JsonWriter::new(Vec::new());
        f(&mut w);
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn writes_go_lines() {
        let got = lines(|w| {
            w.segment(b"./\0\0").unwrap();
            w.file(b"./", 0, None).unwrap();
            w.file(b"./hello.txt", 6, Some(0x614c3eeee2d81000)).unwrap();
            w.file(b"./caf\xe9.txt", 12, Some(0xb5a7038792e9d31d))
                .unwrap();
            w.file(b"", 0, None).unwrap();
        });
        assert_eq!(
            got,
            concat!(
                "{\"type\":2,\"payload\":\"Li8AAA==\",\"position\":0}\n",
                "{\"type\":1,\"name\":\"./\",\"payload\":null,\"position\":1}\n",
                "{\"type\":1,\"name\":\"./hello.txt\",\"size\":6,\"payload\":\"YUw+7uLYEAA=\",\"position\":2}\n",
                "{\"type\":1,\"name_raw\":\"Li9jYWbpLnR4dA==\",\"size\":12,\"payload\":\"tacDh5Lp0x0=\",\"position\":3}\n",
                "{\"type\":1,\"payload\":null,\"position\":4}\n",
            )
        );
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 512, 1234567890, u64::MAX] {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }

    #[test]
    fn refuses_sizes_beyond_int64() {
        let mut w = JsonWriter::new(Vec::new());
        assert!(w.file(b"x", u64::MAX, Some(0)).is_err());
    }
}
