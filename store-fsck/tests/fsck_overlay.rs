//! The overlay driver's own layout: `link` files, `l/` short links and `lower` files, each
//! damaged as the field does it, found, and recreated without loss. Needs root and overlayfs;
//! skipped with the reason otherwise.

mod common;
use common::{finding, overlay_usable, Fixture};

const BASE: &[(&str, &[u8])] = &[("etc/os-release", b"ID=test\n")];
const MID: &[(&str, &[u8])] = &[("lib/x.so", &[9u8; 2048])];
const TOP: &[(&str, &[u8])] = &[("app/run", b"go\n")];

fn layer_dir(fx: &Fixture, id: &layer_store::ChainId) -> std::path::PathBuf {
    fx.root().join("overlay").join(fx.cache_id(id))
}

#[test]
fn overlay_layout_damage_is_found_and_recreated() {
    if let Err(why) = overlay_usable() {
        eprintln!("skipped: {why}");
        return;
    }
    type Damage = fn(&Fixture, &[layer_store::ChainId]);
    let cases: &[(&str, Damage, &str)] = &[
        (
            "l/ link removed",
            |fx, ids| {
                let short = std::fs::read_to_string(layer_dir(fx, &ids[1]).join("link")).unwrap();
                std::fs::remove_file(fx.root().join("overlay/l").join(short.trim())).unwrap();
            },
            "short-link-missing",
        ),
        (
            "lower file emptied",
            |fx, ids| std::fs::write(layer_dir(fx, &ids[2]).join("lower"), b"").unwrap(),
            "lower-mismatch",
        ),
        (
            "link file removed",
            |fx, ids| std::fs::remove_file(layer_dir(fx, &ids[1]).join("link")).unwrap(),
            "link-missing",
        ),
        (
            // A link whose layer is gone is pruned when the driver starts (and then missing);
            // one that leads to another layer stays wrong until fsck fixes it.
            "l/ link retargeted to another layer",
            |fx, ids| {
                let short = std::fs::read_to_string(layer_dir(fx, &ids[0]).join("link")).unwrap();
                let link = fx.root().join("overlay/l").join(short.trim());
                std::fs::remove_file(&link).unwrap();
                let other = format!("../{}/diff", fx.cache_id(&ids[2]));
                std::os::unix::fs::symlink(other, &link).unwrap();
            },
            "short-link-dangling",
        ),
    ];
    for (name, damage, code) in cases {
        let mut fx = Fixture::new("overlay");
        let ids = fx.chain(&[BASE, MID, TOP]);
        damage(&fx, &ids);
        let (status, json) = fx.fsck(&[]);
        assert_eq!(status, 4, "{name}: {json:#}");
        finding(&json, code);
        let (status, json) = fx.fsck(&["--repair"]);
        assert_eq!(status, 1, "{name}: {json:#}");
        assert_eq!(fx.assert_clean_and_exact(), 3, "{name}: every layer kept");
        // The chain mounts again: the top layer's view shows every layer's files.
        let store = fx.open();
        let rw = store
            .create_rw_layer("c", Some(&ids[2]), Default::default())
            .unwrap();
        let merged = rw.mount().unwrap();
        for f in ["etc/os-release", "lib/x.so", "app/run"] {
            assert!(
                merged.join(f).exists(),
                "{name}: {f} missing from the mounted chain"
            );
        }
        rw.unmount().unwrap();
        store.cleanup().unwrap();
    }
}

/// A layer directory whose files are gone cannot be recreated: the layer is removed (it is the
/// top one, so without `--force`), and the rest of the chain stays.
#[test]
fn an_overlay_layer_without_its_files_is_removed() {
    if let Err(why) = overlay_usable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut fx = Fixture::new("overlay");
    let ids = fx.chain(&[BASE, MID, TOP]);
    std::fs::remove_dir_all(layer_dir(&fx, &ids[2]).join("diff")).unwrap();
    let (status, json) = fx.fsck(&[]);
    assert_eq!(status, 4, "{json:#}");
    assert_eq!(
        finding(&json, "diff-dir-missing")["object"],
        ids[2].as_str()
    );
    let (status, json) = fx.fsck(&["--repair"]);
    assert_eq!(status, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 2);
}

/// Every path under `root` with its kind, size and modification time.
fn snapshot(root: &std::path::Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// A check without `--repair` opens the overlay driver passively: a dangling `l/` link (its
/// target gone) is reported, not pruned, and nothing on disk changes; the repair fixes it.
#[test]
fn an_overlay_check_without_repair_changes_nothing() {
    if let Err(why) = overlay_usable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut fx = Fixture::new("overlay");
    let ids = fx.chain(&[BASE, MID]);
    let short = std::fs::read_to_string(layer_dir(&fx, &ids[0]).join("link")).unwrap();
    let link = fx.root().join("overlay/l").join(short.trim());
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../nowhere/diff", &link).unwrap();
    let before = snapshot(fx.root());
    let (status, json) = fx.fsck(&["--deep"]);
    assert_eq!(status, 4, "{json:#}");
    assert_eq!(
        finding(&json, "short-link-dangling")["object"],
        ids[0].as_str()
    );
    assert!(
        before == snapshot(fx.root()),
        "a check without --repair changed the store"
    );
    let (status, json) = fx.fsck(&["--repair"]);
    assert_eq!(status, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 2);
}
