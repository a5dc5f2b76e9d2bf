//! Blob digests: parsing `sha256:<hex>` and hashing content as it streams past.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

/// A sha256 content digest, `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobDigest(String);

impl BlobDigest {
    /// Parses a digest; the error says why it is refused (other algorithms are refused: every
    /// image tool writes sha256, and a digest the loader cannot check must not pass as checked).
    pub fn parse(text: &str) -> Result<BlobDigest, String> {
        let Some((algorithm, hex_part)) = text.split_once(':') else {
            return Err("not of the form <algorithm>:<hex>".to_owned());
        };
        if algorithm != "sha256" {
            return Err(format!(
                "algorithm {algorithm:?} is not supported (only sha256)"
            ));
        }
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("a sha256 digest is 64 lowercase hex digits".to_owned());
        }
        Ok(BlobDigest(text.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobDigest {
        BlobDigest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The full `sha256:<hex>` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part, as blob file names use it.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The path of this blob in an OCI layout.
    pub fn blob_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex())
    }
}

impl std::fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// A reader of `inner` that hashes what passes.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left (a consumer may stop before the end, e.g. after a gzip member) and
    /// returns the digest and size of the whole content.
    pub fn finish(mut self) -> io::Result<(BlobDigest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        Ok((BlobDigest(digest), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sha256_and_refuses_the_rest() {
        let good = format!("sha256:{}", "ab".repeat(32));
        let d = BlobDigest::parse(&good).unwrap();
        assert_eq!(d.hex(), "ab".repeat(32));
        assert_eq!(d.blob_path(), format!("blobs/sha256/{}", "ab".repeat(32)));
        for bad in [
            "sha256",
            "sha512:00",
            &format!("sha256:{}", "AB".repeat(32)),
            &format!("sha256:{}", "ab".repeat(31)),
            &format!("sha256:{}/..", "ab".repeat(31)),
        ] {
            assert!(BlobDigest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_reader_hashes_what_the_consumer_left_unread() {
        let data = b"hello world".to_vec();
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 3];
        r.read_exact(&mut first).unwrap();
        let (digest, size) = r.finish().unwrap();
        assert_eq!(size, 11);
        assert_eq!(digest, BlobDigest::of(&data));
        assert_eq!(
            digest.as_str(),
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }
}
