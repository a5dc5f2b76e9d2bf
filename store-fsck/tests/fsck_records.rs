//! Damage to records and driver directories: each found with its code and exit status 4, then
//! repaired (exit 1), after which a re-check is clean and every layer left exports byte-exact.

mod common;
use common::{codes, finding, Fixture};
use layer_store::{RwLayerOpts, StoreOptions};
use metadata::LayerState;

const BASE: &[(&str, &[u8])] = &[("etc/hostname", b"box\n")];
const TOP: &[(&str, &[u8])] = &[("srv/data", &[1u8; 5000])];

/// One case: build `[BASE, TOP]`, damage it, expect `code` on `object` (0: base, 1: top), and
/// how many layers are left after `--repair` (with `force`).
struct Case {
    name: &'static str,
    damage: fn(&Fixture, &[layer_store::ChainId]),
    code: &'static str,
    object: Option<usize>,
    force: bool,
    left: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "parent's record deleted",
        damage: |fx, ids| fx.meta().remove_layer(&ids[0]).unwrap(),
        code: "parent-missing",
        object: Some(1),
        force: false,
        left: 0,
    },
    Case {
        name: "removal interrupted",
        damage: |fx, ids| fx.meta().set_state(&ids[1], LayerState::Removing).unwrap(),
        code: "layer-being-removed",
        object: Some(1),
        force: false,
        left: 1,
    },
    Case {
        name: "driver directory deleted",
        damage: |fx, ids| std::fs::remove_dir_all(fx.files_dir(&ids[1])).unwrap(),
        code: "layer-dir-missing",
        object: Some(1),
        force: false,
        left: 1,
    },
    Case {
        name: "driver directory of the base deleted",
        damage: |fx, ids| std::fs::remove_dir_all(fx.files_dir(&ids[0])).unwrap(),
        code: "layer-dir-missing",
        object: Some(0),
        force: true,
        left: 0,
    },
    Case {
        name: "orphan directory left",
        damage: |fx, _| {
            let d = fx.root().join("vfs/dir").join("ab".repeat(32));
            std::fs::create_dir_all(d.join("junk")).unwrap();
        },
        code: "orphan-dir",
        object: None,
        force: false,
        left: 2,
    },
    Case {
        name: "staged directory left",
        damage: |fx, _| {
            let d = fx.root().join("vfs/dir").join("cd".repeat(32));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                fx.root()
                    .join("vfs/dir")
                    .join(format!("{}.incomplete", "cd".repeat(32))),
                b"",
            )
            .unwrap();
        },
        code: "staging-leftover",
        object: None,
        force: false,
        left: 2,
    },
    Case {
        name: "temp leftover",
        damage: |fx, _| std::fs::write(fx.root().join("tmp/spool-123"), b"half a spool").unwrap(),
        code: "temp-leftover",
        object: None,
        force: false,
        left: 2,
    },
    Case {
        name: "record undecodable",
        damage: |fx, ids| {
            let layers: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("layers");
            let db = redb::Database::open(fx.root().join("metadata.redb")).unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(layers)
                .unwrap()
                .insert(ids[1].as_str(), &b"\x01garbage"[..])
                .unwrap();
            w.commit().unwrap();
        },
        code: "record-undecodable",
        object: Some(1),
        force: false,
        left: 1,
    },
    Case {
        name: "tar-split chunks without a record",
        damage: |fx, _| {
            raw_insert(
                fx,
                "tar_split_orphan",
                &format!("sha256:{}", "1".repeat(64)),
                b"x",
            );
        },
        code: "tar-split-orphan",
        object: None,
        force: false,
        left: 2,
    },
    Case {
        name: "read-write layer record undecodable",
        damage: |fx, _| raw_insert(fx, "mounts", "ctr", b"\x01garbage"),
        code: "mount-record-undecodable",
        object: None,
        force: false,
        left: 2,
    },
    Case {
        name: "pending record undecodable, with its staged directory",
        damage: |fx, _| {
            let id = "9a".repeat(32);
            let d = fx.root().join("vfs/dir");
            std::fs::create_dir_all(d.join(&id)).unwrap();
            std::fs::write(d.join(format!("{id}.incomplete")), b"").unwrap();
            raw_insert(fx, "pending", &id, b"\x07");
        },
        code: "layer-being-created",
        object: None,
        force: false,
        left: 2,
    },
];

/// Writes a raw value into one of the database's tables (`tar_split_orphan`: a chunk 0 in the
/// tar-split table under `key`), as damage or a bug would.
fn raw_insert(fx: &Fixture, table: &str, key: &str, value: &[u8]) {
    let db = redb::Database::open(fx.root().join("metadata.redb")).unwrap();
    let w = db.begin_write().unwrap();
    if table == "tar_split_orphan" {
        let t: redb::TableDefinition<(&str, u32), &[u8]> = redb::TableDefinition::new("tar_split");
        w.open_table(t).unwrap().insert((key, 0), value).unwrap();
    } else {
        let t: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new(table);
        w.open_table(t).unwrap().insert(key, value).unwrap();
    }
    w.commit().unwrap();
}

#[test]
fn each_record_or_directory_damage_is_found_and_repaired() {
    for case in CASES {
        let mut fx = Fixture::new("vfs");
        let ids = fx.chain(&[BASE, TOP]);
        (case.damage)(&fx, &ids);
        let (code, json) = fx.fsck(&[]);
        assert_eq!(code, 4, "{}: {json:#}", case.name);
        let f = finding(&json, case.code);
        if let Some(i) = case.object {
            assert_eq!(f["object"], ids[i].as_str(), "{}", case.name);
        }
        let mut args = vec!["--repair"];
        if case.force {
            args.push("--force");
        }
        let (code, json) = fx.fsck(&args);
        assert_eq!(code, 1, "{}: {json:#}", case.name);
        assert!(
            codes(&json["repair"]["remaining"]).is_empty(),
            "{}",
            case.name
        );
        assert_eq!(fx.assert_clean_and_exact(), case.left, "{}", case.name);
    }
}

#[test]
fn a_read_write_layer_without_its_directory_is_dropped() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE]);
    let store = fx.open();
    let rw = store
        .create_rw_layer("ctr", Some(&ids[0]), RwLayerOpts::default())
        .unwrap();
    let mount_id = rw.mount_id().to_owned();
    drop(rw);
    drop(store);
    std::fs::remove_dir_all(fx.driver_dir(&mount_id)).unwrap();
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(finding(&json, "mount-dir-missing")["object"], "ctr");
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    fx.assert_clean_and_exact();
    let store = layer_store::Store::open(StoreOptions::new(fx.root())).unwrap();
    assert!(store.rw_layers().is_empty());
}

#[test]
fn text_output_has_one_line_per_finding_and_a_summary() {
    let mut fx = Fixture::new("vfs");
    fx.chain(&[BASE]);
    std::fs::write(fx.root().join("tmp/a"), b"").unwrap();
    std::fs::write(fx.root().join("tmp/b"), b"").unwrap();
    let (code, out, _) = fx.fsck_text(&[]);
    assert_eq!(code, 4);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("temp-leftover "))
            .count(),
        2,
        "{out}"
    );
    assert!(lines.last().unwrap().contains("2 findings"), "{out}");
    let (code, out, _) = fx.fsck_text(&["--repair"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("repair plan:") && out.contains("[cleanup]"),
        "{out}"
    );
    let plan_at = out.find("repair plan:").unwrap();
    let done_at = out.find("done:").unwrap();
    assert!(plan_at < done_at, "the plan comes first: {out}");
}

#[test]
fn no_store_is_an_operational_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_store-fsck"))
        .arg("--root")
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing"));
}

/// Every path under the root with its kind, size and modification time.
fn snapshot(root: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path(), m.is_dir(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// A check without `--repair`, deep or not, changes nothing on disk, however damaged the store.
#[test]
fn a_check_without_repair_changes_nothing() {
    let mut fx = Fixture::new("vfs");
    let ids = fx.chain(&[BASE, TOP]);
    // `files_dir` opens the store (whose recovery would undo the rest): it goes first.
    std::fs::remove_dir_all(fx.files_dir(&ids[0]).join("etc")).unwrap();
    fx.meta().set_state(&ids[1], LayerState::Removing).unwrap();
    std::fs::create_dir_all(fx.root().join("vfs/dir").join("ef".repeat(32))).unwrap();
    std::fs::write(fx.root().join("tmp/left"), b"x").unwrap();
    let before = snapshot(fx.root());
    for args in [&[][..], &["--deep"][..], &["--deep", "--jobs", "1"][..]] {
        let (code, json) = fx.fsck(args);
        assert_eq!(code, 4, "{args:?}");
        let mut found = common::codes(&json["findings"]);
        found.sort();
        let mut expected = vec!["layer-being-removed", "orphan-dir", "temp-leftover"];
        if args.contains(&"--deep") {
            expected.push("content-mismatch");
            expected.sort();
        }
        assert_eq!(found, expected, "{args:?}");
        assert!(before == snapshot(fx.root()), "{args:?} changed the store");
    }
}

#[test]
fn a_bad_command_line_is_a_usage_error() {
    for args in [&["--jobs", "0"][..], &["--force"][..], &["--bogus"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_store-fsck"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(16), "{args:?}");
    }
}
