//! Damage to a layer's files and tar-split data: found (with `--deep` for files), repaired by
//! removing the damaged layer, and under `--force` what stands on it.

mod common;
use common::{codes, finding, Fixture};

const BASE: &[(&str, &[u8])] = &[("etc/os-release", b"ID=test\n"), ("bin/sh", b"#!shell")];
const MID: &[(&str, &[u8])] = &[("usr/lib/libc.so", &[7u8; 3000])];
const TOP: &[(&str, &[u8])] = &[("app/main", b"print('hello')\n")];

#[test]
fn a_clean_store_exits_0_with_counters() {
    let mut fx = Fixture::new("vfs");
    fx.chain(&[BASE, MID, TOP]);
    let (code, json) = fx.fsck(&["--deep"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["counters"]["layers"], 3);
    assert_eq!(json["counters"]["deep_layers"], 3);
    assert!(json["counters"]["deep_bytes"].as_u64().unwrap() >= 3 * 1024);
    let (code, out, _) = fx.fsck_text(&[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("3 layers") && out.contains("0 findings"),
        "{out}"
    );
}

/// Each way the field damages a layer's files; the message names the file.
#[test]
fn damaged_files_are_found_by_deep_and_the_layer_removed() {
    type Damage = fn(&std::path::Path);
    let cases: &[(&str, Damage, &str)] = &[
        (
            "file deleted",
            |d| std::fs::remove_file(d.join("app/main")).unwrap(),
            "app/main",
        ),
        (
            "file appended to",
            |d| {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(d.join("app/main"))
                    .unwrap();
                f.write_all(b"more").unwrap();
            },
            "app/main",
        ),
        (
            "file rewritten, same size",
            |d| std::fs::write(d.join("app/main"), b"print('HELLO')\n").unwrap(),
            "app/main",
        ),
    ];
    for (name, damage, file) in cases {
        let mut fx = Fixture::new("vfs");
        let ids = fx.chain(&[BASE, TOP]);
        damage(&fx.files_dir(&ids[1]));
        // Without --deep the records are consistent.
        assert_eq!(fx.fsck(&[]).0, 0, "{name}");
        let (code, json) = fx.fsck(&["--deep"]);
        assert_eq!(code, 4, "{name}: {json:#}");
        let f = finding(&json, "content-mismatch");
        assert_eq!(f["object"], ids[1].as_str(), "{name}");
        assert!(f["message"].as_str().unwrap().contains(file), "{name}: {f}");
        let (code, json) = fx.fsck(&["--deep", "--repair"]);
        assert_eq!(code, 1, "{name}: {json:#}");
        assert_eq!(
            fx.assert_clean_and_exact(),
            1,
            "{name}: the base layer stays"
        );
    }
}

#[test]
fn a_damaged_layer_under_others_needs_force() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, MID, TOP]);
    std::fs::remove_file(fx.files_dir(&ids[1]).join("usr/lib/libc.so")).unwrap();
    let (code, json) = fx.fsck(&["--deep", "--repair"]);
    assert_eq!(code, 4, "{json:#}");
    let left = &json["repair"]["remaining"];
    assert_eq!(codes(left), vec!["content-mismatch"], "{json:#}");
    assert_eq!(left[0]["needs_force"], true);
    // Nothing was removed: the layer above verifies.
    assert_eq!(json["repair"]["corrected"], 0);
    let (code, json) = fx.fsck(&["--deep", "--repair", "--force"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 1);
}

/// The stored tar-split data damaged inside the database (redb opened directly).
#[test]
fn damaged_tar_split_data_is_found_and_the_layer_removed() {
    use redb::ReadableTable;
    let tar_split: redb::TableDefinition<(&str, u32), &[u8]> =
        redb::TableDefinition::new("tar_split");
    let cases: &[(&str, &str)] = &[
        ("truncated", "tar-split-corrupt"),
        ("chunk removed", "tar-split-missing"),
    ];
    for (name, code_expected) in cases {
        let mut fx = Fixture::new("vfs");
        let ids = fx.chain(&[BASE, TOP]);
        {
            let db = redb::Database::open(fx.root().join("metadata.redb")).unwrap();
            let w = db.begin_write().unwrap();
            {
                let mut t = w.open_table(tar_split).unwrap();
                let key = ids[1].as_str();
                let value = t.get((key, 0)).unwrap().unwrap().value().to_vec();
                if *name == "truncated" {
                    t.insert((key, 0), &value[..value.len() / 2]).unwrap();
                } else {
                    t.remove((key, 0)).unwrap();
                }
            }
            w.commit().unwrap();
        }
        let (code, json) = fx.fsck(&[]);
        assert_eq!(code, 4, "{name}: {json:#}");
        assert_eq!(
            finding(&json, code_expected)["object"],
            ids[1].as_str(),
            "{name}"
        );
        let (code, json) = fx.fsck(&["--repair"]);
        assert_eq!(code, 1, "{name}: {json:#}");
        assert_eq!(fx.assert_clean_and_exact(), 1, "{name}");
    }
}

/// A read-write layer on a damaged layer: kept without `--force` (it holds a container's data),
/// removed with it, before the layer it stands on.
#[test]
fn force_removes_read_write_layers_above_a_damaged_layer() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    let store = fx.open();
    let rw = store
        .create_rw_layer("ctr", Some(&ids[1]), layer_store::RwLayerOpts::default())
        .unwrap();
    drop(rw);
    drop(store);
    std::fs::remove_file(fx.files_dir(&ids[1]).join("app/main")).unwrap();
    let (code, json) = fx.fsck(&["--deep", "--repair"]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(
        codes(&json["repair"]["remaining"]),
        vec!["content-mismatch"]
    );
    let (code, json) = fx.fsck(&["--deep", "--repair", "--force"]);
    assert_eq!(code, 1, "{json:#}");
    let plan: Vec<String> = json["repair"]["passes"][0]["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["object"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        plan,
        vec!["ctr".to_owned(), ids[1].to_string()],
        "read-write layer first"
    );
    assert_eq!(fx.assert_clean_and_exact(), 1);
}
