//! Unit tests of the store over real redb files in temp dirs.

mod basic;
mod damage;
mod opening;

use std::io::{Read, Write};
use std::path::Path;

use crate::*;

pub(super) fn opts() -> OpenOptions {
    OpenOptions::new("vfs")
}

pub(super) fn open(root: &Path) -> MetadataStore {
    MetadataStore::open(root, &opts()).unwrap()
}

pub(super) fn diff(n: u32) -> DiffId {
    DiffId::from(Digest::of_bytes(&n.to_le_bytes()))
}

/// Deterministic, poorly compressible bytes.
pub(super) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Commits a layer with DiffID `diff(n)` above `parent`, with `ts` as tar-split data.
pub(super) fn commit(
    store: &MetadataStore,
    n: u32,
    parent: Option<&ChainId>,
    ts: &[u8],
) -> ChainId {
    let d = diff(n);
    let id = ChainId::new(parent, &d);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d);
    t.set_parent(parent.cloned());
    t.set_size(u64::from(n) * 10);
    t.set_cache_id(format!("cache-{n}"));
    t.set_tar_split_file_sizes(u64::from(n) * 3);
    t.tar_split_writer().write_all(ts).unwrap();
    t.commit(&id).unwrap();
    id
}

pub(super) fn read_tar_split(store: &MetadataStore, id: &ChainId) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    store.tar_split(id).unwrap().read_to_end(&mut out)?;
    Ok(out)
}

/// Opens the closed store's database directly, to plant what the API never writes.
pub(super) fn raw_db(root: &Path) -> redb::Database {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
    b.open(root.join(DB_FILE)).unwrap()
}
