//! The metadata store's three figures (issue 4): a durable commit of a layer record with 10 MiB
//! of tar-split data, a point read of a layer record, and open + list of a store holding
//! 100,000 layer records. Goals: open + list under 300 ms, a point read under 5 us.
//!
//! Run by hand: `cargo bench -p store-benches --bench metadata`. The 100k store takes a few
//! seconds to build, in one temp dir reused by the read benches.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use metadata::{ChainId, DiffId, Digest, MetadataStore, OpenOptions};

const LAYERS: u32 = 100_000;
const BATCH: u32 = 5_000;
const TAR_SPLIT_BYTES: usize = 10 << 20;

fn diff(n: u32) -> DiffId {
    DiffId::from(Digest::of_bytes(&n.to_le_bytes()))
}

/// Bytes shaped like a tar-split stream: 512-byte tar headers (names, octal fields, zero
/// padding) separated by small per-file records with sizes and checksums.
fn tar_split_like(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 1024);
    let mut i: u64 = 0;
    while out.len() < len {
        let mut header = [0u8; 512];
        let name = format!("usr/lib/x86_64-linux-gnu/pkg-{}/file-{i}.so", i % 97);
        header[..name.len()].copy_from_slice(name.as_bytes());
        let fields = format!(
            "0000644\00000000\00000000\0{:011o}\0{:011o}\0",
            i * 37 % 100_000,
            1_700_000_000 + i
        );
        header[100..100 + fields.len()].copy_from_slice(fields.as_bytes());
        header[257..263].copy_from_slice(b"ustar\0");
        out.extend_from_slice(&header);
        let crc = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(i * 37 % 100_000).to_le_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn commit_10mib(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path(), &OpenOptions::new("vfs")).unwrap();
    let data = tar_split_like(TAR_SPLIT_BYTES);
    let mut n = 0u32;
    let mut next = move || {
        n += 1;
        n
    };
    let mut g = c.benchmark_group("metadata");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    // Streaming (chunking, compressing, spooling) and the durable commit together.
    g.bench_function("commit_10MiB_tar_split_total", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let n = next();
                let mut t = store.begin().unwrap();
                t.set_diff_id(diff(n));
                t.set_cache_id(format!("c{n}"));
                for piece in data.chunks(64 << 10) {
                    t.tar_split_writer().write_all(piece).unwrap();
                }
                t.commit(&ChainId::new(None, &diff(n))).unwrap();
            }
            start.elapsed()
        })
    });
    // The commit alone: what holds the database's write lock.
    g.bench_function("commit_10MiB_tar_split_lock_held", |b| {
        b.iter_custom(|iters| {
            let mut held = Duration::ZERO;
            for _ in 0..iters {
                let n = next();
                let mut t = store.begin().unwrap();
                t.set_diff_id(diff(n));
                t.set_cache_id(format!("c{n}"));
                t.tar_split_writer().write_all(&data).unwrap();
                let start = Instant::now();
                t.commit(&ChainId::new(None, &diff(n))).unwrap();
                held += start.elapsed();
            }
            held
        })
    });
    g.finish();
    if let Some(r) = store.layer(&ChainId::new(None, &diff(1))).unwrap() {
        eprintln!(
            "10 MiB tar-split stored as {} bytes in {} chunks",
            r.tar_split.stored_bytes, r.tar_split.chunks
        );
    }
}

/// Builds a store of `LAYERS` records (chains of 10 layers, small tar-split each) in batches.
fn build_store(root: &Path) {
    let store = MetadataStore::open(root, &OpenOptions::new("overlay")).unwrap();
    let ts = tar_split_like(600);
    let mut parent: Option<ChainId> = None;
    for start in (0..LAYERS).step_by(BATCH as usize) {
        let mut batch = Vec::with_capacity(BATCH as usize);
        for n in start..start + BATCH {
            if n % 10 == 0 {
                parent = None;
            }
            let d = diff(n);
            let id = ChainId::new(parent.as_ref(), &d);
            let mut t = store.begin().unwrap();
            t.set_diff_id(d);
            t.set_parent(parent.clone());
            t.set_size(u64::from(n) * 4096);
            t.set_cache_id(hex_id(n));
            t.set_tar_split_file_sizes(u64::from(n) * 4000);
            t.tar_split_writer().write_all(&ts).unwrap();
            batch.push((t, id.clone()));
            parent = Some(id);
        }
        store.commit_batch(batch).unwrap();
    }
}

/// A cache-ID as the store makes them: 64 hex characters.
fn hex_id(n: u32) -> String {
    Digest::of_bytes(&n.to_be_bytes()).hex().to_owned()
}

fn reads_100k(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let built = Instant::now();
    build_store(dir.path());
    eprintln!(
        "built {LAYERS} layer records in {:?}; database {} bytes",
        built.elapsed(),
        std::fs::metadata(dir.path().join(metadata::DB_FILE))
            .unwrap()
            .len()
    );

    // The machine is shared: besides criterion's wall-clock figures, show the CPU time one open
    // + list takes on this thread, which other load does not inflate as much.
    for _ in 0..3 {
        let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
        let s = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
        let n = s.layers().unwrap().len();
        eprintln!(
            "open read-only + list {n}: {:?} wall, {:?} on CPU",
            wall0.elapsed(),
            Duration::from_nanos(thread_cpu_ns().saturating_sub(cpu0))
        );
    }

    let mut g = c.benchmark_group("metadata");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("open_read_only_and_list_100k", |b| {
        b.iter_with_large_drop(|| {
            let s = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
            let all = s.layers().unwrap();
            assert_eq!(all.len(), LAYERS as usize);
            (s, all)
        })
    });
    // One writer at a time: each open must be closed before the next, and the close (which
    // syncs the file) is left out of the figure.
    g.bench_function("open_writer_and_list_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let s = MetadataStore::open(dir.path(), &OpenOptions::new("overlay")).unwrap();
                let all = s.layers().unwrap();
                total += start.elapsed();
                assert_eq!(all.len(), LAYERS as usize);
                drop((s, all));
            }
            total
        })
    });
    g.finish();

    let store = MetadataStore::open(dir.path(), &OpenOptions::new("overlay")).unwrap();
    let ids: Vec<ChainId> = store
        .layers()
        .unwrap()
        .into_iter()
        .map(|r| r.chain_id)
        .collect();
    for handle in [&store] {
        let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
        for k in 0..ids.len() {
            black_box(handle.layer(&ids[k * 7919 % ids.len()]).unwrap().unwrap());
        }
        let per = |d: Duration| d / ids.len() as u32;
        eprintln!(
            "point read (writer): {:?} wall, {:?} on CPU per read",
            per(wall0.elapsed()),
            per(Duration::from_nanos(thread_cpu_ns().saturating_sub(cpu0)))
        );
    }

    let mut g = c.benchmark_group("metadata");
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0usize;
    g.bench_function("point_read_100k", |b| {
        b.iter(|| {
            // A stride through the ChainID order, so that reads land all over the tree.
            i = (i + 7919) % ids.len();
            black_box(store.layer(&ids[i]).unwrap().unwrap())
        })
    });
    let reader = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    let mut i = 0usize;
    g.bench_function("point_read_100k_read_only_handle", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            black_box(reader.layer(&ids[i]).unwrap().unwrap())
        })
    });
    g.finish();
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), 0 where unavailable.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

criterion_group!(benches, commit_10mib, reads_100k);
criterion_main!(benches);
