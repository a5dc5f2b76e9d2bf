//! Parses one logical member: the extension headers (PAX `x`, GNU `L`/`K`), the member's header,
//! and its sparse map, as Go's `archive/tar` `Reader.Next` does. Every byte consumed is appended
//! to the caller's raw buffer, which becomes the member's tar-split segment.

use base64::Engine;

use crate::block::{self, cstr, is_zero, padding, Block, Format, HeaderError, BLOCK};
use crate::error::show;
use crate::input::Source;
use crate::pax::{self, PaxRecords};
use crate::sparse::{self, MapV1, PaxSparse};
use crate::{EntryKind, Error, Header, Limits, SparseMap, SparseRegion, Timestamp};

/// A member found by [`parse_member`].
#[derive(Debug)]
pub(crate) struct Member {
    /// The merged header handed to callers.
    pub header: Header,
    /// The size the Go tar-split records in the file entry (`hdr.Size`): the logical size for
    /// sparse members, the header's size field for header-only kinds, 0 for global headers.
    pub entry_size: u64,
    /// Bytes of data that follow in the stream (the runs back to back for sparse members).
    pub physical: u64,
    /// Padding after the data.
    pub pad_after: u64,
    /// Offset of the member's own header block.
    pub offset: u64,
}

/// The outcome of [`parse_member`].
#[derive(Debug)]
pub(crate) enum Step {
    /// A member.
    Member(Box<Member>),
    /// The archive ended: end-of-archive blocks, or the end of the input at a member boundary
    /// or inside the previous member's padding (the bytes read are in the raw buffer).
    End,
}

fn eof(src: &impl Source, what: impl Into<String>) -> Error {
    Error::UnexpectedEof {
        offset: src.offset(),
        what: what.into(),
    }
}

fn invalid(offset: u64, reason: impl Into<String>) -> Error {
    Error::InvalidHeader {
        offset,
        reason: reason.into(),
    }
}

/// Reads exactly `n` bytes into `raw`, or fails with an unexpected-EOF error naming `what`.
fn take_exact(src: &mut impl Source, n: u64, raw: &mut Vec<u8>, what: &str) -> Result<(), Error> {
    if src.take(n, raw)? < n {
        return Err(eof(src, what));
    }
    Ok(())
}

/// Reads a block into `raw` and returns a copy; `None` at a clean end of input.
fn take_block(
    src: &mut impl Source,
    raw: &mut Vec<u8>,
    what: &str,
) -> Result<Option<Block>, Error> {
    let at = raw.len();
    let got = src.take(BLOCK as u64, raw)?;
    if got == 0 {
        return Ok(None);
    }
    if got < BLOCK as u64 {
        // Go does not record a partial block; neither do we (the stream is refused anyway).
        raw.truncate(at);
        return Err(eof(src, what));
    }
    let mut blk = [0u8; BLOCK];
    blk.copy_from_slice(&raw[at..]);
    Ok(Some(blk))
}

/// Refuses a member whose headers (extension headers with their data, the header, sparse
/// blocks and maps) would exceed [`Limits::max_header_size`] once `more` bytes are added.
fn check_budget(
    raw: &[u8],
    start: usize,
    more: u64,
    offset: u64,
    limits: &Limits,
) -> Result<(), Error> {
    let total = (raw.len() - start) as u64 + more;
    if total > limits.max_header_size {
        return Err(Error::ExtensionTooLarge {
            offset,
            kind: "all headers of one member",
            size: total,
            limit: limits.max_header_size,
        });
    }
    Ok(())
}

/// Parses the next member, after consuming `pad` bytes of the previous member's padding.
pub(crate) fn parse_member(
    src: &mut impl Source,
    raw: &mut Vec<u8>,
    mut pad: u64,
    limits: &Limits,
) -> Result<Step, Error> {
    let mut pax: Option<(PaxRecords, u64)> = None;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut start = raw.len();
    loop {
        if pad > 0 {
            // A stream that stops inside padding ends cleanly, as in Go; unlike Go, the partial
            // padding stays in `raw` and is recorded.
            if src.take(pad, raw)? < pad {
                return Ok(Step::End);
            }
            if pax.is_none() && long_name.is_none() && long_link.is_none() {
                // The previous member's padding does not count against this member's budget.
                start = raw.len();
            }
        }
        let offset = src.offset();
        check_budget(raw, start, BLOCK as u64, offset, limits)?;
        let Some(blk) = take_block(src, raw, "a header block")? else {
            return Ok(Step::End);
        };
        if is_zero(&blk) {
            return match take_block(src, raw, "the end-of-archive marker")? {
                Some(second) if !is_zero(&second) => Err(invalid(
                    offset + BLOCK as u64,
                    "a zero block followed by a non-zero block",
                )),
                _ => Ok(Step::End),
            };
        }
        let rh = block::parse_header(&blk).map_err(|e| match e {
            HeaderError::Checksum => Error::BadChecksum { offset },
            HeaderError::Number(field) => {
                invalid(offset, format!("the {field} field is not a valid number"))
            }
        })?;
        let (kind, limit_kind) = match rh.typeflag {
            b'x' => (Ext::Pax, "PAX"),
            b'g' => (Ext::Global, "PAX global"),
            b'L' => (Ext::LongName, "GNU long name"),
            b'K' => (Ext::LongLink, "GNU long link"),
            _ => {
                let ext = Extensions {
                    pax,
                    long_name,
                    long_link,
                    start,
                };
                return build_member(src, raw, &blk, rh, offset, ext, limits);
            }
        };
        if rh.size < 0 {
            return Err(invalid(offset, "negative size"));
        }
        let size = rh.size as u64;
        if size > limits.max_extension_size {
            return Err(Error::ExtensionTooLarge {
                offset,
                kind: limit_kind,
                size,
                limit: limits.max_extension_size,
            });
        }
        let at = raw.len();
        take_exact(
            src,
            size,
            raw,
            &format!("the data of a {limit_kind} header"),
        )?;
        let data = &raw[at..];
        match kind {
            Ext::Pax => {
                let recs = pax::parse_records(data).map_err(|e| Error::InvalidPax {
                    offset,
                    reason: e.0,
                })?;
                pax = Some((recs, offset));
            }
            Ext::Global => {
                let recs = pax::parse_records(data).map_err(|e| Error::InvalidPax {
                    offset,
                    reason: e.0,
                })?;
                let mut h = rh;
                merge_pax(&mut h, &recs, offset)?;
                let mut header = to_header(h, EntryKind::GlobalHeader, 0, None, offset)?;
                pax_extras(&recs, &mut header);
                check_path_len(&header, offset, limits)?;
                // The global header's padding opens the next segment, as in Go.
                return Ok(Step::Member(Box::new(Member {
                    header,
                    entry_size: 0,
                    physical: 0,
                    pad_after: padding(size),
                    offset,
                })));
            }
            Ext::LongName => long_name = Some(cstr(data).to_vec()),
            Ext::LongLink => long_link = Some(cstr(data).to_vec()),
        }
        pad = padding(size);
    }
}

enum Ext {
    Pax,
    Global,
    LongName,
    LongLink,
}

/// Header-only typeflags: no data follows whatever the size field says.
fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1'..=b'6')
}

/// What the extension headers before a member gave, and where its headers start in `raw`.
struct Extensions {
    pax: Option<(PaxRecords, u64)>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    start: usize,
}

fn build_member(
    src: &mut impl Source,
    raw: &mut Vec<u8>,
    blk: &Block,
    mut h: block::RawHeader,
    offset: u64,
    ext: Extensions,
    limits: &Limits,
) -> Result<Step, Error> {
    let Extensions {
        pax,
        long_name,
        long_link,
        start,
    } = ext;
    if let Some((recs, pax_offset)) = &pax {
        merge_pax(&mut h, recs, *pax_offset)?;
    }
    if let Some(n) = long_name.filter(|n| !n.is_empty()) {
        h.name = n;
    }
    if let Some(l) = long_link.filter(|l| !l.is_empty()) {
        h.link_name = l;
    }
    let mut typeflag = h.typeflag;
    if typeflag == 0 && h.name.ends_with(b"/") {
        // Legacy archives mark directories by a trailing slash.
        typeflag = b'5';
    }
    let hdr_only = header_only(typeflag);
    if h.size < 0 {
        return Err(invalid(
            offset,
            format!("negative size for {:?}", show(&h.name)),
        ));
    }
    let mut physical = if hdr_only { 0 } else { h.size as u64 };
    let pad_after = padding(physical);
    let max = limits.max_sparse_regions;
    let sparse_err = |name: &[u8], e: sparse::SparseError| Error::InvalidSparse {
        name: show(name),
        offset,
        reason: e.0,
    };

    let mut sparse: Option<Vec<SparseRegion>> = None;
    if typeflag == b'S' {
        if h.format != Format::Gnu {
            return Err(invalid(
                offset,
                "old GNU sparse header without the GNU magic",
            ));
        }
        h.size = block::gnu_real_size(blk)
            .map_err(|_| invalid(offset, "the GNU real size is not a valid number"))?;
        let mut regions = Vec::new();
        let mut more =
            sparse::old_gnu_header(blk, &mut regions, max).map_err(|e| sparse_err(&h.name, e))?;
        while more {
            check_budget(raw, start, BLOCK as u64, offset, limits)?;
            let Some(ext) = take_block(src, raw, "a GNU sparse extension block")? else {
                return Err(eof(src, "a GNU sparse extension block"));
            };
            more = sparse::old_gnu_extension(&ext, &mut regions, max)
                .map_err(|e| sparse_err(&h.name, e))?;
        }
        sparse = Some(regions);
    } else if let Some((recs, pax_offset)) = &pax {
        if let Some(version) = sparse::pax_sparse_version(recs) {
            let name = recs.get_or_empty(pax::SPARSE_NAME);
            if !name.is_empty() {
                h.name = name.to_vec();
            }
            let mut size = recs.get_or_empty(pax::SPARSE_SIZE);
            if size.is_empty() {
                size = recs.get_or_empty(pax::SPARSE_REALSIZE);
            }
            if !size.is_empty() {
                h.size = pax::parse_decimal(size).ok_or_else(|| Error::InvalidPax {
                    offset: *pax_offset,
                    reason: "bad GNU sparse size".into(),
                })?;
            }
            let regions = match version {
                PaxSparse::V0 => {
                    sparse::map_from_records(recs, max).map_err(|e| sparse_err(&h.name, e))?
                }
                PaxSparse::V1 => {
                    // The map opens the data section; it is recorded with the header.
                    let mut map = MapV1::default();
                    let mut map_len = 0u64;
                    loop {
                        if physical < BLOCK as u64 {
                            return Err(sparse_err(
                                &h.name,
                                sparse::SparseError(
                                    "the sparse map runs past the member's data".into(),
                                ),
                            ));
                        }
                        if map_len + BLOCK as u64 > limits.max_extension_size {
                            return Err(Error::ExtensionTooLarge {
                                offset,
                                kind: "sparse map",
                                size: map_len + BLOCK as u64,
                                limit: limits.max_extension_size,
                            });
                        }
                        check_budget(raw, start, BLOCK as u64, offset, limits)?;
                        let Some(b) = take_block(src, raw, "a PAX 1.0 sparse map")? else {
                            return Err(eof(src, "a PAX 1.0 sparse map"));
                        };
                        physical -= BLOCK as u64;
                        map_len += BLOCK as u64;
                        if map.feed(&b, max).map_err(|e| sparse_err(&h.name, e))? {
                            break;
                        }
                    }
                    map.regions().map_err(|e| sparse_err(&h.name, e))?
                }
            };
            sparse = Some(regions);
        }
    }

    let kind = match typeflag {
        b'0' | 0 | b'7' | b'S' => EntryKind::Regular,
        b'1' => EntryKind::HardLink,
        b'2' => EntryKind::Symlink,
        b'3' => EntryKind::CharDevice,
        b'4' => EntryKind::BlockDevice,
        b'5' | b'D' => EntryKind::Directory,
        b'6' => EntryKind::Fifo,
        other => EntryKind::Other(other),
    };
    if h.size < 0 {
        return Err(invalid(
            offset,
            format!("negative size for {:?}", show(&h.name)),
        ));
    }
    let entry_size = h.size as u64;
    let sparse_map = match sparse {
        Some(regions) => {
            if hdr_only {
                return Err(invalid(offset, "a sparse map on a header-only member"));
            }
            sparse::validate(&regions, entry_size, physical).map_err(|e| sparse_err(&h.name, e))?;
            Some(SparseMap {
                regions,
                real_size: entry_size,
            })
        }
        None => None,
    };
    let logical = if hdr_only { 0 } else { entry_size };
    let mut header = to_header(h, kind, logical, sparse_map, offset)?;
    if let Some((recs, _)) = &pax {
        pax_extras(recs, &mut header);
    }
    check_path_len(&header, offset, limits)?;
    Ok(Step::Member(Box::new(Member {
        header,
        entry_size,
        physical,
        pad_after,
        offset,
    })))
}

fn check_path_len(h: &Header, offset: u64, limits: &Limits) -> Result<(), Error> {
    let len = h.path.len().max(h.link_name.len());
    if len > limits.max_path_len {
        return Err(Error::PathTooLong {
            offset,
            len,
            limit: limits.max_path_len,
        });
    }
    Ok(())
}

/// Applies PAX records to a header as Go's `mergePAX` (empty values keep the header's value).
fn merge_pax(h: &mut block::RawHeader, recs: &PaxRecords, offset: u64) -> Result<(), Error> {
    let bad = |k: &[u8]| Error::InvalidPax {
        offset,
        reason: format!("bad value for {:?}", show(k)),
    };
    for (k, v) in recs.iter() {
        if v.is_empty() {
            continue;
        }
        match k {
            pax::PATH => h.name = v.to_vec(),
            pax::LINKPATH => h.link_name = v.to_vec(),
            pax::UNAME => h.uname = v.to_vec(),
            pax::GNAME => h.gname = v.to_vec(),
            pax::UID => h.uid = pax::parse_decimal(v).ok_or_else(|| bad(k))?,
            pax::GID => h.gid = pax::parse_decimal(v).ok_or_else(|| bad(k))?,
            pax::SIZE => h.size = pax::parse_decimal(v).ok_or_else(|| bad(k))?,
            pax::MTIME | pax::ATIME | pax::CTIME => {
                pax::parse_time(v).ok_or_else(|| bad(k))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The PAX records' times and xattrs, which [`merge_pax`] validated.
fn pax_extras(recs: &PaxRecords, h: &mut Header) {
    for (k, v) in recs.iter() {
        if let Some(name) = k.strip_prefix(pax::SCHILY_XATTR) {
            set_xattr(&mut h.xattrs, name.to_vec(), v.to_vec(), true);
            continue;
        }
        if let Some(name) = k.strip_prefix(pax::LIBARCHIVE_XATTR) {
            // libarchive percent-encodes the name and base64-encodes the value.
            if let (Some(name), Some(value)) = (percent_decode(name), base64_decode(v)) {
                set_xattr(&mut h.xattrs, name, value, false);
            }
            continue;
        }
        if v.is_empty() {
            continue;
        }
        match k {
            pax::MTIME => {
                if let Some((secs, nanos)) = pax::parse_time(v) {
                    h.mtime = Timestamp { secs, nanos };
                }
            }
            pax::ATIME => {
                if let Some((secs, nanos)) = pax::parse_time(v) {
                    h.atime = Some(Timestamp { secs, nanos });
                }
            }
            _ => {}
        }
    }
}

/// Records an xattr; a `SCHILY` value wins over a `LIBARCHIVE` one for the same name (bsdtar
/// writes both).
fn set_xattr(xattrs: &mut Vec<(Vec<u8>, Vec<u8>)>, name: Vec<u8>, value: Vec<u8>, schily: bool) {
    if let Some(slot) = xattrs.iter_mut().find(|(n, _)| *n == name) {
        if schily {
            slot.1 = value;
        }
        return;
    }
    xattrs.push((name, value));
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed: &[u8] = {
        let end = s.iter().rposition(|&c| c != b'=').map_or(0, |e| e + 1);
        &s[..end]
    };
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()
}

fn to_header(
    h: block::RawHeader,
    kind: EntryKind,
    size: u64,
    sparse: Option<SparseMap>,
    offset: u64,
) -> Result<Header, Error> {
    let id = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| invalid(offset, format!("negative {what}")))
    };
    let dev = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| invalid(offset, format!("{what} out of range")))
    };
    let link_name = match kind {
        EntryKind::HardLink | EntryKind::Symlink => h.link_name,
        _ => Vec::new(),
    };
    Ok(Header {
        kind,
        path: h.name,
        link_name,
        mode: (h.mode & 0o7777) as u32,
        uid: id(h.uid, "uid")?,
        gid: id(h.gid, "gid")?,
        uname: h.uname,
        gname: h.gname,
        mtime: Timestamp {
            secs: h.mtime,
            nanos: 0,
        },
        atime: h.atime.map(|secs| Timestamp { secs, nanos: 0 }),
        dev_major: dev(h.dev_major, "device major")?,
        dev_minor: dev(h.dev_minor, "device minor")?,
        xattrs: Vec::new(),
        size,
        sparse,
    })
}
