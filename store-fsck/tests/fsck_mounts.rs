//! Mounts under the store's root: a stale one is unmounted by a repair; one a read-write layer
//! holds is never touched. Needs root (and overlayfs for the read-write layer's mount).

mod common;
use common::{finding, overlay_usable, rustix_is_root, Fixture};

fn is_mount_point(path: &std::path::Path) -> bool {
    let path = path.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

fn mount_tmpfs(at: &std::path::Path) -> bool {
    rustix::mount::mount(
        "fsck-test",
        at,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .is_ok()
}

#[test]
fn a_stale_mount_is_unmounted_and_a_held_one_kept() {
    if !rustix_is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let overlay = overlay_usable().is_ok();
    let mut fx = Fixture::new(if overlay { "overlay" } else { "vfs" });
    let ids = fx.chain(&[&[("f", b"x")]]);
    let stale = fx.root().join("stale");
    std::fs::create_dir(&stale).unwrap();
    if !mount_tmpfs(&stale) {
        eprintln!("skipped: cannot mount tmpfs");
        return;
    }
    // A read-write layer left mounted by a process that went away (overlay only).
    let held = if overlay {
        let store = fx.open();
        let rw = store
            .create_rw_layer("ctr", Some(&ids[0]), Default::default())
            .unwrap();
        let merged = rw.mount().unwrap();
        drop(store);
        Some(merged)
    } else {
        eprintln!("overlay unavailable: the held-mount half of this test is skipped");
        None
    };
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 4, "{json:#}");
    assert_eq!(json["findings"].as_array().unwrap().len(), 1, "{json:#}");
    finding(&json, "stale-mount");
    let (code, json) = fx.fsck(&["--repair"]);
    assert_eq!(code, 1, "{json:#}");
    assert!(!is_mount_point(&stale));
    if let Some(merged) = &held {
        assert!(
            is_mount_point(merged),
            "the read-write layer's mount was touched"
        );
        let _ = rustix::mount::unmount(merged, rustix::mount::UnmountFlags::empty());
    }
    let (code, json) = fx.fsck(&[]);
    assert_eq!(code, 0, "{json:#}");
}
