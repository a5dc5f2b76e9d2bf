//! Unit tests of the apply engine on small archives written with [`crate::tar_writer`].

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar_split::{EntryKind, Header, NullSink, SparseMap, SparseRegion, TarReader, Timestamp};

use super::{apply_tar, Applier, ApplyOptions, WhiteoutMode};
use crate::tar_writer::{EntryMeta, TarWriter};
use crate::DriverError;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn file(path: &str, data: &[u8]) -> (EntryMeta, Vec<u8>) {
    let mut m = EntryMeta::new(EntryKind::Regular, path);
    m.size = data.len() as u64;
    (m, data.to_vec())
}

fn node(kind: EntryKind, path: &str, link: &str) -> (EntryMeta, Vec<u8>) {
    let mut m = EntryMeta::new(kind, path);
    m.link_name = link.as_bytes().to_vec();
    (m, Vec::new())
}

fn tar(entries: &[(EntryMeta, Vec<u8>)]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for (m, d) in entries {
        w.append(m, &mut &d[..]).unwrap();
    }
    w.finish().unwrap()
}

fn apply(root: &Path, bytes: &[u8], mode: WhiteoutMode) -> crate::Result<u64> {
    let mut r = TarReader::new(bytes, NullSink);
    apply_tar(root, &mut r, &ApplyOptions::new("test-layer", mode))
}

/// A layer directory and a sentinel tree beside it that no tar may touch.
struct Fixture {
    _tmp: tempfile::TempDir,
    layer: std::path::PathBuf,
    outside: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir(&layer).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), b"original").unwrap();
        Self {
            _tmp: tmp,
            layer,
            outside,
        }
    }

    fn outside_untouched(&self) {
        assert_eq!(fs::read(self.outside.join("victim")).unwrap(), b"original");
        assert_eq!(fs::read_dir(&self.outside).unwrap().count(), 1);
    }
}

#[test]
fn restores_kinds_modes_times_and_xattrs() {
    let fx = Fixture::new();
    let mut d = node(EntryKind::Directory, "etc/", "");
    d.0.mode = 0o750;
    d.0.mtime = 1_000_000;
    let mut f = file("etc/passwd", b"root:x:0:0\n");
    f.0.mode = 0o4755;
    f.0.mtime = 2_000_000;
    f.0.uid = 1000;
    f.0.gid = 1001;
    f.0.xattrs = vec![(b"user.test".to_vec(), b"value".to_vec())];
    let size = apply(
        &fx.layer,
        &tar(&[
            d,
            f,
            node(EntryKind::Symlink, "etc/link", "/etc/passwd"),
            node(EntryKind::HardLink, "etc/hard", "etc/passwd"),
            node(EntryKind::Fifo, "etc/fifo", ""),
            file("implicit/parent/file", b"x"),
        ]),
        WhiteoutMode::Delete,
    )
    .unwrap();
    assert_eq!(size, 12);
    let etc = fx.layer.join("etc");
    let md = fs::symlink_metadata(&etc).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o750);
    assert_eq!(md.mtime(), 1_000_000);
    let pm = fs::symlink_metadata(etc.join("passwd")).unwrap();
    assert_eq!(pm.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(pm.mtime(), 2_000_000);
    assert_eq!(pm.nlink(), 2);
    if is_root() {
        assert_eq!((pm.uid(), pm.gid()), (1000, 1001));
    }
    let mut v = [0u8; 16];
    let n = rustix::fs::lgetxattr(etc.join("passwd"), "user.test", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"value");
    assert_eq!(
        fs::read_link(etc.join("link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(fs::symlink_metadata(etc.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::read(fx.layer.join("implicit/parent/file")).unwrap(),
        b"x"
    );
}

#[test]
fn names_are_confined_and_symlinks_never_followed() {
    let fx = Fixture::new();
    let out = fx.outside.to_str().unwrap();
    // A lower layer's symlink (the parser refuses a name twice in one tar).
    std::os::unix::fs::symlink(fx.outside.join("victim"), fx.layer.join("s")).unwrap();
    apply(
        &fx.layer,
        &tar(&[
            file("../../victim", b"dotdot"),
            file("/abs", b"abs"),
            file("s", b"over symlink"),
            node(EntryKind::Symlink, "d", out),
            file("d/victim", b"beneath dir symlink"),
            node(EntryKind::Symlink, "rel", "../outside"),
            file("rel/victim", b"relative"),
        ]),
        WhiteoutMode::Delete,
    )
    .unwrap();
    fx.outside_untouched();
    assert_eq!(fs::read(fx.layer.join("victim")).unwrap(), b"dotdot");
    assert_eq!(fs::read(fx.layer.join("abs")).unwrap(), b"abs");
    assert_eq!(fs::read(fx.layer.join("s")).unwrap(), b"over symlink");
    assert!(fs::symlink_metadata(fx.layer.join("d")).unwrap().is_dir());
    assert_eq!(fs::read(fx.layer.join("rel/victim")).unwrap(), b"relative");
}

#[test]
fn hard_links_must_resolve_inside_without_symlinks() {
    let fx = Fixture::new();
    let out = fx.outside.to_str().unwrap();
    let err = apply(
        &fx.layer,
        &tar(&[
            node(EntryKind::Symlink, "d", out),
            node(EntryKind::HardLink, "h", "d/victim"),
        ]),
        WhiteoutMode::Delete,
    )
    .unwrap_err();
    assert!(
        matches!(err, DriverError::Apply { ref entry, .. } if entry == "h"),
        "{err}"
    );
    let fx2 = Fixture::new();
    assert!(apply(
        &fx2.layer,
        &tar(&[node(EntryKind::HardLink, "h", "../outside/victim")]),
        WhiteoutMode::Delete,
    )
    .is_err());
    fx.outside_untouched();
    fx2.outside_untouched();
}

#[test]
fn refuses_overlay_xattrs_and_dotdot_whiteouts() {
    let fx = Fixture::new();
    let mut f = file("f", b"");
    f.0.xattrs = vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())];
    let err = apply(&fx.layer, &tar(&[f]), WhiteoutMode::Overlay).unwrap_err();
    assert!(err.to_string().contains("trusted.overlay.opaque"), "{err}");
    let mut f = file("g", b"");
    f.0.xattrs = vec![(b"user.overlay.redirect".to_vec(), b"/x".to_vec())];
    assert!(apply(&fx.layer, &tar(&[f]), WhiteoutMode::Delete).is_err());
    for name in [".wh...", "a/../.wh.x", ".wh..", "../.wh.outside"] {
        let err = apply(&fx.layer, &tar(&[file(name, b"")]), WhiteoutMode::Delete).unwrap_err();
        assert!(matches!(err, DriverError::Apply { .. }), "{name}: {err}");
    }
    fx.outside_untouched();
}

#[test]
fn delete_mode_whiteouts_and_opaque_directories() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.layer.join("dir/sub")).unwrap();
    fs::write(fx.layer.join("dir/old"), b"old").unwrap();
    fs::write(fx.layer.join("dir/sub/old"), b"old").unwrap();
    fs::write(fx.layer.join("gone"), b"x").unwrap();
    fs::create_dir_all(fx.layer.join("gonedir/x")).unwrap();
    apply(
        &fx.layer,
        &tar(&[
            node(EntryKind::Directory, "dir/", ""),
            file("dir/new", b"new"),
            file("dir/sub/newer", b"n"),
            file("dir/.wh..wh..opq", b""),
            file(".wh.gone", b""),
            file(".wh.gonedir", b""),
            file(".wh.never-existed", b""),
            file(".wh..wh.plnk/123", b"aufs"),
        ]),
        WhiteoutMode::Delete,
    )
    .unwrap();
    let mut names: Vec<_> = walk(&fx.layer);
    names.sort();
    assert_eq!(names, vec!["dir", "dir/new", "dir/sub", "dir/sub/newer"]);
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn overlay_mode_whiteouts_become_devices_and_xattrs() {
    if !is_root() {
        eprintln!("skipped: overlay whiteouts need root (mknod 0/0, trusted.* xattrs)");
        return;
    }
    let fx = Fixture::new();
    apply(
        &fx.layer,
        &tar(&[
            node(EntryKind::Directory, "dir/", ""),
            file("dir/.wh..wh..opq", b""),
            file(".wh.gone", b""),
        ]),
        WhiteoutMode::Overlay,
    )
    .unwrap();
    let md = fs::symlink_metadata(fx.layer.join("gone")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    let mut v = [0u8; 4];
    let n =
        rustix::fs::lgetxattr(fx.layer.join("dir"), "trusted.overlay.opaque", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"y");
}

#[test]
fn paths_deeper_than_path_max() {
    let fx = Fixture::new();
    let deep = vec!["c".repeat(50); 120].join("/");
    let path = format!("{deep}/file");
    apply(
        &fx.layer,
        &tar(&[file(&path, b"deep")]),
        WhiteoutMode::Delete,
    )
    .unwrap();
    assert!(path.len() > 4096);
    crate::fsutil::remove_all(&fx.layer).unwrap();
}

#[test]
fn sparse_members_keep_their_holes() {
    let fx = Fixture::new();
    let opts = ApplyOptions::new("sparse", WhiteoutMode::Delete);
    let mut a = Applier::new(&fx.layer, &opts).unwrap();
    let header = Header {
        kind: EntryKind::Regular,
        path: b"sparse".to_vec(),
        link_name: Vec::new(),
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: Vec::new(),
        gname: Vec::new(),
        mtime: Timestamp::default(),
        atime: None,
        dev_major: 0,
        dev_minor: 0,
        xattrs: Vec::new(),
        size: 64 << 20,
        sparse: Some(SparseMap {
            regions: vec![
                SparseRegion {
                    offset: 0,
                    length: 4,
                },
                SparseRegion {
                    offset: 32 << 20,
                    length: 4,
                },
            ],
            real_size: 64 << 20,
        }),
    };
    a.apply(&header, &mut &b"headtail"[..]).unwrap();
    assert_eq!(a.finish().unwrap(), 64 << 20);
    let p = fx.layer.join("sparse");
    let md = fs::metadata(&p).unwrap();
    assert_eq!(md.len(), 64 << 20);
    assert!(md.blocks() * 512 < 1 << 20, "{} blocks", md.blocks());
    let mut f = fs::File::open(&p).unwrap();
    let mut head = [0u8; 4];
    f.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"head");
}

#[test]
fn implicit_directories_take_their_parent_layers_attributes() {
    let fx = Fixture::new();
    let lower = fx.layer.parent().unwrap().join("lower");
    fs::create_dir_all(lower.join("a/b")).unwrap();
    fs::set_permissions(lower.join("a/b"), fs::Permissions::from_mode(0o750)).unwrap();
    rustix::fs::lsetxattr(
        lower.join("a/b"),
        "user.kept",
        b"1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    if is_root() {
        std::os::unix::fs::lchown(lower.join("a/b"), Some(1000), Some(1000)).unwrap();
    }
    let mut opts = ApplyOptions::new("upper", WhiteoutMode::Overlay);
    opts.lower_dirs = vec![lower.clone()];
    let bytes = tar(&[file("a/b/c", b"c"), file("x/y", b"y")]);
    let mut r = TarReader::new(&bytes[..], NullSink);
    apply_tar(&fx.layer, &mut r, &opts).unwrap();
    let md = fs::symlink_metadata(fx.layer.join("a/b")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o750);
    if is_root() {
        assert_eq!((md.uid(), md.gid()), (1000, 1000));
    }
    let mut v = [0u8; 4];
    let n = rustix::fs::lgetxattr(fx.layer.join("a/b"), "user.kept", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"1");
    // Not in any parent layer: the default.
    let md = fs::symlink_metadata(fx.layer.join("x")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn unprivileged_applies_into_read_only_parent_directories() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.layer.join("ro/keep")).unwrap();
    fs::write(fx.layer.join("ro/gone"), b"g").unwrap();
    for d in ["ro/keep", "ro"] {
        fs::set_permissions(fx.layer.join(d), fs::Permissions::from_mode(0o555)).unwrap();
    }
    let mut opts = ApplyOptions::new("unprivileged", WhiteoutMode::Delete);
    opts.privileged = false;
    let bytes = tar(&[
        file("ro/new", b"n"),
        file("ro/sub/x", b"x"),
        file("ro/keep/y", b"y"),
        file("ro/.wh.gone", b""),
    ]);
    let mut r = TarReader::new(&bytes[..], NullSink);
    apply_tar(&fx.layer, &mut r, &opts).unwrap();
    for d in ["ro", "ro/keep"] {
        let mode = fs::symlink_metadata(fx.layer.join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o555, "{d}");
    }
    assert_eq!(fs::read(fx.layer.join("ro/sub/x")).unwrap(), b"x");
    assert_eq!(fs::read(fx.layer.join("ro/keep/y")).unwrap(), b"y");
    assert!(!fx.layer.join("ro/gone").exists());
    crate::fsutil::remove_all(&fx.layer).unwrap();
}

#[test]
fn device_nodes_only_when_privileged() {
    let fx = Fixture::new();
    let mut dev = node(EntryKind::CharDevice, "null", "");
    dev.0.dev = (1, 3);
    dev.0.mode = 0o666;
    let mut blk = node(EntryKind::BlockDevice, "loop9", "");
    blk.0.dev = (7, 9);
    let bytes = tar(&[dev, blk]);
    let mut opts = ApplyOptions::new("dev", WhiteoutMode::Delete);
    opts.privileged = false;
    let mut r = TarReader::new(&bytes[..], NullSink);
    apply_tar(&fx.layer, &mut r, &opts).unwrap();
    assert!(
        !fx.layer.join("null").exists(),
        "unprivileged applies leave devices out"
    );
    if !is_root() {
        eprintln!("skipped the privileged half: mknod needs root");
        return;
    }
    opts.privileged = true;
    let mut r = TarReader::new(&bytes[..], NullSink);
    apply_tar(&fx.layer, &mut r, &opts).unwrap();
    let md = fs::symlink_metadata(fx.layer.join("null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(md.permissions().mode() & 0o7777, 0o666);
    let md = fs::symlink_metadata(fx.layer.join("loop9")).unwrap();
    assert!(md.file_type().is_block_device());
    assert_eq!(md.rdev(), rustix::fs::makedev(7, 9));
}
