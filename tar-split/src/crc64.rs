//! CRC-64/GO-ISO (Go's `crc64.MakeTable(crc64.ISO)`), the checksum tar-split records for each
//! member, with a fast way to append long runs of zero bytes (the holes of sparse members).
//!
//! The data path uses `crc-fast` (carry-less multiplication folding, about 8 GB/s here against
//! about 1 GB/s for the `crc` crate's slice-by-16 tables): the checksum bounds the speed of
//! disassembling and assembling large files.

use std::sync::OnceLock;

use crc_fast::{CrcAlgorithm, Digest};

/// The reflected polynomial: x^64 + x^4 + x^3 + x + 1.
const POLY_REFLECTED: u64 = 0xD800_0000_0000_0000;

/// The algorithm's init and xorout value.
const ALL_ONES: u64 = u64::MAX;

/// Below this many zero bytes, feeding a zero buffer is cheaper than the matrix products.
const ZERO_BUF_LEN: usize = 4096;

/// A running CRC-64/GO-ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc64 {
    /// The reflected shift register, without the final xor.
    reg: u64,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    /// A CRC over no bytes yet.
    pub fn new() -> Self {
        Crc64 { reg: ALL_ONES }
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        // crc-fast keeps the same reflected register; its SIMD folding runs ~8x the speed of a
        // slice-by-16 table.
        let mut digest = Digest::new_with_init_state(CrcAlgorithm::Crc64GoIso, self.reg);
        digest.update(bytes);
        self.reg = digest.finalize() ^ ALL_ONES;
    }

    /// Feeds `n` zero bytes in O(log n) time.
    pub fn update_zeros(&mut self, mut n: u64) {
        if n <= ZERO_BUF_LEN as u64 {
            self.update(&[0u8; ZERO_BUF_LEN][..n as usize]);
            return;
        }
        // Feeding a zero byte is a linear map on the register over GF(2); apply its powers
        // M^(2^k) for each bit k of n.
        let powers = zero_powers();
        let mut k = 0;
        while n != 0 {
            if n & 1 == 1 {
                self.reg = mat_apply(&powers[k], self.reg);
            }
            n >>= 1;
            k += 1;
        }
    }

    /// The checksum of everything fed so far.
    pub fn sum(&self) -> u64 {
        self.reg ^ ALL_ONES
    }
}

/// The CRC-64/GO-ISO of `bytes`.
pub fn crc64(bytes: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64GoIso, bytes)
}

/// A 64x64 matrix over GF(2): column `j` is the image of the register with only bit `j` set.
type Mat = [u64; 64];

fn mat_apply(m: &Mat, v: u64) -> u64 {
    let mut out = 0;
    let mut v = v;
    let mut j = 0;
    while v != 0 {
        if v & 1 == 1 {
            out ^= m[j];
        }
        v >>= 1;
        j += 1;
    }
    out
}

fn mat_square(m: &Mat) -> Mat {
    let mut out = [0u64; 64];
    for (j, col) in out.iter_mut().enumerate() {
        *col = mat_apply(m, m[j]);
    }
    out
}

/// `M^(2^k)` for k in 0..64, where M feeds one zero byte.
fn zero_powers() -> &'static [Mat; 64] {
    static POWERS: OnceLock<Box<[Mat; 64]>> = OnceLock::new();
    POWERS.get_or_init(|| {
        let mut one_byte = [0u64; 64];
        for (j, col) in one_byte.iter_mut().enumerate() {
            // Eight bit steps of the reflected CRC with zero input bits.
            let mut reg = 1u64 << j;
            for _ in 0..8 {
                reg = if reg & 1 == 1 {
                    (reg >> 1) ^ POLY_REFLECTED
                } else {
                    reg >> 1
                };
            }
            *col = reg;
        }
        let mut powers = Box::new([[0u64; 64]; 64]);
        powers[0] = one_byte;
        for k in 1..64 {
            powers[k] = mat_square(&powers[k - 1]);
        }
        powers
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc64(b"123456789"), 0xB909_56C7_75A4_1001);
        assert_eq!(crc64(b"hello\n"), 0x614c_3eee_e2d8_1000);
        assert_eq!(crc64(b"imma hurr til I derp"), 0x0274_a4b1_abec_6b4e);
        assert_eq!(crc64(b""), 0);
        let mut c = Crc64::new();
        c.update(b"hello");
        c.update(b"\n");
        assert_eq!(c.sum(), 0x614c_3eee_e2d8_1000);
    }

    #[test]
    fn zero_runs_match_direct_computation() {
        for &n in &[0u64, 1, 7, 4096, 4097, 5000, 65536, 100_003, 1 << 20] {
            let mut fast = Crc64::new();
            fast.update(b"prefix");
            fast.update_zeros(n);
            fast.update(b"suffix");
            let mut direct = Crc64::new();
            direct.update(b"prefix");
            direct.update(&vec![0u8; n as usize]);
            direct.update(b"suffix");
            assert_eq!(fast.sum(), direct.sum(), "n = {n}");
        }
    }

    #[test]
    fn huge_zero_run_is_cheap() {
        let mut c = Crc64::new();
        c.update_zeros(60_000_000_000);
        let mut d = Crc64::new();
        d.update_zeros(30_000_000_000);
        d.update_zeros(30_000_000_000);
        assert_eq!(c.sum(), d.sum());
    }
}
