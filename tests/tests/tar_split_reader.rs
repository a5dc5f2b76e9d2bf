//! `TarReader` as the graph drivers use it: headers with extension headers merged, data read in
//! any way (`Read`, `BufRead`, partly or not at all), and the recorded entries always those of a
//! plain disassembly.

use std::fs;
use std::io::{self, BufRead, Read};
use std::path::Path;

use tar_split::{EntryKind, Header, SparseRegion, TarReader, VecSink};

fn fixture(stem: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/tar-split/{stem}.tar")))
        .unwrap()
}

/// Reads every member with `read_data`; returns the headers with the data and the entries.
fn read_all(
    tar: &[u8],
    mut read_data: impl FnMut(&mut TarReader<'_>, &Header) -> Vec<u8>,
) -> (Vec<(Header, Vec<u8>)>, VecSink) {
    let mut sink = VecSink::default();
    let mut tr = TarReader::new(tar, &mut sink);
    let mut out = Vec::new();
    while let Some(h) = tr.next().unwrap() {
        let data = read_data(&mut tr, &h);
        out.push((h, data));
    }
    assert_eq!(tr.finish().unwrap(), tar.len() as u64);
    (out, sink)
}

#[test]
fn every_way_of_reading_records_the_same_entries() {
    for stem in [
        "01-ustar-basic",
        "03-pax-xattrs",
        "04-sparse-gnu-oldS",
        "07-sparse-pax-1.0",
        "26-go-writer-docker-like",
    ] {
        let tar = fixture(stem);
        let (full, reference) = read_all(&tar, |tr, _| {
            let mut d = Vec::new();
            io::copy(tr, &mut d).unwrap();
            d
        });
        let (_, skipped) = read_all(&tar, |_, _| Vec::new());
        assert_eq!(skipped.entries, reference.entries, "{stem}: data not read");
        let (partial, partly) = read_all(&tar, |tr, _| {
            let mut d = vec![0; 3];
            let n = tr.read(&mut d).unwrap();
            d.truncate(n);
            d
        });
        assert_eq!(
            partly.entries, reference.entries,
            "{stem}: data partly read"
        );
        let (buffered, bufread) = read_all(&tar, |tr, _| {
            let mut d = Vec::new();
            loop {
                let chunk = tr.fill_buf().unwrap();
                if chunk.is_empty() {
                    break;
                }
                let n = chunk.len().min(100);
                d.extend_from_slice(&chunk[..n]);
                tr.consume(n);
            }
            d
        });
        assert_eq!(bufread.entries, reference.entries, "{stem}: BufRead");
        let (copied, copy) = read_all(&tar, |tr, _| {
            let mut d = Vec::new();
            let n = tr.copy_data_to(&mut d).unwrap();
            assert_eq!(n, d.len() as u64);
            d
        });
        assert_eq!(copy.entries, reference.entries, "{stem}: copy_data_to");
        for ((((h, d), (_, b)), (_, p)), (_, c)) in
            full.iter().zip(&buffered).zip(&partial).zip(&copied)
        {
            assert_eq!(d, b, "{stem}");
            assert_eq!(d, c, "{stem}");
            assert!(d.starts_with(p), "{stem}");
            let physical: u64 = match &h.sparse {
                Some(map) => map.regions.iter().map(|r| r.length).sum(),
                None => h.size,
            };
            assert_eq!(
                d.len() as u64,
                physical,
                "{stem}: {:?}",
                String::from_utf8_lossy(&h.path)
            );
        }
    }
}

#[test]
fn docker_like_headers() {
    let (members, _) = read_all(&fixture("26-go-writer-docker-like"), |tr, _| {
        let mut d = Vec::new();
        tr.read_to_end(&mut d).unwrap();
        d
    });
    let by_name = |n: &str| {
        members
            .iter()
            .find(|(h, _)| h.path == n.as_bytes())
            .unwrap()
    };
    let (etc, _) = by_name("etc/");
    assert_eq!(etc.kind, EntryKind::Directory);
    assert_eq!(etc.mode, 0o755);
    assert_eq!(etc.mtime.secs, 1_700_000_000);
    let (ping, data) = by_name("usr/bin/ping");
    assert_eq!(ping.kind, EntryKind::Regular);
    assert_eq!(ping.size, 12);
    assert_eq!(data.len(), 12);
    assert_eq!(ping.xattrs.len(), 1);
    assert_eq!(ping.xattrs[0].0, b"security.capability");
    assert_eq!(ping.xattrs[0].1.len(), 20);
    let (link, _) = by_name("usr/bin/ping6");
    assert_eq!(link.kind, EntryKind::HardLink);
    assert_eq!(link.link_name, b"usr/bin/ping");
    let (sym, _) = by_name("usr/lib/libx.so");
    assert_eq!(sym.kind, EntryKind::Symlink);
    assert_eq!(sym.link_name, b"libx.so.1");
    let (null, _) = by_name("dev/null");
    assert_eq!(
        (null.kind, null.dev_major, null.dev_minor, null.mode),
        (EntryKind::CharDevice, 1, 3, 0o666)
    );
}

#[test]
fn sparse_headers_give_the_map_and_physical_data() {
    for stem in [
        "04-sparse-gnu-oldS",
        "05-sparse-pax-0.0",
        "06-sparse-pax-0.1",
        "07-sparse-pax-1.0",
    ] {
        let (members, _) = read_all(&fixture(stem), |tr, _| {
            let mut d = Vec::new();
            tr.read_to_end(&mut d).unwrap();
            d
        });
        let (h, data) = members.iter().find(|(h, _)| h.sparse.is_some()).unwrap();
        assert_eq!(h.path, b"./sparse.bin", "{stem}");
        assert_eq!(h.size, 3 << 20, "{stem}");
        let map = h.sparse.as_ref().unwrap();
        assert_eq!(map.real_size, 3 << 20, "{stem}");
        // Rebuild the logical file from the runs and compare with what GNU tar recorded.
        let mut logical = vec![0u8; map.real_size as usize];
        let mut at = 0usize;
        for SparseRegion { offset, length } in &map.regions {
            logical[*offset as usize..(*offset + *length) as usize]
                .copy_from_slice(&data[at..at + *length as usize]);
            at += *length as usize;
        }
        assert_eq!(at, data.len(), "{stem}");
        assert!(logical.iter().any(|&b| b != 0), "{stem}");
    }
}

#[test]
fn gnu_incremental_dumpdirs_are_data_bearing_directories() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("d")).unwrap();
    fs::write(src.path().join("d/f"), b"x\n").unwrap();
    let snap = tempfile::tempdir().unwrap();
    let snap_arg = format!(
        "--listed-incremental={}",
        snap.path().join("snap").display()
    );
    let Some(tar) = store_tests::archives::gnu_tar(src.path(), &[&snap_arg]) else {
        return;
    };
    let (members, sink) = read_all(&tar, |tr, _| {
        let mut d = Vec::new();
        tr.read_to_end(&mut d).unwrap();
        d
    });
    let (d, data) = members.iter().find(|(h, _)| h.path == b"./d/").unwrap();
    assert_eq!(d.kind, EntryKind::Directory);
    // The dumpdir lists the directory's entries ("Yf\0" and a terminating NUL).
    assert_eq!(d.size, data.len() as u64);
    assert!(data.starts_with(b"Yf\0"), "{data:?}");
    assert!(sink
        .entries
        .iter()
        .any(|e| matches!(e, tar_split::Entry::File(f) if f.name == b"./d/" && f.size == d.size)));
}

#[test]
fn big_reads_bypass_the_buffer_and_record_the_same_entries() {
    use store_tests::raw_tar::{eoa, member};
    let data: Vec<u8> = (0..(3 << 20) + 123u32).map(|i| (i % 241) as u8).collect();
    let mut tar = member(b"big", b'0', &data);
    tar.extend(member(b"small", b'0', b"s"));
    tar.extend(eoa());
    let (skipped, reference) = read_all(&tar, |_, _| Vec::new());
    assert_eq!(skipped.len(), 2);
    let (read, big) = read_all(&tar, |tr, _| {
        let mut d = Vec::new();
        let mut buf = vec![0u8; 128 << 10];
        loop {
            let n = tr.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            d.extend_from_slice(&buf[..n]);
        }
        d
    });
    assert_eq!(big.entries, reference.entries);
    assert!(read[0].1 == data);
    assert_eq!(read[1].1, b"s");
}
