//! Property test: random archives written by the `tar` crate's Builder (GNU long names, PAX
//! extensions, links, directories, trailing bytes) pass through `disassemble` unchanged and come
//! back byte for byte from `assemble` with an in-memory getter.

use std::collections::HashMap;
use std::io::{self, Cursor};

use proptest::prelude::*;
use tar_split::{assemble, disassemble, Entry, Error, FileGetter, Payload, VecSink};

/// Payloads by member name.
struct MemGetter(HashMap<Vec<u8>, Vec<u8>>);

impl FileGetter for MemGetter {
    fn get(&mut self, name: &[u8]) -> io::Result<Box<dyn Payload + '_>> {
        match self.0.get(name) {
            Some(d) => Ok(Box::new(Cursor::new(d.clone()))),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such member")),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Kind::File),
        1 => Just(Kind::Dir),
        1 => "[a-z]{1,150}".prop_map(Kind::Symlink),
        1 => Just(Kind::HardLink),
    ]
}

fn members() -> impl Strategy<Value = Vec<(String, Kind, bool)>> {
    proptest::collection::vec(("[a-z]{1,130}", kind(), any::<bool>()), 0..12)
}

fn build(
    members: &[(String, Kind, bool)],
    trailing: &[u8],
) -> (Vec<u8>, HashMap<Vec<u8>, Vec<u8>>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut payloads = HashMap::new();
    let mut first_file: Option<String> = None;
    for (i, (stem, kind, pax)) in members.iter().enumerate() {
        let name = format!("m{i}-{stem}");
        let mut h = if *pax {
            tar::Header::new_ustar()
        } else {
            tar::Header::new_gnu()
        };
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000 + i as u64);
        if *pax {
            b.append_pax_extensions([("path", name.as_bytes()), ("mtime", b"1700000000.25")])
                .unwrap();
            // The ustar name field gets a short stand-in; the PAX path wins.
        }
        let header_name = if *pax {
            format!("pax{i}")
        } else {
            name.clone()
        };
        match kind {
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &header_name, &data[..]).unwrap();
                payloads.insert(name.clone().into_bytes(), data.clone());
                first_file.get_or_insert(name);
            }
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, &header_name, io::empty()).unwrap();
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &header_name, target).unwrap();
            }
            Kind::HardLink => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let target = first_file.clone().unwrap_or_else(|| "nowhere".into());
                b.append_link(&mut h, &header_name, target).unwrap();
            }
        }
    }
    let mut tar = b.into_inner().unwrap();
    tar.extend_from_slice(trailing);
    (tar, payloads)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn builder_archives_round_trip(
        members in members(),
        trailing in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let (tar, payloads) = build(&members, &trailing);
        let mut pass = Vec::new();
        let mut sink = VecSink::default();
        let n = disassemble(&tar[..], &mut pass, &mut sink).unwrap();
        prop_assert_eq!(n, tar.len() as u64);
        prop_assert!(pass == tar);
        let files = sink.entries.iter().filter(|e| matches!(e, Entry::File(_))).count();
        prop_assert_eq!(files, members.len());
        let mut out = Vec::new();
        assemble(sink.entries.into_iter().map(Ok::<_, Error>), Box::new(MemGetter(payloads)), &mut out).unwrap();
        prop_assert!(out == tar);
    }
}
