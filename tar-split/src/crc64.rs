//! CRC-64/GO-ISO (Go's `crc64.MakeTable(crc64.ISO)`), the checksum tar-split records for each
//! member, with a fast way to append long runs of zero bytes (the holes of sparse members).

use std::sync::OnceLock;

use crc::{Crc, Table, CRC_64_GO_ISO};

/// Slice-by-16 tables, built at compile time.
static CRC: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_GO_ISO);

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
        // The crate re-reflects a custom initial value, so hand it the register reflected.
        let mut digest = CRC.digest_with_initial(self.reg.reverse_bits());
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
    CRC.checksum(bytes)
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
        let table = CRC.table();
        let mut one_byte = [0u64; 64];
        for (j, col) in one_byte.iter_mut().enumerate() {
            let reg = 1u64 << j;
            // One table step of the reflected CRC with a zero input byte.
            *col = table[0][(reg & 0xff) as usize] ^ (reg >> 8);
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
