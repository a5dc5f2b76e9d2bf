//! The main job from a shell: load images built here (docker-archive and OCI layout, gzip and
//! zstd layers, three layers with whiteouts), mount a read-write layer on top, check the merged
//! tree, write into it, commit it, and export every layer back byte for byte.

mod common;

use std::path::Path;

use common::image_builder::{sha256, tar_dir, three_layer_image, Compression, TestImage};
use common::{drivers, tar_names, Store};

/// Loads `image_path` and checks what `load` printed against the image's own ChainIDs.
fn load_and_check(store: &Store, image_path: &Path, image: &TestImage) -> Vec<String> {
    let loaded = store.json(&["load", image_path.to_str().unwrap()]);
    let loaded = loaded.as_array().unwrap();
    let chain_ids = image.chain_ids();
    let diff_ids = image.diff_ids();
    assert_eq!(loaded.len(), 3);
    for (i, layer) in loaded.iter().enumerate() {
        assert_eq!(layer["chain_id"], chain_ids[i].as_str());
        assert_eq!(layer["diff_id"], diff_ids[i].as_str());
        let parent = if i == 0 {
            serde_json::Value::Null
        } else {
            chain_ids[i - 1].as_str().into()
        };
        assert_eq!(layer["parent"], parent);
        assert!(layer["diff_size"].as_u64().unwrap() > 0);
        assert!(layer["size"].as_u64().unwrap() >= layer["diff_size"].as_u64().unwrap());
        assert_eq!(layer["cache_id"].as_str().unwrap().len(), 64);
    }
    chain_ids
}

/// Every layer exports byte for byte: its sha256 is its DiffID.
fn export_all_and_compare(store: &Store, image: &TestImage, chain_ids: &[String]) {
    for (i, chain) in chain_ids.iter().enumerate() {
        let out = store.scratch(&format!("export-{i}.tar"));
        store.ok(&["export", chain, "-o", out.to_str().unwrap()]);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(sha256(&bytes), image.diff_ids()[i], "layer {i}");
        assert_eq!(bytes, image.layers[i]);
        // And to stdout, the same bytes.
        assert_eq!(store.ok_bytes(&["export", chain]), image.layers[i]);
    }
    // The top two layers as one tar: the middle's members then the top's.
    let joined = store.ok_bytes(&["export", &chain_ids[2], "--from", &chain_ids[0]]);
    let mut expected = tar_names(&image.layers[1]);
    expected.extend(tar_names(&image.layers[2]));
    assert_eq!(tar_names(&joined), expected);
}

/// The merged tree of the three layers, as a container sees it.
fn check_merged_tree(root: &Path) {
    let read = |p: &str| std::fs::read(root.join(p)).unwrap();
    assert_eq!(read("etc/hostname"), b"middle\n");
    assert_eq!(read("etc/added"), b"added in the middle\n");
    assert!(!root.join("etc/gone").exists(), "whiteout not applied");
    let mut data: Vec<String> = std::fs::read_dir(root.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    data.sort();
    assert_eq!(data, ["new"], "opaque directory not applied");
    assert_eq!(read("srv/big").len(), 100_000);
    assert_eq!(
        std::fs::read_link(root.join("link")).unwrap(),
        Path::new("etc/hostname")
    );
}

/// Creates a read-write layer on the top, checks and changes it, commits it, and cleans up.
fn read_write_cycle(store: &Store, top: &str) {
    let created = store.json(&["rw", "create", "web", "--parent", top]);
    assert_eq!(created["name"], "web");
    assert_eq!(created["parent"], top);
    let mount = store.ok(&["rw", "mount", "web"]);
    let merged = Path::new(mount.trim());
    check_merged_tree(merged);
    // A second mount (another process) finds the same directory.
    assert_eq!(store.ok(&["rw", "mount", "web"]).trim(), mount.trim());

    std::fs::write(merged.join("hello.txt"), b"written in the container\n").unwrap();
    std::fs::remove_file(merged.join("etc/added")).unwrap();
    let changes = store.json(&["rw", "changes", "web"]);
    let changes: Vec<(String, String)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("A".into(), "/hello.txt".into())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("D".into(), "/etc/added".into())),
        "{changes:?}"
    );
    let text = store.ok(&["rw", "changes", "web"]);
    assert!(text.lines().any(|l| l == "A /hello.txt"), "{text}");

    let listed = store.json(&["rw", "ls"]);
    assert_eq!(listed[0]["name"], "web");

    // A mounted layer cannot be removed (vfs has no mounts to see), and its parent cannot either.
    if store.driver == "overlay" {
        let err = store.fails(&["rw", "rm", "web"]);
        assert!(err.contains("web") && err.contains("mounted"), "{err}");
    }
    let err = store.fails(&["rm", top]);
    assert!(err.contains(top), "{err}");

    let committed = store.json(&["rw", "commit", "web"]);
    assert_eq!(committed["parent"], top);
    let new_chain = committed["chain_id"].as_str().unwrap().to_owned();
    let diff = store.ok_bytes(&["export", &new_chain]);
    assert_eq!(sha256(&diff), committed["diff_id"].as_str().unwrap());
    let names = tar_names(&diff);
    assert!(names.contains(&"hello.txt".to_owned()), "{names:?}");
    assert!(names.contains(&"etc/.wh.added".to_owned()), "{names:?}");
    // The committed layer is the same as the diff `rw diff` writes.
    let diff_file = store.scratch("web.diff.tar");
    store.ok(&["rw", "diff", "web", "-o", diff_file.to_str().unwrap()]);
    assert_eq!(tar_names(&std::fs::read(&diff_file).unwrap()), names);

    store.ok(&["rw", "unmount", "web"]);
    store.ok(&["rw", "rm", "web"]);
    assert_eq!(store.json(&["rw", "ls"]), serde_json::json!([]));
    // Removing the committed layer leaves the image's layers.
    let removed = store.json(&["rm", &new_chain]);
    assert_eq!(removed[0]["chain_id"], new_chain.as_str());
}

fn full_cycle(
    driver: &'static str,
    write: impl Fn(&TestImage, &Path),
    name: &str,
    comp: [Compression; 3],
) {
    let store = Store::new(driver);
    let image = three_layer_image(comp);
    let path = store.scratch(name);
    write(&image, &path);
    let chain_ids = load_and_check(&store, &path, &image);
    // Text output: the ChainIDs, top last; loading again changes nothing.
    let text = store.ok(&["load", path.to_str().unwrap()]);
    assert_eq!(text.lines().collect::<Vec<_>>(), chain_ids);
    let mut listed = store.chain_ids();
    listed.sort();
    let mut expected = chain_ids.clone();
    expected.sort();
    assert_eq!(listed, expected);
    export_all_and_compare(&store, &image, &chain_ids);
    read_write_cycle(&store, &chain_ids[2]);
    let mut listed = store.chain_ids();
    listed.sort();
    assert_eq!(listed, expected);
}

#[test]
fn docker_archive_tar_full_cycle() {
    for driver in drivers() {
        full_cycle(
            driver,
            |image, path| {
                let tree = path.with_extension("d");
                image.write_docker_dir(&tree, "test:latest");
                tar_dir(&tree, path);
            },
            "docker.tar",
            [Compression::None, Compression::Gzip, Compression::Zstd],
        );
    }
}

#[test]
fn oci_layout_directory_full_cycle() {
    for driver in drivers() {
        full_cycle(
            driver,
            |image, path| image.write_oci_dir(path, "test:1"),
            "oci",
            [Compression::Gzip, Compression::Zstd, Compression::Gzip],
        );
    }
}

#[test]
fn oci_layout_compressed_tar_loads() {
    let store = Store::new("vfs");
    let image = three_layer_image([Compression::Zstd, Compression::None, Compression::Gzip]);
    let tree = store.scratch("oci");
    image.write_oci_dir(&tree, "test:1");
    let tar = store.scratch("oci.tar");
    tar_dir(&tree, &tar);
    let gz = store.scratch("oci.tar.gz");
    let compressed =
        common::image_builder::compress(&std::fs::read(&tar).unwrap(), Compression::Gzip);
    std::fs::write(&gz, compressed).unwrap();
    let chain_ids = load_and_check(&store, &gz, &image);
    let inspect: serde_json::Value =
        serde_json::from_str(&store.ok(&["inspect", &chain_ids[0]])).unwrap();
    // OCI layouts give each layer a descriptor, recorded with it.
    assert_eq!(
        inspect["descriptor"]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(inspect["depth"], 1);
    assert_eq!(inspect["children"], 1);
    assert_eq!(inspect["driver"], "vfs");
}

#[test]
fn docker25_archive_blobs_are_checked_against_their_paths() {
    let store = Store::new("vfs");
    let image = three_layer_image([Compression::None, Compression::None, Compression::Gzip]);
    let tree = store.scratch("docker25");
    image.write_docker25_dir(&tree, "test:25");
    load_and_check(&store, &tree, &image);

    let store = Store::new("vfs");
    let blob = sha256(&image.blobs()[2]);
    let path = tree.join("blobs/sha256").join(&blob["sha256:".len()..]);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = store.fails(&["load", tree.to_str().unwrap()]);
    assert!(err.contains("layer 3 of 3") && err.contains(&blob), "{err}");
    assert_eq!(store.chain_ids(), Vec::<String>::new());
}

#[test]
fn an_archive_of_two_images_loads_both_and_a_failure_in_the_second_undoes_the_first() {
    let store = Store::new("vfs");
    let full = three_layer_image([Compression::None, Compression::Gzip, Compression::Zstd]);
    let small = TestImage {
        layers: full.layers[..2].to_vec(),
        compression: full.compression[..2].to_vec(),
    };
    let tree = store.scratch("two");
    full.write_blobs(&tree);
    small.write_blobs(&tree);
    let manifest = serde_json::json!([
        small.docker_manifest_entry("small:1"),
        full.docker_manifest_entry("full:1"),
    ]);
    std::fs::write(tree.join("manifest.json"), manifest.to_string()).unwrap();
    let printed = store.ok(&["load", tree.to_str().unwrap()]);
    let chains = full.chain_ids();
    let expected = [&chains[..2], &chains[..]].concat();
    assert_eq!(printed.lines().collect::<Vec<_>>(), expected);
    assert_eq!(store.chain_ids().len(), 3);

    // The same archive with the second image's top blob damaged: nothing stays.
    let store = Store::new("vfs");
    let top = sha256(&full.blobs()[2]);
    std::fs::write(
        tree.join("blobs/sha256").join(&top["sha256:".len()..]),
        b"junk",
    )
    .unwrap();
    let err = store.fails(&["load", tree.to_str().unwrap()]);
    assert!(err.contains("layer 3 of 3"), "{err}");
    assert_eq!(store.chain_ids(), Vec::<String>::new());
    assert_eq!(store.driver_dirs(), Vec::<String>::new());
}
