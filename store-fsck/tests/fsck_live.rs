//! A register killed half-way, and a check beside a live writer: the check runs read-only and
//! takes the live creation for what it is; a repair refuses while the writer runs; once the
//! writer is killed the interrupted creation is a finding and a repair rolls it back.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{finding, tar_of, Fixture};
use layer_store::{DriverChoice, Store, StoreOptions};

const CHILD_ENV: &str = "STORE_FSCK_TEST_HANG_IN_REGISTER";

/// Gives the first half of a tar, then blocks for good: a register stuck half-way.
struct Hang {
    data: Vec<u8>,
    pos: usize,
}

impl Read for Hang {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let half = self.data.len() / 2;
        if self.pos >= half {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        let n = buf.len().min(half - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The child side: registers from a stream that stops half-way. Does nothing in a normal run.
#[test]
fn child_register_that_hangs() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(StoreOptions::new(root).driver(DriverChoice::Vfs)).unwrap();
    let data = tar_of(&[("a", &[3u8; 200_000]), ("b", &[4u8; 200_000])]);
    let _ = store.register(Hang { data, pos: 0 }, None);
}

#[test]
fn a_killed_register_is_rolled_back_and_a_live_one_left_alone() {
    let mut fx = Fixture::new("vfs");
    fx.chain(&[&[("base", b"base")]]);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_register_that_hangs", "--nocapture"])
        .env(CHILD_ENV, fx.root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (read-only, beside the writer) until its creation is recorded.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = metadata::MetadataStore::open(fx.root(), &metadata::OpenOptions::read_only())
            .and_then(|m| m.pending())
            .unwrap_or_default();
        if !pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child never began its register"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Beside the live writer: clean, with a note about the creation in progress.
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 0, "{json:#}");
    let notes = json["notes"].to_string();
    assert!(
        notes.contains(&format!("process {}", child.id())),
        "{json:#}"
    );
    // A repair refuses, naming the writer.
    let (code, _, stderr) = fx.fsck_text(&["--repair"]);
    assert_eq!(code, 8);
    assert!(
        stderr.contains("in use") && stderr.contains(&child.id().to_string()),
        "{stderr}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    finding(&json, "layer-being-created");
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(fx.assert_clean_and_exact(), 1);
}
