//! The driver conformance suite run against the vfs driver (as any user; owners, devices and
//! trusted xattrs are checked when run as root).

use std::path::Path;
use std::sync::Arc;

use graphdriver::Driver;
use graphdriver_vfs::VfsDriver;

fn vfs(home: &Path) -> Option<Arc<dyn Driver>> {
    Some(Arc::new(VfsDriver::new(home).expect("vfs driver")))
}

// vfs works the same on any filesystem: run on tmpfs where there is one, so the per-layer
// syncfs does not wait on the disk.
store_tests::driver_suite_tests!(vfs, tmp = store_tests::driver_suite::fast_tmp());

/// Every tar-split interop fixture applied as a vfs layer: applied exactly when the Go tar-split
/// accepts it (it has reference metadata), refused otherwise with nothing left behind; and what
/// is applied matches GNU tar's extraction of the same archive (names, types, contents, link
/// targets) where GNU tar extracts it.
#[test]
fn fixtures_apply_like_gnu_tar() {
    use std::fs;
    use std::process::Command;

    use graphdriver::CreateOpts;
    use tar_split::{NullSink, TarReader};

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tar-split");
    let gnu_tar = Command::new("tar")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !gnu_tar {
        eprintln!("GNU tar not found: checking acceptance only");
    }
    let base = store_tests::driver_suite::fast_tmp();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "fixtures missing in {}", dir.display());
    for fixture in names {
        let name = fixture
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let accepted_by_go = dir.join(format!("{name}-split-v0.12.1.json.gz")).exists();
        let tmp = match &base {
            Some(b) => tempfile::tempdir_in(b),
            None => tempfile::tempdir(),
        }
        .expect("tmp");
        let driver = VfsDriver::new(&tmp.path().join("vfs")).expect("vfs");
        driver
            .create("layer", None, &CreateOpts::default())
            .expect("create");
        let bytes = fs::read(&fixture).expect("read fixture");
        let mut r = TarReader::new(&bytes[..], NullSink);
        let applied = driver.apply_diff("layer", None, &mut r).and_then(|_| {
            r.finish()
                .map(drop)
                .map_err(|source| graphdriver::DriverError::Tar {
                    id: "layer".into(),
                    source,
                })
        });
        match (&applied, accepted_by_go) {
            (Ok(()), true) => {}
            (Err(e), false) => {
                eprintln!("{name}: refused as the Go tar-split refuses it: {e}");
                driver.remove("layer").expect("remove");
                assert!(
                    driver.layers().expect("layers").is_empty(),
                    "{name}: left behind"
                );
                continue;
            }
            (Ok(()), false) => panic!("{name}: applied, but the Go tar-split refuses it"),
            (Err(e), true) => panic!("{name}: refused, but the Go tar-split accepts it: {e}"),
        }
        if !gnu_tar {
            continue;
        }
        let gnu = tmp.path().join("gnu");
        fs::create_dir(&gnu).expect("gnu dir");
        let out = Command::new("tar")
            .arg("-xf")
            .arg(&fixture)
            .arg("-C")
            .arg(&gnu)
            .output()
            .expect("run tar");
        if !out.status.success() {
            eprintln!(
                "{name}: GNU tar refuses it ({}), not compared",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        }
        let ours = driver.layer_dir("layer").expect("dir");
        // GNU tar keeps OCI whiteouts as plain files; on an empty base they delete nothing.
        let (a, mut b) = (contents(&ours), contents(&gnu));
        b.retain(|p, _| {
            !p.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b".wh."))
        });
        assert_eq!(a, b, "{name}: vfs layer and GNU tar extraction differ");
    }
}

/// Relative path -> (kind, content or link target) of every entry below `root`.
fn contents(
    root: &Path,
) -> std::collections::BTreeMap<std::path::PathBuf, (&'static str, Vec<u8>)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            let rel = p.strip_prefix(root).expect("below").to_path_buf();
            let v = if md.is_dir() {
                stack.push(p.clone());
                ("dir", Vec::new())
            } else if md.file_type().is_symlink() {
                (
                    "symlink",
                    std::fs::read_link(&p)
                        .expect("link")
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if md.is_file() {
                ("file", std::fs::read(&p).expect("read"))
            } else {
                ("special", Vec::new())
            };
            out.insert(rel, v);
        }
    }
    out
}
