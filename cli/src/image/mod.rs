//! Reading images the way people have them: a `docker save` archive (`manifest.json`, configs,
//! layer tars) or an OCI image layout (`index.json`, `blobs/sha256/...`), as a directory or a tar
//! (plain, gzip or zstd).
//!
//! Reading an image yields a plan: for each image, its layers bottom first, each with the blob to
//! read, the digest and size the blob must have (where the image gives one) and the DiffID the
//! image config promises. Every JSON document on the way (index, manifest, config) is checked
//! against its digest before it is believed; the layers are checked as they are registered (see
//! `crate::load`), so that each layer blob is read once.

mod digest;
mod docker;
mod error;
mod oci;
mod source;

use std::collections::BTreeMap;
#[cfg(test)]
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use digest::{BlobDigest, HashingReader};
pub use error::ImageError;
pub use source::{open_source, ImageSource};

/// One image of an archive: its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    /// The image's name for messages: its first tag, or its manifest or config digest.
    pub name: String,
    /// Its layers, bottom first.
    pub layers: Vec<PlannedLayer>,
}

/// One layer to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLayer {
    /// The blob's path inside the image.
    pub path: String,
    /// The digest the blob must have (`None`: an old `docker save` layer, checked by its DiffID
    /// alone).
    pub digest: Option<BlobDigest>,
    /// The size the blob must have, where the image gives one.
    pub size: Option<u64>,
    /// The DiffID the image config gives (sha256 of the uncompressed tar).
    pub diff_id: BlobDigest,
    /// The OCI descriptor the manifest gives, to record with the layer.
    pub descriptor: Option<OciDescriptor>,
}

/// An OCI content descriptor as image JSON documents spell it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciDescriptor {
    /// The content's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// The content's size in bytes.
    pub size: i64,
    /// Where the content may be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of the image a descriptor in an index points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// The platform an index entry is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// The CPU architecture, in Go's names (`amd64`, `arm64`, ...).
    #[serde(default)]
    pub architecture: String,
    /// The operating system (`linux`).
    #[serde(default)]
    pub os: String,
}

/// The image config's part that loading needs.
#[derive(Debug, Deserialize)]
struct ImageConfig {
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The image format found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `docker save` (`manifest.json`).
    DockerArchive,
    /// An OCI image layout (`index.json`).
    OciLayout,
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFormat::DockerArchive => "docker-archive",
            ImageFormat::OciLayout => "OCI layout",
        })
    }
}

/// An image archive opened and planned.
#[derive(Debug)]
pub struct Image {
    /// Where its files are read from.
    pub source: Box<dyn ImageSource>,
    /// Its format.
    pub format: ImageFormat,
    /// Every image it holds, in the archive's order.
    pub plans: Vec<ImagePlan>,
}

/// Opens the image at `path` (directory or tar) and plans its loading: every image it holds,
/// with its layers bottom first. A `docker save` `manifest.json` is preferred when both it and an
/// OCI `index.json` are present (recent Docker writes both; they describe the same layers).
pub fn read_image(path: &Path) -> Result<Image, ImageError> {
    let source = open_source(path)?;
    if let Some(manifest) = source.read_small("manifest.json", "manifest.json")? {
        let plans = docker::plans(&*source, &manifest)?;
        return Ok(Image {
            source,
            format: ImageFormat::DockerArchive,
            plans,
        });
    }
    if let Some(index) = source.read_small("index.json", "index.json")? {
        let plans = oci::plans(&*source, &index)?;
        return Ok(Image {
            source,
            format: ImageFormat::OciLayout,
            plans,
        });
    }
    Err(ImageError::UnknownFormat(source.name().to_owned()))
}

/// Parses an image config and returns its DiffIDs, bottom first.
fn diff_ids(image: &str, config: &[u8]) -> Result<Vec<BlobDigest>, ImageError> {
    let config: ImageConfig = serde_json::from_slice(config)
        .map_err(|e| ImageError::json(image, "the image config", e))?;
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            BlobDigest::parse(d).map_err(|reason| ImageError::BadDigest {
                image: image.to_owned(),
                what: "a DiffID of the image config".to_owned(),
                digest: d.clone(),
                reason,
            })
        })
        .collect()
}

/// Parses a digest written in the image, naming it on error.
fn parse_digest(image: &str, what: &str, digest: &str) -> Result<BlobDigest, ImageError> {
    BlobDigest::parse(digest).map_err(|reason| ImageError::BadDigest {
        image: image.to_owned(),
        what: what.to_owned(),
        digest: digest.to_owned(),
        reason,
    })
}

/// Reads a small blob whole and checks it against `digest` (and `size` where given).
fn read_verified(
    source: &dyn ImageSource,
    path: &str,
    what: &str,
    digest: Option<&BlobDigest>,
    size: Option<u64>,
) -> Result<Vec<u8>, ImageError> {
    let bytes = source
        .read_small(path, what)?
        .ok_or_else(|| ImageError::Missing {
            image: source.name().to_owned(),
            what: what.to_owned(),
            path: path.to_owned(),
        })?;
    let mismatch = |reason: String| ImageError::BlobMismatch {
        image: source.name().to_owned(),
        what: what.to_owned(),
        path: path.to_owned(),
        reason,
    };
    if let Some(size) = size {
        if bytes.len() as u64 != size {
            return Err(mismatch(format!(
                "it is {} bytes, the descriptor says {size}",
                bytes.len()
            )));
        }
    }
    if let Some(digest) = digest {
        let actual = BlobDigest::of(&bytes);
        if &actual != digest {
            return Err(mismatch(format!(
                "its digest is {actual}, expected {digest}"
            )));
        }
    }
    Ok(bytes)
}

/// Checks that a manifest lists as many layers as its config has DiffIDs.
fn check_layer_count(image: &str, layers: usize, diff_ids: usize) -> Result<(), ImageError> {
    if layers != diff_ids {
        return Err(ImageError::invalid(
            image,
            format!("the manifest lists {layers} layer(s) but the config has {diff_ids} DiffID(s)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "../../tests/common/image_builder.rs"]
mod image_builder;

#[cfg(test)]
mod tests {
    use super::image_builder::{tar_dir, three_layer_image, Compression};
    use super::*;

    fn image() -> image_builder::TestImage {
        three_layer_image([Compression::None, Compression::Gzip, Compression::Zstd])
    }

    fn check_plan(plans: &[ImagePlan], img: &image_builder::TestImage, with_digests: bool) {
        assert_eq!(plans.len(), 1);
        let plan = &plans[0];
        let diff_ids: Vec<String> = plan.layers.iter().map(|l| l.diff_id.to_string()).collect();
        assert_eq!(diff_ids, img.diff_ids());
        for (layer, blob) in plan.layers.iter().zip(img.blobs()) {
            if with_digests {
                assert_eq!(
                    layer.digest.as_ref().unwrap().to_string(),
                    BlobDigest::of(&blob).to_string()
                );
                assert_eq!(layer.size, Some(blob.len() as u64));
            }
        }
    }

    #[test]
    fn reads_docker_archives_as_directory_and_tar() {
        let dir = tempfile::tempdir().unwrap();
        let img = image();
        let tree = dir.path().join("docker");
        img.write_docker_dir(&tree, "test:latest");
        let Image { format, plans, .. } = read_image(&tree).unwrap();
        assert_eq!(format, ImageFormat::DockerArchive);
        assert_eq!(plans[0].name, "test:latest");
        check_plan(&plans, &img, false);
        let tar = dir.path().join("docker.tar");
        tar_dir(&tree, &tar);
        let plans = read_image(&tar).unwrap().plans;
        check_plan(&plans, &img, false);
    }

    #[test]
    fn reads_oci_layouts_as_directory_and_tar() {
        let dir = tempfile::tempdir().unwrap();
        let img = image();
        let tree = dir.path().join("oci");
        img.write_oci_dir(&tree, "test:1");
        let Image { format, plans, .. } = read_image(&tree).unwrap();
        assert_eq!(format, ImageFormat::OciLayout);
        assert_eq!(plans[0].name, "test:1");
        check_plan(&plans, &img, true);
        let tar = dir.path().join("oci.tar");
        tar_dir(&tree, &tar);
        let Image { source, plans, .. } = read_image(&tar).unwrap();
        check_plan(&plans, &img, true);
        let (mut r, size) = source.open(&plans[0].layers[2].path).unwrap().unwrap();
        let mut blob = Vec::new();
        r.read_to_end(&mut blob).unwrap();
        assert_eq!(size as usize, blob.len());
        assert_eq!(blob, img.blobs()[2]);
    }

    #[test]
    fn refuses_a_tampered_config_and_a_short_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let img = image();
        let tree = dir.path().join("docker");
        img.write_docker_dir(&tree, "t:1");
        let config = std::fs::read_dir(&tree)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("manifest.json"))
            .unwrap();
        let mut text = std::fs::read(&config).unwrap();
        text.push(b' ');
        std::fs::write(&config, &text).unwrap();
        let err = read_image(&tree).unwrap_err();
        assert!(matches!(err, ImageError::BlobMismatch { .. }), "{err}");

        let tree = dir.path().join("oci");
        img.write_oci_dir(&tree, "t:1");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tree.join("index.json")).unwrap()).unwrap();
        let digest = BlobDigest::parse(index["manifests"][0]["digest"].as_str().unwrap()).unwrap();
        let manifest_path = tree.join(digest.blob_path());
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        manifest["layers"].as_array_mut().unwrap().pop();
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let err = read_image(&tree).unwrap_err();
        assert!(matches!(err, ImageError::BlobMismatch { .. }), "{err}");
        assert!(err.to_string().contains("manifest sha256:"), "{err}");
    }

    #[test]
    fn picks_this_platform_from_a_multi_platform_index() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("oci");
        image().write_oci_dir(&tree, "t:1");
        let index_path = tree.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        let mut mine = index["manifests"][0].clone();
        mine["platform"] = serde_json::json!({"os": "linux", "architecture": oci_host_arch()});
        let mut other = mine.clone();
        other["platform"]["architecture"] = "s390x-nonexistent".into();
        other["digest"] = format!("sha256:{}", "0".repeat(64)).into();
        index["manifests"] = serde_json::json!([other, mine]);
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let plans = read_image(&tree).unwrap().plans;
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].layers.len(), 3);
    }

    fn oci_host_arch() -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_image(dir.path()).unwrap_err();
        assert!(matches!(err, ImageError::UnknownFormat(_)), "{err}");
        let file = dir.path().join("junk");
        std::fs::write(
            &file,
            b"not a tar at all, just some text that is long enough",
        )
        .unwrap();
        assert!(read_image(&file).is_err());
    }
}
