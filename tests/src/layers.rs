//! Building layer tars and stores for the layer-store scenario tests.

use std::path::Path;

use layer_store::{DriverChoice, Store, StoreOptions};
use sha2::{Digest, Sha256};

/// One member of a test layer.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A directory with mode 0755.
    Dir(&'a str),
    /// A regular file with mode 0644.
    File(&'a str, &'a [u8]),
    /// A symlink `path -> target`.
    Symlink(&'a str, &'a str),
    /// A hard link `path` to the earlier member `target`.
    HardLink(&'a str, &'a str),
    /// An OCI whiteout deleting `dir/name`: written as `dir/.wh.name`.
    Whiteout(&'a str),
    /// An OCI opaque marker for the directory: `dir/.wh..wh..opq`.
    Opaque(&'a str),
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn whiteout_name(path: &str, opaque: bool) -> String {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), path),
    };
    if opaque {
        format!("{}/.wh..wh..opq", path.trim_end_matches('/'))
    } else {
        format!("{dir}.wh.{name}")
    }
}

/// A GNU-format tar of `items`, in order, ending with the end-of-archive blocks.
pub fn tar_of(items: &[Item<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let result = match item {
            Item::Dir(p) => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                b.append_data(&mut h, p, std::io::empty())
            }
            Item::File(p, data) => {
                let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
                b.append_data(&mut h, p, *data)
            }
            Item::Symlink(p, target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut h, p, target)
            }
            Item::HardLink(p, target) => {
                let mut h = header(tar::EntryType::Link, 0o644, 0);
                b.append_link(&mut h, p, target)
            }
            Item::Whiteout(p) => {
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, whiteout_name(p, false), std::io::empty())
            }
            Item::Opaque(p) => {
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, whiteout_name(p, true), std::io::empty())
            }
        };
        result.expect("building a test tar");
    }
    b.into_inner().expect("finishing a test tar")
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Whether this process can mount overlayfs (root, and the kernel has it).
pub fn overlay_available() -> bool {
    rustix::process::geteuid().is_root()
        && std::fs::read_to_string("/proc/filesystems")
            .map(|s| s.contains("overlay"))
            .unwrap_or(false)
}

/// The drivers to run a scenario with: vfs always, overlay where it can run (else the reason is
/// printed).
pub fn drivers() -> Vec<(&'static str, DriverChoice)> {
    let mut out = vec![("vfs", DriverChoice::Vfs)];
    if overlay_available() {
        out.push(("overlay", DriverChoice::Overlay));
    } else {
        eprintln!("skipping the overlay driver: needs root and overlayfs");
    }
    out
}

/// A writable store at `root` with the given driver.
pub fn open_store(root: &Path, driver: &DriverChoice) -> Store {
    Store::open(StoreOptions::new(root).driver(driver.clone())).expect("opening a test store")
}

/// Everything a reader gets from `r`.
pub fn read_all(mut r: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}
