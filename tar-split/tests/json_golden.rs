//! The Go tar-split JSON files of the shared fixtures as golden files: decoding them and
//! re-encoding gives Go v0.12.1's bytes exactly, and v0.11.2's files decode to the same entries.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use tar_split::json::{JsonReader, JsonWriter};
use tar_split::{Entry, EntrySink};

fn fixtures_dir() -> Option<PathBuf> {
    // The shared fixtures (shared/tar-split/fixtures), copied into the repository.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tar-split");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no fixtures at {}", dir.display());
        None
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn decode(path: &Path) -> Vec<Entry> {
    JsonReader::new(fs::File::open(path).unwrap())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut w = JsonWriter::new(Vec::new());
    for e in entries {
        match e {
            Entry::Segment(s) => w.segment(s).unwrap(),
            Entry::File(f) => w.file(&f.name, f.size, f.crc).unwrap(),
        }
    }
    w.finish().unwrap()
}

/// The fixtures' metadata files, as (name, v0.12.1 path, v0.11.2 path).
fn cases(dir: &Path) -> Vec<(String, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".tar-split-v0.12.1.json.gz") {
            out.push((
                stem.to_string(),
                dir.join(&name),
                dir.join(format!("{stem}.tar-split-v0.11.2.json.gz")),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn reencoding_gives_go_v0_12_1_bytes() {
    let Some(dir) = fixtures_dir() else { return };
    let cases = cases(&dir);
    assert!(cases.len() >= 22, "found only {} fixtures", cases.len());
    for (name, v12, _) in &cases {
        let entries = decode(v12);
        let got = encode(&entries);
        let want = gunzip(v12);
        assert!(
            got == want,
            "{name}: re-encoded JSON differs from Go's\n got: {}\nwant: {}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

#[test]
fn v0_11_2_decodes_to_the_same_entries() {
    let Some(dir) = fixtures_dir() else { return };
    for (name, v12, v11) in cases(&dir) {
        assert_eq!(decode(&v11), decode(&v12), "{name}");
        // The only textual difference is the final empty segment.
        let old = gunzip(&v11);
        let new = gunzip(&v12);
        assert!(old.starts_with(&new), "{name}");
        let tail = std::str::from_utf8(&old[new.len()..]).unwrap();
        assert!(
            tail.starts_with("{\"type\":2,\"payload\":\"\",\"position\":"),
            "{name}: {tail}"
        );
    }
}

#[test]
fn gzip_writer_output_reads_back() {
    let Some(dir) = fixtures_dir() else { return };
    for (name, v12, _) in cases(&dir) {
        let entries = decode(&v12);
        let mut w = JsonWriter::gzip(Vec::new());
        for e in &entries {
            match e {
                Entry::Segment(s) => w.segment(s).unwrap(),
                Entry::File(f) => w.file(&f.name, f.size, f.crc).unwrap(),
            }
        }
        let gz = w.finish_gzip().unwrap();
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0], "{name}");
        let mut plain = Vec::new();
        MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, gunzip(&v12), "{name}");
    }
}

/// Fixtures whose disassembly deliberately differs from Go's (see the crate docs): 07 records the
/// PAX 1.0 sparse map that Go drops, 27 records the partial padding that Go drops.
const DELIBERATE_DIFFERENCES: &[&str] = &["07-sparse-pax-1.0", "27-truncated-in-padding"];

#[test]
fn disassembly_gives_go_v0_12_1_bytes() {
    let Some(dir) = fixtures_dir() else { return };
    for (name, v12, _) in cases(&dir) {
        let tar = fs::read(dir.join(format!("{name}.tar"))).unwrap();
        let mut pass = Vec::new();
        let mut w = JsonWriter::new(Vec::new());
        tar_split::disassemble(&tar[..], &mut pass, &mut w)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(pass == tar, "{name}: pass-through differs");
        let got = w.finish().unwrap();
        let want = gunzip(&v12);
        if DELIBERATE_DIFFERENCES.contains(&name.as_str()) {
            assert!(
                got != want,
                "{name}: expected to differ from Go, and it does not"
            );
            // The file entries are the same; only the segments hold more bytes.
            let files = |j: &[u8]| -> Vec<Entry> {
                JsonReader::new(j)
                    .map(Result::unwrap)
                    .filter(|e| matches!(e, Entry::File(_)))
                    .collect()
            };
            assert_eq!(files(&got), files(&want), "{name}");
        } else {
            assert!(
                got == want,
                "{name}: JSON differs from Go's\n got: {}\nwant: {}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }
}

#[test]
fn refused_fixtures_have_no_metadata() {
    let Some(dir) = fixtures_dir() else { return };
    for name in [
        "13-duplicate-append",
        "14-dotslash-dup",
        "16-two-global-headers",
        "22-zero-then-garbage",
        "23-trailing-slash-dup",
    ] {
        let tar = fs::read(dir.join(format!("{name}.tar"))).unwrap();
        let res = tar_split::disassemble(&tar[..], std::io::sink(), JsonWriter::new(Vec::new()));
        assert!(res.is_err(), "{name}: accepted");
    }
}
