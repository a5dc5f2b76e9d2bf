//! Crash safety: a child process registering and releasing layers is SIGKILLed at random moments;
//! after every reopen there is no half layer, no orphan driver directory, and every listed layer
//! exports and verifies.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use layer_store::{ChainId, DriverChoice, Store, StoreOptions};
use store_tests::layers::{drivers, read_all, sha256, tar_of, Item};

const CHILD_ENV: &str = "LAYER_STORE_CRASH_CHILD_ROOT";
const DRIVER_ENV: &str = "LAYER_STORE_CRASH_CHILD_DRIVER";
const KILLS: usize = 50;

/// A small deterministic generator (xorshift), so no test dependency is needed for randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn choice_named(name: &str) -> DriverChoice {
    match name {
        "overlay" => DriverChoice::Overlay,
        _ => DriverChoice::Vfs,
    }
}

/// A layer of `files` files; some are large enough that a kill often lands during extraction.
fn layer_tar(rng: &mut Rng) -> Vec<u8> {
    let files = 1 + rng.below(40) as usize;
    let names: Vec<String> = (0..files).map(|i| format!("d{}/f{i}", i % 4)).collect();
    let big = rng.below(4) == 0;
    let contents: Vec<Vec<u8>> = (0..files)
        .map(|i| {
            let len = if big && i == 0 {
                4 << 20
            } else {
                rng.below(5000) as usize
            };
            let seed = rng.next() as u8;
            (0..len).map(|k| seed.wrapping_add(k as u8)).collect()
        })
        .collect();
    let mut items = vec![
        Item::Dir("d0/"),
        Item::Dir("d1/"),
        Item::Dir("d2/"),
        Item::Dir("d3/"),
    ];
    for (name, data) in names.iter().zip(&contents) {
        items.push(Item::File(name, data));
    }
    tar_of(&items)
}

/// The child: registers and releases layers in a loop until it is killed.
#[test]
fn crash_child_entry() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let driver = std::env::var(DRIVER_ENV).unwrap_or_default();
    let store = Store::open(StoreOptions::new(&root).driver(choice_named(&driver))).unwrap();
    let seed = std::process::id() as u64 | 1;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    loop {
        let layers: Vec<ChainId> = store.map().into_keys().collect();
        if !layers.is_empty() && rng.below(3) == 0 {
            let victim = &layers[rng.below(layers.len() as u64) as usize];
            if let Ok(handle) = store.get(victim) {
                let _ = store.release(handle);
            }
        } else {
            let parent = if layers.is_empty() || rng.below(3) == 0 {
                None
            } else {
                Some(layers[rng.below(layers.len() as u64) as usize].clone())
            };
            let tar = layer_tar(&mut rng);
            let _ = store.register(&tar[..], parent.as_ref());
        }
    }
}

/// Everything the store must hold after a crash and reopen.
fn check_store(root: &std::path::Path, choice: &DriverChoice, round: usize, driver: &str) {
    let store = Store::open(StoreOptions::new(root).driver(choice.clone()))
        .unwrap_or_else(|e| panic!("{driver} round {round}: reopen failed: {e}"));
    let recovery = store.recovery();
    assert!(
        recovery.problems.is_empty(),
        "{driver} round {round}: {:?}",
        recovery.problems
    );
    assert!(
        recovery.orphans.is_empty(),
        "{driver} round {round}: orphan directories {:?}",
        recovery.orphans
    );
    assert!(store.metadata_store().pending().unwrap().is_empty());
    let map = store.map();
    let named: HashSet<String> = map.values().map(|i| i.cache_id.clone()).collect();
    for listing in store.driver().layers().unwrap() {
        assert!(
            listing.complete,
            "{driver} round {round}: half layer {listing:?}"
        );
        assert!(
            named.contains(&listing.id),
            "{driver} round {round}: orphan driver directory {}",
            listing.id
        );
    }
    for (id, info) in &map {
        if let Some(parent) = &info.parent {
            assert!(map.contains_key(parent), "{driver}: {id} lost its parent");
        }
        let layer = store.get(id).unwrap();
        let tar = read_all(layer.tar_stream().unwrap())
            .unwrap_or_else(|e| panic!("{driver} round {round}: {id} does not export: {e}"));
        assert_eq!(
            sha256(&tar),
            info.diff_id.as_str(),
            "{driver} round {round}"
        );
    }
}

#[test]
fn killed_at_random_moments_the_store_stays_whole() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (driver, choice) in drivers() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let started = Instant::now();
        for round in 0..KILLS {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "crash_child_entry",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, dir.path())
                .env(DRIVER_ENV, driver)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(20 + rng.below(250)));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            check_store(dir.path(), &choice, round, driver);
        }
        eprintln!(
            "{driver}: {KILLS} kills checked in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
