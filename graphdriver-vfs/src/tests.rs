//! Unit tests of what the conformance suite cannot see through paths: trees deeper than
//! `PATH_MAX`, holes of sparse files kept by the copy, layer listing with markers.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use graphdriver::tar_writer::{EntryMeta, TarWriter};
use graphdriver::{ChangeKind, CreateOpts, Driver};
use tar_split::{EntryKind, NullSink, TarReader};

use super::VfsDriver;

fn file(path: &str, data: &[u8]) -> (EntryMeta, Vec<u8>) {
    let mut m = EntryMeta::new(EntryKind::Regular, path);
    m.size = data.len() as u64;
    (m, data.to_vec())
}

fn tar(members: &[(EntryMeta, Vec<u8>)]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for (m, d) in members {
        w.append(m, &mut &d[..]).unwrap();
    }
    w.finish().unwrap()
}

fn layer(d: &VfsDriver, id: &str, parent: Option<&str>, t: &[u8]) {
    d.create(id, parent, &CreateOpts::default()).unwrap();
    let mut r = TarReader::new(t, NullSink);
    d.apply_diff(id, parent, &mut r).unwrap();
    r.finish().unwrap();
    d.finalize(id).unwrap();
}

#[test]
fn trees_deeper_than_path_max_copy_diff_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let d = VfsDriver::new(&tmp.path().join("vfs")).unwrap();
    let deep = vec!["d".repeat(60); 100].join("/");
    assert!(deep.len() > 4096);
    layer(&d, "base", None, &tar(&[file(&format!("{deep}/a"), b"a")]));
    layer(
        &d,
        "child",
        Some("base"),
        &tar(&[file(&format!("{deep}/b"), b"bb")]),
    );
    let changes = d.changes("child", Some("base")).unwrap();
    let last = changes.last().unwrap();
    assert_eq!(last.path, format!("/{deep}/b").into_bytes());
    assert_eq!(last.kind, ChangeKind::Add);
    assert_eq!(d.diff_size("child", Some("base")).unwrap(), 2);
    let mut diff = Vec::new();
    d.diff("child", Some("base"))
        .unwrap()
        .read_to_end(&mut diff)
        .unwrap();
    layer(&d, "again", Some("base"), &diff);
    assert_eq!(d.changes("again", Some("base")).unwrap().last(), Some(last));
    for id in ["again", "child", "base"] {
        d.remove(id).unwrap();
    }
    assert!(d.layers().unwrap().is_empty());
}

#[test]
fn copies_keep_holes_and_listing_shows_incomplete_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = VfsDriver::new(&tmp.path().join("vfs")).unwrap();
    d.create("base", None, &CreateOpts::default()).unwrap();
    let sparse = d.layer_dir("base").unwrap().join("sparse");
    let f = fs::File::create(&sparse).unwrap();
    f.set_len(256 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"end", (256 << 20) - 3).unwrap();
    drop(f);
    d.finalize("base").unwrap();
    d.create("child", Some("base"), &CreateOpts::default())
        .unwrap();
    let listed: Vec<(String, bool)> = d
        .layers()
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.complete))
        .collect();
    assert_eq!(listed, vec![("base".into(), true), ("child".into(), false)]);
    let copy = d.layer_dir("child").unwrap().join("sparse");
    let md = fs::metadata(&copy).unwrap();
    assert_eq!(md.len(), 256 << 20);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "copy is not sparse: {} blocks",
        md.blocks()
    );
    let mut tail = Vec::new();
    let mut f = fs::File::open(&copy).unwrap();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(-3)).unwrap();
    f.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, b"end");
    assert!(matches!(
        d.create("child", Some("base"), &CreateOpts::default()),
        Err(graphdriver::DriverError::LayerExists { .. })
    ));
    assert!(matches!(
        d.create("x", Some("missing"), &CreateOpts::default()),
        Err(graphdriver::DriverError::UnknownLayer { .. })
    ));
    assert!(d.create("../x", None, &CreateOpts::default()).is_err());
}

#[test]
fn layers_are_made_from_several_threads_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = std::sync::Arc::new(VfsDriver::new(&tmp.path().join("vfs")).unwrap());
    layer(&d, "base", None, &tar(&[file("shared", b"s")]));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || {
                let id = format!("child{i}");
                layer(
                    &d,
                    &id,
                    Some("base"),
                    &tar(&[file(&format!("own{i}"), b"o")]),
                );
                let p = d.get(&id, &Default::default()).unwrap();
                assert_eq!(fs::read(p.join("shared")).unwrap(), b"s");
                d.put(&id).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(d.layers().unwrap().len(), 5);
}
