//! Round trips: disassemble (pass-through exact), extract with GNU tar, assemble from the
//! extracted directory with `DirGetter`: the result must equal the input byte for byte. Archives
//! come from the shared fixtures and from GNU tar, bsdtar and Python's tarfile run in the test.

use std::fs;
use std::path::Path;

use store_tests::archives;
use tar_split::{assemble, disassemble, DirGetter, Entry, Error, VecSink};

/// Disassembles `tar`, checking the pass-through; returns the entries.
fn disasm(tar: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut pass = Vec::new();
    let mut sink = VecSink::default();
    let n = disassemble(tar, &mut pass, &mut sink)?;
    assert_eq!(n, tar.len() as u64);
    assert!(pass == tar, "pass-through differs");
    Ok(sink.entries)
}

/// The full round trip; panics with `what` on any difference.
fn round_trip(what: &str, tar: &[u8]) {
    let entries = disasm(tar).unwrap_or_else(|e| panic!("{what}: disassemble: {e}"));
    let dir = tempfile::tempdir().unwrap();
    // GNU tar refuses an empty archive; there is nothing to extract anyway.
    if !tar.is_empty() {
        assert!(
            archives::gnu_extract(tar, dir.path()),
            "{what}: extraction failed"
        );
    }
    let getter = DirGetter::new(dir.path()).unwrap();
    let mut out = Vec::new();
    let n = assemble(
        entries.into_iter().map(Ok::<_, Error>),
        Box::new(getter),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{what}: assemble: {e}"));
    assert_eq!(n, out.len() as u64, "{what}");
    assert!(
        out == tar,
        "{what}: reassembled {} bytes differ from the {} input bytes",
        out.len(),
        tar.len()
    );
}

fn fixture(stem: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/tar-split/{stem}.tar")))
        .unwrap()
}

#[test]
fn fixtures_round_trip_from_extracted_trees() {
    if !archives::have("tar") {
        return;
    }
    for stem in [
        "01-ustar-basic",
        "02-gnu-longname",
        "03-pax-xattrs",
        "04-sparse-gnu-oldS",
        "05-sparse-pax-0.0",
        "06-sparse-pax-0.1",
        "07-sparse-pax-1.0",
        "08-hardlink",
        "09-nonutf8-name",
        "10-trailing-garbage",
        "11-no-eoa",
        "12-one-zero-block",
        "15-pax-global-header",
        "17-hardlink-nonzero-size",
        "18-json-escaping",
        "20-empty-input",
        "21-pax-binary-name",
        "24-garbage-right-after-eoa",
        "25-ustar-prefix",
        "26-go-writer-docker-like",
    ] {
        round_trip(stem, &fixture(stem));
    }
}

#[test]
fn truncated_padding_round_trips() {
    // GNU tar refuses the truncated archive (it reads whole records), so the member's file is
    // written by hand: its data follows the 512-byte header.
    let tar = fixture("27-truncated-in-padding");
    let entries = disasm(&tar).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Some(Entry::File(f)) = entries.iter().find(|e| matches!(e, Entry::File(_))) else {
        panic!("no file entry")
    };
    let name = String::from_utf8(f.name.clone()).unwrap();
    fs::write(dir.path().join(name), &tar[512..512 + f.size as usize]).unwrap();
    let mut out = Vec::new();
    assemble(
        entries.into_iter().map(Ok::<_, Error>),
        Box::new(DirGetter::new(dir.path()).unwrap()),
        &mut out,
    )
    .unwrap();
    assert!(out == tar);
}

#[test]
fn names_that_climb_out_are_refused() {
    let tar = fixture("19-dotdot-name");
    let entries = disasm(&tar).unwrap();
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(outer.path().join("escape.txt"), b"outside").unwrap();
    let err = assemble(
        entries.into_iter().map(Ok::<_, Error>),
        Box::new(DirGetter::new(&root).unwrap()),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Getter { name, .. } if name == "../escape.txt"),
        "{err}"
    );
}

#[test]
fn gnu_tar_formats_and_blocking_factors() {
    let src = tempfile::tempdir().unwrap();
    archives::make_tree(src.path(), false);
    for format in ["gnu", "oldgnu", "pax", "ustar", "v7"] {
        for b in ["-b1", "-b2", "-b20", "-b64"] {
            let fmt = format!("--format={format}");
            // v7 and ustar cannot store the long name or the non-UTF-8 name everywhere: GNU tar
            // skips what it cannot store and exits 2, which `run` treats as a failure; restrict
            // those formats to the short-named part of the tree.
            let Some(tar) = (if format == "v7" || format == "ustar" {
                archives::gnu_tar(src.path(), &[&fmt, b, "--exclude=*nnnnn*"])
            } else {
                archives::gnu_tar(src.path(), &[&fmt, b])
            }) else {
                return;
            };
            round_trip(&format!("GNU tar {fmt} {b}"), &tar);
        }
    }
}

#[test]
fn gnu_tar_sparse_formats() {
    let src = tempfile::tempdir().unwrap();
    archives::make_tree(src.path(), true);
    for args in [
        &["--format=gnu", "-S"][..],
        &["--format=oldgnu", "-S"],
        &["--format=pax", "-S", "--sparse-version=0.0"],
        &["--format=pax", "-S", "--sparse-version=0.1"],
        &["--format=pax", "-S", "--sparse-version=1.0"],
        &["--format=pax", "-S", "--sparse-version=1.0", "-b1"],
    ] {
        let Some(tar) = archives::gnu_tar(src.path(), args) else {
            return;
        };
        round_trip(&format!("GNU tar {args:?}"), &tar);
    }
}

#[test]
fn gnu_tar_xattrs() {
    let src = tempfile::tempdir().unwrap();
    archives::make_tree(src.path(), false);
    let f = src.path().join("hello.txt");
    let ok = std::process::Command::new("setfattr")
        .args(["-n", "user.comment", "-v", "hi there"])
        .arg(&f)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: setfattr failed (no attr tools or no user xattrs here)");
        return;
    }
    let Some(tar) = archives::gnu_tar(
        src.path(),
        &["--format=pax", "--xattrs", "--xattrs-include=user.*"],
    ) else {
        return;
    };
    round_trip("GNU tar --xattrs", &tar);
}

#[test]
fn bsdtar_formats() {
    let src = tempfile::tempdir().unwrap();
    archives::make_tree(src.path(), true);
    for format in ["pax", "gnutar", "ustar"] {
        let Some(tar) = archives::bsdtar(src.path(), format) else {
            return;
        };
        round_trip(&format!("bsdtar --format {format}"), &tar);
    }
}

#[test]
fn python_tarfile_formats() {
    let src = tempfile::tempdir().unwrap();
    archives::make_tree(src.path(), false);
    for format in ["GNU", "PAX", "USTAR"] {
        if format == "USTAR" {
            // USTAR cannot store the 120-character name component.
            let long = fs::read_dir(src.path().join("sub"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains("nnnn"));
            if let Some(p) = long {
                fs::remove_file(p).unwrap();
            }
        }
        let Some(tar) = archives::python_tar(src.path(), format) else {
            return;
        };
        round_trip(&format!("Python tarfile {format}"), &tar);
    }
}

#[test]
fn bsdtar_xattrs_decode_once() {
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("f");
    fs::write(&f, b"hi\n").unwrap();
    if !archives::set_xattr(&f, "user.comment", "hi there")
        || !archives::set_xattr(&f, "user.bin", "0x00ff10")
    {
        return;
    }
    // bsdtar writes each xattr twice: LIBARCHIVE.xattr.* (base64) and SCHILY.xattr.*.
    let Some(tar) = archives::bsdtar_with(src.path(), "pax", &["--xattrs"]) else {
        return;
    };
    round_trip("bsdtar --xattrs", &tar);
    let mut tr = tar_split::TarReader::new(&tar[..], tar_split::NullSink);
    let mut found = false;
    while let Some(h) = tr.next().unwrap() {
        if h.path.ends_with(b"f") {
            let mut x = h.xattrs.clone();
            x.sort();
            assert_eq!(
                x,
                vec![
                    (b"user.bin".to_vec(), vec![0x00, 0xff, 0x10]),
                    (b"user.comment".to_vec(), b"hi there".to_vec()),
                ]
            );
            found = true;
        }
    }
    assert!(found);
}
