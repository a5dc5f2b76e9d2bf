//! A writer killed at random moments (kill -9) while it registers layers and creates read-write
//! layers: store-fsck repairs whatever was left (exit 0 or 1), a re-check is clean, and every
//! layer left exports and verifies against its DiffID.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{tar_of, Fixture};
use layer_store::{ChainId, DriverChoice, RwLayerOpts, Store, StoreOptions};

const CHILD_ENV: &str = "STORE_FSCK_TEST_CRASH_WRITER";

/// The child side: registers chains and read-write layers until it is killed.
#[test]
fn child_writer_until_killed() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(StoreOptions::new(root).driver(DriverChoice::Vfs)).unwrap();
    let mut parent: Option<ChainId> = None;
    for i in 0u32.. {
        let name = format!("f{i}");
        let data = vec![(i % 251) as u8; 20_000 + (i as usize % 7) * 3000];
        let tar = tar_of(&[(name.as_str(), &data[..])]);
        let layer = store.register(&tar[..], parent.as_ref()).unwrap();
        parent = if i % 5 == 4 {
            None
        } else {
            Some(layer.chain_id().clone())
        };
        if i % 3 == 0 {
            let _ = store.create_rw_layer(
                &format!("c{i}"),
                Some(layer.chain_id()),
                RwLayerOpts::default(),
            );
        }
    }
}

#[test]
fn a_writer_killed_at_random_moments_leaves_nothing_fsck_cannot_repair() {
    let fx = Fixture::new("vfs");
    // Delays spread over the child's start-up and its work.
    for (round, delay_ms) in [150u64, 260, 370, 90, 480].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer_until_killed", "--nocapture"])
            .env(CHILD_ENV, fx.root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let (code, json) = fx.fsck(&["--repair"]);
        assert!(code == 0 || code == 1, "round {round}: {json:#}");
        let (code, json) = fx.fsck(&["--deep"]);
        assert_eq!(code, 0, "round {round}: {json:#}");
    }
    let store = fx.open();
    let map = store.map();
    assert!(!map.is_empty(), "the writer never committed a layer");
    for id in map.keys() {
        let mut out = Vec::new();
        store
            .get(id)
            .unwrap()
            .tar_stream()
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("layer {id} does not export: {e}"));
    }
    store.cleanup().unwrap();
}
