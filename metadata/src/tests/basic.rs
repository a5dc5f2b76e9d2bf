//! Round trips through the public API.

use std::io::Write;

use super::*;

#[test]
fn every_getter_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.driver(), "vfs");
    assert!(!store.is_read_only());
    assert!(dir.path().join("tmp").is_dir());

    let base = commit(&store, 1, None, b"base tar-split");
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        digest: Digest::of_bytes(b"blob").to_string(),
        size: 99,
        urls: vec!["https://example.com/blob".into()],
        annotations: [("org.example".to_string(), "x".to_string())].into(),
    };
    let d2 = diff(2);
    let top = ChainId::new(Some(&base), &d2);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d2.clone());
    t.set_parent(Some(base.clone()));
    t.set_size(4096);
    t.set_cache_id("c2".into());
    t.set_descriptor(Some(desc.clone()));
    t.set_tar_split_file_sizes(77);
    t.tar_split_writer().write_all(b"top").unwrap();
    t.commit(&top).unwrap();

    let r = store.layer(&top).unwrap().unwrap();
    assert_eq!(r.chain_id, top);
    assert_eq!(r.diff_id, d2);
    assert_eq!(r.parent.as_ref(), Some(&base));
    assert_eq!(r.size, 4096);
    assert_eq!(r.cache_id, "c2");
    assert_eq!(r.descriptor, Some(desc));
    assert_eq!(r.state, LayerState::Committed);
    assert!(r.created_unix_nanos > 0);
    assert_eq!(r.tar_split.raw_bytes, 3);
    assert_eq!(r.tar_split.chunks, 1);
    assert_eq!(r.tar_split.sha256, Digest::of_bytes(b"top"));
    assert_eq!(r.tar_split.file_sizes, 77);
    assert_eq!(read_tar_split(&store, &top).unwrap(), b"top");
    assert_eq!(read_tar_split(&store, &base).unwrap(), b"base tar-split");

    let all = store.layers().unwrap();
    assert_eq!(all.len(), 2);
    assert!(store
        .layer(&ChainId::new(None, &diff(9)))
        .unwrap()
        .is_none());

    // And the same after reopening.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.layer(&top).unwrap().unwrap(), r);
    assert_eq!(read_tar_split(&store, &top).unwrap(), b"top");
}

#[test]
fn nothing_after_cancel_or_drop() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for cancel in [true, false] {
        let d = diff(5);
        let id = ChainId::new(None, &d);
        let mut t = store.begin().unwrap();
        t.set_diff_id(d);
        t.set_cache_id("c".into());
        // Several chunks, so that a spool file exists.
        t.tar_split_writer()
            .write_all(&noise(3 * DEFAULT_CHUNK_SIZE + 5, 1))
            .unwrap();
        if cancel {
            t.cancel();
        } else {
            drop(t);
        }
        assert!(store.layer(&id).unwrap().is_none());
        assert!(store.layers().unwrap().is_empty());
        assert_eq!(
            store.tar_split(&id).err().unwrap().kind(),
            ErrorKind::NotFound
        );
    }
    // The anonymous spools left nothing behind.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn tar_split_streams_many_chunks_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(
        dir.path(),
        &OpenOptions {
            tar_split_chunk_size: 4096,
            ..opts()
        },
    )
    .unwrap();
    let data = noise(4096 * 5 + 123, 2);
    let id = commit(&store, 1, None, &data);
    let r = store.layer(&id).unwrap().unwrap();
    assert_eq!(r.tar_split.chunks, 6);
    assert_eq!(r.tar_split.raw_bytes, data.len() as u64);
    assert_eq!(read_tar_split(&store, &id).unwrap(), data);

    // Exactly a chunk's worth: no empty trailing chunk.
    let id2 = commit(&store, 2, None, &noise(4096 * 2, 3));
    assert_eq!(store.layer(&id2).unwrap().unwrap().tar_split.chunks, 2);

    let empty = commit(&store, 3, None, b"");
    let r = store.layer(&empty).unwrap().unwrap();
    assert_eq!(
        r.tar_split,
        TarSplitInfo {
            file_sizes: 9,
            ..TarSplitInfo::empty()
        }
    );
    assert_eq!(read_tar_split(&store, &empty).unwrap(), b"");
}

#[test]
fn commit_refuses_taken_ids_missing_parents_and_wrong_chain_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let base = commit(&store, 1, None, b"a");

    let mut t = store.begin().unwrap();
    t.set_diff_id(diff(1));
    t.set_cache_id("other".into());
    let err = t.commit(&base).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(store.layer(&base).unwrap().unwrap().cache_id, "cache-1");

    let ghost = ChainId::new(None, &diff(50));
    let d = diff(2);
    let id = ChainId::new(Some(&ghost), &d);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d.clone());
    t.set_parent(Some(ghost.clone()));
    t.set_cache_id("c".into());
    let err = t.commit(&id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(ghost.as_str()), "{err}");

    let mut t = store.begin().unwrap();
    t.set_diff_id(d);
    t.set_cache_id("c".into());
    assert_eq!(t.commit(&base).unwrap_err().kind(), ErrorKind::Invalid);

    let mut t = store.begin().unwrap();
    t.set_cache_id("c".into());
    assert_eq!(t.commit(&base).unwrap_err().kind(), ErrorKind::Invalid);
    let mut t = store.begin().unwrap();
    t.set_diff_id(diff(3));
    assert_eq!(
        t.commit(&ChainId::new(None, &diff(3))).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(store.layers().unwrap().len(), 1);
}

#[test]
fn state_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(
        dir.path(),
        &OpenOptions {
            tar_split_chunk_size: 1024,
            ..opts()
        },
    )
    .unwrap();
    let a = commit(&store, 1, None, &noise(5000, 1));
    let b = commit(&store, 2, None, &noise(5000, 2));
    store.set_state(&a, LayerState::Removing).unwrap();
    assert_eq!(
        store.layer(&a).unwrap().unwrap().state,
        LayerState::Removing
    );

    // A child cannot be committed on a parent being removed.
    let d = diff(3);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d.clone());
    t.set_parent(Some(a.clone()));
    t.set_cache_id("c".into());
    assert_eq!(
        t.commit(&ChainId::new(Some(&a), &d)).unwrap_err().kind(),
        ErrorKind::Invalid
    );

    store.remove_layer(&a).unwrap();
    assert!(store.layer(&a).unwrap().is_none());
    assert_eq!(
        store.remove_layer(&a).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .set_state(&a, LayerState::Committed)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // Its chunks went with it; the other layer's stayed.
    assert_eq!(read_tar_split(&store, &b).unwrap(), noise(5000, 2));
    // Recommitting the same ChainID starts from clean chunks.
    let a2 = commit(&store, 1, None, b"again");
    assert_eq!(a2, a);
    assert_eq!(read_tar_split(&store, &a).unwrap(), b"again");
}

#[test]
fn pending_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.begin_creation("cache-1").unwrap();
    store.begin_creation("cache-x").unwrap();
    let p = store.pending().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].cache_id, "cache-1");
    assert_eq!(p[0].pid, std::process::id());
    assert!(p[0].started_unix_nanos > 0);

    // The commit of cache-1's layer clears its pending record in the same transaction.
    commit(&store, 1, None, b"");
    let p = store.pending().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].cache_id, "cache-x");
    store.clear_pending("cache-x").unwrap();
    store.clear_pending("never").unwrap();
    assert!(store.pending().unwrap().is_empty());
}

#[test]
fn mount_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let base = commit(&store, 1, None, b"");
    let m = MountRecord {
        name: "ctr-1".into(),
        mount_id: "m1".into(),
        init_id: Some("m1-init".into()),
        parent: Some(base.clone()),
        created_unix_nanos: 5,
    };
    store.set_mount(&m).unwrap();
    let m2 = MountRecord {
        name: "ctr-0".into(),
        mount_id: "m0".into(),
        init_id: None,
        parent: None,
        created_unix_nanos: 6,
    };
    store.set_mount(&m2).unwrap();
    assert_eq!(store.mount("ctr-1").unwrap(), Some(m.clone()));
    assert_eq!(store.mounts().unwrap(), vec![m2.clone(), m.clone()]);

    // A whole-record replacement.
    let m1b = MountRecord {
        mount_id: "m1b".into(),
        ..m.clone()
    };
    store.set_mount(&m1b).unwrap();
    assert_eq!(store.mount("ctr-1").unwrap(), Some(m1b));

    store.remove_mount("ctr-1").unwrap();
    assert_eq!(store.mount("ctr-1").unwrap(), None);
    assert_eq!(
        store.remove_mount("ctr-1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(store.mounts().unwrap(), vec![m2]);
}

#[test]
fn transactions_stream_from_many_threads_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(
        dir.path(),
        &OpenOptions {
            tar_split_chunk_size: 8192,
            ..opts()
        },
    )
    .unwrap();
    let mut txns: Vec<_> = (0..4u32)
        .map(|n| {
            let mut t = store.begin().unwrap();
            t.set_diff_id(diff(n));
            t.set_cache_id(format!("c{n}"));
            t
        })
        .collect();
    std::thread::scope(|s| {
        for (n, t) in txns.iter_mut().enumerate() {
            s.spawn(move || {
                let data = noise(50_000, n as u64);
                for piece in data.chunks(777) {
                    t.tar_split_writer().write_all(piece).unwrap();
                }
            });
        }
    });
    let handles: Vec<_> = txns
        .into_iter()
        .enumerate()
        .map(|(n, t)| std::thread::spawn(move || t.commit(&ChainId::new(None, &diff(n as u32)))))
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    for n in 0..4u32 {
        let id = ChainId::new(None, &diff(n));
        assert_eq!(
            read_tar_split(&store, &id).unwrap(),
            noise(50_000, u64::from(n))
        );
    }
}

#[test]
fn types_are_send() {
    fn send<T: Send>() {}
    send::<MetadataStore>();
    send::<MetadataTransaction>();
    send::<TarSplitReader>();
    send::<TarSplitWriter>();
    fn sync<T: Sync>() {}
    sync::<MetadataStore>();
}

fn txn(store: &MetadataStore, n: u32, parent: Option<&ChainId>) -> (MetadataTransaction, ChainId) {
    let d = diff(n);
    let id = ChainId::new(parent, &d);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d);
    t.set_parent(parent.cloned());
    t.set_cache_id(format!("cache-{n}"));
    t.tar_split_writer()
        .write_all(&noise(100, n.into()))
        .unwrap();
    (t, id)
}

#[test]
fn a_batch_commits_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (t0, c0) = txn(&store, 0, None);
    let (t1, c1) = txn(&store, 1, Some(&c0));
    let (t2, c2) = txn(&store, 2, Some(&c1));
    store
        .commit_batch(vec![(t0, c0.clone()), (t1, c1), (t2, c2.clone())])
        .unwrap();
    assert_eq!(store.layers().unwrap().len(), 3);
    assert_eq!(read_tar_split(&store, &c2).unwrap(), noise(100, 2));

    // A taken ChainID at the end undoes the whole batch.
    let (t3, c3) = txn(&store, 3, Some(&c2));
    let (t4, _) = txn(&store, 0, None);
    let err = store
        .commit_batch(vec![(t3, c3.clone()), (t4, c0)])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(store.layer(&c3).unwrap().is_none());

    // A transaction of another store is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path());
    let (t5, c5) = txn(&other, 5, None);
    let err = store.commit_batch(vec![(t5, c5)]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    store.commit_batch(Vec::new()).unwrap();
    assert_eq!(store.layers().unwrap().len(), 3);
}

#[test]
fn point_reads_on_other_threads_see_each_change_once_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (tx, rx) = std::sync::mpsc::channel::<(ChainId, Option<LayerState>)>();
    let (ack_tx, ack) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let reader = &store;
        s.spawn(move || {
            for (id, expected) in rx {
                // The writer waits for this check before its next change.
                // Warm the snapshot, as a busy reader would have it.
                let seen = reader.layer(&id).unwrap().map(|r| r.state);
                assert_eq!(seen, expected, "{id}");
                let m = reader.mount("m").unwrap().map(|m| m.mount_id);
                assert_eq!(m.as_deref(), expected.map(|_| id.as_str()));
                ack_tx.send(()).unwrap();
            }
        });
        let send = |msg| {
            tx.send(msg).unwrap();
            ack.recv().unwrap();
        };
        for n in 0..30 {
            let id = commit(&store, n, None, b"");
            let mount = |mount_id: String| MountRecord {
                name: "m".into(),
                mount_id,
                init_id: None,
                parent: None,
                created_unix_nanos: 0,
            };
            store.set_mount(&mount(id.to_string())).unwrap();
            send((id.clone(), Some(LayerState::Committed)));
            store.set_state(&id, LayerState::Removing).unwrap();
            send((id.clone(), Some(LayerState::Removing)));
            store.remove_layer(&id).unwrap();
            store.remove_mount("m").unwrap();
            send((id, None));
        }
        drop(tx);
    });
}
