//! Property tests: any list of entries the format can hold survives both codecs unchanged.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{JsonReader, JsonWriter};
use crate::binary::{BinaryReader, BinaryWriter};
use crate::{go_clean, Entry, EntrySink, FileEntry};

/// Names mixing plain ASCII, JSON-special characters, line separators and invalid UTF-8.
fn name() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z./]{1,6}".prop_map(String::into_bytes),
        Just(b"<>&\"\\\n\t\x01\x08\x0c\x7f".to_vec()),
        Just("\u{2028}\u{2029}é日本".as_bytes().to_vec()),
        vec(any::<u8>(), 1..4),
    ];
    vec(piece, 0..4).prop_map(|parts| parts.concat())
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        vec(any::<u8>(), 1..1200).prop_map(Entry::Segment),
        (name(), 0..=i64::MAX as u64, any::<u64>(), any::<bool>()).prop_map(
            |(name, size, crc, with_crc)| {
                // A file with data always has its checksum; an empty one may or may not.
                let crc = (size > 0 || with_crc).then_some(crc);
                Entry::File(FileEntry { name, size, crc })
            }
        ),
    ]
}

/// Entries whose file names are unique after Go's `filepath.Clean`, as the format requires.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    vec(entry(), 0..40).prop_map(|mut entries| {
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| match e {
            Entry::File(f) => seen.insert(go_clean(&f.name)),
            Entry::Segment(_) => true,
        });
        entries
    })
}

fn feed<S: EntrySink>(sink: &mut S, entries: &[Entry]) {
    for e in entries {
        match e {
            Entry::Segment(s) => sink.segment(s).unwrap(),
            Entry::File(f) => sink.file(&f.name, f.size, f.crc).unwrap(),
        }
    }
}

proptest! {
    #[test]
    fn json_round_trip(entries in entries(), gzip in any::<bool>()) {
        let bytes = if gzip {
            let mut w = JsonWriter::gzip(Vec::new());
            feed(&mut w, &entries);
            w.finish_gzip().unwrap()
        } else {
            let mut w = JsonWriter::new(Vec::new());
            feed(&mut w, &entries);
            w.finish().unwrap()
        };
        let back: Vec<Entry> = JsonReader::new(&bytes[..]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, entries);
    }

    #[test]
    fn binary_round_trip(entries in entries()) {
        let mut w = BinaryWriter::new(Vec::new());
        feed(&mut w, &entries);
        let bytes = w.finish().unwrap();
        let back: Vec<Entry> = BinaryReader::new(&bytes[..]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, entries);
    }

    #[test]
    fn json_to_binary_to_json_is_identity(entries in entries()) {
        let mut w = JsonWriter::new(Vec::new());
        feed(&mut w, &entries);
        let json = w.finish().unwrap();
        let mut b = BinaryWriter::new(Vec::new());
        for e in JsonReader::new(&json[..]) {
            feed(&mut b, &[e.unwrap()]);
        }
        let bin = b.finish().unwrap();
        let mut w2 = JsonWriter::new(Vec::new());
        for e in BinaryReader::new(&bin[..]) {
            feed(&mut w2, &[e.unwrap()]);
        }
        prop_assert_eq!(w2.finish().unwrap(), json);
    }

    #[test]
    fn reader_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        let _ = JsonReader::new(&bytes[..]).count();
        let _ = BinaryReader::new(&bytes[..]).count();
    }

    #[test]
    fn reader_never_panics_on_mutated_json(entries in entries(), flips in vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut w = JsonWriter::new(Vec::new());
        feed(&mut w, &entries);
        let mut json = w.finish().unwrap();
        if !json.is_empty() {
            for (at, b) in flips {
                let n = json.len();
                json[at % n] = b;
            }
        }
        let _ = JsonReader::new(&json[..]).count();
    }
}
