//! Unit tests of the driver: the recording double stands in for the kernel; one test mounts
//! for real when run as root.

use super::*;
use crate::mount_calls::recording::{Call, RecordingMounts};
use graphdriver::ErrorKind;
use rustix::io::Errno;

fn driver(calls: &Arc<RecordingMounts>) -> (tempfile::TempDir, OverlayDriver) {
    let tmp = tempfile::tempdir().unwrap();
    let d = OverlayDriver::with_calls(
        &tmp.path().join("overlay"),
        OverlayOptions::default(),
        calls.clone(),
        false,
    )
    .unwrap();
    (tmp, d)
}

fn chain(d: &OverlayDriver, ids: &[&str]) {
    let mut parent = None;
    for id in ids {
        d.create(id, parent, &CreateOpts::default()).unwrap();
        d.finalize(id).unwrap();
        parent = Some(*id);
    }
}

fn mounts(calls: &RecordingMounts) -> Vec<OverlayMountSeen> {
    calls
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::NewApi { mount, target } => Some(OverlayMountSeen {
                lowers: mount.lowers,
                upper_work: mount.upper_work,
                target,
            }),
            _ => None,
        })
        .collect()
}

#[derive(Debug)]
struct OverlayMountSeen {
    lowers: Vec<String>,
    upper_work: Option<(String, String)>,
    target: PathBuf,
}

#[test]
fn layout_links_and_lower_chain() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a", "b", "c"]);
    let home = d.layout.home().to_path_buf();
    for sub in ["diff", "work", "merged", "link"] {
        assert!(home.join("c").join(sub).exists(), "{sub}");
    }
    assert!(!home.join("a/lower").exists());
    let short = |id: &str| std::fs::read_to_string(home.join(id).join("link")).unwrap();
    assert_eq!(
        std::fs::read_to_string(home.join("c/lower")).unwrap(),
        format!("l/{}:l/{}", short("b"), short("a"))
    );
    assert_eq!(
        std::fs::read_link(home.join("l").join(short("c"))).unwrap(),
        Path::new("../c/diff")
    );
    assert_eq!(d.parent_of("c").unwrap().as_deref(), Some("b"));
    assert_eq!(d.parent_of("a").unwrap(), None);
}

#[test]
fn read_only_view_names_the_layer_and_its_parents_without_upper() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a", "b"]);
    let merged = d.get("b", &MountOpts::default()).unwrap();
    let seen = mounts(&calls);
    let short = |id: &str| d.short_id(id).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].lowers,
        [format!("l/{}", short("b")), format!("l/{}", short("a"))]
    );
    assert_eq!(seen[0].upper_work, None);
    assert_eq!(seen[0].target, merged);
}

#[test]
fn base_layer_view_gets_the_empty_lower() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    d.get("a", &MountOpts::default()).unwrap();
    assert_eq!(mounts(&calls)[0].lowers[1], "empty");
}

#[test]
fn read_write_layer_mounts_its_diff_as_upper() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    d.create_read_write("rw", Some("a"), &CreateOpts::default())
        .unwrap();
    assert!(!graphdriver::fsutil::is_incomplete(&d.layout.layer("rw")));
    d.get("rw", &MountOpts::default()).unwrap();
    let seen = mounts(&calls);
    assert_eq!(seen[0].lowers, [format!("l/{}", d.short_id("a").unwrap())]);
    assert_eq!(
        seen[0].upper_work,
        Some(("rw/diff".to_string(), "rw/work".to_string()))
    );
    d.put("rw").unwrap();
    d.get(
        "rw",
        &MountOpts {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(mounts(&calls)[1].upper_work, None);
}

#[test]
fn mounts_once_per_layer_and_unmounts_with_the_last_put() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    let p1 = d.get("a", &MountOpts::default()).unwrap();
    let p2 = d.get("a", &MountOpts::default()).unwrap();
    assert_eq!(p1, p2);
    d.put("a").unwrap();
    assert_eq!(calls.calls().len(), 1);
    assert_eq!(d.remove("a").unwrap_err().kind(), ErrorKind::Busy);
    d.put("a").unwrap();
    assert!(matches!(calls.calls()[1], Call::Unmount { .. }));
    assert!(matches!(d.put("a"), Err(DriverError::NotMounted { .. })));
    d.remove("a").unwrap();
}

#[test]
fn a_mount_serves_only_requests_of_its_kind() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    d.create_read_write("rw", Some("a"), &CreateOpts::default())
        .unwrap();
    d.get("rw", &MountOpts::default()).unwrap();
    let ro = MountOpts {
        read_only: true,
        ..Default::default()
    };
    assert_eq!(d.get("rw", &ro).unwrap_err().kind(), ErrorKind::Busy);
    d.put("rw").unwrap();
    assert!(matches!(d.put("rw"), Err(DriverError::NotMounted { .. })));
    d.get("rw", &ro).unwrap();
    assert_eq!(
        d.get("rw", &MountOpts::default()).unwrap_err().kind(),
        ErrorKind::Busy
    );
    // A committed layer is read-only whatever the request says.
    d.get("a", &MountOpts::default()).unwrap();
    d.get("a", &ro).unwrap();
}

#[test]
fn busy_unmount_keeps_the_mount_counted() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    d.get("a", &MountOpts::default()).unwrap();
    *calls.busy.lock() = true;
    assert_eq!(d.put("a").unwrap_err().kind(), ErrorKind::Busy);
    *calls.busy.lock() = false;
    d.put("a").unwrap();
}

#[test]
fn cleanup_unmounts_everything() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a", "b"]);
    d.get("a", &MountOpts::default()).unwrap();
    d.get("b", &MountOpts::default()).unwrap();
    d.get("b", &MountOpts::default()).unwrap();
    d.cleanup().unwrap();
    let unmounts = calls
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Unmount { .. }))
        .count();
    assert_eq!(unmounts, 2);
}

#[test]
fn remove_deletes_the_dir_and_its_link_and_is_idempotent() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    let link = d.layout.link(&d.short_id("a").unwrap());
    d.remove("a").unwrap();
    assert!(!d.exists("a"));
    assert!(std::fs::symlink_metadata(link).is_err());
    d.remove("a").unwrap();
}

#[test]
fn create_refuses_a_missing_parent_a_duplicate_and_bad_ids() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    let opts = CreateOpts::default();
    assert_eq!(
        d.create("a", Some("nope"), &opts).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(!d.exists("a"));
    d.create("a", None, &opts).unwrap();
    assert_eq!(
        d.create("a", None, &opts).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        d.create("../x", None, &opts).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let labelled = CreateOpts {
        mount_label: Some("system_u:object_r:container_file_t:s0".into()),
        ..Default::default()
    };
    assert_eq!(
        d.create("lab", None, &labelled).unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    for reserved in ["l", "empty", ".probe-1", "a,upperdir=x", "a:b", "a\\b"] {
        assert_eq!(
            d.create(reserved, None, &opts).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{reserved}"
        );
    }
    assert_eq!(
        d.get("zz", &MountOpts::default()).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn layers_lists_incomplete_and_complete() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a"]);
    d.create("b", Some("a"), &CreateOpts::default()).unwrap();
    let listed = d.layers().unwrap();
    assert_eq!(
        listed,
        [
            LayerListing {
                id: "a".into(),
                complete: true
            },
            LayerListing {
                id: "b".into(),
                complete: false
            },
        ]
    );
}

#[test]
fn a_refused_start_leaves_no_home_behind() {
    let calls = Arc::new(RecordingMounts::default());
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("overlay");
    // Nothing really mounts, so the probe's whiteout check fails.
    let refused = OverlayDriver::with_calls(&home, OverlayOptions::default(), calls, true);
    assert!(refused.is_err());
    assert!(!home.exists());
}

#[test]
fn a_kernel_without_overlay_is_refused_with_the_reason() {
    let calls = Arc::new(RecordingMounts {
        no_overlay: true,
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("overlay");
    match OverlayDriver::with_calls(&home, OverlayOptions::default(), calls, false) {
        Err(DriverError::NotSupported { reason, .. }) => {
            assert!(reason.contains("/proc/filesystems"), "{reason}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(!home.exists());
}

#[test]
fn dangling_links_are_pruned_at_start() {
    let calls = Arc::new(RecordingMounts::default());
    let (tmp, d) = driver(&calls);
    chain(&d, &["a", "b"]);
    let link_b = d.layout.link(&d.short_id("b").unwrap());
    // A removal interrupted after the directory went.
    graphdriver::fsutil::remove_layer_dir(&d.layout.layer("b")).unwrap();
    drop(d);
    let d = OverlayDriver::with_calls(
        &tmp.path().join("overlay"),
        OverlayOptions::default(),
        calls.clone(),
        false,
    )
    .unwrap();
    assert!(std::fs::symlink_metadata(&link_b).is_err());
    assert!(d.layout.link(&d.short_id("a").unwrap()).exists());
}

#[test]
fn metadata_names_the_directories() {
    let calls = Arc::new(RecordingMounts::default());
    let (_tmp, d) = driver(&calls);
    chain(&d, &["a", "b"]);
    let meta = d.metadata("b").unwrap();
    assert_eq!(meta["LowerDir"], d.layout.diff("a").display().to_string());
    assert_eq!(meta["UpperDir"], d.layout.diff("b").display().to_string());
    assert!(meta.contains_key("WorkDir") && meta.contains_key("MergedDir"));
}

#[test]
fn legacy_mode_mounts_with_the_option_string_and_a_page_bound_depth() {
    let calls = Arc::new(RecordingMounts::default());
    let tmp = tempfile::tempdir().unwrap();
    let opts = OverlayOptions {
        mount_api: crate::MountApi::Legacy,
        ..Default::default()
    };
    let d = OverlayDriver::with_calls(&tmp.path().join("o"), opts, calls.clone(), false).unwrap();
    assert!(d.capabilities().max_depth < 500);
    chain(&d, &["a", "b"]);
    d.get("b", &MountOpts::default()).unwrap();
    match &calls.calls()[..] {
        [Call::Legacy {
            data,
            read_only: true,
            ..
        }] => {
            assert!(data.starts_with(&format!("lowerdir=l/{}:l/", d.short_id("b").unwrap())));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn real_driver_mounts_a_read_only_view_and_a_read_write_layer() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to mount overlayfs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = OverlayDriver::new(&tmp.path().join("overlay"), OverlayOptions::default()).unwrap();
    let status: BTreeMap<_, _> = d.status().into_iter().collect();
    assert_eq!(status["Mount API"], "new (fsopen, fsconfig lowerdir+)");
    assert_eq!(d.capabilities().max_depth, 500);
    chain(&d, &["a"]);
    std::fs::write(d.layout.diff("a").join("f"), b"base").unwrap();
    let view = d.get("a", &MountOpts::default()).unwrap();
    assert_eq!(std::fs::read(view.join("f")).unwrap(), b"base");
    let err = std::fs::write(view.join("g"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(Errno::ROFS.raw_os_error()));
    d.put("a").unwrap();
    d.create_read_write("rw", Some("a"), &CreateOpts::default())
        .unwrap();
    let merged = d.get("rw", &MountOpts::default()).unwrap();
    std::fs::write(merged.join("g"), b"new").unwrap();
    std::fs::remove_file(merged.join("f")).unwrap();
    d.put("rw").unwrap();
    assert_eq!(
        std::fs::read(d.layout.diff("rw").join("g")).unwrap(),
        b"new"
    );
    let changes = d.changes("rw", Some("a")).unwrap();
    let listed: Vec<_> = changes
        .iter()
        .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
        .collect();
    assert_eq!(
        listed,
        [
            ("/f".to_string(), graphdriver::ChangeKind::Delete),
            ("/g".to_string(), graphdriver::ChangeKind::Add)
        ]
    );
    assert_eq!(d.diff_size("rw", Some("a")).unwrap(), 3);
    d.remove("rw").unwrap();
    d.remove("a").unwrap();
}
