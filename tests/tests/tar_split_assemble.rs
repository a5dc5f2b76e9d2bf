//! The assembler's checks: a payload of the wrong length or content, or a missing one, is an
//! error naming the file; a payload that fits in one chunk is checked before any of it is
//! produced; and after an error every later read fails.

use std::collections::HashMap;
use std::io::{self, Cursor, Read};

use tar_split::{
    assemble, disassemble, Assembler, Entry, Error, ErrorKind, FileGetter, Payload, TarReader,
    VecSink,
};

/// Payloads by member name.
type Payloads = HashMap<Vec<u8>, Vec<u8>>;

struct MemGetter(Payloads);

impl FileGetter for MemGetter {
    fn get(&mut self, name: &[u8]) -> io::Result<Box<dyn Payload + '_>> {
        match self.0.get(name) {
            Some(d) => Ok(Box::new(Cursor::new(d.clone()))),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such member")),
        }
    }
}

/// A tar with `a` (small) and `b` (300 KiB, more than one chunk), its entries and payloads.
fn sample() -> (Vec<u8>, Vec<Entry>, Payloads) {
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut payloads = HashMap::new();
    for (name, data) in [("a", b"small file\n".to_vec()), ("b", big)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
        payloads.insert(name.as_bytes().to_vec(), data);
    }
    let tar = b.into_inner().unwrap();
    let mut sink = VecSink::default();
    disassemble(&tar[..], io::sink(), &mut sink).unwrap();
    (tar, sink.entries, payloads)
}

fn run(entries: &[Entry], payloads: Payloads) -> (Vec<u8>, Result<u64, Error>) {
    let mut out = Vec::new();
    let r = assemble(
        entries.iter().cloned().map(Ok::<_, Error>),
        Box::new(MemGetter(payloads)),
        &mut out,
    );
    (out, r)
}

#[test]
fn exact_payloads_reassemble() {
    let (tar, entries, payloads) = sample();
    let (out, r) = run(&entries, payloads);
    assert_eq!(r.unwrap(), tar.len() as u64);
    assert!(out == tar);
}

#[test]
fn a_changed_small_payload_is_caught_before_it_is_written() {
    let (_, entries, mut payloads) = sample();
    payloads.insert(b"a".to_vec(), b"small filE\n".to_vec());
    let (out, r) = run(&entries, payloads);
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::PayloadMismatch { name, .. } if name == "a"),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::PayloadMismatch);
    // Only the header segment before `a` was written.
    assert_eq!(out.len(), 512);
}

#[test]
fn a_changed_large_payload_is_an_error() {
    let (_, entries, mut payloads) = sample();
    payloads.get_mut(&b"b"[..]).unwrap()[299 * 1024] ^= 1;
    let (_, r) = run(&entries, payloads);
    assert!(matches!(r, Err(Error::PayloadMismatch { name, .. }) if name == "b"));
}

#[test]
fn wrong_lengths_are_errors() {
    for delta in [-1i64, 1] {
        let (_, entries, mut payloads) = sample();
        let a = payloads.get_mut(&b"a"[..]).unwrap();
        if delta < 0 {
            a.pop();
        } else {
            a.push(b'!');
        }
        let (_, r) = run(&entries, payloads);
        assert!(
            matches!(&r, Err(Error::PayloadMismatch { name, reason }) if name == "a" && reason.contains("bytes")),
            "{r:?}"
        );
    }
}

#[test]
fn a_missing_payload_names_the_file() {
    let (_, entries, mut payloads) = sample();
    payloads.remove(&b"b"[..]);
    let (_, r) = run(&entries, payloads);
    assert!(
        matches!(&r, Err(Error::Getter { name, .. }) if name == "b"),
        "{r:?}"
    );
}

#[test]
fn reads_after_an_error_keep_failing() {
    let (_, entries, mut payloads) = sample();
    payloads.remove(&b"a"[..]);
    let mut asm = Assembler::new(
        entries.into_iter().map(Ok::<_, Error>),
        Box::new(MemGetter(payloads)),
    );
    let mut out = Vec::new();
    assert!(asm.read_to_end(&mut out).is_err());
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        assert!(asm.read(&mut buf).is_err());
    }
}

#[test]
fn the_reader_fails_for_good_after_an_error() {
    let (tar, _, _) = sample();
    let mut broken = tar.clone();
    broken[1024 + 3] ^= 0xff; // the header of `b`
    let mut tr = TarReader::new(&broken[..], tar_split::NullSink);
    assert!(tr.next().unwrap().is_some());
    assert!(matches!(tr.next(), Err(Error::BadChecksum { .. })));
    assert!(tr.next().is_err());
    assert!(tr.finish().is_err());
}
