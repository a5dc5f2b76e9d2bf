//! The 512-byte tar header block: field layout, number parsing and format detection, following
//! Go's `archive/tar` (the reader the Go tar-split forks), so that both accept the same headers.

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// A header block.
pub(crate) type Block = [u8; BLOCK];

/// Bytes needed to pad `n` bytes of data to a whole block.
pub(crate) fn padding(n: u64) -> u64 {
    (BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64
}

/// The header layouts Go distinguishes by magic (after the checksum is verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// No magic: Unix V7.
    V7,
    /// `ustar\0` + `00`-ish: POSIX ustar or PAX, with a 155-byte prefix.
    Ustar,
    /// `ustar\0` with the `tar\0` trailer: STAR, with a 131-byte prefix and times.
    Star,
    /// `ustar ` + ` \0`: GNU (and old GNU), with atime/ctime and the sparse area.
    Gnu,
}

// Field offsets (POSIX ustar and the GNU/STAR variants).
const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 108);
const UID: (usize, usize) = (108, 116);
const GID: (usize, usize) = (116, 124);
const SIZE: (usize, usize) = (124, 136);
const MTIME: (usize, usize) = (136, 148);
const CHKSUM: (usize, usize) = (148, 156);
pub(crate) const TYPEFLAG: usize = 156;
const LINKNAME: (usize, usize) = (157, 257);
const MAGIC: (usize, usize) = (257, 263);
const VERSION: (usize, usize) = (263, 265);
const UNAME: (usize, usize) = (265, 297);
const GNAME: (usize, usize) = (297, 329);
const DEVMAJOR: (usize, usize) = (329, 337);
const DEVMINOR: (usize, usize) = (337, 345);
const USTAR_PREFIX: (usize, usize) = (345, 500);
const STAR_PREFIX: (usize, usize) = (345, 476);
const STAR_ATIME: (usize, usize) = (476, 488);
const STAR_CTIME: (usize, usize) = (488, 500);
const STAR_TRAILER: (usize, usize) = (508, 512);
const GNU_ATIME: (usize, usize) = (345, 357);
const GNU_CTIME: (usize, usize) = (357, 369);
/// Old GNU sparse area in the header: 4 entries of (offset, length), 12 bytes each.
pub(crate) const GNU_SPARSE: usize = 386;
/// Number of sparse entries in the header.
pub(crate) const GNU_SPARSE_ENTRIES: usize = 4;
/// "More sparse entries follow in extension blocks".
pub(crate) const GNU_IS_EXTENDED: usize = 482;
const GNU_REALSIZE: (usize, usize) = (483, 495);
/// Sparse entries in one extension block, and the position of its continuation flag.
pub(crate) const EXT_SPARSE_ENTRIES: usize = 21;
pub(crate) const EXT_IS_EXTENDED: usize = 504;

fn field(b: &Block, f: (usize, usize)) -> &[u8] {
    &b[f.0..f.1]
}

/// The bytes up to the first NUL.
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    match memchr_nul(b) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn memchr_nul(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

/// A numeric field could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadNumber;

/// Parses an octal field (leading/trailing spaces and NULs ignored, stops at an inner NUL), as
/// Go's `parseOctal`. Values of 2^63 and above come out negative, as in Go.
pub(crate) fn parse_octal(b: &[u8]) -> Result<i64, BadNumber> {
    let start = b.iter().position(|&c| c != b' ' && c != 0);
    let Some(start) = start else { return Ok(0) };
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(start, |e| e + 1);
    let digits = cstr(&b[start..end]);
    if digits.is_empty() {
        return Err(BadNumber);
    }
    let mut x: u64 = 0;
    for &c in digits {
        if !(b'0'..=b'7').contains(&c) {
            return Err(BadNumber);
        }
        x = x
            .checked_mul(8)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .ok_or(BadNumber)?;
    }
    Ok(x as i64)
}

/// Parses a numeric field: base-256 (GNU, high bit set) or octal, as Go's `parseNumeric`.
pub(crate) fn parse_numeric(b: &[u8]) -> Result<i64, BadNumber> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let inv: u8 = if b[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return Err(BadNumber);
            }
            x = x << 8 | u64::from(c);
        }
        if x >> 63 > 0 {
            return Err(BadNumber);
        }
        return Ok(if inv == 0xff { !(x as i64) } else { x as i64 });
    }
    parse_octal(b)
}

/// The two checksums Go accepts: bytes summed as unsigned and as signed, with the checksum field
/// counted as spaces.
fn checksums(b: &Block) -> (i64, i64) {
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let c = if (CHKSUM.0..CHKSUM.1).contains(&i) {
            b' '
        } else {
            c
        };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    (unsigned, signed)
}

/// Verifies the checksum and guesses the format from the magic, as Go's `GetFormat`. `None`
/// means "not a valid header".
pub(crate) fn format_of(b: &Block) -> Option<Format> {
    let value = parse_octal(field(b, CHKSUM)).ok()?;
    let (u, s) = checksums(b);
    if value != u && value != s {
        return None;
    }
    let magic = field(b, MAGIC);
    let version = field(b, VERSION);
    Some(
        if magic == b"ustar\0" && field(b, STAR_TRAILER) == b"tar\0" {
            Format::Star
        } else if magic == b"ustar\0" {
            Format::Ustar
        } else if magic == b"ustar " && version == b" \0" {
            Format::Gnu
        } else {
            Format::V7
        },
    )
}

/// Whether every byte of `b` is zero.
pub(crate) fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&c| c == 0)
}

/// The fields of one header block, before extension headers are applied.
#[derive(Debug, Clone)]
pub(crate) struct RawHeader {
    pub format: Format,
    pub typeflag: u8,
    /// Name, with the ustar/star prefix joined.
    pub name: Vec<u8>,
    pub link_name: Vec<u8>,
    pub size: i64,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub mtime: i64,
    pub atime: Option<i64>,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub dev_major: i64,
    pub dev_minor: i64,
}

/// Why a block is not a usable header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Checksum mismatch or unparsable checksum.
    Checksum,
    /// A numeric field that is not a number.
    Number(&'static str),
}

/// Parses a header block as Go's `readHeader` does.
pub(crate) fn parse_header(b: &Block) -> Result<RawHeader, HeaderError> {
    let format = format_of(b).ok_or(HeaderError::Checksum)?;
    let num = |f: (usize, usize), what: &'static str| {
        parse_numeric(field(b, f)).map_err(|_| HeaderError::Number(what))
    };
    let mut h = RawHeader {
        format,
        typeflag: b[TYPEFLAG],
        name: cstr(field(b, NAME)).to_vec(),
        link_name: cstr(field(b, LINKNAME)).to_vec(),
        size: num(SIZE, "size")?,
        mode: num(MODE, "mode")?,
        uid: num(UID, "uid")?,
        gid: num(GID, "gid")?,
        mtime: num(MTIME, "mtime")?,
        atime: None,
        uname: Vec::new(),
        gname: Vec::new(),
        dev_major: 0,
        dev_minor: 0,
    };
    if format == Format::V7 {
        return Ok(h);
    }
    h.uname = cstr(field(b, UNAME)).to_vec();
    h.gname = cstr(field(b, GNAME)).to_vec();
    h.dev_major = num(DEVMAJOR, "devmajor")?;
    h.dev_minor = num(DEVMINOR, "devminor")?;
    let prefix: &[u8] = match format {
        Format::Ustar => cstr(field(b, USTAR_PREFIX)),
        Format::Star => {
            let atime = field(b, STAR_ATIME);
            h.atime = Some(num(STAR_ATIME, "atime")?).filter(|_| !is_zero(atime));
            num(STAR_CTIME, "ctime")?;
            cstr(field(b, STAR_PREFIX))
        }
        Format::Gnu => {
            let atime = field(b, GNU_ATIME);
            let ctime = field(b, GNU_CTIME);
            let parsed_atime = if atime[0] != 0 {
                parse_numeric(atime).map(Some)
            } else {
                Ok(None)
            };
            let ctime_ok = ctime[0] == 0 || parse_numeric(ctime).is_ok();
            match parsed_atime {
                Ok(a) if ctime_ok => {
                    h.atime = a;
                    &[]
                }
                // Go before 1.8 wrote a ustar prefix into GNU headers; Go reads the field as a
                // prefix when the times do not parse and it is ASCII.
                _ => {
                    let p = cstr(field(b, USTAR_PREFIX));
                    if p.is_ascii() {
                        p
                    } else {
                        &[]
                    }
                }
            }
        }
        Format::V7 => &[],
    };
    if !prefix.is_empty() {
        let mut name = Vec::with_capacity(prefix.len() + 1 + h.name.len());
        name.extend_from_slice(prefix);
        name.push(b'/');
        name.extend_from_slice(&h.name);
        h.name = name;
    }
    Ok(h)
}

/// The old GNU real size field of a GNU header.
pub(crate) fn gnu_real_size(b: &Block) -> Result<i64, BadNumber> {
    parse_numeric(field(b, GNU_REALSIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_like_go() {
        assert_eq!(parse_octal(b"0000644\0"), Ok(0o644));
        assert_eq!(parse_octal(b"  644 \0"), Ok(0o644));
        assert_eq!(parse_octal(b"\0\0\0"), Ok(0));
        assert_eq!(parse_octal(b"12\x003"), Ok(0o12));
        assert_eq!(parse_octal(b"0x12"), Err(BadNumber));
        assert_eq!(parse_octal(b"9"), Err(BadNumber));
        assert_eq!(parse_octal(b"1777777777777777777777"), Ok(-1));
        assert_eq!(parse_octal(b"3777777777777777777777"), Err(BadNumber));
    }

    #[test]
    fn base256_like_go() {
        assert_eq!(
            parse_numeric(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Ok(256)
        );
        assert_eq!(parse_numeric(&[0xff; 12]), Ok(-1));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[3] = 0x80;
        assert_eq!(parse_numeric(&big), Err(BadNumber));
    }

    #[test]
    fn padding_sizes() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
