//! Hostile and malformed tar streams: every one gives a typed error (never a panic, never a
//! large allocation), and the archives Go accepts at a truncation point are accepted too.

use std::io::Read;

use store_tests::raw_tar::{eoa, fix_checksum, header, member, octal_size, pax_record};
use tar_split::{
    disassemble, disassemble_with_limits, Entry, Error, Limits, NullSink, TarReader, VecSink,
};

fn disasm(tar: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut sink = VecSink::default();
    disassemble(tar, std::io::sink(), &mut sink)?;
    Ok(sink.entries)
}

/// A small archive with a PAX header, a GNU long name, a file and a link.
fn sample() -> Vec<u8> {
    let mut t = Vec::new();
    let recs = [
        pax_record("path", b"dir/pax-named.txt"),
        pax_record("mtime", b"1700000000.5"),
    ]
    .concat();
    t.extend(member(b"PaxHeaders/x", b'x', &recs));
    t.extend(member(b"ignored", b'0', b"pax file data"));
    let long = vec![b'l'; 150];
    t.extend(member(b"././@LongLink", b'L', &long));
    t.extend(member(b"short", b'0', &[7u8; 700]));
    let mut link = header(b"hard", b'1', &octal_size(0));
    link[157..162].copy_from_slice(b"short");
    fix_checksum(&mut link);
    t.extend_from_slice(&link);
    t.extend(eoa());
    t
}

#[test]
fn sample_is_accepted() {
    let tar = sample();
    let mut sink = VecSink::default();
    let mut tr = TarReader::new(&tar[..], &mut sink);
    let mut names = Vec::new();
    while let Some(h) = tr.next().unwrap() {
        let mut data = Vec::new();
        tr.read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, h.size);
        names.push(String::from_utf8(h.path).unwrap());
        if names.len() == 1 {
            assert_eq!(h.mtime.nanos, 500_000_000);
        }
    }
    assert_eq!(tr.finish().unwrap(), tar.len() as u64);
    assert_eq!(names, ["dir/pax-named.txt", &"l".repeat(150), "hard"]);
}

#[test]
fn every_truncation_is_an_error_or_a_clean_end() {
    let tar = sample();
    for cut in 0..tar.len() {
        let prefix = &tar[..cut];
        let mut pass = Vec::new();
        match disassemble(prefix, &mut pass, NullSink) {
            Ok(n) => {
                assert_eq!(n, cut as u64);
                assert_eq!(pass, prefix);
            }
            Err(Error::UnexpectedEof { .. }) => {}
            Err(e) => panic!("cut at {cut}: unexpected error {e}"),
        }
    }
}

#[test]
fn truncated_data_is_an_error_truncated_padding_is_not() {
    let tar = sample();
    // Inside the 700-byte member's data (its header is at 3072).
    let data_start = 3584;
    assert!(matches!(
        disasm(&tar[..data_start + 100]),
        Err(Error::UnexpectedEof { .. })
    ));
    // Inside its padding: a clean end, the partial padding recorded.
    let entries = disasm(&tar[..data_start + 700 + 10]).unwrap();
    assert_eq!(entries.last(), Some(&Entry::Segment(vec![0; 10])));
}

#[test]
fn bad_checksum() {
    let mut tar = member(b"f", b'0', b"abc");
    tar[0] = b'g';
    tar.extend(eoa());
    assert!(matches!(
        disasm(&tar),
        Err(Error::BadChecksum { offset: 0 })
    ));
}

#[test]
fn non_octal_size() {
    let mut tar = header(b"f", b'0', b"0000000009x").to_vec();
    tar.extend(eoa());
    assert!(matches!(
        disasm(&tar),
        Err(Error::InvalidHeader { offset: 0, .. })
    ));
}

#[test]
fn base256_size_is_valid_and_negative_is_not() {
    let mut size = [0u8; 12];
    size[0] = 0x80;
    size[11] = 3;
    let mut tar = header(b"f", b'0', &size).to_vec();
    tar.extend_from_slice(b"abc");
    tar.resize(1024, 0);
    tar.extend(eoa());
    let entries = disasm(&tar).unwrap();
    assert!(entries
        .iter()
        .any(|e| matches!(e, Entry::File(f) if f.size == 3)));
    let mut tar = header(b"f", b'0', &[0xff; 12]).to_vec();
    tar.extend(eoa());
    assert!(matches!(disasm(&tar), Err(Error::InvalidHeader { .. })));
}

#[test]
fn huge_extension_claims_are_refused_before_allocating() {
    for typeflag in [b'L', b'K', b'x', b'g'] {
        // 8 GiB claimed, nothing behind it.
        let mut tar = header(b"ext", typeflag, &octal_size(8 << 30)).to_vec();
        tar.extend(eoa());
        match disasm(&tar) {
            Err(Error::ExtensionTooLarge { size, limit, .. }) => {
                assert_eq!(size, 8 << 30);
                assert_eq!(limit, 1 << 20);
            }
            other => panic!("typeflag {}: {other:?}", typeflag as char),
        }
    }
    let limits = Limits {
        max_extension_size: 100,
        ..Limits::default()
    };
    let mut tar = member(b"././@LongLink", b'L', &[b'a'; 200]);
    tar.extend(member(b"f", b'0', b""));
    tar.extend(eoa());
    let err = disassemble_with_limits(&tar[..], std::io::sink(), NullSink, limits).unwrap_err();
    assert!(
        matches!(err, Error::ExtensionTooLarge { size: 200, .. }),
        "{err}"
    );
}

#[test]
fn long_paths_over_the_limit() {
    let limits = Limits {
        max_path_len: 100,
        ..Limits::default()
    };
    let mut tar = member(b"././@LongLink", b'L', &[b'a'; 200]);
    tar.extend(member(b"f", b'0', b""));
    tar.extend(eoa());
    let err = disassemble_with_limits(&tar[..], std::io::sink(), NullSink, limits).unwrap_err();
    assert!(matches!(err, Error::PathTooLong { len: 200, .. }), "{err}");
}

#[test]
fn malformed_pax_records() {
    for recs in [
        &b"99 path=a\n"[..], // length beyond the data
        b"4 a\n",            // length too small for a record
        b"12 path=a\0b\n",   // NUL in the path
        b"12 pa\0th=ab\n",   // NUL in a key
        b"10 path=ab",       // no newline
        b"13 mtime=abc\n",   // bad number
        b"11 size=-5\n",     // negative size
        b"x path=a\n",       // bad length
    ] {
        let mut tar = member(b"PaxHeaders/x", b'x', recs);
        tar.extend(member(b"f", b'0', b""));
        tar.extend(eoa());
        match disasm(&tar) {
            Err(Error::InvalidPax { .. } | Error::InvalidHeader { .. }) => {}
            Err(e) => panic!("{:?}: {e}", String::from_utf8_lossy(recs)),
            Ok(_) => panic!("{:?}: accepted", String::from_utf8_lossy(recs)),
        }
    }
}

#[test]
fn zero_block_then_garbage() {
    let mut tar = member(b"f", b'0', b"abc");
    tar.extend([0u8; 512]);
    tar.extend(header(b"g", b'0', &octal_size(0)));
    assert!(matches!(disasm(&tar), Err(Error::InvalidHeader { .. })));
}

fn pax_sparse_member(records: &[u8], data: &[u8]) -> Vec<u8> {
    let mut tar = member(b"PaxHeaders/s", b'x', records);
    tar.extend(member(b"s", b'0', data));
    tar.extend(eoa());
    tar
}

#[test]
fn invalid_sparse_maps() {
    let map = |m: &str, n: &str, real: &str| {
        [
            pax_record("GNU.sparse.major", b"0"),
            pax_record("GNU.sparse.minor", b"1"),
            pax_record("GNU.sparse.numblocks", n.as_bytes()),
            pax_record("GNU.sparse.map", m.as_bytes()),
            pax_record("GNU.sparse.realsize", real.as_bytes()),
        ]
        .concat()
    };
    // Valid: two runs of 3 bytes in a 20-byte file.
    let ok = pax_sparse_member(&map("0,3,10,3", "2", "20"), b"abcdef");
    let entries = disasm(&ok).unwrap();
    assert!(entries
        .iter()
        .any(|e| matches!(e, Entry::File(f) if f.size == 20)));
    for (m, n, real, data) in [
        ("10,3,0,3", "2", "20", &b"abcdef"[..]), // out of order
        ("0,5,3,3", "2", "20", b"abcdefgh"),     // overlapping
        ("0,3,18,3", "2", "20", b"abcdef"),      // beyond the real size
        ("0,3,10,3", "2", "20", b"abcde"),       // less data than the map
        ("0,3,10,3", "2", "20", b"abcdefg"),     // more data than the map
        ("0,3,10", "2", "20", b"abcdef"),        // odd number of values
        ("0,-3", "1", "20", b""),                // negative length
    ] {
        match disasm(&pax_sparse_member(&map(m, n, real), data)) {
            Err(Error::InvalidSparse { .. }) => {}
            Err(e) => panic!("map {m}: {e}"),
            Ok(_) => panic!("map {m}: accepted"),
        }
    }
    let limits = Limits {
        max_sparse_regions: 1,
        ..Limits::default()
    };
    let err = disassemble_with_limits(&ok[..], std::io::sink(), NullSink, limits).unwrap_err();
    assert!(matches!(err, Error::InvalidSparse { .. }), "{err}");
}

#[test]
fn duplicate_names_after_clean() {
    let mut tar = member(b"./a", b'0', b"1");
    tar.extend(member(b"a", b'0', b"2"));
    tar.extend(eoa());
    assert!(matches!(disasm(&tar), Err(Error::DuplicatePath { name, .. }) if name == "a"));
}

#[test]
fn empty_input_and_no_eoa() {
    assert_eq!(disasm(b"").unwrap(), Vec::<Entry>::new());
    let tar = member(b"f", b'0', b"abc");
    let entries = disasm(&tar).unwrap();
    assert_eq!(entries.len(), 3);
}

#[test]
fn trailing_bytes_in_fixed_chunks() {
    let mut tar = member(b"f", b'0', b"abc");
    tar.extend(eoa());
    let start = tar.len();
    tar.extend((0..(2 << 20) + 5).map(|i| (i % 253) as u8));
    // A reader that hands out odd-sized pieces must give the same segments.
    struct Dribble<'a>(&'a [u8]);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(777);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut sink = VecSink::default();
    disassemble(Dribble(&tar), std::io::sink(), &mut sink).unwrap();
    let tail: Vec<usize> = sink
        .entries
        .iter()
        .rev()
        .take(3)
        .map(|e| match e {
            Entry::Segment(s) => s.len(),
            Entry::File(_) => 0,
        })
        .collect();
    assert_eq!(tail, [5, 1 << 20, 1 << 20]);
    assert_eq!(disasm(&tar).unwrap(), sink.entries);
    let _ = start;
}

#[test]
fn endless_extension_headers_hit_the_header_budget() {
    // Thousands of PAX headers before one member: each is small, together they are not.
    let limits = Limits {
        max_header_size: 64 << 10,
        ..Limits::default()
    };
    let mut tar = Vec::new();
    for _ in 0..200 {
        tar.extend(member(
            b"PaxHeaders/x",
            b'x',
            &pax_record("comment", &[b'c'; 400]),
        ));
    }
    tar.extend(member(b"f", b'0', b""));
    tar.extend(eoa());
    let err =
        disassemble_with_limits(&tar[..], std::io::sink(), NullSink, limits.clone()).unwrap_err();
    assert!(matches!(err, Error::ExtensionTooLarge { .. }), "{err}");
    // Old GNU sparse extension blocks that add no region but keep saying "more follow".
    let mut h = header(b"s", b'S', &octal_size(0));
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h[482] = 1;
    h[483..494].copy_from_slice(b"00000000000");
    fix_checksum(&mut h);
    let mut tar = h.to_vec();
    for _ in 0..200 {
        let mut ext = [0u8; 512];
        ext[504] = 1;
        tar.extend_from_slice(&ext);
    }
    let err = disassemble_with_limits(&tar[..], std::io::sink(), NullSink, limits).unwrap_err();
    assert!(matches!(err, Error::ExtensionTooLarge { .. }), "{err}");
}

#[test]
fn huge_sparse_member_costs_nothing() {
    // 60 GB of logical content, 6 bytes of data: the CRC of the holes is combined, not computed.
    let recs = [
        pax_record("GNU.sparse.major", b"0"),
        pax_record("GNU.sparse.minor", b"1"),
        pax_record("GNU.sparse.numblocks", b"2"),
        pax_record("GNU.sparse.map", b"0,3,59999999997,3"),
        pax_record("GNU.sparse.realsize", b"60000000000"),
    ]
    .concat();
    let tar = pax_sparse_member(&recs, b"abcxyz");
    let entries = disasm(&tar).unwrap();
    let f = entries
        .iter()
        .find_map(|e| match e {
            Entry::File(f) if f.size > 0 => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(f.size, 60_000_000_000);
    let mut want = tar_split::Crc64::new();
    want.update(b"abc");
    want.update_zeros(60_000_000_000 - 6);
    want.update(b"xyz");
    assert_eq!(f.crc, Some(want.sum()));
}
