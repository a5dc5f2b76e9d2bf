//! Running the built `layer-store` binary against a store in a temporary directory.
#![allow(dead_code)]

pub mod image_builder;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_layer-store")
}

/// A store in a temporary directory, driven through the command line with one driver.
pub struct Store {
    /// Holds the temporary directory (the store is at `root`, inputs may go in `scratch`).
    pub dir: tempfile::TempDir,
    /// The store's root.
    pub root: PathBuf,
    /// The driver passed with `--driver`.
    pub driver: &'static str,
}

impl Store {
    /// A new, empty store (not created until the first writing command).
    pub fn new(driver: &'static str) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        Store { dir, root, driver }
    }

    /// A path for test files beside the store.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary with `args` (after `--root` and `--driver`), `stdin` fed in.
    pub fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(binary())
            .arg("--root")
            .arg(&self.root)
            .arg("--driver")
            .arg(self.driver)
            .args(args)
            .env_remove("LAYER_STORE_ROOT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            // The command may stop reading early (an error): a broken pipe is not the test's.
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, b"")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(args, &out);
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects success; returns stdout as bytes.
    pub fn ok_bytes(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert_success(args, &out);
        out.stdout
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Runs and expects failure with one line on stderr; returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_failure(args, &out)
    }

    /// The ChainIDs `ls` lists.
    pub fn chain_ids(&self) -> Vec<String> {
        let ls = self.json(&["ls"]);
        ls.as_array()
            .unwrap()
            .iter()
            .map(|l| l["chain_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The directories under the driver's home that hold layers (anything but the driver's own
    /// bookkeeping), to check that nothing was left behind.
    pub fn driver_dirs(&self) -> Vec<String> {
        let home = self.root.join(self.driver);
        let mut out = Vec::new();
        collect_layer_dirs(&home, &mut out);
        out
    }
}

fn collect_layer_dirs(home: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(home) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        // Layer directories are named by 64-hex cache-IDs (and `-init` for init layers).
        let id = name
            .trim_end_matches("-init")
            .trim_end_matches(".incomplete");
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(name);
        } else if e.file_type().unwrap().is_dir() && name != "l" {
            collect_layer_dirs(&e.path(), out);
        }
    }
}

/// Asserts the command succeeded, showing its stderr if not.
pub fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "layer-store {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the command failed with exactly one line on stderr, and returns it.
pub fn assert_failure(args: &[&str], out: &Output) -> String {
    assert!(
        !out.status.success(),
        "layer-store {args:?} succeeded, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "not one line of error: {err:?}");
    assert!(err.starts_with("layer-store: "), "{err}");
    err.trim_end().to_owned()
}

/// The drivers to test with: vfs always; overlay where it works (root, kernel support), else the
/// reason it is skipped is printed.
pub fn drivers() -> Vec<&'static str> {
    let mut drivers = vec!["vfs"];
    let probe = Store::new("overlay");
    let empty_tar = vec![0u8; 1024];
    let out = probe.run_with_input(&["register", "-"], &empty_tar);
    if out.status.success() {
        drivers.push("overlay");
    } else {
        eprintln!(
            "skipping the overlay driver: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    drivers
}

/// `sha256:<hex>` of a file.
pub fn sha256_file(path: &Path) -> String {
    image_builder::sha256(&std::fs::read(path).unwrap())
}

/// The member names of a tar, in order.
pub fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned()
        })
        .collect()
}
