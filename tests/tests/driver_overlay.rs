//! The overlay driver for real: the driver conformance suite, then what is the overlay driver's
//! own: layout on disk, counted and adopted mounts, read-only views, whiteout and opaque
//! conversion both ways, deep chains with both mount APIs, and start-up refusals. Every test
//! needs root and overlayfs; without them it says why and returns.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::{ChangeKind, CreateOpts, Driver, DriverError, ErrorKind, MountOpts};
use graphdriver_overlay::{MountApi, OverlayDriver, OverlayOptions};
use tar_split::{NullSink, TarReader};

/// A driver in a fresh temporary home on the system's temporary directory (the backing
/// filesystem production hosts have, ext4 here), or `None` (with the reason printed) where
/// overlayfs cannot run.
fn driver(api: MountApi) -> Option<(tempfile::TempDir, OverlayDriver)> {
    driver_in(api, None)
}

/// [`driver`] below `base` when given: deep chains use a tmpfs, where the `fsync` each created
/// layer costs is free (on a disk shared with busy builds it dominates the test's time).
fn driver_in(api: MountApi, base: Option<PathBuf>) -> Option<(tempfile::TempDir, OverlayDriver)> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the overlay driver needs root to mount");
        return None;
    }
    let tmp = match base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .unwrap();
    match OverlayDriver::new(
        &tmp.path().join("overlay"),
        OverlayOptions {
            mount_api: api,
            ..Default::default()
        },
    ) {
        Ok(d) => Some((tmp, d)),
        Err(
            err @ (DriverError::NotSupported { .. } | DriverError::PrerequisitesMissing { .. }),
        ) => {
            eprintln!("skipped: overlay unavailable here: {err}");
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// The suite's factory: an overlay driver in `home`, or `None` where overlayfs cannot run.
fn overlay(home: &Path) -> Option<Arc<dyn Driver>> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the overlay driver needs root to mount");
        return None;
    }
    match OverlayDriver::new(home, OverlayOptions::default()) {
        Ok(d) => Some(Arc::new(d)),
        Err(err) if err.kind() == ErrorKind::NotSupported => {
            eprintln!("skipped: overlay unavailable here: {err}");
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// The conformance suite, one test per case, on a tmpfs when there is one (overlayfs works the
/// same over it; the per-layer `syncfs` is free there).
mod suite {
    use super::overlay;
    store_tests::driver_suite_tests!(overlay, tmp = store_tests::driver_suite::fast_tmp());
}

/// The hostile-tar suite: every tar refused or confined to the layer's `diff/`.
mod hostile {
    use super::overlay;
    store_tests::hostile_tar_tests!(overlay, tmp = store_tests::driver_suite::fast_tmp());
}

/// One member of a test tar.
enum Member<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
}

fn tar_of(members: &[Member<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match m {
            Member::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
            Member::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Creates layer `id` above `parent` from `tar`, complete.
fn layer(d: &OverlayDriver, id: &str, parent: Option<&str>, tar: &[u8]) {
    unfinished_layer(d, id, parent, tar);
    d.finalize(id).unwrap();
}

/// Creates layer `id` above `parent` from `tar`, left without `finalize`: deep chains skip the
/// per-layer `syncfs`, which would dominate the test's time and mounting does not depend on.
fn unfinished_layer(d: &OverlayDriver, id: &str, parent: Option<&str>, tar: &[u8]) {
    d.create(id, parent, &CreateOpts::default()).unwrap();
    let mut reader = TarReader::new(Cursor::new(tar), NullSink);
    d.apply_diff(id, parent, &mut reader).unwrap();
    reader.finish().unwrap();
}

/// How many mounts sit exactly on `path`.
fn mounts_at(path: &Path) -> usize {
    graphdriver::mountinfo::mounts()
        .unwrap()
        .iter()
        .filter(|m| m.mount_point == path)
        .count()
}

fn home(tmp: &tempfile::TempDir) -> PathBuf {
    std::fs::canonicalize(tmp.path().join("overlay")).unwrap()
}

#[test]
fn layout_files_links_and_lower_chain() {
    let Some((tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    let home = home(&tmp);
    layer(&d, "base", None, &tar_of(&[Member::File("a", b"1")]));
    layer(&d, "mid", Some("base"), &tar_of(&[Member::File("b", b"2")]));
    layer(&d, "top", Some("mid"), &tar_of(&[Member::File("c", b"3")]));
    let short = |id: &str| std::fs::read_to_string(home.join(id).join("link")).unwrap();
    for id in ["base", "mid", "top"] {
        for sub in ["diff", "work", "merged"] {
            assert!(home.join(id).join(sub).is_dir(), "{id}/{sub}");
        }
        let s = short(id);
        assert_eq!(s.len(), 26);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{s}"
        );
        assert_eq!(
            std::fs::read_link(home.join("l").join(&s)).unwrap(),
            Path::new("..").join(id).join("diff")
        );
        assert!(!home.join(format!("{id}.incomplete")).exists());
    }
    assert!(!home.join("base/lower").exists());
    assert_eq!(
        std::fs::read_to_string(home.join("mid/lower")).unwrap(),
        format!("l/{}", short("base"))
    );
    assert_eq!(
        std::fs::read_to_string(home.join("top/lower")).unwrap(),
        format!("l/{}:l/{}", short("mid"), short("base"))
    );
    assert_eq!(std::fs::read(home.join("top/diff/c")).unwrap(), b"3");
    let meta = d.metadata("top").unwrap();
    assert_eq!(
        meta["LowerDir"],
        format!(
            "{}:{}",
            home.join("mid/diff").display(),
            home.join("base/diff").display()
        )
    );
    assert_eq!(
        meta["UpperDir"],
        home.join("top/diff").display().to_string()
    );
    assert_eq!(meta["WorkDir"], home.join("top/work").display().to_string());
    assert_eq!(
        meta["MergedDir"],
        home.join("top/merged").display().to_string()
    );
    let status: BTreeMap<_, _> = d.status().into_iter().collect();
    assert!(!status["Backing Filesystem"].is_empty());
    assert_eq!(status["Native Overlay Diff"], "true");
    assert_eq!(status["Supports d_type"], "true");
    d.remove("top").unwrap();
    assert!(!home.join("top").exists());
    assert_eq!(std::fs::read_dir(home.join("l")).unwrap().count(), 2);
}

#[test]
fn mounts_are_counted_and_the_last_put_unmounts() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(&d, "a", None, &tar_of(&[Member::File("f", b"x")]));
    let merged = d.get("a", &MountOpts::default()).unwrap();
    assert_eq!(d.get("a", &MountOpts::default()).unwrap(), merged);
    assert_eq!(mounts_at(&merged), 1);
    d.put("a").unwrap();
    assert_eq!(mounts_at(&merged), 1);
    assert_eq!(d.remove("a").unwrap_err().kind(), ErrorKind::Busy);
    d.put("a").unwrap();
    assert_eq!(mounts_at(&merged), 0);
    assert!(matches!(d.put("a"), Err(DriverError::NotMounted { .. })));
    d.remove("a").unwrap();
}

#[test]
fn concurrent_users_of_layers_mount_each_once() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(&d, "a", None, &tar_of(&[Member::File("f", b"x")]));
    layer(&d, "b", Some("a"), &tar_of(&[Member::File("g", b"y")]));
    let d = Arc::new(d);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || {
                let id = if i % 2 == 0 { "a" } else { "b" };
                let view = d.get(id, &MountOpts::default()).unwrap();
                assert_eq!(std::fs::read(view.join("f")).unwrap(), b"x");
                view
            })
        })
        .collect();
    let views: Vec<PathBuf> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for view in &views[..2] {
        assert_eq!(mounts_at(view), 1, "{}", view.display());
    }
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || d.put(if i % 2 == 0 { "a" } else { "b" }).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for view in &views[..2] {
        assert_eq!(mounts_at(view), 0, "{}", view.display());
    }
}

#[test]
fn a_mount_left_by_an_earlier_driver_is_adopted() {
    let Some((tmp, first)) = driver(MountApi::Auto) else {
        return;
    };
    layer(&first, "a", None, &tar_of(&[Member::File("f", b"x")]));
    let merged = first.get("a", &MountOpts::default()).unwrap();
    // The process "restarts": the driver goes away without unmounting.
    drop(first);
    let second =
        OverlayDriver::new(&tmp.path().join("overlay"), OverlayOptions::default()).unwrap();
    assert_eq!(second.get("a", &MountOpts::default()).unwrap(), merged);
    assert_eq!(mounts_at(&merged), 1, "mounted twice");
    assert_eq!(std::fs::read(merged.join("f")).unwrap(), b"x");
    // Our user goes; cleanup leaves what this driver did not mount.
    second.put("a").unwrap();
    second.cleanup().unwrap();
    assert_eq!(mounts_at(&merged), 1);
    // The adopted user (the earlier process's) is dropped by one more put.
    second.put("a").unwrap();
    assert_eq!(mounts_at(&merged), 0);
}

#[test]
fn cleanup_unmounts_everything_the_driver_mounted() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(&d, "a", None, &tar_of(&[Member::File("f", b"x")]));
    d.create_read_write("rw", Some("a"), &CreateOpts::default())
        .unwrap();
    let a = d.get("a", &MountOpts::default()).unwrap();
    let rw = d.get("rw", &MountOpts::default()).unwrap();
    d.get("rw", &MountOpts::default()).unwrap();
    d.cleanup().unwrap();
    assert_eq!(mounts_at(&a) + mounts_at(&rw), 0);
}

#[test]
fn committed_layers_mount_as_read_only_views() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(
        &d,
        "a",
        None,
        &tar_of(&[Member::Dir("d"), Member::File("d/f", b"x")]),
    );
    layer(&d, "b", Some("a"), &tar_of(&[Member::File("g", b"y")]));
    for id in ["a", "b"] {
        let view = d.get(id, &MountOpts::default()).unwrap();
        assert_eq!(std::fs::read(view.join("d/f")).unwrap(), b"x");
        for attempt in [
            std::fs::write(view.join("new"), b"z"),
            std::fs::write(view.join("d/f"), b"z"),
            std::fs::remove_file(view.join("d/f")),
        ] {
            assert_eq!(
                attempt.unwrap_err().raw_os_error(),
                Some(libc_erofs()),
                "{id}"
            );
        }
        d.put(id).unwrap();
    }
}

fn libc_erofs() -> i32 {
    rustix::io::Errno::ROFS.raw_os_error()
}

#[test]
fn read_write_layers_write_into_their_diff() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(
        &d,
        "a",
        None,
        &tar_of(&[Member::File("f", b"x"), Member::File("keep", b"k")]),
    );
    d.create_read_write("rw", Some("a"), &CreateOpts::default())
        .unwrap();
    let merged = d.get("rw", &MountOpts::default()).unwrap();
    std::fs::write(merged.join("new"), b"n").unwrap();
    std::fs::write(merged.join("keep"), b"changed").unwrap();
    std::fs::remove_file(merged.join("f")).unwrap();
    d.put("rw").unwrap();
    let diff = PathBuf::from(&d.metadata("rw").unwrap()["UpperDir"]);
    assert_eq!(std::fs::read(diff.join("new")).unwrap(), b"n");
    let wh = std::fs::symlink_metadata(diff.join("f")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let changes: Vec<_> = d
        .changes("rw", Some("a"))
        .unwrap()
        .into_iter()
        .map(|c| (String::from_utf8(c.path).unwrap(), c.kind))
        .collect();
    assert_eq!(
        changes,
        [
            ("/f".into(), ChangeKind::Delete),
            ("/keep".into(), ChangeKind::Modify),
            ("/new".into(), ChangeKind::Add),
        ]
    );
    assert_eq!(d.diff_size("rw", Some("a")).unwrap(), 8);
}

/// An OCI whiteout and an opaque directory land in overlay form, hide the lower files in the
/// mounted view, and come back in OCI form from the native diff.
#[test]
fn whiteouts_and_opaque_directories_convert_both_ways() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(
        &d,
        "a",
        None,
        &tar_of(&[
            Member::File("gone", b"g"),
            Member::Dir("dir"),
            Member::File("dir/old", b"o"),
            Member::File("kept", b"k"),
        ]),
    );
    let oci = tar_of(&[
        Member::File(".wh.gone", b""),
        Member::Dir("dir"),
        Member::File("dir/.wh..wh..opq", b""),
        Member::File("dir/new", b"n"),
    ]);
    layer(&d, "b", Some("a"), &oci);
    let diff = PathBuf::from(&d.metadata("b").unwrap()["UpperDir"]);
    let wh = std::fs::symlink_metadata(diff.join("gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout"
    );
    assert!(!diff.join(".wh.gone").exists());
    assert!(!diff.join("dir/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&diff.join("dir"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    let view = d.get("b", &MountOpts::default()).unwrap();
    assert!(!view.join("gone").exists());
    assert!(!view.join("dir/old").exists());
    assert_eq!(std::fs::read(view.join("dir/new")).unwrap(), b"n");
    assert_eq!(std::fs::read(view.join("kept")).unwrap(), b"k");
    d.put("b").unwrap();

    let changes: Vec<_> = d
        .changes("b", Some("a"))
        .unwrap()
        .into_iter()
        .map(|c| (String::from_utf8(c.path).unwrap(), c.kind))
        .collect();
    assert_eq!(
        changes,
        [
            ("/dir".into(), ChangeKind::Modify),
            ("/dir/new".into(), ChangeKind::Add),
            ("/dir/old".into(), ChangeKind::Delete),
            ("/gone".into(), ChangeKind::Delete),
        ]
    );

    let mut diff_tar = Vec::new();
    d.diff("b", Some("a"))
        .unwrap()
        .read_to_end(&mut diff_tar)
        .unwrap();
    let mut names = Vec::new();
    for entry in tar::Archive::new(Cursor::new(diff_tar)).entries().unwrap() {
        let entry = entry.unwrap();
        names.push(
            entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
        );
        assert!(
            entry.header().entry_type() != tar::EntryType::Char,
            "a raw whiteout leaked"
        );
    }
    names.sort();
    let mut expected = ["dir", "dir/.wh..wh..opq", "dir/new", ".wh.gone"].map(String::from);
    expected.sort();
    assert_eq!(names, expected);
}

/// What a container does through a read-write mount (kernel-made whiteouts, an opaque directory
/// from `rm -r` then `mkdir`, copy-ups, a rename) comes back from the native diff as an OCI tar
/// that, applied as a new layer on the same parent, shows the same tree.
#[test]
fn container_writes_diff_back_to_an_equivalent_layer() {
    let Some((_tmp, d)) = driver(MountApi::Auto) else {
        return;
    };
    layer(
        &d,
        "base",
        None,
        &tar_of(&[
            Member::Dir("d"),
            Member::File("d/a", b"a"),
            Member::Dir("d/sub"),
            Member::File("d/sub/b", b"b"),
            Member::Dir("e"),
            Member::File("e/x", b"x"),
            Member::File("f", b"f"),
            Member::File("g", b"g"),
        ]),
    );
    d.create_read_write("rw", Some("base"), &CreateOpts::default())
        .unwrap();
    let m = d.get("rw", &MountOpts::default()).unwrap();
    std::fs::write(m.join("n"), b"new").unwrap();
    std::fs::write(m.join("f"), b"changed").unwrap();
    std::fs::remove_file(m.join("g")).unwrap();
    std::fs::remove_dir_all(m.join("d")).unwrap();
    std::fs::create_dir(m.join("d")).unwrap();
    std::fs::write(m.join("d/c"), b"c").unwrap();
    std::fs::rename(m.join("e/x"), m.join("e/y")).unwrap();
    std::os::unix::fs::chown(m.join("e"), Some(7), Some(8)).unwrap();
    // redirect_dir=off: a lower directory cannot be renamed in place (tools copy instead).
    let err = std::fs::rename(m.join("e"), m.join("e2")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::XDEV.raw_os_error())
    );
    d.put("rw").unwrap();

    let mut diff = Vec::new();
    d.diff("rw", Some("base"))
        .unwrap()
        .read_to_end(&mut diff)
        .unwrap();
    let mut names = Vec::new();
    for entry in tar::Archive::new(Cursor::new(&diff)).entries().unwrap() {
        let entry = entry.unwrap();
        names.push(
            entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
        );
    }
    for wanted in [".wh.g", "d/.wh..wh..opq", "e/.wh.x", "e/y", "n", "f", "d/c"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} not in {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("d/a") || n.starts_with("d/sub")),
        "{names:?}"
    );

    layer(&d, "copy", Some("base"), &diff);
    let ro = MountOpts {
        read_only: true,
        ..Default::default()
    };
    let original = d.get("rw", &ro).unwrap();
    let copy = d.get("copy", &ro).unwrap();
    let differences = store_tests::driver_suite::compare_trees(&copy, &original);
    d.put("rw").unwrap();
    d.put("copy").unwrap();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    rustix::fs::lgetxattr(path, name, &mut buf)
        .ok()
        .map(|n| buf[..n].to_vec())
}

/// A chain of `depth` layers, each adding `f<i>` and rewriting `top`, mounted as a read-only
/// view of its top: every file shows, and `top` holds the last layer's content.
fn deep_chain(api: MountApi, depth: usize) {
    let Some((_tmp, d)) = driver_in(api, store_tests::driver_suite::fast_tmp()) else {
        return;
    };
    assert!(
        d.capabilities().max_depth >= depth,
        "{:?}",
        d.capabilities()
    );
    let mut parent: Option<String> = None;
    for i in 0..depth {
        let id = format!("layer{i:03}");
        let name = format!("f{i}");
        let content = i.to_string();
        let tar = tar_of(&[
            Member::File(&name, content.as_bytes()),
            Member::File("top", content.as_bytes()),
        ]);
        unfinished_layer(&d, &id, parent.as_deref(), &tar);
        parent = Some(id);
    }
    let top = parent.unwrap();
    let view = d.get(&top, &MountOpts::default()).unwrap();
    for i in 0..depth {
        assert_eq!(
            std::fs::read_to_string(view.join(format!("f{i}"))).unwrap(),
            i.to_string()
        );
    }
    assert_eq!(
        std::fs::read_to_string(view.join("top")).unwrap(),
        (depth - 1).to_string()
    );
    d.put(&top).unwrap();
    // A read-write layer on top mounts too (the chain plus an upper).
    if depth < d.capabilities().max_depth {
        d.create_read_write("rw", Some(&top), &CreateOpts::default())
            .unwrap();
        let merged = d.get("rw", &MountOpts::default()).unwrap();
        std::fs::write(merged.join("written"), b"w").unwrap();
        assert_eq!(std::fs::read_to_string(merged.join("f0")).unwrap(), "0");
        d.put("rw").unwrap();
    }
}

#[test]
fn chain_of_128_layers_mounts_with_the_new_api() {
    deep_chain(MountApi::Auto, 128);
}

#[test]
fn chain_of_128_layers_mounts_with_the_legacy_option_string() {
    deep_chain(MountApi::Legacy, 128);
}

#[test]
fn chain_of_500_layers_mounts_with_the_new_api() {
    deep_chain(MountApi::New, 500);
}

#[test]
fn chains_deeper_than_the_limit_are_refused_at_create() {
    let Some((_tmp, d)) = driver(MountApi::Legacy) else {
        return;
    };
    let max = d.capabilities().max_depth;
    assert!((125..500).contains(&max), "{max}");
    let mut parent: Option<String> = None;
    for i in 0..max {
        let id = format!("l{i}");
        d.create(&id, parent.as_deref(), &CreateOpts::default())
            .unwrap();
        parent = Some(id);
    }
    let err = d
        .create("one-too-many", parent.as_deref(), &CreateOpts::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
}

#[test]
fn a_home_on_overlayfs_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to mount");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(tmp.path().join(dir)).unwrap();
    }
    let p = |d: &str| tmp.path().join(d).display().to_string();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        p("lower"),
        p("upper"),
        p("work")
    );
    let merged = tmp.path().join("merged");
    if let Err(err) = rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::empty(),
        std::ffi::CString::new(data).unwrap().as_c_str(),
    ) {
        eprintln!("skipped: cannot mount overlayfs here: {err}");
        return;
    }
    let result = OverlayDriver::new(&merged.join("overlay"), OverlayOptions::default());
    rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::empty()).unwrap();
    match result {
        Err(DriverError::IncompatibleFs { reason, .. }) => {
            assert!(reason.contains("overlay"), "{reason}")
        }
        other => panic!("expected IncompatibleFs, got {:?}", other.map(|_| ())),
    }
}

/// A filesystem whose directory entries carry no file type (ext4 made without `filetype`, as
/// xfs with `ftype=0`) is refused with the reason.
#[test]
fn a_backing_fs_without_d_type_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to mount a loop device");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("no-dtype.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
        std::process::Command::new(cmd)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (image_arg, mnt_arg) = (image.as_os_str(), mnt.as_os_str());
    let made = run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-O".as_ref(),
            "^filetype".as_ref(),
            image_arg,
        ],
    );
    if !made
        || !run(
            "mount",
            &["-o".as_ref(), "loop".as_ref(), image_arg, mnt_arg],
        )
    {
        eprintln!(
            "skipped: cannot make and loop-mount an ext4 image here (mkfs.ext4, loop devices)"
        );
        return;
    }
    let result = OverlayDriver::new(&mnt.join("overlay"), OverlayOptions::default());
    let left = mnt.join("overlay").exists();
    rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).unwrap();
    match result {
        Err(DriverError::IncompatibleFs { reason, .. }) => {
            assert!(reason.contains("d_type"), "{reason}")
        }
        other => panic!("expected IncompatibleFs, got {:?}", other.map(|_| ())),
    }
    assert!(!left, "a refused start left its home behind");
}

#[test]
fn a_passive_open_changes_nothing_on_disk() {
    if !store_tests::driver_suite::is_root() {
        eprintln!("skipped: overlay needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("overlay");
    if OverlayDriver::new(&home, OverlayOptions::default()).is_err() {
        eprintln!("skipped: overlay cannot run here");
        return;
    }
    // A dangling short link, as a layer removed by hand leaves it.
    std::os::unix::fs::symlink("../gone/diff", home.join("l/DANGLINGLINK00000000000000")).unwrap();
    let before: Vec<_> = std::fs::read_dir(home.join("l"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let passive = OverlayOptions {
        passive: true,
        ..Default::default()
    };
    OverlayDriver::new(&home, passive.clone()).unwrap();
    let after: Vec<_> = std::fs::read_dir(home.join("l"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "a passive open prunes nothing");
    assert!(OverlayDriver::new(&tmp.path().join("missing"), passive).is_err());
    assert!(!tmp.path().join("missing").exists(), "nor creates a home");
}
