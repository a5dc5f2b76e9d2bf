//! Damage: undecodable records, broken tar-split chunks, truncated and overwritten files. Each
//! must be an error naming what is damaged, never a panic and never silently skipped.

use std::io::Read;

use super::*;
use crate::tables::{LAYERS, MOUNTS, PENDING, TAR_SPLIT};

/// Plants `value` under `key` in `table` of the closed store at `root`.
fn plant(root: &Path, table: redb::TableDefinition<&str, &[u8]>, key: &str, value: &[u8]) {
    let db = raw_db(root);
    let w = db.begin_write().unwrap();
    w.open_table(table).unwrap().insert(key, value).unwrap();
    w.commit().unwrap();
}

#[test]
fn undecodable_layer_records_are_named_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = commit(&open(dir.path()), 1, None, b"ok");
    let bad = ChainId::new(None, &diff(2));
    plant(dir.path(), LAYERS, bad.as_str(), &[1, 2, 3]);
    plant(dir.path(), LAYERS, "not-a-chain-id", &[9]);
    let store = open(dir.path());

    let err = store.layers().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    let msg = err.to_string();
    assert!(msg.contains("metadata.redb"), "{msg}");

    let raw = store.layers_raw().unwrap();
    assert_eq!(raw.len(), 3);
    for (key, rec) in &raw {
        if key == good.as_str() {
            assert_eq!(rec.as_ref().unwrap().chain_id, good);
        } else {
            let e = rec.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt);
            assert!(
                e.to_string().contains(key.as_str()),
                "{e} does not name {key}"
            );
        }
    }
    let e = store.layer(&bad).unwrap_err();
    assert!(e.to_string().contains(bad.as_str()), "{e}");
    assert_eq!(
        store.tar_split(&bad).err().unwrap().kind(),
        ErrorKind::Corrupt
    );

    // fsck can remove what it cannot decode.
    store.remove_layer_key("not-a-chain-id").unwrap();
    store.remove_layer(&bad).unwrap();
    assert_eq!(store.layers().unwrap().len(), 1);
}

#[test]
fn undecodable_mount_and_pending_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    plant(dir.path(), MOUNTS, "ctr", &[7, 7]);
    plant(dir.path(), PENDING, "cache-x", &[]);
    let store = open(dir.path());
    for e in [
        store.mounts().unwrap_err(),
        store.mount("ctr").unwrap_err(),
        store.pending().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        let msg = e.to_string();
        assert!(
            msg.contains("\"ctr\"") || msg.contains("\"cache-x\""),
            "{msg}"
        );
    }
    store.remove_mount("ctr").unwrap();
    store.clear_pending("cache-x").unwrap();
    assert!(store.mounts().unwrap().is_empty() && store.pending().unwrap().is_empty());
}

/// Applies `damage` to chunk 1 of a three-chunk layer and returns the read error's message.
fn read_error_after(damage: impl FnOnce(&mut redb::Table<(&str, u32), &[u8]>, &str)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let o = OpenOptions {
        tar_split_chunk_size: 1024,
        ..opts()
    };
    let id = commit(
        &MetadataStore::open(dir.path(), &o).unwrap(),
        1,
        None,
        &noise(3000, 1),
    );
    {
        let db = raw_db(dir.path());
        let w = db.begin_write().unwrap();
        damage(&mut w.open_table(TAR_SPLIT).unwrap(), id.as_str());
        w.commit().unwrap();
    }
    let store = open(dir.path());
    let mut r = store.tar_split(&id).unwrap();
    let mut out = Vec::new();
    let err = r.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert_eq!(inner.map(Error::kind), Some(ErrorKind::Corrupt), "{err}");
    // The failure repeats instead of turning into a clean end.
    assert!(r.read(&mut [0u8; 16]).is_err());
    let msg = err.to_string();
    assert!(
        msg.contains(id.as_str()) && msg.contains("metadata.redb"),
        "{msg}"
    );
    msg
}

#[test]
fn a_missing_chunk_is_named() {
    let msg = read_error_after(|t, id| {
        t.remove((id, 1u32)).unwrap();
    });
    assert!(msg.contains("chunk 1") && msg.contains("missing"), "{msg}");
}

#[test]
fn a_garbage_chunk_is_named() {
    let msg = read_error_after(|t, id| {
        t.insert((id, 1u32), b"not zstd".as_slice()).unwrap();
    });
    assert!(msg.contains("chunk 1"), "{msg}");
}

#[test]
fn a_chunk_with_other_content_fails_the_digest() {
    let msg = read_error_after(|t, id| {
        let other = zstd::bulk::compress(&noise(1024, 99), 3).unwrap();
        t.insert((id, 1u32), other.as_slice()).unwrap();
    });
    assert!(msg.contains("sha256") || msg.contains("bytes"), "{msg}");
}

#[test]
fn an_extra_chunk_is_found() {
    let msg = read_error_after(|t, id| {
        t.insert((id, 3u32), b"extra".as_slice()).unwrap();
    });
    assert!(msg.contains("chunk 3"), "{msg}");
}

/// Builds a store with a few layers, mounts and multi-chunk tar-split data; returns its bytes.
fn sample_store(root: &Path) -> Vec<u8> {
    let o = OpenOptions {
        tar_split_chunk_size: 2048,
        ..opts()
    };
    let store = MetadataStore::open(root, &o).unwrap();
    let mut parent = None;
    for n in 0..12 {
        let id = commit(&store, n, parent.as_ref(), &noise(5000, n.into()));
        parent = Some(id);
    }
    store
        .set_mount(&MountRecord {
            name: "m".into(),
            mount_id: "mid".into(),
            init_id: None,
            parent,
            created_unix_nanos: 1,
        })
        .unwrap();
    drop(store);
    std::fs::read(root.join(DB_FILE)).unwrap()
}

/// Opens (writable or read-only) and reads everything; any failure must be an error naming
/// the file or a record in it.
fn open_and_read_all(root: &Path, read_only: bool) -> Result<(), Error> {
    let o = if read_only {
        OpenOptions::read_only()
    } else {
        opts()
    };
    let mut store = MetadataStore::open(root, &o)?;
    if !read_only {
        // The repair path: whatever it finds, it reports it.
        store.check_integrity()?;
    }
    for rec in store.layers()? {
        let mut r = store.tar_split(&rec.chain_id)?;
        std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| Error::Corrupt {
            record: "tar-split".into(),
            reason: e.to_string(),
        })?;
    }
    store.mounts()?;
    store.pending()?;
    Ok(())
}

fn assert_names_the_file(e: &Error, root: &Path) {
    let msg = e.to_string();
    let file = root.join(DB_FILE);
    assert!(
        msg.contains(&file.display().to_string()) || msg.starts_with("corrupt tar-split"),
        "error does not name the file: {msg}"
    );
}

#[test]
fn truncated_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample_store(dir.path());
    let path = dir.path().join(DB_FILE);
    for len in [
        1,
        100,
        511,
        4096,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 4096,
    ] {
        for read_only in [true, false] {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = open_and_read_all(dir.path(), read_only)
                .err()
                .unwrap_or_else(|| panic!("truncated to {len} and read fine"));
            assert_names_the_file(&err, dir.path());
        }
    }
}

#[test]
fn overwritten_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample_store(dir.path());
    let path = dir.path().join(DB_FILE);
    let (mut errors, mut clean) = (0, 0);
    // Every page of the file (4 KiB), hit at a varying offset inside it.
    for (i, page) in (0..bytes.len()).step_by(4096).enumerate() {
        let mut damaged = bytes.clone();
        let at = page + (i * 523) % 4000;
        for b in &mut damaged[at..(at + 64).min(bytes.len())] {
            *b ^= 0xa5;
        }
        for read_only in [false, true] {
            std::fs::write(&path, &damaged).unwrap();
            match open_and_read_all(dir.path(), read_only) {
                Ok(()) => clean += 1,
                Err(e) => {
                    if std::env::var_os("SHOW_DAMAGE").is_some() {
                        eprintln!("page {page} ro={read_only}: {e}");
                    }
                    assert_names_the_file(&e, dir.path());
                    errors += 1;
                }
            }
        }
    }
    assert!(errors > 0, "no damage was noticed ({clean} clean reads)");
}

#[test]
fn raw_listings_show_good_and_bad_mount_and_pending_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .set_mount(&MountRecord {
            name: "good".into(),
            mount_id: "m".into(),
            init_id: None,
            parent: None,
            created_unix_nanos: 1,
        })
        .unwrap();
    store.begin_creation("good-cache").unwrap();
    drop(store);
    plant(dir.path(), MOUNTS, "bad", &[1]);
    plant(dir.path(), PENDING, "bad-cache", &[1]);
    let store = open(dir.path());
    let mounts = store.mounts_raw().unwrap();
    assert_eq!(mounts.len(), 2);
    assert!(mounts[0].0 == "bad" && mounts[0].1.is_err());
    assert_eq!(mounts[1].1.as_ref().unwrap().mount_id, "m");
    let pending = store.pending_raw().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending[0].0 == "bad-cache" && pending[0].1.is_err());
    assert_eq!(pending[1].1.as_ref().unwrap().cache_id, "good-cache");
}

#[test]
fn orphan_tar_split_chunks_are_found_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let o = OpenOptions {
        tar_split_chunk_size: 1024,
        ..opts()
    };
    let store = MetadataStore::open(dir.path(), &o).unwrap();
    let kept = commit(&store, 1, None, &noise(3000, 1));
    assert!(store.orphan_tar_split().unwrap().is_empty());
    drop(store);
    let orphan = ChainId::new(None, &diff(7));
    {
        let db = raw_db(dir.path());
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(TAR_SPLIT).unwrap();
            for n in 0..3u32 {
                t.insert((orphan.as_str(), n), b"x".as_slice()).unwrap();
            }
            t.insert(("zz-not-an-id", 0u32), b"y".as_slice()).unwrap();
        }
        w.commit().unwrap();
    }
    let store = open(dir.path());
    let found = store.orphan_tar_split().unwrap();
    assert_eq!(
        found,
        vec![(orphan.to_string(), 3), ("zz-not-an-id".to_string(), 1)]
    );
    assert_eq!(
        store
            .remove_orphan_tar_split(kept.as_str())
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
    for (key, _) in found {
        store.remove_orphan_tar_split(&key).unwrap();
    }
    assert!(store.orphan_tar_split().unwrap().is_empty());
    assert_eq!(read_tar_split(&store, &kept).unwrap(), noise(3000, 1));
}
