//! The driver conformance suite: every case builds a chain of layers from small tars and checks
//! the driver's view against a flat-directory oracle, the same tars applied with plain
//! whiteout-deleting semantics to one directory.
//!
//! Run it for a driver with [`driver_suite_tests!`](crate::driver_suite_tests), giving a factory
//! that makes a driver in a fresh home (or `None`, after printing why, to skip):
//! ```ignore
//! fn vfs(home: &std::path::Path) -> Option<std::sync::Arc<dyn graphdriver::Driver>> { ... }
//! store_tests::driver_suite_tests!(vfs);
//! ```
//! One `#[test]` per case is generated, named after the case's function in [`cases`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::apply::{apply_tar, ApplyOptions, WhiteoutMode};
use graphdriver::tar_writer::{EntryMeta, TarWriter};
use graphdriver::{CreateOpts, Driver};
use tar_split::{EntryKind, NullSink, TarReader};

/// Makes a driver whose home is the given (not yet existing) directory, or returns `None` after
/// printing why the driver cannot run here.
pub type Factory = dyn Fn(&Path) -> Option<Arc<dyn Driver>>;

/// Generates one `#[test]` per conformance case for the driver made by `$factory`
/// (a `fn(&Path) -> Option<Arc<dyn Driver>>`), optionally with `tmp = <Option<PathBuf>>`
/// naming where the temporary directories go (e.g. [`fast_tmp`]).
#[macro_export]
macro_rules! driver_suite_tests {
    ($factory:path) => {
        $crate::driver_suite_tests!($factory, tmp = None);
    };
    ($factory:path, tmp = $tmp:expr) => {
        $crate::driver_suite_tests!(@cases $factory, $tmp;
            basic_chain,
            file_rewritten_in_upper_layer,
            dir_removed_and_recreated_opaque,
            chown_across_layers,
            dir_permissions_across_three_layers,
            deleted_in_layer2_stays_deleted_in_layer3,
            hard_link_to_lower_file_after_deleting_original,
            renames,
            remove_layer_with_children,
            mount_refcount_and_read_only_view,
            diff_then_apply_reproduces_layer,
            changes_list,
            diff_size,
            stacked_128_layers,
            members_in_unlisted_directories,
            random_layers_diff_round_trip,
        );
    };
    (@cases $factory:path, $tmp:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::driver_suite::run(&$factory, $tmp, $crate::driver_suite::cases::$case);
            }
        )*
    };
}

/// `/dev/shm` when it is a writable directory: a tmpfs, where the `syncfs` each finished layer
/// costs is free (on a disk shared with busy builds it costs a tenth of a second or more per
/// layer). For drivers whose correctness does not depend on the backing filesystem.
pub fn fast_tmp() -> Option<PathBuf> {
    let shm = PathBuf::from("/dev/shm");
    tempfile::tempdir_in(&shm).ok().map(|_| shm)
}

/// Runs one case against a driver made by `factory` in a fresh temporary directory (below
/// `base` when given, else the system's temporary directory).
pub fn run(factory: &Factory, base: Option<PathBuf>, case: fn(&mut Suite)) {
    let tmp = match base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let Some(driver) = factory(&tmp.path().join("home")) else {
        return;
    };
    let oracle = tmp.path().join("oracle");
    fs::create_dir(&oracle).expect("oracle directory");
    let mut suite = Suite {
        driver,
        oracle,
        tmp,
        next_id: 0,
        snapshots: BTreeMap::new(),
    };
    case(&mut suite);
    suite.driver.cleanup().expect("cleanup");
}

/// Whether the tests run as root (owners, devices and `trusted.*` xattrs are then restored).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A driver under test, its oracle directory and the layers made so far.
pub struct Suite {
    /// The driver under test.
    pub driver: Arc<dyn Driver>,
    /// The flat directory every step is also applied to.
    pub oracle: PathBuf,
    /// The temporary directory holding the driver's home and the oracle.
    pub tmp: tempfile::TempDir,
    next_id: usize,
    /// The oracle's state after each layer of a chain was applied, by layer ID.
    snapshots: BTreeMap<String, PathBuf>,
}

impl Suite {
    /// A fresh layer ID.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", self.next_id)
    }

    /// Creates a layer above `parent` from `tar` and finalizes it; returns its ID.
    pub fn layer(&mut self, parent: Option<&str>, tar: &[u8]) -> String {
        let id = self.new_id();
        self.driver
            .create(&id, parent, &CreateOpts::default())
            .expect("create");
        let mut r = TarReader::new(tar, NullSink);
        self.driver
            .apply_diff(&id, parent, &mut r)
            .unwrap_or_else(|e| panic!("apply_diff {id}: {e}"));
        r.finish().expect("tar end");
        self.driver.finalize(&id).expect("finalize");
        id
    }

    /// Applies each tar both as a new layer on top of the chain and to the oracle; returns the
    /// layers' IDs, bottom first. The oracle's state is kept for every layer of short chains
    /// and for the top layer of long ones.
    pub fn chain(&mut self, tars: &[Vec<u8>]) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for (i, tar) in tars.iter().enumerate() {
            let id = self.layer(ids.last().map(String::as_str), tar);
            apply_to_dir(&self.oracle, tar);
            if tars.len() <= 16 || i + 1 == tars.len() {
                let snap = self.tmp.path().join(format!("oracle-{id}"));
                fs::create_dir(&snap).expect("snapshot dir");
                graphdriver_vfs::copy_tree(&self.oracle, &snap, is_root())
                    .expect("snapshot oracle");
                self.snapshots.insert(id.clone(), snap);
            }
            ids.push(id);
        }
        ids
    }

    /// Mounts `id`, compares its view with the oracle's state after that layer and unmounts
    /// it; panics with the differences.
    pub fn check_against_oracle(&self, id: &str) {
        let oracle = self
            .snapshots
            .get(id)
            .expect("an oracle snapshot of this layer");
        let view = self.driver.get(id, &Default::default()).expect("get");
        let diffs = compare_trees(&view, oracle);
        self.driver.put(id).expect("put");
        assert!(
            diffs.is_empty(),
            "layer {id} differs from the oracle:\n{}",
            diffs.join("\n")
        );
    }
}

/// Applies `tar` to `dir` with whiteout-deleting semantics (the oracle's).
pub fn apply_to_dir(dir: &Path, tar: &[u8]) {
    let mut r = TarReader::new(tar, NullSink);
    apply_tar(
        dir,
        &mut r,
        &ApplyOptions::new("oracle", WhiteoutMode::Delete),
    )
    .expect("oracle apply");
}

/// One member of a test tar.
#[derive(Clone)]
pub struct M(pub EntryMeta, pub Vec<u8>);

impl M {
    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Self {
        let mut m = EntryMeta::new(
            EntryKind::Directory,
            format!("{}/", path.trim_end_matches('/')),
        );
        m.mtime = 1_700_000_000;
        M(m, Vec::new())
    }
    /// A regular file, mode 0644.
    pub fn file(path: &str, data: &[u8]) -> Self {
        let mut m = EntryMeta::new(EntryKind::Regular, path);
        m.size = data.len() as u64;
        m.mtime = 1_700_000_000;
        M(m, data.to_vec())
    }
    /// A symlink to `target`.
    pub fn symlink(path: &str, target: &str) -> Self {
        let mut m = EntryMeta::new(EntryKind::Symlink, path);
        m.link_name = target.as_bytes().to_vec();
        m.mode = 0o777;
        m.mtime = 1_700_000_000;
        M(m, Vec::new())
    }
    /// A hard link to the earlier member `target`.
    pub fn hard(path: &str, target: &str) -> Self {
        let mut m = EntryMeta::new(EntryKind::HardLink, path);
        m.link_name = target.as_bytes().to_vec();
        M(m, Vec::new())
    }
    /// An OCI whiteout of `path`.
    pub fn whiteout(path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        M::file(&wh, b"")
    }
    /// The opaque marker of directory `dir`.
    pub fn opaque(dir: &str) -> Self {
        M::file(&format!("{}/.wh..wh..opq", dir.trim_end_matches('/')), b"")
    }
    /// The same member with `mode`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.0.mode = mode;
        self
    }
    /// The same member owned by `uid:gid`.
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.0.uid = uid;
        self.0.gid = gid;
        self
    }
    /// The same member with an xattr.
    pub fn xattr(mut self, name: &str, value: &[u8]) -> Self {
        self.0
            .xattrs
            .push((name.as_bytes().to_vec(), value.to_vec()));
        self
    }
}

/// A tar of `members`, in order.
pub fn tar(members: &[M]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for M(meta, data) in members {
        w.append(meta, &mut &data[..]).expect("tar member");
    }
    w.finish().expect("tar end")
}

/// What the comparison looks at for one path.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<i64>,
    content: Vec<u8>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn xattrs_of(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut list = vec![0u8; 64 * 1024];
    let Ok(n) = rustix::fs::llistxattr(path, &mut list[..]) else {
        return out;
    };
    for name in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let wanted = name.starts_with(b"user.") || (is_root() && name.starts_with(b"trusted."));
        if !wanted || name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
            continue;
        }
        let mut v = vec![0u8; 64 * 1024];
        if let Ok(len) = rustix::fs::lgetxattr(path, name, &mut v[..]) {
            v.truncate(len);
            out.insert(name.to_vec(), v);
        }
    }
    out
}

/// Every path below `root` (relative), with what is compared of it, and the hard-link groups.
fn snapshot(root: &Path) -> (BTreeMap<PathBuf, Seen>, BTreeSet<Vec<PathBuf>>) {
    let mut seen = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let md = fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("below root").to_path_buf();
            let ft = md.file_type();
            let (kind, content) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else if ft.is_file() {
                ("file", fs::read(&path).expect("read"))
            } else if ft.is_symlink() {
                (
                    "symlink",
                    fs::read_link(&path)
                        .expect("readlink")
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else {
                ("special", md.rdev().to_le_bytes().to_vec())
            };
            if !ft.is_dir() && md.nlink() > 1 {
                inodes
                    .entry((md.dev(), md.ino()))
                    .or_default()
                    .push(rel.clone());
            }
            seen.insert(
                rel,
                Seen {
                    kind,
                    mode: if ft.is_symlink() {
                        0
                    } else {
                        md.permissions().mode() & 0o7777
                    },
                    uid: md.uid(),
                    gid: md.gid(),
                    mtime: (!ft.is_dir()).then(|| md.mtime()),
                    content,
                    xattrs: xattrs_of(&path),
                },
            );
        }
    }
    let groups = inodes
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    (seen, groups)
}

/// The differences between two trees (names, types, owners, modes, file mtimes, xattrs,
/// contents, symlink targets, hard-link identity); empty when they match.
pub fn compare_trees(view: &Path, oracle: &Path) -> Vec<String> {
    let (a, la) = snapshot(view);
    let (b, lb) = snapshot(oracle);
    let mut diffs = Vec::new();
    for (path, sa) in &a {
        match b.get(path) {
            None => diffs.push(format!("{}: only in the driver's view", path.display())),
            Some(sb) if sa != sb => {
                diffs.push(format!("{}: view {sa:?} oracle {sb:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        diffs.push(format!("{}: only in the oracle", path.display()));
    }
    if la != lb {
        diffs.push(format!("hard links: view {la:?} oracle {lb:?}"));
    }
    diffs
}

/// The conformance cases, one function each; [`driver_suite_tests!`](crate::driver_suite_tests)
/// makes a test of every one.
pub mod cases {
    use super::*;
    use graphdriver::{ChangeKind, ErrorKind, MountOpts};
    use std::io::Read;

    /// Two layers of dirs, files, symlinks and hard links.
    pub fn basic_chain(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[
                M::dir("etc"),
                M::file("etc/hosts", b"127.0.0.1 localhost\n"),
                M::file("etc/passwd", b"root:x:0:0\n").mode(0o600),
                M::symlink("etc/mtab", "/proc/mounts"),
                M::dir("bin"),
                M::file("bin/sh", b"#!binary").mode(0o4755),
                M::hard("bin/ash", "bin/sh"),
                M::file("data", b"xattr carrier").xattr("user.note", b"kept"),
            ]),
            tar(&[
                M::dir("usr"),
                M::dir("usr/lib"),
                M::file("usr/lib/libc.so", &[7u8; 5000]),
            ]),
        ]);
        s.check_against_oracle(&ids[0]);
        s.check_against_oracle(&ids[1]);
    }

    /// A file rewritten in the upper layer with the same size and mtime.
    pub fn file_rewritten_in_upper_layer(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::file("a", b"one1"), M::file("b", b"keep")]),
            tar(&[M::file("a", b"two2")]),
        ]);
        s.check_against_oracle(&ids[1]);
    }

    /// A directory removed and recreated in one layer: opaque, the lower entries are gone.
    pub fn dir_removed_and_recreated_opaque(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[
                M::dir("d"),
                M::file("d/a", b"a"),
                M::dir("d/sub"),
                M::file("d/sub/b", b"b"),
            ]),
            tar(&[M::dir("d"), M::opaque("d"), M::file("d/c", b"c")]),
        ]);
        s.check_against_oracle(&ids[1]);
    }

    /// The owner of a file changes in an upper layer.
    pub fn chown_across_layers(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::dir("home"), M::file("home/f", b"data")]),
            tar(&[
                M::dir("home").owner(1000, 1000),
                M::file("home/f", b"data").owner(1000, 1001),
            ]),
        ]);
        s.check_against_oracle(&ids[1]);
    }

    /// A directory's mode set differently by three layers.
    pub fn dir_permissions_across_three_layers(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::dir("d").mode(0o700), M::file("d/a", b"a")]),
            tar(&[M::dir("d").mode(0o755), M::file("d/b", b"b")]),
            tar(&[M::dir("d").mode(0o1750), M::file("d/c", b"c")]),
        ]);
        s.check_against_oracle(&ids[2]);
    }

    /// A file deleted in layer 2 does not come back in layer 3.
    pub fn deleted_in_layer2_stays_deleted_in_layer3(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[
                M::file("a", b"a"),
                M::file("b", b"b"),
                M::dir("d"),
                M::file("d/x", b"x"),
            ]),
            tar(&[M::whiteout("a"), M::whiteout("d")]),
            tar(&[M::file("c", b"c")]),
        ]);
        s.check_against_oracle(&ids[1]);
        s.check_against_oracle(&ids[2]);
    }

    /// A hard link made to a lower file (copied up with it), then the original deleted.
    pub fn hard_link_to_lower_file_after_deleting_original(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::file("orig", b"shared content")]),
            tar(&[M::file("orig", b"shared content"), M::hard("link", "orig")]),
            tar(&[M::whiteout("orig")]),
        ]);
        s.check_against_oracle(&ids[1]);
        s.check_against_oracle(&ids[2]);
    }

    /// Files and a directory renamed (deleted at the old name, added at the new one).
    pub fn renames(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::dir("old"), M::file("old/f", b"f"), M::file("x", b"x")]),
            tar(&[
                M::whiteout("old"),
                M::dir("new"),
                M::file("new/f", b"f"),
                M::whiteout("x"),
                M::file("y", b"x"),
            ]),
        ]);
        s.check_against_oracle(&ids[1]);
    }

    /// Removing a layer that has a child: a driver that tracks children refuses; one that does
    /// not (vfs: every layer is a full copy) must leave the child whole, and the store refuses.
    pub fn remove_layer_with_children(s: &mut Suite) {
        let ids = s.chain(&[tar(&[M::file("a", b"a")]), tar(&[M::file("b", b"b")])]);
        match s.driver.remove(&ids[0]) {
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Busy | ErrorKind::InvalidInput),
                "{e}"
            ),
            Ok(()) => {
                eprintln!(
                    "{}: removing a parent is not refused by the driver (the store refuses it); \
                     checking the child survives",
                    s.driver.name()
                );
                assert!(!s.driver.exists(&ids[0]));
                s.check_against_oracle(&ids[1]);
            }
        }
    }

    /// `get` twice and `put` twice: still usable after the first `put`; a third `put` is an
    /// error; a layer in use cannot be removed; a committed layer's view is read-only (EROFS)
    /// for drivers that mount.
    pub fn mount_refcount_and_read_only_view(s: &mut Suite) {
        let ids = s.chain(&[tar(&[M::file("a", b"a")])]);
        let id = &ids[0];
        let ro = MountOpts {
            read_only: true,
            ..Default::default()
        };
        let p1 = s.driver.get(id, &ro).expect("get 1");
        let p2 = s.driver.get(id, &ro).expect("get 2");
        assert_eq!(p1, p2);
        assert!(
            s.driver.remove(id).is_err(),
            "removing a layer in use must fail"
        );
        s.driver.put(id).expect("put 1");
        assert_eq!(
            fs::read(p1.join("a")).expect("still mounted after one put"),
            b"a"
        );
        if s.driver.capabilities().mounts {
            let err =
                fs::write(p1.join("new"), b"x").expect_err("a committed layer's view is read-only");
            assert_eq!(err.raw_os_error(), Some(libc_erofs()), "{err}");
            let mounted = graphdriver::mountinfo::mounts_under(&p1).expect("mountinfo");
            assert!(!mounted.is_empty(), "mounted while used");
        } else {
            eprintln!(
                "{}: no mounts, so no read-only view to check",
                s.driver.name()
            );
        }
        s.driver.put(id).expect("put 2");
        if s.driver.capabilities().mounts {
            let mounted = graphdriver::mountinfo::mounts_under(&p1).expect("mountinfo");
            assert!(mounted.is_empty(), "unmounted by the last put: {mounted:?}");
        }
        assert!(s.driver.put(id).is_err(), "a put without get must fail");
        s.driver.remove(id).expect("remove once unused");
        assert!(!s.driver.exists(id));
    }

    fn libc_erofs() -> i32 {
        rustix::io::Errno::ROFS.raw_os_error()
    }

    /// The diff of a layer, applied to a new layer on the same parent, gives the same tree.
    pub fn diff_then_apply_reproduces_layer(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[
                M::dir("d"),
                M::file("d/a", b"a"),
                M::file("gone", b"g"),
                M::dir("o"),
                M::file("o/old", b"o"),
            ]),
            tar(&[
                M::dir("d"),
                M::file("d/b", b"bb").owner(7, 8).xattr("user.x", b"1"),
                M::whiteout("gone"),
                M::dir("o"),
                M::opaque("o"),
                M::file("o/new", b"n"),
                M::symlink("s", "d/b"),
                M::file("h1", b"hard"),
                M::hard("h2", "h1"),
            ]),
        ]);
        let mut diff = Vec::new();
        s.driver
            .diff(&ids[1], Some(&ids[0]))
            .expect("diff")
            .read_to_end(&mut diff)
            .expect("read diff");
        let copy = s.layer(Some(&ids[0]), &diff);
        let a = s.driver.get(&ids[1], &Default::default()).expect("get");
        let b = s.driver.get(&copy, &Default::default()).expect("get copy");
        let diffs = compare_trees(&b, &a);
        s.driver.put(&ids[1]).expect("put");
        s.driver.put(&copy).expect("put");
        assert!(
            diffs.is_empty(),
            "re-applied diff differs:\n{}",
            diffs.join("\n")
        );
    }

    /// The changes of a layer against its parent, sorted by path.
    pub fn changes_list(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::file("a", b"a"), M::file("b", b"b"), M::file("c", b"c")]),
            tar(&[
                M::file("a", b"A!"),
                M::whiteout("b"),
                M::dir("n"),
                M::file("n/x", b"x"),
                M::file("z", b"z"),
            ]),
        ]);
        let got: Vec<(String, ChangeKind)> = s
            .driver
            .changes(&ids[1], Some(&ids[0]))
            .expect("changes")
            .into_iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
            .collect();
        let want: Vec<(String, ChangeKind)> = [
            ("/a", ChangeKind::Modify),
            ("/b", ChangeKind::Delete),
            ("/n", ChangeKind::Add),
            ("/n/x", ChangeKind::Add),
            ("/z", ChangeKind::Add),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_owned(), k))
        .collect();
        assert_eq!(got, want);
    }

    /// The diff size counts the content of added and modified files, hard links once.
    pub fn diff_size(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[M::file("a", &[1; 100])]),
            tar(&[
                M::file("a", &[2; 10]),
                M::file("b", &[3; 20]),
                M::file("c", &[4; 30]),
                M::hard("c2", "c"),
            ]),
        ]);
        assert_eq!(
            s.driver
                .diff_size(&ids[1], Some(&ids[0]))
                .expect("diff size"),
            60
        );
    }

    /// A layer whose tar adds a file and a whiteout in directories it does not list (no `home/`
    /// or `home/user/` members): the directories keep the lower layer's owner, mode and xattrs.
    pub fn members_in_unlisted_directories(s: &mut Suite) {
        let ids = s.chain(&[
            tar(&[
                M::dir("home").mode(0o751),
                M::dir("home/user")
                    .mode(0o700)
                    .owner(1000, 1000)
                    .xattr("user.d", b"1"),
                M::file("home/user/f", b"f"),
                M::dir("var").mode(0o750),
                M::dir("var/log").mode(0o1777),
                M::file("var/log/old", b"o"),
            ]),
            tar(&[M::file("home/user/new", b"n"), M::whiteout("var/log/old")]),
        ]);
        s.check_against_oracle(&ids[1]);
    }

    /// A small deterministic generator (xorshift), so a failing seed can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
        fn bytes(&mut self) -> Vec<u8> {
            let len = (self.next() % 5) as usize * 3;
            (0..len).map(|_| b'a' + (self.next() % 26) as u8).collect()
        }
    }

    /// A random base layer and a random layer of changes above it (rewrites, additions,
    /// whiteouts of files and directories, an opaque directory, mode changes, symlinks, hard
    /// links), for a dozen seeds: the top layer matches the oracle, and its diff applied on the
    /// same parent reproduces it.
    pub fn random_layers_diff_round_trip(s: &mut Suite) {
        const PLACES: [&str; 4] = ["", "a/", "a/c/", "b/"];
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut base = vec![M::dir("a"), M::dir("a/c"), M::dir("b")];
            for place in PLACES {
                for f in ["f1", "f2", "f3"] {
                    if rng.chance(70) {
                        base.push(M::file(&format!("{place}{f}"), &rng.bytes()).mode(0o640));
                    }
                }
            }
            base.push(M::symlink("s1", "a/f1"));
            let mut top = Vec::new();
            let gone_b = rng.chance(30);
            let opaque_c = rng.chance(40);
            if rng.chance(50) {
                top.push(M::dir("a").mode(0o750));
            } else if opaque_c {
                top.push(M::dir("a"));
            }
            if opaque_c {
                top.push(M::dir("a/c"));
                top.push(M::opaque("a/c"));
                top.push(M::file("a/c/h1", &rng.bytes()));
            }
            if gone_b {
                top.push(M::whiteout("b"));
            }
            let mut rewritten = None;
            for place in PLACES {
                if (gone_b && place == "b/") || (opaque_c && place == "a/c/") {
                    continue;
                }
                for f in ["f1", "f2", "f3"] {
                    let path = format!("{place}{f}");
                    match rng.next() % 4 {
                        0 => {
                            top.push(M::file(&path, &rng.bytes()));
                            rewritten.get_or_insert(path);
                        }
                        1 => top.push(M::whiteout(&path)),
                        _ => {}
                    }
                }
                if rng.chance(40) {
                    top.push(M::file(&format!("{place}g1"), &rng.bytes()).owner(1, 2));
                }
            }
            if let Some(target) = rewritten {
                top.push(M::hard("hl", &target));
            }
            if rng.chance(50) {
                top.push(M::symlink("s2", "b/f2"));
            }
            // A fresh oracle for each seed's chain.
            s.oracle = s.tmp.path().join(format!("oracle-seed-{seed}"));
            fs::create_dir(&s.oracle).expect("oracle");
            let ids = s.chain(&[tar(&base), tar(&top)]);
            s.check_against_oracle(&ids[1]);
            let mut diff = Vec::new();
            s.driver
                .diff(&ids[1], Some(&ids[0]))
                .expect("diff")
                .read_to_end(&mut diff)
                .expect("read diff");
            let copy = s.layer(Some(&ids[0]), &diff);
            let a = s.driver.get(&ids[1], &Default::default()).expect("get");
            let b = s.driver.get(&copy, &Default::default()).expect("get copy");
            let diffs = compare_trees(&b, &a);
            s.driver.put(&ids[1]).expect("put");
            s.driver.put(&copy).expect("put");
            assert!(
                diffs.is_empty(),
                "seed {seed}: re-applied diff differs:\n{}",
                diffs.join("\n")
            );
        }
    }

    /// 128 layers, each adding a file, rewriting a shared one and deleting its predecessor's.
    pub fn stacked_128_layers(s: &mut Suite) {
        let tars: Vec<Vec<u8>> = (0..128)
            .map(|i| {
                let mut m = vec![
                    M::file(&format!("layer-{i:03}"), format!("{i}").as_bytes()),
                    M::file("counter", format!("{i:04}").as_bytes()),
                ];
                if i > 0 && i % 2 == 0 {
                    m.push(M::whiteout(&format!("layer-{:03}", i - 1)));
                }
                tar(&m)
            })
            .collect();
        let ids = s.chain(&tars);
        s.check_against_oracle(&ids[127]);
    }
}
