//! Helpers for the store-fsck tests: real stores built through the `layer-store` API, damage
//! done the way the field does it, and the `store-fsck` binary run on them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use layer_store::{ChainId, DriverChoice, Store, StoreOptions};

/// A store under a temp dir, with the tars its layers were registered from.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tars: BTreeMap<ChainId, Vec<u8>>,
    pub driver: &'static str,
}

/// A tar of regular files, `(name, content)`, built with the `tar` crate.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Whether the overlay driver can run here (root and a kernel with overlayfs).
pub fn overlay_usable() -> Result<(), String> {
    if !rustix_is_root() {
        return Err("not root".into());
    }
    let probe = tempfile::tempdir().map_err(|e| e.to_string())?;
    Store::open(StoreOptions::new(probe.path()).driver(DriverChoice::Overlay))
        .map(|_| ())
        .map_err(|e| format!("overlay driver refused: {e}"))
}

pub fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl Fixture {
    /// An empty store with `driver` ("vfs" or "overlay").
    pub fn new(driver: &'static str) -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            tars: BTreeMap::new(),
            driver,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn open(&self) -> Store {
        let choice = match self.driver {
            "overlay" => DriverChoice::Overlay,
            _ => DriverChoice::Vfs,
        };
        Store::open(StoreOptions::new(self.root()).driver(choice)).unwrap()
    }

    /// Registers a chain of layers, one tar each, bottom first; returns their ChainIDs.
    pub fn chain(&mut self, layers: &[&[(&str, &[u8])]]) -> Vec<ChainId> {
        let store = self.open();
        let mut parent: Option<ChainId> = None;
        let mut ids = Vec::new();
        for files in layers {
            let tar = tar_of(files);
            let layer = store.register(&tar[..], parent.as_ref()).unwrap();
            let id = layer.chain_id().clone();
            self.tars.insert(id.clone(), tar);
            parent = Some(id.clone());
            ids.push(id);
        }
        store.cleanup().unwrap();
        ids
    }

    /// The driver directory (cache-ID) of a layer.
    pub fn cache_id(&self, id: &ChainId) -> String {
        let store = self.open();
        let c = store.info(id).unwrap().cache_id;
        store.cleanup().unwrap();
        c
    }

    /// The directory holding a layer's own files.
    pub fn files_dir(&self, id: &ChainId) -> PathBuf {
        let cache = self.cache_id(id);
        self.driver_dir(&cache)
    }

    /// The directory holding the files of driver ID `cache`.
    pub fn driver_dir(&self, cache: &str) -> PathBuf {
        match self.driver {
            "overlay" => self.root().join("overlay").join(cache).join("diff"),
            _ => self.root().join("vfs").join("dir").join(cache),
        }
    }

    /// The metadata store, writable (the store must be closed).
    pub fn meta(&self) -> metadata::MetadataStore {
        metadata::MetadataStore::open(self.root(), &metadata::OpenOptions::default()).unwrap()
    }

    /// Runs `store-fsck --root <root> --json <args>`: the exit status and the parsed report.
    pub fn fsck(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_store-fsck"))
            .arg("--root")
            .arg(self.root())
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code().unwrap_or(-1);
        let json = serde_json::from_str(&stdout).unwrap_or_else(|_| {
            assert_eq!(code, 8, "no JSON report: status {code}\n{stdout}\n{stderr}");
            serde_json::json!({ "stderr": stderr })
        });
        (code, json)
    }

    /// Runs `store-fsck` without `--json`: status, stdout, stderr.
    pub fn fsck_text(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_store-fsck"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// After a repair: a re-check is clean, and every layer left exports byte for byte the tar
    /// it was registered from. Returns how many layers are left.
    pub fn assert_clean_and_exact(&self) -> usize {
        let (code, json) = self.fsck(&["--deep"]);
        assert_eq!(code, 0, "re-check not clean: {json:#}");
        let store = self.open();
        let map = store.map();
        for id in map.keys() {
            let Some(tar) = self.tars.get(id) else {
                continue;
            };
            let layer = store.get(id).unwrap();
            let mut out = Vec::new();
            layer.tar_stream().unwrap().read_to_end(&mut out).unwrap();
            assert!(out == *tar, "layer {id} does not export byte-exact");
        }
        store.cleanup().unwrap();
        map.len()
    }
}

/// The codes of a report's findings (`findings`, or `repair.remaining`).
pub fn codes(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The finding with `code`, panicking with the report when there is none.
pub fn finding<'a>(report: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("no {code} finding in {report:#}"))
}
