//! [`disassemble`]: the Go `disasm`: pass the stream through unchanged and record its entries.

use std::io::{self, Read, Write};

use crate::{EntrySink, Error, Limits, TarReader};

/// A write error of the pass-through, told apart from read errors of the input.
#[derive(Debug, thiserror::Error)]
#[error("writing the pass-through: {0}")]
struct PassThroughError(#[source] io::Error);

/// Hands on every byte read from `inner` to `out`.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out
            .write_all(&buf[..n])
            .map_err(|e| io::Error::other(PassThroughError(e)))?;
        Ok(n)
    }
}

/// Reads the tar stream `input` to its end, writes every byte read to `passthrough` unchanged,
/// and records the tar-split entries into `sink`. Returns the number of bytes of the stream.
///
/// On error, `passthrough` has received the input up to at least the point of failure (the
/// reader reads ahead), and the entries recorded so far are incomplete.
pub fn disassemble<R: Read, W: Write, S: EntrySink>(
    input: R,
    passthrough: W,
    sink: S,
) -> Result<u64, Error> {
    disassemble_with_limits(input, passthrough, sink, Limits::default())
}

/// [`disassemble`] with explicit [`Limits`].
pub fn disassemble_with_limits<R: Read, W: Write, S: EntrySink>(
    input: R,
    mut passthrough: W,
    sink: S,
    limits: Limits,
) -> Result<u64, Error> {
    let result = (|| {
        let tee = Tee {
            inner: input,
            out: &mut passthrough,
        };
        let mut tr = TarReader::with_limits(tee, sink, limits);
        while tr.next()?.is_some() {}
        tr.finish()
    })();
    let n = result.map_err(|e| match e {
        Error::Io { source, offset } => match source
            .get_ref()
            .and_then(|e| e.downcast_ref::<PassThroughError>())
        {
            Some(PassThroughError(w)) => Error::Output(io::Error::new(w.kind(), w.to_string())),
            None => Error::Io { source, offset },
        },
        e => e,
    })?;
    passthrough.flush().map_err(Error::Output)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VecSink;

    #[test]
    fn passes_through_and_records() {
        let mut b = Vec::new();
        // A ustar header for "a" with 3 bytes, then data, then the end-of-archive blocks.
        let mut hdr = [0u8; 512];
        hdr[..1].copy_from_slice(b"a");
        hdr[100..107].copy_from_slice(b"0000644");
        hdr[124..135].copy_from_slice(b"00000000003");
        hdr[156] = b'0';
        hdr[257..263].copy_from_slice(b"ustar\0");
        hdr[263..265].copy_from_slice(b"00");
        hdr[148..156].copy_from_slice(b"        ");
        let sum: u32 = hdr.iter().map(|&c| u32::from(c)).sum();
        hdr[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b.extend_from_slice(&hdr);
        b.extend_from_slice(b"abc");
        b.resize(512 * 4, 0);
        b.extend_from_slice(b"trailing");
        let mut out = Vec::new();
        let mut sink = VecSink::default();
        let n = disassemble(&b[..], &mut out, &mut sink).unwrap();
        assert_eq!(n, b.len() as u64);
        assert_eq!(out, b);
        assert_eq!(sink.entries.len(), 4);
    }

    #[test]
    fn pass_through_write_errors_are_output_errors() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = disassemble(&[0u8; 1024][..], Full, crate::NullSink).unwrap_err();
        assert!(matches!(err, Error::Output(_)), "{err}");
    }
}
