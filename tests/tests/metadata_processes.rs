//! The metadata store shared between processes: one writer at a time (a second one is refused at
//! once, naming the first one's pid), and read-only openers that follow a live writer.
//!
//! The other process is this test binary run again with `METADATA_CHILD` set, which makes the
//! `child` test act as the scripted peer instead of returning at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use metadata::{ChainId, DiffId, Digest, Error, ErrorKind, MetadataStore, OpenOptions};

const ROLE: &str = "METADATA_CHILD";
const ROOT: &str = "METADATA_CHILD_ROOT";

fn diff(n: u32) -> DiffId {
    DiffId::from(Digest::of_bytes(&n.to_le_bytes()))
}

fn tar_split(n: u32) -> Vec<u8> {
    format!("tar-split of layer {n}\n")
        .repeat(n as usize * 100 + 1)
        .into_bytes()
}

fn commit(store: &MetadataStore, n: u32) -> ChainId {
    let d = diff(n);
    let id = ChainId::new(None, &d);
    let mut t = store.begin().unwrap();
    t.set_diff_id(d);
    t.set_cache_id(format!("cache-{n}"));
    t.tar_split_writer().write_all(&tar_split(n)).unwrap();
    t.commit(&id).unwrap();
    id
}

/// A peer process, spoken to line by line.
struct Peer {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(role: &str, root: &Path) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child",
                "--nocapture",
                "--test-threads=1",
                "--quiet",
            ])
            .env(ROLE, role)
            .env(ROOT, root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let to = child.stdin.take().unwrap();
        let from = BufReader::new(child.stdout.take().unwrap());
        Peer { child, to, from }
    }

    /// The next line the peer printed that is meant for us (`> ...`), skipping the harness's.
    fn recv(&mut self) -> String {
        loop {
            let mut line = String::new();
            assert!(
                self.from.read_line(&mut line).unwrap() > 0,
                "the peer exited early"
            );
            if let Some(msg) = line.trim_end().strip_prefix("> ") {
                return msg.to_owned();
            }
        }
    }

    fn send(&mut self, msg: &str) {
        writeln!(self.to, "{msg}").unwrap();
        self.to.flush().unwrap();
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin (the signal to finish) and waits for a clean exit.
    fn finish(self) {
        let Peer {
            mut child,
            to,
            mut from,
        } = self;
        drop(to);
        let mut rest = String::new();
        let _ = from.read_to_string(&mut rest);
        assert!(child.wait().unwrap().success(), "peer failed: {rest}");
    }
}

fn say(msg: &str) {
    println!("> {msg}");
    std::io::stdout().flush().unwrap();
}

/// The scripted peer: a no-op unless run by one of the tests below.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let root = std::path::PathBuf::from(std::env::var_os(ROOT).unwrap());
    let mut lines = std::io::stdin().lock().lines();
    match role.as_str() {
        // Tries to open as a second writer and reports how that went.
        "second-writer" => match MetadataStore::open(&root, &OpenOptions::new("vfs")) {
            Ok(_) => say("opened"),
            Err(Error::InUse { pid, .. }) => say(&format!("in-use {}", pid.unwrap_or(0))),
            Err(e) => say(&format!("error {e}")),
        },
        // Holds the writer and commits one layer per "commit" line until stdin closes.
        "writer" => {
            let store = MetadataStore::open(&root, &OpenOptions::new("vfs")).unwrap();
            say("ready");
            let mut n = 0;
            while let Some(Ok(line)) = lines.next() {
                if line == "commit" {
                    commit(&store, n);
                    say(&format!("committed {n}"));
                    n += 1;
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_second_writer_in_another_process_is_refused_with_our_pid() {
    let dir = tempfile::tempdir().unwrap();
    let _store = MetadataStore::open(dir.path(), &OpenOptions::new("vfs")).unwrap();
    let mut peer = Peer::spawn("second-writer", dir.path());
    assert_eq!(peer.recv(), format!("in-use {}", std::process::id()));
    peer.finish();
}

#[test]
fn a_reader_follows_a_writer_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Peer::spawn("writer", dir.path());
    assert_eq!(writer.recv(), "ready");

    // A second writer here is refused at once, naming the peer.
    match MetadataStore::open(dir.path(), &OpenOptions::new("vfs")) {
        Err(e @ Error::InUse { .. }) => {
            assert!(
                e.to_string().contains(&format!("process {}", writer.pid())),
                "{e}"
            );
            assert_eq!(e.kind(), ErrorKind::InUse);
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second writer was let in"),
    }

    let reader = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    assert_eq!(reader.driver(), "vfs");
    for n in 0..8 {
        writer.send("commit");
        assert_eq!(writer.recv(), format!("committed {n}"));
        let id = ChainId::new(None, &diff(n));
        let rec = reader
            .layer(&id)
            .unwrap()
            .expect("the reader sees the commit");
        assert_eq!(rec.cache_id, format!("cache-{n}"));
        let mut ts = Vec::new();
        reader.tar_split(&id).unwrap().read_to_end(&mut ts).unwrap();
        assert_eq!(ts, tar_split(n));
        assert_eq!(reader.layers().unwrap().len(), n as usize + 1);
    }
    writer.finish();

    // The writer closed cleanly: the reader still reads, and a new writer gets in.
    assert_eq!(reader.layers().unwrap().len(), 8);
    let store = MetadataStore::open(dir.path(), &OpenOptions::new("vfs")).unwrap();
    assert_eq!(store.layers().unwrap().len(), 8);
}

/// `ls` running while the writer is killed keeps reading the last commit; new read-only opens
/// are told the store needs recovery until a writer opens it, and the old reader then follows
/// the new writer.
#[test]
fn a_reader_outlives_a_killed_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Peer::spawn("writer", dir.path());
    assert_eq!(writer.recv(), "ready");
    writer.send("commit");
    assert_eq!(writer.recv(), "committed 0");
    let reader = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    assert_eq!(reader.layers().unwrap().len(), 1);
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();

    assert_eq!(reader.layers().unwrap().len(), 1);
    match MetadataStore::open(dir.path(), &OpenOptions::read_only()) {
        Err(e @ Error::NeedsRecovery { .. }) => assert_eq!(e.kind(), ErrorKind::Precondition),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a crashed writer's file opened read-only without recovery"),
    }

    let recovered = MetadataStore::open(dir.path(), &OpenOptions::new("vfs")).unwrap();
    commit(&recovered, 1);
    assert_eq!(reader.layers().unwrap().len(), 2);
    assert_eq!(
        MetadataStore::open(dir.path(), &OpenOptions::read_only())
            .unwrap()
            .layers()
            .unwrap()
            .len(),
        2
    );
}
