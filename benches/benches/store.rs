//! Register and export throughput of the layer store on a small-files layer and a large-file
//! layer (modest sizes so a run takes about a minute; the 1 GiB figures come from
//! `benches/scripts/store-vs-floor.sh`). Uses overlay as root, else vfs.

use std::io::Read;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use layer_store::{DriverChoice, Store, StoreOptions};

fn small_files_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut seed = 0x1234_5678u32;
    for i in 0..4000u32 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let len = 200 + (seed % 12_000) as usize;
        let data: Vec<u8> = (0..len).map(|k| (k as u32 ^ seed) as u8).collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(len as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        let path = format!("d{:02}/f{i:05}", i % 40);
        b.append_data(&mut h, path, &data[..])
            .expect("building the bench tar");
    }
    b.into_inner().expect("finishing the bench tar")
}

fn big_file_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data: Vec<u8> = (0..64u32 << 20)
        .map(|k| (k.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "big.bin", &data[..])
        .expect("building the bench tar");
    b.into_inner().expect("finishing the bench tar")
}

fn driver() -> DriverChoice {
    if rustix::process::geteuid().is_root() {
        DriverChoice::Overlay
    } else {
        DriverChoice::Vfs
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    for (name, tar) in [
        ("small-files", small_files_tar()),
        ("big-file", big_file_tar()),
    ] {
        group.throughput(Throughput::Bytes(tar.len() as u64));
        let dir = tempfile::tempdir_in("/var/tmp").expect("a temp dir");
        let store = Store::open(StoreOptions::new(dir.path()).driver(driver())).expect("a store");
        group.bench_with_input(BenchmarkId::new("register", name), &tar, |b, tar| {
            b.iter(|| {
                let layer = store.register(&tar[..], None).expect("register");
                store.release(layer).expect("release");
            })
        });
        let layer = store.register(&tar[..], None).expect("register");
        group.bench_with_input(BenchmarkId::new("export", name), &tar, |b, _| {
            b.iter(|| {
                let mut stream = layer.tar_stream().expect("export");
                let mut buf = vec![0u8; 1 << 20];
                while stream.read(&mut buf).expect("export read") > 0 {}
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
