//! Crash consistency of the metadata store: a child process commits, removes and re-mounts
//! layers in a loop and is killed with SIGKILL at random moments. After every kill the store
//! must open, hold only whole records, hold every commit the child reported as done (and none it
//! reported removed), and give back every committed tar-split stream intact.
//!
//! The child is this test binary run again with `METADATA_CRASH_ROOT` set, which makes the
//! `crash_child` test run the loop instead of returning at once. It reports each step on stdout
//! after the call returned; the parent keeps the model of what must be durable.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metadata::{
    ChainId, Descriptor, DiffId, Digest, Error, LayerState, MetadataStore, MountRecord, OpenOptions,
};

const ROOT: &str = "METADATA_CRASH_ROOT";
const START: &str = "METADATA_CRASH_START";
/// How many times the child is killed.
const KILLS: usize = 60;
/// Small chunks, so that most layers span several.
const CHUNK: usize = 4096;

fn opts() -> OpenOptions {
    OpenOptions {
        tar_split_chunk_size: CHUNK,
        ..OpenOptions::new("vfs")
    }
}

fn diff(n: u64) -> DiffId {
    DiffId::from(Digest::of_bytes(&n.to_le_bytes()))
}

/// Layer `n`'s tar-split data: up to ~40 KiB of half-compressible bytes.
fn content(n: u64) -> Vec<u8> {
    let len = (n * 7919 % 40_000) as usize;
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 16) as u8
        })
        .collect()
}

fn descriptor(n: u64) -> Option<Descriptor> {
    (n % 4 == 0).then(|| Descriptor {
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        digest: Digest::of_bytes(&n.to_be_bytes()).to_string(),
        size: n as i64,
        urls: vec![format!("https://example.com/{n}")],
        annotations: Default::default(),
    })
}

/// Removed right after its commit, so that it never has children or mounts.
fn is_removed_soon(n: u64) -> bool {
    n % 5 == 4
}

fn cache_n(cache_id: &str) -> u64 {
    cache_id.strip_prefix("cache-").unwrap().parse().unwrap()
}

fn say(msg: String) {
    println!("> {msg}");
    std::io::stdout().flush().unwrap();
}

/// The loop the parent kills: a no-op unless run by `sigkill_at_random_moments`.
#[test]
fn crash_child() {
    let Some(root) = std::env::var_os(ROOT) else {
        return;
    };
    let mut n: u64 = std::env::var(START).unwrap().parse().unwrap();
    let store = MetadataStore::open(Path::new(&root), &opts()).unwrap();
    say("ready".into());
    let mut top: Option<ChainId> = None;
    loop {
        say(format!("begin {n}"));
        let cache = format!("cache-{n}");
        store.begin_creation(&cache).unwrap();
        let d = diff(n);
        let parent = if n % 3 == 0 { None } else { top.clone() };
        let id = ChainId::new(parent.as_ref(), &d);
        let mut t = store.begin().unwrap();
        t.set_diff_id(d);
        t.set_parent(parent);
        t.set_size(n);
        t.set_cache_id(cache);
        t.set_descriptor(descriptor(n));
        t.set_tar_split_file_sizes(n * 2);
        for piece in content(n).chunks(1000) {
            t.tar_split_writer().write_all(piece).unwrap();
        }
        t.commit(&id).unwrap();
        say(format!("committed {n}"));
        let mount_parent = if is_removed_soon(n) {
            store.set_state(&id, LayerState::Removing).unwrap();
            store.remove_layer(&id).unwrap();
            say(format!("removed {n}"));
            None
        } else {
            top = Some(id.clone());
            Some(id)
        };
        store
            .set_mount(&MountRecord {
                name: format!("m{}", n % 3),
                mount_id: format!("mount-{n}"),
                init_id: Some(format!("mount-{n}-init")),
                parent: mount_parent,
                created_unix_nanos: n,
            })
            .unwrap();
        n += 1;
    }
}

/// What the child reported, over all its lives.
#[derive(Default)]
struct Model {
    begun: BTreeSet<u64>,
    committed: BTreeSet<u64>,
    removed: BTreeSet<u64>,
}

impl Model {
    fn next(&self) -> u64 {
        self.begun.last().map_or(0, |n| n + 1)
    }

    fn apply(&mut self, line: &str) {
        let (verb, n) = line.split_once(' ').unwrap();
        let n: u64 = n.parse().unwrap();
        match verb {
            "begin" => self.begun.insert(n),
            "committed" => self.committed.insert(n),
            "removed" => self.removed.insert(n),
            other => panic!("unknown report {other}"),
        };
    }
}

/// Runs one child life, killed after a random delay; returns its complete report lines.
fn one_life(root: &Path, start: u64, delay: Duration, from_spawn: bool) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(ROOT, root)
        .env(START, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            // A line cut by the kill has no newline: it was not reported.
            if let Some(msg) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("> ")) {
                if msg == "ready" {
                    let _ = tx.send(());
                } else {
                    lines.push(msg.to_owned());
                }
            }
            line.clear();
        }
        lines
    });
    if !from_spawn {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the child never got ready");
    }
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

/// Checks the store after a crash against the model, then settles what the kill left open as
/// the layer store's recovery would: the step in flight is resolved from what is found, a
/// removal begun is finished, a pending creation is rolled back.
fn verify(root: &Path, model: &mut Model) {
    // A read-only open cannot recover a crashed writer's file: it must say so, not misread.
    match MetadataStore::open(root, &OpenOptions::read_only()) {
        Ok(_) | Err(Error::NeedsRecovery { .. }) | Err(Error::NotFound { .. }) => {}
        Err(e) => panic!("read-only open after a crash: {e}"),
    }
    let store = MetadataStore::open(root, &opts()).expect("the store opens after a crash");
    let in_flight = model.begun.last().copied();

    let layers = store.layers().expect("every record decodes");
    let present: BTreeSet<u64> = layers.iter().map(|r| cache_n(&r.cache_id)).collect();
    // The step the kill interrupted may or may not have happened: find out which.
    if let Some(n) = in_flight {
        if present.contains(&n) {
            model.committed.insert(n);
        } else if model.committed.contains(&n) {
            model.removed.insert(n);
        }
    }
    for r in &layers {
        let n = cache_n(&r.cache_id);
        assert!(
            model.committed.contains(&n),
            "layer {n} is recorded but its commit never began or was not the last"
        );
        assert_eq!(r.diff_id, diff(n));
        assert_eq!(r.chain_id, ChainId::new(r.parent.as_ref(), &r.diff_id));
        assert_eq!((r.size, r.tar_split.file_sizes), (n, n * 2));
        assert_eq!(r.descriptor, descriptor(n));
        if let Some(p) = &r.parent {
            assert!(
                store.layer(p).unwrap().is_some(),
                "layer {n}'s parent is gone"
            );
        }
        if r.state == LayerState::Removing {
            assert!(is_removed_soon(n), "layer {n} is being removed");
        }
        let mut ts = Vec::new();
        store
            .tar_split(&r.chain_id)
            .unwrap()
            .read_to_end(&mut ts)
            .unwrap_or_else(|e| panic!("tar-split of layer {n}: {e}"));
        assert!(ts == content(n), "tar-split of layer {n} differs");
    }
    for n in &model.committed {
        if model.removed.contains(n) {
            assert!(!present.contains(n), "layer {n} was removed but is back");
        } else {
            assert!(present.contains(n), "committed layer {n} was lost");
        }
    }

    for m in store.mounts().expect("every mount decodes") {
        let k: u64 = m.mount_id.strip_prefix("mount-").unwrap().parse().unwrap();
        assert_eq!(m.name, format!("m{}", k % 3));
        assert_eq!(m.init_id, Some(format!("mount-{k}-init")));
        assert_eq!(m.created_unix_nanos, k);
        if let Some(p) = &m.parent {
            let rec = store.layer(p).unwrap().expect("a mount's parent exists");
            assert_eq!(cache_n(&rec.cache_id), k);
        }
    }

    for r in &layers {
        if r.state == LayerState::Removing {
            store.remove_layer(&r.chain_id).unwrap();
            model.removed.insert(cache_n(&r.cache_id));
        }
    }

    // Only the creation in flight can be pending; roll it back as the layer store would.
    for p in store.pending().unwrap() {
        let n = cache_n(&p.cache_id);
        assert_eq!(
            Some(n),
            in_flight,
            "pending creation {n} is not the last begun"
        );
        assert!(!present.contains(&n), "layer {n} is committed yet pending");
        store.clear_pending(&p.cache_id).unwrap();
    }
}

#[test]
fn sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = seed;
    let mut random = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let mut model = Model::default();
    let started = Instant::now();
    for life in 0..KILLS {
        // Mostly while committing; one life in five anywhere, opening and recovery included.
        let from_spawn = life % 5 == 4;
        let delay = Duration::from_micros(random(if from_spawn { 100_000 } else { 150_000 }));
        for line in one_life(dir.path(), model.next(), delay, from_spawn) {
            model.apply(&line);
        }
        verify(dir.path(), &mut model);
    }
    println!(
        "{KILLS} kills, {} commits, {} removals in {:?}",
        model.committed.len(),
        model.removed.len(),
        started.elapsed()
    );
    assert!(
        model.committed.len() >= KILLS / 2,
        "too few commits to mean anything"
    );
}
