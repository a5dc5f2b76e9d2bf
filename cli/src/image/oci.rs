//! OCI image layouts: `index.json` points (maybe through nested indexes) to manifests, each
//! manifest to a config and layer blobs under `blobs/sha256/`.
//!
//! An index of several platforms yields the images for this machine's platform; attestation
//! manifests (buildx writes them beside the images) are skipped.

use serde::Deserialize;

use super::source::ImageSource;
use super::{check_layer_count, diff_ids, parse_digest, read_verified, ImageError, ImagePlan};
use super::{OciDescriptor, PlannedLayer};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// Indexes nested deeper than this are refused (a loop of indexes would never end).
const MAX_INDEX_DEPTH: usize = 4;
/// The annotations naming an image in an index, preferred first: containerd's (and Docker's)
/// full name, then the OCI reference name (often only a tag).
const NAME_ANNOTATIONS: [&str; 2] = [
    "io.containerd.image.name",
    "org.opencontainers.image.ref.name",
];

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: OciDescriptor,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
}

/// This machine's architecture in the OCI (Go) spelling.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn is_attestation(desc: &OciDescriptor) -> bool {
    desc.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
}

fn size_of(image: &str, what: &str, desc: &OciDescriptor) -> Result<u64, ImageError> {
    u64::try_from(desc.size).map_err(|_| {
        ImageError::invalid(image, format!("{what} has a negative size {}", desc.size))
    })
}

/// Plans the images `index.json` leads to.
pub(super) fn plans(source: &dyn ImageSource, index: &[u8]) -> Result<Vec<ImagePlan>, ImageError> {
    let image = source.name();
    let mut manifests = Vec::new();
    collect_manifests(source, index, "index.json", 0, &mut manifests)?;
    manifests.retain(|d| !is_attestation(d));
    if manifests.len() > 1 {
        let total = manifests.len();
        manifests.retain(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os == "linux" && p.architecture == host_architecture())
        });
        if manifests.is_empty() {
            return Err(ImageError::invalid(
                image,
                format!(
                    "none of the {total} images in the index is for linux/{}",
                    host_architecture()
                ),
            ));
        }
    }
    if manifests.is_empty() {
        return Err(ImageError::invalid(image, "index.json lists no image"));
    }
    manifests
        .iter()
        .map(|desc| plan_manifest(source, desc))
        .collect()
}

/// Gathers the manifest descriptors an index leads to, following nested indexes.
fn collect_manifests(
    source: &dyn ImageSource,
    index: &[u8],
    what: &str,
    depth: usize,
    out: &mut Vec<OciDescriptor>,
) -> Result<(), ImageError> {
    let image = source.name();
    if depth > MAX_INDEX_DEPTH {
        return Err(ImageError::invalid(
            image,
            format!("indexes nested deeper than {MAX_INDEX_DEPTH}"),
        ));
    }
    let index: Index =
        serde_json::from_slice(index).map_err(|e| ImageError::json(image, what, e))?;
    for desc in index.manifests {
        if INDEX_TYPES.contains(&desc.media_type.as_str()) {
            let nested_what = format!("index {}", desc.digest);
            let digest = parse_digest(image, &nested_what, &desc.digest)?;
            let size = size_of(image, &nested_what, &desc)?;
            let bytes = read_verified(
                source,
                &digest.blob_path(),
                &nested_what,
                Some(&digest),
                Some(size),
            )?;
            collect_manifests(source, &bytes, &nested_what, depth + 1, out)?;
        } else if MANIFEST_TYPES.contains(&desc.media_type.as_str()) || desc.media_type.is_empty() {
            out.push(desc);
        }
        // Other media types (signatures, SBOMs, artifacts) are not images: skipped.
    }
    Ok(())
}

/// Plans one image from its manifest descriptor.
fn plan_manifest(source: &dyn ImageSource, desc: &OciDescriptor) -> Result<ImagePlan, ImageError> {
    let image = source.name();
    let manifest_what = format!("manifest {}", desc.digest);
    let manifest_digest = parse_digest(image, &manifest_what, &desc.digest)?;
    let bytes = read_verified(
        source,
        &manifest_digest.blob_path(),
        &manifest_what,
        Some(&manifest_digest),
        Some(size_of(image, &manifest_what, desc)?),
    )?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| ImageError::json(image, &manifest_what, e))?;
    let config_what = format!("config {}", manifest.config.digest);
    let config_digest = parse_digest(image, &config_what, &manifest.config.digest)?;
    let config = read_verified(
        source,
        &config_digest.blob_path(),
        &config_what,
        Some(&config_digest),
        Some(size_of(image, &config_what, &manifest.config)?),
    )?;
    let diff_ids = diff_ids(image, &config)?;
    let count = manifest.layers.len();
    check_layer_count(image, count, diff_ids.len())?;
    let mut layers = Vec::with_capacity(count);
    for (i, (layer, diff_id)) in manifest.layers.into_iter().zip(diff_ids).enumerate() {
        let what = format!("layer {} of {count}", i + 1);
        if layer.media_type.contains("encrypted") {
            return Err(ImageError::invalid(
                image,
                format!("{what} is encrypted ({}): not supported", layer.media_type),
            ));
        }
        let digest = parse_digest(image, &what, &layer.digest)?;
        let size = size_of(image, &what, &layer)?;
        layers.push(PlannedLayer {
            path: digest.blob_path(),
            digest: Some(digest),
            size: Some(size),
            diff_id,
            descriptor: Some(OciDescriptor {
                platform: None,
                ..layer
            }),
        });
    }
    let name = NAME_ANNOTATIONS
        .iter()
        .find_map(|key| desc.annotations.get(*key).cloned())
        .unwrap_or_else(|| manifest_digest.to_string());
    Ok(ImagePlan { name, layers })
}
