//! Eight threads registering overlapping layer sets on one store.

use std::collections::HashMap;
use std::sync::Arc;

use layer_store::ChainId;
use store_tests::layers::{drivers, open_store, read_all, sha256, tar_of, Item};

fn tars() -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| {
            let name = format!("file-{i}");
            let data = vec![i as u8; 1000 + i * 700];
            tar_of(&[Item::Dir("d/"), Item::File(&name, &data)])
        })
        .collect()
}

#[test]
fn eight_threads_register_overlapping_layers() {
    for (driver, choice) in drivers() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path(), &choice);
        let tars = Arc::new(tars());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                let tars = tars.clone();
                std::thread::spawn(move || {
                    // Each thread stacks the same four tars, starting at a different one, so
                    // base layers are shared and some chains are registered by several threads.
                    let mut parent: Option<ChainId> = None;
                    let mut handles = Vec::new();
                    for k in 0..4 {
                        let tar = &tars[(t + k) % 4];
                        let layer = store.register(&tar[..], parent.as_ref()).unwrap();
                        parent = Some(layer.chain_id().clone());
                        handles.push(layer);
                    }
                    handles
                })
            })
            .collect();
        let handles: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        // 4 distinct rotations, each a distinct 4-layer chain: 16 layers, every one referenced
        // by the 2 threads that share its rotation.
        let map = store.map();
        assert_eq!(map.len(), 16, "{driver}");
        let mut refs: HashMap<ChainId, usize> = HashMap::new();
        for h in &handles {
            *refs.entry(h.chain_id().clone()).or_default() += 1;
        }
        for (id, info) in &map {
            assert_eq!(info.references, refs[id], "{driver}: {id}");
            let layer = store.get(id).unwrap();
            let tar = read_all(layer.tar_stream().unwrap()).unwrap();
            assert_eq!(sha256(&tar), info.diff_id.as_str(), "{driver}");
            store.release(layer).unwrap();
        }
        assert_eq!(
            store.driver().layers().unwrap().len(),
            16,
            "{driver}: duplicates discarded"
        );
        for h in handles {
            store.release(h).unwrap();
        }
        assert!(store.map().is_empty(), "{driver}");
        assert!(store.driver().layers().unwrap().is_empty(), "{driver}");
    }
}
