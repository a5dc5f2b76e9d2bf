//! Sparse members: reading the GNU sparse maps (old GNU `S` headers, PAX 0.0, 0.1 and 1.0),
//! validating them, and walking the physical data runs to checksum the logical content.

use crate::block::{
    parse_numeric, Block, EXT_IS_EXTENDED, EXT_SPARSE_ENTRIES, GNU_IS_EXTENDED, GNU_SPARSE,
    GNU_SPARSE_ENTRIES,
};
use crate::crc64::Crc64;
use crate::pax::{
    parse_decimal, PaxRecords, SPARSE_MAJOR, SPARSE_MAP, SPARSE_MINOR, SPARSE_NUMBLOCKS,
};
use crate::SparseRegion;

/// Which PAX sparse flavour a member's records announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaxSparse {
    /// 0.0 or 0.1: the map is in the records.
    V0,
    /// 1.0: the map is at the start of the data section.
    V1,
}

/// Go's `readGNUSparsePAXHeaders` version detection.
pub(crate) fn pax_sparse_version(pax: &PaxRecords) -> Option<PaxSparse> {
    let major = pax.get_or_empty(SPARSE_MAJOR);
    let minor = pax.get_or_empty(SPARSE_MINOR);
    match (major, minor) {
        (b"0", b"0") | (b"0", b"1") => Some(PaxSparse::V0),
        (b"1", b"0") => Some(PaxSparse::V1),
        _ if !major.is_empty() || !minor.is_empty() => None,
        _ if !pax.get_or_empty(SPARSE_MAP).is_empty() => Some(PaxSparse::V0),
        _ => None,
    }
}

/// A sparse map could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SparseError(pub String);

fn too_many(limit: usize) -> SparseError {
    SparseError(format!("more than {limit} sparse regions"))
}

fn region(offset: i64, length: i64) -> Result<SparseRegion, SparseError> {
    if offset < 0 || length < 0 {
        return Err(SparseError("negative offset or length".into()));
    }
    Ok(SparseRegion {
        offset: offset as u64,
        length: length as u64,
    })
}

/// Reads the PAX 0.0/0.1 map from the records.
pub(crate) fn map_from_records(
    pax: &PaxRecords,
    max: usize,
) -> Result<Vec<SparseRegion>, SparseError> {
    let n = parse_decimal(pax.get_or_empty(SPARSE_NUMBLOCKS))
        .filter(|&n| n >= 0)
        .ok_or_else(|| SparseError("bad GNU.sparse.numblocks".into()))?;
    if n as u64 > max as u64 {
        return Err(too_many(max));
    }
    let map = pax.get_or_empty(SPARSE_MAP);
    let items: Vec<&[u8]> = if map.is_empty() {
        Vec::new()
    } else {
        map.split(|&c| c == b',').collect()
    };
    if items.len() as u64 != 2 * n as u64 {
        return Err(SparseError(
            "GNU.sparse.map does not hold numblocks pairs".into(),
        ));
    }
    items
        .chunks_exact(2)
        .map(|p| match (parse_decimal(p[0]), parse_decimal(p[1])) {
            (Some(o), Some(l)) => region(o, l),
            _ => Err(SparseError("bad number in GNU.sparse.map".into())),
        })
        .collect()
}

/// Appends the entries of an old GNU sparse area (`count` entries of 24 bytes at `at`). Returns
/// whether the list continues in this area (an entry whose offset starts with NUL ends it, as in
/// GNU and BSD tar).
pub(crate) fn old_gnu_entries(
    blk: &Block,
    at: usize,
    count: usize,
    out: &mut Vec<SparseRegion>,
    max: usize,
) -> Result<(), SparseError> {
    for i in 0..count {
        let off = &blk[at + i * 24..at + i * 24 + 12];
        let len = &blk[at + i * 24 + 12..at + i * 24 + 24];
        if off[0] == 0 {
            break;
        }
        let (Ok(o), Ok(l)) = (parse_numeric(off), parse_numeric(len)) else {
            return Err(SparseError("bad number in the old GNU sparse map".into()));
        };
        if out.len() >= max {
            return Err(too_many(max));
        }
        out.push(region(o, l)?);
    }
    Ok(())
}

/// The header's own sparse entries; whether extension blocks follow.
pub(crate) fn old_gnu_header(
    blk: &Block,
    out: &mut Vec<SparseRegion>,
    max: usize,
) -> Result<bool, SparseError> {
    old_gnu_entries(blk, GNU_SPARSE, GNU_SPARSE_ENTRIES, out, max)?;
    Ok(blk[GNU_IS_EXTENDED] > 0)
}

/// One extension block's entries; whether more blocks follow.
pub(crate) fn old_gnu_extension(
    blk: &Block,
    out: &mut Vec<SparseRegion>,
    max: usize,
) -> Result<bool, SparseError> {
    old_gnu_entries(blk, 0, EXT_SPARSE_ENTRIES, out, max)?;
    Ok(blk[EXT_IS_EXTENDED] > 0)
}

/// Incremental parser of the PAX 1.0 map: decimal numbers, one per line, at the start of the data
/// section, padded to whole blocks. Fed one block at a time.
#[derive(Debug, Default)]
pub(crate) struct MapV1 {
    /// Numbers parsed so far (count first).
    numbers: Vec<i64>,
    /// Digits of a number split across blocks.
    partial: Vec<u8>,
    /// Entries announced by the first line.
    count: Option<usize>,
}

impl MapV1 {
    /// Feeds one block; returns whether the map is complete (Go stops reading at the block where
    /// the last needed newline is).
    pub fn feed(&mut self, blk: &[u8], max: usize) -> Result<bool, SparseError> {
        for &c in blk {
            if self.done() {
                break;
            }
            if c == b'\n' {
                let n = parse_decimal(&self.partial)
                    .ok_or_else(|| SparseError("bad number in the PAX 1.0 sparse map".into()))?;
                self.partial.clear();
                if self.count.is_none() {
                    if n < 0 {
                        return Err(SparseError("negative sparse entry count".into()));
                    }
                    if n as u64 > max as u64 {
                        return Err(too_many(max));
                    }
                    self.count = Some(n as usize);
                } else {
                    self.numbers.push(n);
                }
            } else {
                if self.partial.len() >= 32 {
                    return Err(SparseError(
                        "overlong number in the PAX 1.0 sparse map".into(),
                    ));
                }
                self.partial.push(c);
            }
        }
        Ok(self.done())
    }

    fn done(&self) -> bool {
        self.count.is_some_and(|n| self.numbers.len() == 2 * n)
    }

    /// The regions read.
    pub fn regions(&self) -> Result<Vec<SparseRegion>, SparseError> {
        self.numbers
            .chunks_exact(2)
            .map(|p| region(p[0], p[1]))
            .collect()
    }
}

/// Checks the map as Go's `validateSparseEntries` (sorted, non-overlapping, within the real size),
/// and that the runs add up to the physical data size. Returns nothing on success.
pub(crate) fn validate(
    regions: &[SparseRegion],
    real_size: u64,
    physical: u64,
) -> Result<(), SparseError> {
    let mut prev_end = 0u64;
    let mut total = 0u64;
    for r in regions {
        let end = r
            .offset
            .checked_add(r.length)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| SparseError("region offset + length overflows".into()))?;
        if end > real_size {
            return Err(SparseError("region extends beyond the real size".into()));
        }
        if prev_end > r.offset {
            return Err(SparseError("regions overlap or are out of order".into()));
        }
        prev_end = end;
        total += r.length;
    }
    if total != physical {
        return Err(SparseError(format!(
            "the map holds {total} bytes of data but the member has {physical}"
        )));
    }
    Ok(())
}

/// Walks the physical data of a sparse member and feeds the logical content (holes as zeros) to
/// a CRC.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogicalCrc {
    regions: Vec<SparseRegion>,
    /// Index of the region being read.
    index: usize,
    /// Logical offset up to which the CRC has been fed.
    pos: u64,
}

impl LogicalCrc {
    /// Starts at the beginning of the member.
    pub fn new(regions: Vec<SparseRegion>) -> Self {
        LogicalCrc {
            regions,
            index: 0,
            pos: 0,
        }
    }

    /// Feeds the next physical bytes.
    pub fn feed(&mut self, crc: &mut Crc64, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(r) = self.regions.get(self.index).copied() else {
                return;
            };
            let end = r.offset + r.length;
            if self.pos >= end {
                self.index += 1;
                continue;
            }
            if self.pos < r.offset {
                crc.update_zeros(r.offset - self.pos);
                self.pos = r.offset;
            }
            let take = data.len().min((end - self.pos) as usize);
            crc.update(&data[..take]);
            self.pos += take as u64;
            data = &data[take..];
        }
    }

    /// Feeds the zeros after the last run, up to the real size.
    pub fn finish(&mut self, crc: &mut Crc64, real_size: u64) {
        if real_size > self.pos {
            crc.update_zeros(real_size - self.pos);
            self.pos = real_size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crc64::crc64;

    fn r(offset: u64, length: u64) -> SparseRegion {
        SparseRegion { offset, length }
    }

    #[test]
    fn validation() {
        assert!(validate(&[r(0, 5), r(10, 5)], 20, 10).is_ok());
        assert!(validate(&[r(10, 5), r(0, 5)], 20, 10).is_err());
        assert!(validate(&[r(0, 5), r(4, 5)], 20, 10).is_err());
        assert!(validate(&[r(0, 5), r(10, 15)], 20, 20).is_err());
        assert!(validate(&[r(0, 5)], 20, 6).is_err());
        assert!(validate(&[], 20, 0).is_ok());
    }

    #[test]
    fn logical_crc_matches_expanded() {
        let regions = vec![r(3, 4), r(7, 0), r(20, 2)];
        let physical = b"abcdXY";
        let mut expanded = vec![0u8; 30];
        expanded[3..7].copy_from_slice(b"abcd");
        expanded[20..22].copy_from_slice(b"XY");
        for split in 0..=physical.len() {
            let mut crc = Crc64::new();
            let mut walk = LogicalCrc::new(regions.clone());
            walk.feed(&mut crc, &physical[..split]);
            walk.feed(&mut crc, &physical[split..]);
            walk.finish(&mut crc, 30);
            assert_eq!(crc.sum(), crc64(&expanded));
        }
    }

    #[test]
    fn map_v1_across_blocks() {
        let mut m = MapV1::default();
        let mut blk = vec![0u8; 512];
        let text = b"2\n0\n5\n1";
        blk[..text.len()].copy_from_slice(text);
        assert!(!m.feed(&blk[..text.len()], 100).unwrap());
        assert!(m.feed(b"0\n3\n", 100).unwrap());
        assert_eq!(m.regions().unwrap(), vec![r(0, 5), r(10, 3)]);
    }
}
