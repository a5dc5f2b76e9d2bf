//! Every archive the tar-split tests use registers and exports byte-exact on every driver:
//! sha256 of the export = DiffID = sha256 of the input. The fixtures the Go tool refuses are
//! refused by the store too, leaving nothing behind.

use std::path::{Path, PathBuf};

use store_tests::archives::{bsdtar, gnu_tar, make_tree, python_tar};
use store_tests::layers::{drivers, open_store, read_all, sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tar-split")
}

/// Fixtures whose tars the Go tool refuses (duplicate names after Clean, a zero block then
/// garbage): the store refuses them as well.
const REFUSED: &[&str] = &[
    "13-duplicate-append",
    "14-dotslash-dup",
    "16-two-global-headers",
    "22-zero-then-garbage",
    "23-trailing-slash-dup",
];

fn fixture_tars() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name()?.to_str()?.to_owned();
            let stem = name.strip_suffix(".tar")?.to_owned();
            Some((stem, std::fs::read(&path).unwrap()))
        })
        .collect();
    out.sort();
    out
}

/// Archives of one tree written by GNU tar in every format and blocking factor, bsdtar and
/// Python, sparse files included.
fn tool_tars() -> Vec<(String, Vec<u8>)> {
    let tree = tempfile::tempdir().unwrap();
    make_tree(tree.path(), true);
    let mut out = Vec::new();
    let gnu: &[(&str, &[&str])] = &[
        ("gnu", &["--format=gnu"]),
        ("oldgnu", &["--format=oldgnu"]),
        ("pax", &["--format=pax"]),
        ("posix-b1", &["--format=posix", "-b1"]),
        ("gnu-b64", &["--format=gnu", "-b64"]),
        ("gnu-sparse", &["--format=gnu", "-S"]),
        (
            "pax-sparse-0.0",
            &["--format=pax", "-S", "--sparse-version=0.0"],
        ),
        (
            "pax-sparse-0.1",
            &["--format=pax", "-S", "--sparse-version=0.1"],
        ),
        (
            "pax-sparse-1.0",
            &["--format=pax", "-S", "--sparse-version=1.0"],
        ),
    ];
    for (name, args) in gnu {
        if let Some(tar) = gnu_tar(tree.path(), args) {
            out.push((format!("gnu-tar-{name}"), tar));
        }
    }
    for format in ["pax", "ustar", "gnutar"] {
        if let Some(tar) = bsdtar(tree.path(), format) {
            out.push((format!("bsdtar-{format}"), tar));
        }
    }
    for format in ["GNU", "PAX"] {
        if let Some(tar) = python_tar(tree.path(), format) {
            out.push((format!("python-{format}"), tar));
        }
    }
    out
}

#[test]
fn every_archive_registers_and_exports_byte_exact() {
    let mut archives = fixture_tars();
    archives.extend(tool_tars());
    assert!(archives.len() > 30, "fixtures and tool archives are there");
    for (driver, choice) in drivers() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path(), &choice);
        for (name, tar) in &archives {
            let result = store.register(&tar[..], None);
            if REFUSED.contains(&name.as_str()) {
                assert!(result.is_err(), "{driver}: {name} must be refused");
                continue;
            }
            let layer = result.unwrap_or_else(|e| panic!("{driver}: {name}: {e}"));
            assert_eq!(layer.diff_id().as_str(), sha256(tar), "{driver}: {name}");
            let exported = read_all(layer.tar_stream().unwrap())
                .unwrap_or_else(|e| panic!("{driver}: {name}: export failed: {e}"));
            assert!(
                exported == *tar,
                "{driver}: {name}: export differs ({} vs {} bytes)",
                exported.len(),
                tar.len()
            );
        }
        // The refused ones left nothing: every driver directory belongs to a layer.
        let named: Vec<String> = store.map().values().map(|i| i.cache_id.clone()).collect();
        for listing in store.driver().layers().unwrap() {
            assert!(
                named.contains(&listing.id),
                "{driver}: leftover {listing:?}"
            );
        }
        assert!(
            store.metadata_store().pending().unwrap().is_empty(),
            "{driver}"
        );
    }
}
