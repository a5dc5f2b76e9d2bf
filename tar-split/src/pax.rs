//! PAX extended header records (`x` and `g` members): record syntax and value parsing, following
//! Go's `archive/tar` so that both accept and refuse the same archives.

/// A PAX record could not be parsed, or a value is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaxError(pub String);

/// Keys with meaning to the reader.
pub(crate) const PATH: &[u8] = b"path";
pub(crate) const LINKPATH: &[u8] = b"linkpath";
pub(crate) const UNAME: &[u8] = b"uname";
pub(crate) const GNAME: &[u8] = b"gname";
pub(crate) const UID: &[u8] = b"uid";
pub(crate) const GID: &[u8] = b"gid";
pub(crate) const ATIME: &[u8] = b"atime";
pub(crate) const MTIME: &[u8] = b"mtime";
pub(crate) const CTIME: &[u8] = b"ctime";
pub(crate) const SIZE: &[u8] = b"size";
pub(crate) const SCHILY_XATTR: &[u8] = b"SCHILY.xattr.";
pub(crate) const LIBARCHIVE_XATTR: &[u8] = b"LIBARCHIVE.xattr.";
pub(crate) const SPARSE_MAJOR: &[u8] = b"GNU.sparse.major";
pub(crate) const SPARSE_MINOR: &[u8] = b"GNU.sparse.minor";
pub(crate) const SPARSE_NAME: &[u8] = b"GNU.sparse.name";
pub(crate) const SPARSE_SIZE: &[u8] = b"GNU.sparse.size";
pub(crate) const SPARSE_REALSIZE: &[u8] = b"GNU.sparse.realsize";
pub(crate) const SPARSE_NUMBLOCKS: &[u8] = b"GNU.sparse.numblocks";
pub(crate) const SPARSE_MAP: &[u8] = b"GNU.sparse.map";
const SPARSE_OFFSET: &[u8] = b"GNU.sparse.offset";
const SPARSE_NUMBYTES: &[u8] = b"GNU.sparse.numbytes";

/// The records of one PAX header, in archive order; a later record with the same key wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaxRecords {
    records: Vec<(Vec<u8>, Vec<u8>)>,
}

impl PaxRecords {
    /// The value of the last record named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.records
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of `key`, or empty when absent (Go's map lookup).
    pub fn get_or_empty(&self, key: &[u8]) -> &[u8] {
        self.get(key).unwrap_or(&[])
    }

    /// All records in archive order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.records
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// Parses the data of a PAX header. GNU sparse 0.0 `offset`/`numbytes` pairs are folded into one
/// `GNU.sparse.map` record, as Go does.
pub(crate) fn parse_records(mut buf: &[u8]) -> Result<PaxRecords, PaxError> {
    let mut out = PaxRecords::default();
    let mut sparse_map: Vec<u8> = Vec::new();
    let mut sparse_items = 0usize;
    while !buf.is_empty() {
        let (key, value, rest) = parse_record(buf)?;
        buf = rest;
        if key == SPARSE_OFFSET || key == SPARSE_NUMBYTES {
            let expect = if sparse_items % 2 == 0 {
                SPARSE_OFFSET
            } else {
                SPARSE_NUMBYTES
            };
            if key != expect || value.contains(&b',') {
                return Err(PaxError(
                    "GNU sparse 0.0 offset/numbytes records out of order".into(),
                ));
            }
            if sparse_items > 0 {
                sparse_map.push(b',');
            }
            sparse_map.extend_from_slice(value);
            sparse_items += 1;
        } else {
            out.records.push((key.to_vec(), value.to_vec()));
        }
    }
    if sparse_items > 0 {
        out.records.push((SPARSE_MAP.to_vec(), sparse_map));
    }
    Ok(out)
}

/// A record's key and value, and the bytes after it.
type Record<'s> = (&'s [u8], &'s [u8], &'s [u8]);

/// Parses one `"%d %s=%s\n"` record.
fn parse_record(s: &[u8]) -> Result<Record<'_>, PaxError> {
    let bad = |why: &str| PaxError(format!("malformed record: {why}"));
    let sp = s
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| bad("no length"))?;
    let n = parse_decimal(&s[..sp]).ok_or_else(|| bad("bad length"))?;
    if n < 5 || (s.len() as i64) < n {
        return Err(bad("bad length"));
    }
    let n = n as usize;
    let after_space = sp + 1;
    let before_nl = n - 1;
    if after_space >= before_nl {
        return Err(bad("bad length"));
    }
    if s[before_nl] != b'\n' {
        return Err(bad("no newline at the end"));
    }
    let rec = &s[after_space..before_nl];
    let eq = rec
        .iter()
        .position(|&c| c == b'=')
        .ok_or_else(|| bad("no '='"))?;
    let (k, v) = (&rec[..eq], &rec[eq + 1..]);
    if k.is_empty() {
        return Err(bad("empty key"));
    }
    let nul_checked = if [PATH, LINKPATH, UNAME, GNAME].contains(&k) {
        v
    } else {
        k
    };
    if nul_checked.contains(&0) {
        return Err(PaxError(format!(
            "NUL byte in record {:?}",
            String::from_utf8_lossy(k)
        )));
    }
    Ok((k, v, &s[n..]))
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, no overflow.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut x: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x * 10 + i128::from(c - b'0');
        if x > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let x = if neg { -x } else { x };
    i64::try_from(x).ok()
}

/// Go's `parsePAXTime`: seconds with an optional fraction (truncated to nanoseconds).
pub(crate) fn parse_time(s: &[u8]) -> Option<(i64, u32)> {
    let (ss, sn) = match s.iter().position(|&c| c == b'.') {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &[][..]),
    };
    let secs = parse_decimal(ss)?;
    if sn.is_empty() {
        return Some((secs, 0));
    }
    if !sn.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + sn.get(i).map_or(0, |&c| u32::from(c - b'0'));
    }
    if ss.first() == Some(&b'-') && nanos > 0 {
        // Go: time.Unix(secs, -nanos), normalised to a non-negative fraction.
        return Some((secs.checked_sub(1)?, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r = parse_records(b"30 mtime=1432668921.098285006\n18 path=a/b/c.txt\n").unwrap();
        assert_eq!(r.get(b"path"), Some(&b"a/b/c.txt"[..]));
        assert_eq!(r.get(b"mtime"), Some(&b"1432668921.098285006"[..]));
        assert!(parse_records(b"8 path=a\n").is_err());
        assert!(parse_records(b"0000000000000000000000000000000030 mtime=1432668921.098285006\n30 ctime=2147483649.15163319").is_err());
        assert!(parse_records(b"12 pa\0th=ab\n").is_err());
        assert!(parse_records(b"12 path=a\0b\n").is_err());
        assert!(parse_records(b"12 comm=a\0b\n").is_ok());
    }

    #[test]
    fn sparse_00_folded() {
        let r = parse_records(
            b"23 GNU.sparse.offset=0\n25 GNU.sparse.numbytes=5\n23 GNU.sparse.offset=9\n25 GNU.sparse.numbytes=1\n",
        )
        .unwrap();
        assert_eq!(r.get(SPARSE_MAP), Some(&b"0,5,9,1"[..]));
        assert!(parse_records(b"25 GNU.sparse.numbytes=5\n").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time(b"1350244992.023960108"),
            Some((1350244992, 23960108))
        );
        assert_eq!(parse_time(b"1350244992.3"), Some((1350244992, 300_000_000)));
        assert_eq!(parse_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_time(b"1.x"), None);
        assert_eq!(parse_decimal(b"+12"), Some(12));
        assert_eq!(parse_decimal(b"9223372036854775808"), None);
        assert_eq!(parse_decimal(b"-9223372036854775808"), Some(i64::MIN));
    }
}
