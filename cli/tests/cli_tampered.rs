//! Images that do not verify are refused with the layer named, and nothing of them stays:
//! no layer, no driver directory. Layers that were in the store before stay.

mod common;

use std::path::Path;

use common::image_builder::{sha256, tar_dir, three_layer_image, Compression, TestImage};
use common::{drivers, Store};

fn image() -> TestImage {
    three_layer_image([Compression::Gzip, Compression::Zstd, Compression::Gzip])
}

/// The blob file of layer `index` (0-based) in an OCI layout.
fn oci_layer_blob(tree: &Path, image: &TestImage, index: usize) -> std::path::PathBuf {
    let digest = sha256(&image.blobs()[index]);
    tree.join("blobs/sha256").join(&digest["sha256:".len()..])
}

fn assert_nothing_left(store: &Store) {
    if store.root.exists() {
        assert_eq!(store.chain_ids(), Vec::<String>::new());
        assert_eq!(store.driver_dirs(), Vec::<String>::new());
    }
}

#[test]
fn a_tampered_layer_blob_is_refused_and_nothing_stays() {
    for driver in drivers() {
        let store = Store::new(driver);
        let image = image();
        let tree = store.scratch("oci");
        image.write_oci_dir(&tree, "t:1");
        // Flip a byte inside the second layer's compressed data.
        let blob = oci_layer_blob(&tree, &image, 1);
        let mut bytes = std::fs::read(&blob).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&blob, &bytes).unwrap();
        let err = store.fails(&["load", tree.to_str().unwrap()]);
        assert!(err.contains("layer 2 of 3"), "{err}");
        assert!(err.contains("digest"), "{err}");
        assert_nothing_left(&store);
    }
}

#[test]
fn a_wrong_diff_id_in_the_config_is_refused_and_the_layers_below_are_removed() {
    for driver in drivers() {
        let store = Store::new(driver);
        let mut image = image();
        // A docker-archive whose config promises another top layer than the one it carries:
        // the config's own digest is right (it is computed from the changed config).
        let tree = store.scratch("docker");
        let real_top = image.layers[2].clone();
        image.layers[2] = common::image_builder::layer_tar(&[common::image_builder::Member::File(
            "other",
            b"not the layer shipped".to_vec(),
        )]);
        let promised = image.diff_ids()[2].clone();
        image.write_docker_dir(&tree, "t:1");
        std::fs::write(tree.join("layer2/layer.tar"), &real_top).unwrap();
        let err = store.fails(&["load", tree.to_str().unwrap()]);
        assert!(err.contains("layer 3 of 3"), "{err}");
        assert!(err.contains(&promised), "{err}");
        assert!(err.contains(&sha256(&real_top)), "{err}");
        assert_nothing_left(&store);
    }
}

#[test]
fn layers_that_were_there_before_a_refused_load_stay() {
    let store = Store::new("vfs");
    let image = image();
    // The base layer is in the store already.
    let base = store.run_with_input(&["register", "-"], &image.layers[0]);
    common::assert_success(&["register"], &base);
    let before = store.chain_ids();
    let tree = store.scratch("oci");
    image.write_oci_dir(&tree, "t:1");
    std::fs::write(oci_layer_blob(&tree, &image, 2), b"truncated").unwrap();
    let err = store.fails(&["load", tree.to_str().unwrap()]);
    assert!(err.contains("layer 3 of 3"), "{err}");
    let mut after = store.chain_ids();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(after, before);
}

#[test]
fn a_tampered_image_tar_is_refused() {
    let store = Store::new("vfs");
    let image = image();
    let tree = store.scratch("oci");
    image.write_oci_dir(&tree, "t:1");
    // A manifest that no longer matches the digest the index gives for it.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest_path = tree
        .join("blobs/sha256")
        .join(&manifest_digest["sha256:".len()..]);
    let mut manifest = std::fs::read(&manifest_path).unwrap();
    manifest.extend_from_slice(b"\n");
    std::fs::write(&manifest_path, manifest).unwrap();
    let tar = store.scratch("oci.tar");
    tar_dir(&tree, &tar);
    let err = store.fails(&["load", tar.to_str().unwrap()]);
    assert!(err.contains("manifest"), "{err}");
    assert_nothing_left(&store);
}
