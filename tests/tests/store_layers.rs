//! Layer store scenarios, ported from the peers' layer-store tests, on every driver that can run.

use layer_store::{
    create_chain_id, ChainId, Descriptor, DiffId, DriverChoice, RwLayerOpts, Store, StoreError,
    StoreOptions,
};
use store_tests::layers::{drivers, open_store, read_all, sha256, tar_of, Item};

fn base_tar() -> Vec<u8> {
    tar_of(&[
        Item::Dir("etc/"),
        Item::File("etc/hostname", b"base\n"),
        Item::Dir("usr/"),
        Item::Dir("usr/bin/"),
        Item::File("usr/bin/tool", &[7u8; 3000]),
        Item::Symlink("bin", "usr/bin"),
    ])
}

fn mid_tar() -> Vec<u8> {
    tar_of(&[
        Item::Dir("etc/"),
        Item::File("etc/hostname", b"middle\n"),
        Item::Whiteout("usr/bin/tool"),
        Item::File("usr/bin/other", b"other\n"),
        Item::HardLink("usr/bin/other-link", "usr/bin/other"),
    ])
}

fn top_tar() -> Vec<u8> {
    tar_of(&[
        Item::Dir("usr/"),
        Item::Opaque("usr/"),
        Item::File("usr/only", b"only\n"),
    ])
}

/// Runs `scenario` once per available driver, each in a fresh store.
fn each_driver(scenario: impl Fn(&str, &DriverChoice, &std::path::Path)) {
    for (name, choice) in drivers() {
        let dir = tempfile::tempdir().unwrap();
        scenario(name, &choice, dir.path());
    }
}

fn register(store: &Store, tar: &[u8], parent: Option<&ChainId>) -> layer_store::Layer {
    store.register(tar, parent).unwrap()
}

#[test]
fn register_a_chain_and_read_it_back() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let tars = [base_tar(), mid_tar(), top_tar()];
        let mut parent: Option<ChainId> = None;
        let mut diff_ids = Vec::new();
        for tar in &tars {
            let layer = register(&store, tar, parent.as_ref());
            assert_eq!(layer.diff_id().as_str(), sha256(tar), "{driver}");
            diff_ids.push(layer.diff_id().clone());
            assert_eq!(
                layer.chain_id(),
                &create_chain_id(&diff_ids).unwrap(),
                "{driver}"
            );
            assert_eq!(layer.parent(), parent.as_ref(), "{driver}");
            let exported = read_all(layer.tar_stream().unwrap()).unwrap();
            assert!(
                exported == *tar,
                "{driver}: export differs from the registered tar"
            );
            parent = Some(layer.chain_id().clone());
        }
        assert_eq!(store.map().len(), 3, "{driver}");
    });
}

#[test]
fn the_same_layer_twice_is_one_layer_with_two_references() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let tar = base_tar();
        let a = register(&store, &tar, None);
        let b = register(&store, &tar, None);
        assert_eq!(a.chain_id(), b.chain_id(), "{driver}");
        assert_eq!(a.cache_id(), b.cache_id(), "{driver}");
        assert_eq!(store.info(a.chain_id()).unwrap().references, 2, "{driver}");
        let driver_dirs = store.driver().layers().unwrap();
        assert_eq!(
            driver_dirs.len(),
            1,
            "{driver}: the duplicate's directory is discarded"
        );
        assert!(store.release(a).unwrap().is_empty(), "{driver}");
        let deleted = store.release(b).unwrap();
        assert_eq!(deleted.len(), 1, "{driver}");
        assert!(store.map().is_empty(), "{driver}");
        assert!(store.driver().layers().unwrap().is_empty(), "{driver}");
    });
}

#[test]
fn gzip_and_zstd_layers_register_with_the_plain_tars_diff_id() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let tar = base_tar();
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let layer = register(&store, &gz, None);
        assert_eq!(layer.diff_id().as_str(), sha256(&tar), "{driver}");
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        let again = register(&store, &zst, None);
        assert_eq!(again.chain_id(), layer.chain_id(), "{driver}");
        assert_eq!(
            read_all(again.tar_stream().unwrap()).unwrap(),
            tar,
            "{driver}"
        );
    });
}

#[test]
fn sizes_count_the_layer_and_the_chain() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let base = register(&store, &base_tar(), None);
        let mid = register(&store, &mid_tar(), Some(base.chain_id()));
        assert_eq!(base.diff_size(), 5 + 3000, "{driver}");
        assert_eq!(mid.diff_size(), 7 + 6, "{driver}");
        assert_eq!(mid.size().unwrap(), 5 + 3000 + 7 + 6, "{driver}");
        let record = store
            .metadata_store()
            .layer(base.chain_id())
            .unwrap()
            .unwrap();
        assert_eq!(
            record.tar_split.file_sizes,
            5 + 3000,
            "{driver}: kept for fsck"
        );
    });
}

#[test]
fn release_cascades_down_the_chain_and_children_hold_parents() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let base = register(&store, &base_tar(), None);
        let mid = register(&store, &mid_tar(), Some(base.chain_id()));
        let top = register(&store, &top_tar(), Some(mid.chain_id()));
        let (base_id, mid_id, top_id) = (
            base.chain_id().clone(),
            mid.chain_id().clone(),
            top.chain_id().clone(),
        );
        // Releasing the parents first deletes nothing: their children hold them.
        assert!(store.release(base).unwrap().is_empty(), "{driver}");
        assert!(store.release(mid).unwrap().is_empty(), "{driver}");
        assert_eq!(store.map().len(), 3, "{driver}");
        let deleted: Vec<ChainId> = store
            .release(top)
            .unwrap()
            .into_iter()
            .map(|m| m.chain_id)
            .collect();
        assert_eq!(deleted, vec![top_id, mid_id, base_id], "{driver}");
        assert!(store.map().is_empty(), "{driver}");
        assert!(store.driver().layers().unwrap().is_empty(), "{driver}");
    });
}

#[test]
fn every_handle_is_one_reference() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let base = register(&store, &base_tar(), None);
        let id = base.chain_id().clone();
        let second = store.get(&id).unwrap();
        assert_eq!(store.info(&id).unwrap().references, 2, "{driver}");
        assert!(store.release(second).unwrap().is_empty(), "{driver}");
        assert_eq!(store.info(&id).unwrap().references, 1, "{driver}");
        assert_eq!(store.release(base).unwrap().len(), 1, "{driver}");
        assert!(
            matches!(store.get(&id), Err(StoreError::LayerDoesNotExist(_))),
            "{driver}"
        );
    });
}

#[test]
fn tar_stream_from_joins_the_layers_above_an_ancestor() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let base = register(&store, &base_tar(), None);
        let mid = register(&store, &mid_tar(), Some(base.chain_id()));
        let top = register(&store, &top_tar(), Some(mid.chain_id()));
        let joined = read_all(top.tar_stream_from(Some(base.chain_id())).unwrap()).unwrap();
        // The members of mid then top, in order, as one tar.
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(&joined[..]);
        for entry in archive.entries().unwrap() {
            names.push(
                entry
                    .unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        assert_eq!(
            names,
            [
                "etc/",
                "etc/hostname",
                "usr/bin/.wh.tool",
                "usr/bin/other",
                "usr/bin/other-link",
                "usr/",
                "usr/.wh..wh..opq",
                "usr/only"
            ],
            "{driver}"
        );
        let whole = read_all(top.tar_stream_from(None).unwrap()).unwrap();
        assert!(whole.len() > joined.len(), "{driver}");
        let unrelated = register(&store, &tar_of(&[Item::File("x", b"x")]), None);
        let err = top.tar_stream_from(Some(unrelated.chain_id())).unwrap_err();
        assert!(
            matches!(err, StoreError::NotAncestor { .. }),
            "{driver}: {err}"
        );
    });
}

#[test]
fn a_reopened_store_finds_its_layers_and_read_write_layers() {
    each_driver(|driver, choice, root| {
        let (base_id, top_id) = {
            let store = open_store(root, choice);
            let base = register(&store, &base_tar(), None);
            let top = register(&store, &mid_tar(), Some(base.chain_id()));
            store
                .create_rw_layer("c1", Some(top.chain_id()), RwLayerOpts::default())
                .unwrap();
            store.cleanup().unwrap();
            (base.chain_id().clone(), top.chain_id().clone())
        };
        let store = open_store(root, choice);
        assert!(
            store.recovery().is_clean(),
            "{driver}: {:?}",
            store.recovery()
        );
        let top = store.get(&top_id).unwrap();
        assert_eq!(top.parent(), Some(&base_id), "{driver}");
        assert_eq!(
            read_all(top.tar_stream().unwrap()).unwrap(),
            mid_tar(),
            "{driver}"
        );
        let rw = store.get_rw_layer("c1").unwrap();
        assert_eq!(rw.parent(), Some(&top_id), "{driver}");
        assert_eq!(store.info(&top_id).unwrap().children, 1, "{driver}");
    });
}

#[test]
fn depth_is_bounded() {
    each_driver(|driver, choice, root| {
        let store =
            Store::open(StoreOptions::new(root).driver(choice.clone()).max_depth(3)).unwrap();
        let mut parent: Option<ChainId> = None;
        for i in 0..3 {
            let name = format!("f{i}");
            let tar = tar_of(&[Item::File(&name, b"x")]);
            parent = Some(register(&store, &tar, parent.as_ref()).chain_id().clone());
        }
        let err = store
            .register(&tar_of(&[Item::File("deep", b"x")])[..], parent.as_ref())
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::MaxDepthExceeded {
                    depth: 4,
                    max: 3,
                    ..
                }
            ),
            "{driver}: {err}"
        );
        assert_eq!(store.map().len(), 3, "{driver}");
    });
}

#[test]
fn descriptors_round_trip() {
    each_driver(|driver, choice, root| {
        let tar = base_tar();
        let descriptor = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
            digest: sha256(b"compressed"),
            size: 1234,
            urls: vec!["https://example.invalid/blob".to_owned()],
            annotations: [("org.example.k".to_owned(), "v".to_owned())].into(),
        };
        let id = {
            let store = open_store(root, choice);
            let layer = store
                .register_with_descriptor(&tar[..], None, Some(descriptor.clone()))
                .unwrap();
            assert_eq!(layer.descriptor(), Some(&descriptor), "{driver}");
            layer.chain_id().clone()
        };
        let store = open_store(root, choice);
        assert_eq!(
            store.get(&id).unwrap().descriptor(),
            Some(&descriptor),
            "{driver}"
        );
    });
}

#[test]
fn chain_ids_match_dockers_for_known_lists() {
    // Expected values computed independently with coreutils:
    //   CHAIN = sha256:$(printf '%s %s' "$PARENT_CHAIN" "$DIFF_ID" | sha256sum)
    let diff = |c: char| DiffId::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
    let cases: [(&[char], &str); 3] = [
        (
            &['a'],
            "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            &['a', 'b'],
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c",
        ),
        (
            &['a', 'b', 'c'],
            "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588",
        ),
    ];
    for (letters, expected) in cases {
        let ids: Vec<DiffId> = letters.iter().map(|c| diff(*c)).collect();
        assert_eq!(
            create_chain_id(&ids).unwrap().as_str(),
            expected,
            "{letters:?}"
        );
    }
}

#[test]
fn a_read_write_layer_mounts_changes_and_commits() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let base = register(&store, &base_tar(), None);
        let init: layer_store::InitFn = Box::new(|path: &std::path::Path| {
            std::fs::create_dir_all(path.join("etc"))?;
            std::fs::write(path.join("etc/hosts"), b"127.0.0.1 localhost\n")
        });
        let rw = store
            .create_rw_layer(
                "container",
                Some(base.chain_id()),
                RwLayerOpts {
                    init: Some(init),
                    ..Default::default()
                },
            )
            .unwrap();
        let err = store
            .create_rw_layer("container", Some(base.chain_id()), RwLayerOpts::default())
            .unwrap_err();
        assert!(matches!(err, StoreError::MountNameConflict(_)), "{driver}");
        let merged = rw.mount().unwrap();
        assert_eq!(
            std::fs::read(merged.join("etc/hostname")).unwrap(),
            b"base\n"
        );
        assert_eq!(
            std::fs::read(merged.join("etc/hosts")).unwrap(),
            b"127.0.0.1 localhost\n",
            "{driver}: the init layer shows"
        );
        std::fs::write(merged.join("new-file"), b"new\n").unwrap();
        std::fs::remove_file(merged.join("usr/bin/tool")).unwrap();
        let changes: Vec<(String, graphdriver::ChangeKind)> = rw
            .changes()
            .unwrap()
            .into_iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
            .collect();
        assert!(
            changes.contains(&("/new-file".to_owned(), graphdriver::ChangeKind::Add)),
            "{driver}: {changes:?}"
        );
        assert!(
            changes.contains(&("/usr/bin/tool".to_owned(), graphdriver::ChangeKind::Delete)),
            "{driver}: {changes:?}"
        );
        assert!(
            !changes.iter().any(|(p, _)| p == "/etc/hosts"),
            "{driver}: init layer files are not changes: {changes:?}"
        );
        let committed = rw.commit().unwrap();
        assert_eq!(committed.parent(), Some(base.chain_id()), "{driver}");
        let err = store
            .release_rw_layer(store.get_rw_layer("container").unwrap())
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ActiveMount { .. }),
            "{driver}: {err}"
        );
        rw.unmount().unwrap();
        assert!(
            matches!(rw.unmount(), Err(StoreError::NotMounted(_))),
            "{driver}"
        );
        store.release_rw_layer(rw).unwrap();
        // The committed layer's export is what the diff was.
        let exported = read_all(committed.tar_stream().unwrap()).unwrap();
        assert_eq!(sha256(&exported), committed.diff_id().as_str(), "{driver}");
        // A child layer built from the commit shows the new file and not the deleted one.
        let rw2 = store
            .create_rw_layer("c2", Some(committed.chain_id()), RwLayerOpts::default())
            .unwrap();
        let merged = rw2.mount().unwrap();
        assert!(merged.join("new-file").exists(), "{driver}");
        assert!(!merged.join("usr/bin/tool").exists(), "{driver}");
        assert!(!merged.join("etc/hosts").exists(), "{driver}");
        rw2.unmount().unwrap();
    });
}

#[test]
fn a_refused_tar_leaves_nothing_behind() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let mut bad = base_tar();
        bad.truncate(700); // cut inside the first file's data
        assert!(store.register(&bad[..], None).is_err(), "{driver}");
        let escape = {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(1);
            h.set_mode(0o644);
            let name = b"../../escape";
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            let mut v = h.as_bytes().to_vec();
            v.extend_from_slice(&[b'x'; 512]);
            v.extend_from_slice(&[0u8; 1024]);
            v
        };
        let _ = store.register(&escape[..], None);
        assert!(!root.parent().unwrap().join("escape").exists(), "{driver}");
        assert!(store.map().is_empty() || store.map().len() == 1, "{driver}");
        assert!(
            store.metadata_store().pending().unwrap().is_empty(),
            "{driver}: no pending record left"
        );
        let listed = store.driver().layers().unwrap();
        assert!(
            listed.len() == store.map().len(),
            "{driver}: a refused layer leaves no directory: {listed:?}"
        );
        let tmp = std::fs::read_dir(root.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(tmp, 0, "{driver}: no spool left");
    });
}

#[test]
fn a_mount_left_by_an_earlier_process_is_adopted() {
    each_driver(|driver, choice, root| {
        if driver != "overlay" {
            return; // only overlay mounts outlive the process that made them
        }
        let base_id = {
            let store = open_store(root, choice);
            let base = register(&store, &base_tar(), None);
            let rw = store
                .create_rw_layer("kept", Some(base.chain_id()), RwLayerOpts::default())
                .unwrap();
            rw.mount().unwrap();
            // The store is dropped without cleanup, as a `layer-store rw mount` process exits.
            base.chain_id().clone()
        };
        let store = open_store(root, choice);
        let rw = store.get_rw_layer("kept").unwrap();
        let err = store
            .release_rw_layer(store.get_rw_layer("kept").unwrap())
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ActiveMount { count: 1, .. }),
            "{err}"
        );
        assert!(store.get(&base_id).is_ok());
        rw.unmount().unwrap();
        store.release_rw_layer(rw).unwrap();
    });
}

#[test]
fn a_file_changed_on_disk_fails_the_export_naming_the_layer_and_file() {
    each_driver(|driver, choice, root| {
        let store = open_store(root, choice);
        let tar = base_tar();
        let layer = register(&store, &tar, None);
        let meta = layer.metadata().unwrap();
        let dir = meta
            .get("UpperDir")
            .or_else(|| meta.get("Dir"))
            .unwrap_or_else(|| panic!("{driver}: no directory in {meta:?}"));
        let victim = std::path::Path::new(dir).join("usr/bin/tool");
        // Same size, one byte different: only the CRC-64 can tell.
        let mut data = std::fs::read(&victim).unwrap();
        data[100] ^= 1;
        std::fs::write(&victim, &data).unwrap();
        let mut stream = layer.tar_stream().unwrap();
        let mut got = Vec::new();
        let err = std::io::Read::read_to_end(&mut stream, &mut got).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(layer.chain_id().as_str()), "{driver}: {text}");
        assert!(text.contains("usr/bin/tool"), "{driver}: {text}");
        assert!(
            got.len() < tar.len(),
            "{driver}: a failed export never looks whole"
        );
        // A file that grew is caught by its size.
        std::fs::write(&victim, [&tar[..0], &[7u8; 3001][..]].concat()).unwrap();
        let err = read_all(layer.tar_stream().unwrap()).unwrap_err();
        assert!(err.to_string().contains("usr/bin/tool"), "{driver}: {err}");
    });
}

#[test]
fn a_read_write_layer_interrupted_before_its_record_leaves_no_orphan() {
    each_driver(|driver, choice, root| {
        {
            let store = open_store(root, choice);
            let base = register(&store, &base_tar(), None);
            // An init function that fails stands for a crash before the mount record commits.
            let init: layer_store::InitFn =
                Box::new(|_: &std::path::Path| Err(std::io::Error::other("boom")));
            let err = store
                .create_rw_layer(
                    "broken",
                    Some(base.chain_id()),
                    RwLayerOpts {
                        init: Some(init),
                        ..Default::default()
                    },
                )
                .unwrap_err();
            assert!(err.to_string().contains("boom"), "{driver}: {err}");
            assert!(store.get_rw_layer("broken").is_err(), "{driver}");
            assert_eq!(store.driver().layers().unwrap().len(), 1, "{driver}");
        }
        let store = open_store(root, choice);
        assert!(
            store.recovery().is_clean(),
            "{driver}: {:?}",
            store.recovery()
        );
    });
}
