//! The `--deep` figure: a store of ~1 GiB of small files in several layers, checked deep, and the
//! same layers exported to a sink (the goal: the deep check is no slower than the export).
//!
//! Run by hand (not part of the test suite):
//! `cargo run --release -p store-fsck --example deep_bench -- [DIR] [MIB] [LAYERS] [JOBS]`
//! (defaults: a temp dir, 1024 MiB, 8 layers, 2 jobs). Files are 4-28 KiB of incompressible
//! bytes, each layer a base layer (so a copying driver does not copy parents).

use std::io::Read;
use std::time::Instant;

use layer_store::check::{CheckOptions, Checker};
use layer_store::{DriverChoice, Store, StoreOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp;
    let root = match args.first() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            tmp = std::env::temp_dir().join(format!("fsck-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    let mib: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let layers: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let jobs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);

    let store = Store::open(StoreOptions::new(&root).driver(DriverChoice::Auto)).expect("open");
    let per_layer = (mib << 20) / layers.max(1);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut files = 0u64;
    let started = Instant::now();
    let mut ids = Vec::new();
    for l in 0..layers {
        let mut b = tar::Builder::new(Vec::new());
        let mut size = 0u64;
        let mut n = 0u64;
        while size < per_layer {
            let len = 4096 + (next(&mut seed) % (24 * 1024)) as usize;
            let data: Vec<u8> = (0..len).map(|_| next(&mut seed) as u8).collect();
            let mut h = tar::Header::new_gnu();
            h.set_size(len as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, format!("l{l}/d{}/f{n}", n % 64), &data[..])
                .expect("tar");
            size += len as u64;
            n += 1;
        }
        files += n;
        let tar = b.into_inner().expect("tar");
        let layer = store.register(&tar[..], None).expect("register");
        ids.push(layer.chain_id().clone());
    }
    println!(
        "store: {} driver, {layers} layers, {files} files, {} MiB, built in {:.1?}",
        store.driver_name(),
        mib,
        started.elapsed()
    );
    // Cold-ish caches are not attempted: both runs read from the page cache after the build.
    let t = Instant::now();
    let mut exported = 0u64;
    for id in &ids {
        let layer = store.get(id).expect("get");
        let mut s = layer.tar_stream().expect("export");
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            exported += n as u64;
        }
    }
    let export = t.elapsed();
    store.cleanup().expect("cleanup");
    drop(store);

    let mut checker = Checker::open(&root, false).expect("checker");
    let t = Instant::now();
    let report = checker
        .check(&CheckOptions {
            deep: true,
            jobs,
            ..CheckOptions::default()
        })
        .expect("check");
    let deep = t.elapsed();
    assert!(report.is_clean(), "{:?}", report.findings);
    let mb = |bytes: u64, d: std::time::Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "export of every layer to a sink: {export:.2?} ({:.0} MB/s, one layer at a time)",
        mb(exported, export)
    );
    println!(
        "store-fsck --deep --jobs {jobs}:     {deep:.2?} ({:.0} MB/s, {} bytes)",
        mb(report.counters.deep_bytes, deep),
        report.counters.deep_bytes
    );
    if args.is_empty() {
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// xorshift64*: fast incompressible test bytes.
fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
