//! The small binary encoding the records use: little-endian integers, length-prefixed strings,
//! raw 32-byte digests. Decoding never panics: every read is bounds-checked and a short or
//! malformed value becomes a reason string naming the field.

use crate::id::Digest;

/// Appends fields to a record's bytes.
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Enc(Vec::with_capacity(n))
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn digest(&mut self, d: &Digest) {
        self.0.extend_from_slice(&d.to_bytes());
    }
    pub(crate) fn opt_digest(&mut self, d: Option<&Digest>) {
        match d {
            None => self.u8(0),
            Some(d) => {
                self.u8(1);
                self.digest(d);
            }
        }
    }
    /// A u32 length, then the bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        // Lengths beyond u32 cannot occur: redb refuses values over 3 GiB long before that.
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
}

/// Reads fields back from a record's bytes.
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        match self.pos.checked_add(n).filter(|&end| end <= self.buf.len()) {
            Some(end) => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(format!(
                "value truncated: {field} needs {n} bytes at offset {} of {}",
                self.pos,
                self.buf.len()
            )),
        }
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, String> {
        Ok(self.array::<1>(field)?[0])
    }
    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn digest(&mut self, field: &str) -> Result<Digest, String> {
        Ok(Digest::from_sha256_bytes(&self.array(field)?))
    }
    /// A presence flag (0 or 1), anything else is an error.
    pub(crate) fn flag(&mut self, field: &str) -> Result<bool, String> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("{field}: presence flag is {other}, not 0 or 1")),
        }
    }
    pub(crate) fn opt_digest(&mut self, field: &str) -> Result<Option<Digest>, String> {
        if self.flag(field)? {
            self.digest(field).map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn bytes(&mut self, field: &str) -> Result<&'a [u8], String> {
        let len = self.u32(field)? as usize;
        self.take(len, field)
    }
    pub(crate) fn str(&mut self, field: &str) -> Result<String, String> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|e| format!("{field} is not UTF-8: {e}"))
    }
    pub(crate) fn opt_str(&mut self, field: &str) -> Result<Option<String>, String> {
        if self.flag(field)? {
            self.str(field).map(Some)
        } else {
            Ok(None)
        }
    }
    /// Checks that nothing follows the last field: trailing bytes mean a misread.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the last field",
                self.buf.len() - self.pos
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation_is_an_error_at_every_length() {
        let d = Digest::of_bytes(b"x");
        let mut e = Enc::with_capacity(0);
        e.u8(7);
        e.u32(8);
        e.u64(9);
        e.opt_digest(Some(&d));
        e.opt_str(Some("héllo"));
        e.opt_str(None);
        let bytes = e.0;

        let read = |b: &[u8]| -> Result<(), String> {
            let mut r = Dec::new(b);
            assert_eq!(r.u8("a")?, 7);
            assert_eq!(r.u32("b")?, 8);
            assert_eq!(r.u64("c")?, 9);
            assert_eq!(r.opt_digest("d")?, Some(d.clone()));
            assert_eq!(r.opt_str("e")?.as_deref(), Some("héllo"));
            assert_eq!(r.opt_str("f")?, None);
            r.finish()
        };
        read(&bytes).unwrap();
        for len in 0..bytes.len() {
            assert!(
                read(&bytes[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).is_err());
    }

    #[test]
    fn huge_length_prefix_is_an_error() {
        let mut r = Dec::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(r.str("s").unwrap_err().contains("truncated"));
    }
}
