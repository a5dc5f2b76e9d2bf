//! `docker save` archives: `manifest.json` lists, per image, the config file and the layer tars.
//!
//! Old archives name layers `<v1-id>/layer.tar` and configs `<hex>.json`; Docker 25 and later
//! write `blobs/sha256/<hex>` for both. A path that carries a digest is checked against it; a
//! layer without one is checked by its DiffID alone.

use serde::Deserialize;

use super::source::{clean_path, ImageSource};
use super::PlannedLayer;
use super::{check_layer_count, diff_ids, read_verified, BlobDigest, ImageError, ImagePlan};

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The digest a path inside a docker-archive names: `blobs/sha256/<hex>` or `<hex>.json`.
fn digest_in_path(path: &str) -> Option<BlobDigest> {
    let clean = clean_path(path)?;
    let hex = match clean.strip_prefix("blobs/sha256/") {
        Some(hex) => hex,
        None => clean.strip_suffix(".json")?,
    };
    BlobDigest::parse(&format!("sha256:{hex}")).ok()
}

/// Plans every image `manifest.json` lists, in its order.
pub(super) fn plans(
    source: &dyn ImageSource,
    manifest: &[u8],
) -> Result<Vec<ImagePlan>, ImageError> {
    let image = source.name();
    let entries: Vec<ManifestEntry> = serde_json::from_slice(manifest)
        .map_err(|e| ImageError::json(image, "manifest.json", e))?;
    if entries.is_empty() {
        return Err(ImageError::invalid(image, "manifest.json lists no image"));
    }
    entries
        .iter()
        .map(|entry| plan_one(source, entry))
        .collect()
}

fn plan_one(source: &dyn ImageSource, entry: &ManifestEntry) -> Result<ImagePlan, ImageError> {
    let image = source.name();
    let config_digest = digest_in_path(&entry.config);
    let config = read_verified(
        source,
        &entry.config,
        "the image config",
        config_digest.as_ref(),
        None,
    )?;
    let diff_ids = diff_ids(image, &config)?;
    check_layer_count(image, entry.layers.len(), diff_ids.len())?;
    let name = entry
        .repo_tags
        .as_ref()
        .and_then(|tags| tags.first().cloned())
        .unwrap_or_else(|| BlobDigest::of(&config).to_string());
    let layers = entry
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(path, diff_id)| {
            // manifest.json gives neither media types nor sizes: no descriptor is recorded.
            PlannedLayer {
                path: path.clone(),
                digest: digest_in_path(path),
                size: None,
                diff_id,
                descriptor: None,
            }
        })
        .collect();
    Ok(ImagePlan { name, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_come_from_blob_and_config_paths_only() {
        let hex = "0f".repeat(32);
        assert_eq!(
            digest_in_path(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .hex(),
            hex
        );
        assert_eq!(digest_in_path(&format!("./{hex}.json")).unwrap().hex(), hex);
        assert!(digest_in_path(&format!("{hex}/layer.tar")).is_none());
        assert!(digest_in_path("config.json").is_none());
    }
}
