//! Builds small test images: layer tars (with whiteouts), compressed with gzip or zstd, written
//! as a `docker save` archive or an OCI image layout (directory or tar).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Docker's ChainID of a stack of DiffIDs, bottom first: one ChainID per layer.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => sha256(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// One member of a test layer.
#[derive(Debug, Clone)]
pub enum Member {
    /// A directory.
    Dir(&'static str),
    /// A regular file with content.
    File(&'static str, Vec<u8>),
    /// A symbolic link: path, target.
    Symlink(&'static str, &'static str),
    /// An executable file with content.
    Exec(&'static str, Vec<u8>),
}

/// An uncompressed layer tar of `members` (fixed owners and times: reproducible bytes).
pub fn layer_tar(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match m {
            Member::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Member::File(p, data) | Member::Exec(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if matches!(m, Member::Exec(..)) {
                    0o755
                } else {
                    0o644
                });
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            Member::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// `tar` compressed as asked.
pub fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(tar, 1).unwrap(),
    }
}

fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// A test image: its layers (uncompressed tars) and how each is stored.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// Uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
    /// The compression of each layer's blob.
    pub compression: Vec<Compression>,
}

impl TestImage {
    /// The DiffIDs, bottom first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha256(l)).collect()
    }

    /// The ChainIDs, bottom first.
    pub fn chain_ids(&self) -> Vec<String> {
        chain_ids(&self.diff_ids())
    }

    /// The stored blobs, bottom first.
    pub fn blobs(&self) -> Vec<Vec<u8>> {
        self.layers
            .iter()
            .zip(&self.compression)
            .map(|(l, c)| compress(l, *c))
            .collect()
    }

    /// The image config: `rootfs.diff_ids` and little else.
    pub fn config(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids()},
        }))
        .unwrap()
    }

    /// Writes an old-style `docker save` directory tree into `dir`: `<n>/layer.tar`, `<hex>.json`,
    /// `manifest.json`.
    pub fn write_docker_dir(&self, dir: &Path, tag: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let config = self.config();
        let config_name = format!("{}.json", &sha256(&config)["sha256:".len()..]);
        std::fs::write(dir.join(&config_name), &config).unwrap();
        let mut layer_paths = Vec::new();
        for (i, blob) in self.blobs().iter().enumerate() {
            let rel = format!("layer{i}/layer.tar");
            std::fs::create_dir_all(dir.join(format!("layer{i}"))).unwrap();
            std::fs::write(dir.join(&rel), blob).unwrap();
            layer_paths.push(rel);
        }
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": [tag],
            "Layers": layer_paths,
        }]);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    }

    /// Writes an OCI image layout into `dir`.
    pub fn write_oci_dir(&self, dir: &Path, ref_name: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |bytes: &[u8]| -> String {
            let d = sha256(bytes);
            std::fs::write(blobs.join(&d["sha256:".len()..]), bytes).unwrap();
            d
        };
        let config = self.config();
        let config_digest = put(&config);
        let layers: Vec<serde_json::Value> = self
            .blobs()
            .iter()
            .zip(&self.compression)
            .map(|(blob, c)| {
                serde_json::json!({
                    "mediaType": media_type(*c),
                    "digest": put(blob),
                    "size": blob.len(),
                })
            })
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": layers,
        }))
        .unwrap();
        let manifest_digest = put(&manifest);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }
}

impl TestImage {
    /// Writes what Docker 25 and later `docker save`: an OCI layout plus a `manifest.json` whose
    /// config and layers are `blobs/sha256/<hex>` paths.
    pub fn write_docker25_dir(&self, dir: &Path, tag: &str) {
        self.write_oci_dir(dir, tag);
        let manifest = serde_json::json!([self.docker_manifest_entry(tag)]);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    }

    /// This image's `manifest.json` entry in a Docker 25 archive (its blobs written by
    /// [`TestImage::write_oci_dir`] or [`TestImage::write_blobs`]).
    pub fn docker_manifest_entry(&self, tag: &str) -> serde_json::Value {
        let blob_path =
            |bytes: &[u8]| format!("blobs/sha256/{}", &sha256(bytes)["sha256:".len()..]);
        let layers: Vec<String> = self.blobs().iter().map(|b| blob_path(b)).collect();
        serde_json::json!({
            "Config": blob_path(&self.config()),
            "RepoTags": [tag],
            "Layers": layers,
        })
    }

    /// Writes this image's config and layer blobs under `dir/blobs/sha256`.
    pub fn write_blobs(&self, dir: &Path) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut all = self.blobs();
        all.push(self.config());
        for b in all {
            std::fs::write(blobs.join(&sha256(&b)["sha256:".len()..]), &b).unwrap();
        }
    }
}

/// Tars the directory `dir` (its contents at the top of the archive) into the file `out`.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// The three-layer image the load tests use: a base, a layer that changes and deletes files
/// (a whiteout), and a layer that replaces a directory (an opaque whiteout) and adds one.
pub fn three_layer_image(compression: [Compression; 3]) -> TestImage {
    use Member::*;
    let base = layer_tar(&[
        Dir("etc/"),
        File("etc/hostname", b"base\n".to_vec()),
        File("etc/gone", b"deleted above\n".to_vec()),
        Dir("data/"),
        File("data/old1", b"old one\n".to_vec()),
        File("data/old2", b"old two\n".to_vec()),
        Symlink("link", "etc/hostname"),
    ]);
    let middle = layer_tar(&[
        Dir("etc/"),
        File("etc/hostname", b"middle\n".to_vec()),
        File("etc/.wh.gone", Vec::new()),
        File("etc/added", b"added in the middle\n".to_vec()),
    ]);
    let top = layer_tar(&[
        Dir("data/"),
        File("data/.wh..wh..opq", Vec::new()),
        File("data/new", b"new in the top\n".to_vec()),
        Dir("srv/"),
        File(
            "srv/big",
            (0..100_000u32).map(|i| (i % 251) as u8).collect(),
        ),
    ]);
    TestImage {
        layers: vec![base, middle, top],
        compression: compression.to_vec(),
    }
}
