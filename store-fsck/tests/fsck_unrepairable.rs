//! What no automatic repair may fix: found, left for the operator (exit 4 after `--repair`,
//! with nothing removed), and a damaged database file, which is an error or a finding, never a
//! crash. Plus an init layer recreated without loss.

mod common;
use common::{codes, finding, Fixture};
use layer_store::ChainId;
use layer_store::RwLayerOpts;

const BASE: &[(&str, &[u8])] = &[("a", b"alpha")];
const TOP: &[(&str, &[u8])] = &[("b", b"beta")];

/// Copies the record of `id` (and with `chunks`, its tar-split data) under `bogus`.
fn copy_record(fx: &Fixture, id: &ChainId, bogus: &str, chunks: bool) {
    use redb::ReadableTable;
    let layers: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("layers");
    let tar_split: redb::TableDefinition<(&str, u32), &[u8]> =
        redb::TableDefinition::new("tar_split");
    let db = redb::Database::open(fx.root().join("metadata.redb")).unwrap();
    let w = db.begin_write().unwrap();
    {
        let mut t = w.open_table(layers).unwrap();
        let value = t.get(id.as_str()).unwrap().unwrap().value().to_vec();
        t.insert(bogus, &value[..]).unwrap();
        if chunks {
            let mut t = w.open_table(tar_split).unwrap();
            let value = t.get((id.as_str(), 0)).unwrap().unwrap().value().to_vec();
            t.insert((bogus, 0), &value[..]).unwrap();
        }
    }
    w.commit().unwrap();
}

/// A whole copy of a record under another key: its ChainID does not compute and two records
/// name one driver directory. Either could be the right one: repair leaves both (exit 4) and
/// removes nothing.
#[test]
fn a_record_under_a_wrong_chain_id_is_left_for_the_operator() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    let bogus = format!("sha256:{}", "0".repeat(64));
    copy_record(&fx, &ids[1], &bogus, true);
    let (code, json) = fx.fsck(&["--deep"]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(
        finding(&json, "chain-id-mismatch")["object"],
        bogus.as_str()
    );
    finding(&json, "cache-id-shared");
    let (code, json) = fx.fsck(&["--repair", "--force", "--deep"]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(json["repair"]["corrected"], 0, "{json:#}");
    let mut left = codes(&json["repair"]["remaining"]);
    left.sort();
    assert_eq!(left, vec!["cache-id-shared", "chain-id-mismatch"]);
    let store = fx.open();
    for id in &ids {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut store.get(id).unwrap().tar_stream().unwrap(), &mut out)
            .unwrap();
        assert_eq!(&out, &fx.tars[id]);
    }
}

/// The same copy without tar-split data: damaged, so it goes, but never the directory the real
/// layer still names.
#[test]
fn a_damaged_record_sharing_a_directory_goes_without_it() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    let bogus = format!("sha256:{}", "0".repeat(64));
    copy_record(&fx, &ids[1], &bogus, false);
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(
        finding(&json, "tar-split-missing")["object"],
        bogus.as_str()
    );
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 2);
}

#[test]
fn a_missing_init_layer_is_recreated() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE]);
    let store = fx.open();
    let rw = store
        .create_rw_layer("ctr", Some(&ids[0]), RwLayerOpts::default())
        .unwrap();
    let init = rw.init_id().unwrap().to_owned();
    drop(rw);
    drop(store);
    std::fs::remove_dir_all(fx.driver_dir(&init)).unwrap();
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(finding(&json, "init-dir-missing")["object"], "ctr");
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    fx.assert_clean_and_exact();
    assert!(fx.driver_dir(&init).is_dir());
}

/// Bytes of the database file overwritten in the middle: store-fsck reports it (exit 4) or
/// cannot open it (exit 8), and never panics (exit 101) whatever the damage.
#[test]
fn a_damaged_database_file_is_an_error_never_a_crash() {
    use std::io::{Seek, SeekFrom, Write};
    for offset_percent in [10u64, 40, 70, 95] {
        let mut fx = Fixture::new("vfs");
        fx.chain(&[BASE, TOP]);
        let path = fx.root().join("metadata.redb");
        let len = std::fs::metadata(&path).unwrap().len();
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(len * offset_percent / 100)).unwrap();
        f.write_all(&[0xa5; 4096]).unwrap();
        drop(f);
        for args in [&[][..], &["--repair"][..]] {
            let (code, _, stderr) = fx.fsck_text(args);
            assert!(
                [0, 1, 4, 8].contains(&code),
                "offset {offset_percent}% {args:?}: status {code}: {stderr}"
            );
        }
    }
}

/// A chain deeper than the maximum (here lowered with `--max-depth`) is reported and left: the
/// layers verify, so nothing is removed.
#[test]
fn a_chain_deeper_than_the_maximum_is_reported_and_kept() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    let (code, json) = fx.fsck(&["--max-depth", "1"]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(finding(&json, "depth-exceeded")["object"], ids[1].as_str());
    let (code, json) = fx.fsck(&["--max-depth", "1", "--repair", "--force"]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(json["repair"]["corrected"], 0);
    assert_eq!(fx.assert_clean_and_exact(), 2);
}

/// The base layer's record rewritten to name the top layer as its parent: a cycle. Neither
/// layer's chain can be mounted or verified; both go together.
#[test]
fn a_parent_cycle_is_found_and_its_members_removed() {
    use redb::ReadableTable;
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    let layers: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("layers");
    {
        let db = redb::Database::open(fx.root().join("metadata.redb")).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(layers).unwrap();
            let value = t.get(ids[0].as_str()).unwrap().unwrap().value().to_vec();
            // Record layout: version, DiffID (32 bytes), parent flag (+ 32 bytes), the rest.
            assert_eq!(value[33], 0, "a base layer has no parent");
            let top = hex_bytes(ids[1].hex());
            let mut cyclic = value[..33].to_vec();
            cyclic.push(1);
            cyclic.extend_from_slice(&top);
            cyclic.extend_from_slice(&value[34..]);
            t.insert(ids[0].as_str(), &cyclic[..]).unwrap();
        }
        w.commit().unwrap();
    }
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    let cycles: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "parent-cycle")
        .collect();
    assert_eq!(cycles.len(), 2, "{json:#}");
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 0);
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
