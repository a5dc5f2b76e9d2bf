//! The shared tar-split fixtures (tests/fixtures/tar-split, copied from shared/tar-split/fixtures):
//! every accepted tar disassembles to Go v0.12.1's entries, except the documented deliberate
//! differences; every refused tar is refused with the right error.

use std::fs;
use std::path::{Path, PathBuf};

use tar_split::json::JsonReader;
use tar_split::{Entry, Error, TarReader, VecSink};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tar-split")
}

fn disassemble(tar: &[u8]) -> Result<(Vec<Entry>, u64), Error> {
    let mut sink = VecSink::default();
    let mut tr = TarReader::new(tar, &mut sink);
    while tr.next()?.is_some() {}
    let consumed = tr.finish()?;
    Ok((sink.entries, consumed))
}

fn go_entries(stem: &str) -> Vec<Entry> {
    let path = fixtures().join(format!("{stem}.tar-split-v0.12.1.json.gz"));
    JsonReader::new(fs::File::open(&path).unwrap())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn segment_bytes(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|e| match e {
            Entry::Segment(s) => s.len(),
            Entry::File(_) => 0,
        })
        .sum()
}

const ACCEPTED: &[&str] = &[
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
    "19-dotdot-name",
    "20-empty-input",
    "21-pax-binary-name",
    "24-garbage-right-after-eoa",
    "25-ustar-prefix",
    "26-go-writer-docker-like",
    "27-truncated-in-padding",
];

#[test]
fn accepted_fixtures_match_go() {
    for stem in ACCEPTED {
        let tar = fs::read(fixtures().join(format!("{stem}.tar"))).unwrap();
        let (ours, consumed) = disassemble(&tar).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(consumed, tar.len() as u64, "{stem}: bytes consumed");
        let go = go_entries(stem);
        match *stem {
            // Deliberate difference: the PAX 1.0 sparse map that opens the data section is
            // recorded at the end of the member's header segment (Go drops it).
            "07-sparse-pax-1.0" => {
                assert_eq!(ours.len(), go.len(), "{stem}");
                for (i, (a, b)) in ours.iter().zip(&go).enumerate() {
                    match (a, b) {
                        (Entry::Segment(a), Entry::Segment(b)) if a != b => {
                            assert_eq!(a.len(), b.len() + 512, "{stem}: entry {i}");
                            assert_eq!(&a[..b.len()], &b[..], "{stem}: entry {i}");
                        }
                        _ => assert_eq!(a, b, "{stem}: entry {i}"),
                    }
                }
            }
            // Deliberate difference: the partial padding at the end is recorded (Go drops it).
            "27-truncated-in-padding" => {
                assert_eq!(&ours[..go.len()], &go[..], "{stem}");
                assert_eq!(ours.len(), go.len() + 1, "{stem}");
                assert_eq!(ours[go.len()], Entry::Segment(vec![0; 82]), "{stem}");
            }
            _ => assert_eq!(ours, go, "{stem}"),
        }
        if !stem.contains("sparse") {
            let data: u64 = ours
                .iter()
                .map(|e| match e {
                    // Fixture 17's hard link records a size but has no data in the stream.
                    Entry::File(f) if f.crc.is_some() && f.name != b"link.txt" => f.size,
                    _ => 0,
                })
                .sum();
            assert_eq!(
                segment_bytes(&ours) as u64 + data,
                tar.len() as u64,
                "{stem}: segments + data"
            );
        }
    }
}

#[test]
fn refused_fixtures_are_refused() {
    for (stem, want) in [
        ("13-duplicate-append", "duplicate"),
        ("14-dotslash-dup", "duplicate"),
        ("16-two-global-headers", "duplicate"),
        ("23-trailing-slash-dup", "duplicate"),
        ("22-zero-then-garbage", "zero block"),
    ] {
        let tar = fs::read(fixtures().join(format!("{stem}.tar"))).unwrap();
        let err = disassemble(&tar).expect_err(stem);
        match (&err, want) {
            (Error::DuplicatePath { .. }, "duplicate") => {}
            (Error::InvalidHeader { reason, .. }, "zero block")
                if reason.contains("zero block") => {}
            _ => panic!("{stem}: unexpected error {err}"),
        }
    }
}
