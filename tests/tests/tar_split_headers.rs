//! Header variants few tools write: STAR prefixes, PAX records overriding header fields, old-style
//! directories, GNU base-256 numbers; the merged header must say what the archive means.

use store_tests::raw_tar::{eoa, fix_checksum, header, member, octal_size, pax_record};
use tar_split::{EntryKind, Header, NullSink, TarReader, Timestamp};

fn headers(tar: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut tr = TarReader::new(tar, NullSink);
    let mut out = Vec::new();
    while let Some(h) = tr.next().unwrap() {
        let mut d = Vec::new();
        tr.copy_data_to(&mut d).unwrap();
        out.push((h, d));
    }
    assert_eq!(tr.finish().unwrap(), tar.len() as u64);
    out
}

#[test]
fn star_prefix_and_times() {
    let mut h = header(b"name.txt", b'0', &octal_size(3));
    h[345..352].copy_from_slice(b"star/pr");
    h[476..487].copy_from_slice(b"14530232001");
    h[508..512].copy_from_slice(b"tar\0");
    fix_checksum(&mut h);
    let mut tar = h.to_vec();
    tar.extend_from_slice(b"abc");
    tar.resize(1024, 0);
    tar.extend(eoa());
    let hs = headers(&tar);
    assert_eq!(hs[0].0.path, b"star/pr/name.txt");
    assert_eq!(
        hs[0].0.atime,
        Some(Timestamp {
            secs: 0o14530232001,
            nanos: 0
        })
    );
    assert_eq!(hs[0].1, b"abc");
}

#[test]
fn ustar_prefix() {
    let mut h = header(b"name.txt", b'0', &octal_size(0));
    h[345..356].copy_from_slice(b"some/prefix");
    fix_checksum(&mut h);
    let mut tar = h.to_vec();
    tar.extend(eoa());
    assert_eq!(headers(&tar)[0].0.path, b"some/prefix/name.txt");
}

#[test]
fn pax_records_override_the_header() {
    let recs = [
        pax_record("path", "ünïcode/long/path".as_bytes()),
        pax_record("size", b"5"),
        pax_record("uid", b"123456789"),
        pax_record("gid", b"987654321"),
        pax_record("uname", b"someone"),
        pax_record("mtime", b"1700000000.123456789"),
        pax_record("atime", b"1600000000"),
        pax_record("SCHILY.xattr.user.k", b"v\0with nul"),
        pax_record("hdrcharset", b"BINARY"),
    ]
    .concat();
    let mut tar = member(b"PaxHeaders/x", b'x', &recs);
    // The header's own size field says 0: the PAX size wins (as for files over 8 GiB).
    tar.extend(header(b"short", b'0', &octal_size(0)));
    tar.extend_from_slice(b"hello");
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend(eoa());
    let hs = headers(&tar);
    let h = &hs[0].0;
    assert_eq!(h.path, "ünïcode/long/path".as_bytes());
    assert_eq!((h.size, h.uid, h.gid), (5, 123_456_789, 987_654_321));
    assert_eq!(h.uname, b"someone");
    assert_eq!(
        h.mtime,
        Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_789
        }
    );
    assert_eq!(
        h.atime,
        Some(Timestamp {
            secs: 1_600_000_000,
            nanos: 0
        })
    );
    assert_eq!(
        h.xattrs,
        vec![(b"user.k".to_vec(), b"v\0with nul".to_vec())]
    );
    assert_eq!(hs[0].1, b"hello");
}

#[test]
fn old_style_directory_by_trailing_slash() {
    // Typeflag NUL with a trailing slash is a directory (and so carries no data), as in Go.
    let mut tar = header(b"olddir/", 0, &octal_size(0)).to_vec();
    tar.extend(member(b"olddir/f", 0, b"x"));
    tar.extend(eoa());
    let hs = headers(&tar);
    assert_eq!(hs[0].0.kind, EntryKind::Directory);
    assert_eq!(hs[1].0.kind, EntryKind::Regular);
}

#[test]
fn base256_ids_and_negative_mtime() {
    let mut h = header(b"f", b'0', &octal_size(0));
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    let mut uid = [0u8; 8];
    uid[0] = 0x80;
    uid[4..8].copy_from_slice(&4_000_000_000u32.to_be_bytes());
    h[108..116].copy_from_slice(&uid);
    h[136..148].copy_from_slice(&[0xff; 12]); // -1 in base-256
    fix_checksum(&mut h);
    let mut tar = h.to_vec();
    tar.extend(eoa());
    let hs = headers(&tar);
    assert_eq!(hs[0].0.uid, 4_000_000_000);
    assert_eq!(hs[0].0.mtime.secs, -1);
}

#[test]
fn global_header_is_its_own_member() {
    let mut tar = member(b"pax_global_header", b'g', &pax_record("comment", b"hi"));
    tar.extend(member(b"f", b'0', b"data"));
    tar.extend(eoa());
    let hs = headers(&tar);
    assert_eq!(hs[0].0.kind, EntryKind::GlobalHeader);
    assert_eq!(hs[0].0.path, b"pax_global_header");
    assert_eq!(hs[0].0.size, 0);
    assert_eq!(hs[1].0.path, b"f");
}
