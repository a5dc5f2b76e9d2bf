//! A real container: an image holding busybox-static is loaded, a read-write layer is created
//! on it and mounted, and runc runs `/bin/busybox echo hello` in an OCI bundle whose rootfs is
//! that mount. Skipped, with the reason, where runc cannot run a container at all (checked first
//! with a plain directory as rootfs, so that a failure with the layer store's mount is a failure).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::image_builder::{layer_tar, Compression, Member, TestImage};
use common::{drivers, Store};

const BUSYBOX: &str = "/bin/busybox";

/// Why runc cannot be tried here, if it cannot.
fn unavailable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("runc needs root".to_owned());
    }
    if Command::new("runc").arg("--version").output().is_err() {
        return Some("runc is not installed (Debian package runc)".to_owned());
    }
    if !Path::new(BUSYBOX).is_file() {
        return Some(format!(
            "{BUSYBOX} is missing (Debian package busybox-static)"
        ));
    }
    None
}

/// Writes an OCI bundle in `bundle` (from `runc spec`) whose rootfs is `rootfs` and whose
/// process echoes `hello` without a terminal.
fn write_bundle(bundle: &Path, rootfs: &Path) {
    std::fs::create_dir_all(bundle).unwrap();
    let out = Command::new("runc")
        .arg("spec")
        .current_dir(bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runc spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["root"]["path"] = rootfs.to_str().unwrap().into();
    spec["root"]["readonly"] = false.into();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!([BUSYBOX, "echo", "hello"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// Runs the bundle with runc (its state kept under `state`); returns (success, stdout, stderr).
fn runc_run(state: &Path, bundle: &Path, id: &str) -> (bool, String, String) {
    let out = Command::new("runc")
        .arg("--root")
        .arg(state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .output()
        .unwrap();
    // `runc run` deletes the container when it exits; a leftover from a failed start is not.
    let _ = Command::new("runc")
        .arg("--root")
        .arg(state)
        .args(["delete", "--force", id])
        .output();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The directories a container's rootfs needs, then busybox: two layers.
fn busybox_image() -> TestImage {
    let base = layer_tar(&[
        Member::Dir("bin/"),
        Member::Dir("dev/"),
        Member::Dir("etc/"),
        Member::Dir("proc/"),
        Member::Dir("sys/"),
        Member::Dir("tmp/"),
        Member::File("etc/hostname", b"layer-store\n".to_vec()),
    ]);
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let top = layer_tar(&[Member::Dir("bin/"), Member::Exec("bin/busybox", busybox)]);
    TestImage {
        layers: vec![base, top],
        compression: vec![Compression::Gzip, Compression::Zstd],
    }
}

#[test]
fn runc_runs_a_container_on_a_read_write_layer() {
    if let Some(reason) = unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let state: PathBuf = work.path().join("runc-state");

    // Can runc run anything here? A plain directory as rootfs tells.
    let plain = work.path().join("plain-rootfs");
    for dir in ["bin", "dev", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(plain.join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, plain.join("bin/busybox")).unwrap();
    let probe_bundle = work.path().join("probe");
    write_bundle(&probe_bundle, &plain);
    let (ok, stdout, stderr) = runc_run(&state, &probe_bundle, "layer-store-probe");
    if !ok || stdout.trim() != "hello" {
        eprintln!(
            "skipped: runc cannot run a container here: {}",
            stderr.trim()
        );
        return;
    }

    // Prefer overlay (a real mount); vfs gives a plain directory, which runc takes too.
    let driver = *drivers().last().unwrap();
    let store = Store::new(driver);
    let image = busybox_image();
    let tree = store.scratch("oci");
    image.write_oci_dir(&tree, "busybox:test");
    let loaded = store.ok(&["load", tree.to_str().unwrap()]);
    let top = loaded.lines().last().unwrap().to_owned();
    store.ok(&["rw", "create", "ctr", "--parent", &top]);
    let rootfs = PathBuf::from(store.ok(&["rw", "mount", "ctr"]).trim());
    assert!(rootfs.join("bin/busybox").is_file());

    let bundle = work.path().join("bundle");
    write_bundle(&bundle, &rootfs);
    let (ok, stdout, stderr) = runc_run(&state, &bundle, "layer-store-test");
    store.ok(&["rw", "unmount", "ctr"]);
    assert!(ok, "runc run on the {driver} mount failed: {stderr}");
    assert_eq!(stdout.trim(), "hello");
    store.ok(&["rw", "rm", "ctr"]);
    assert_eq!(store.chain_ids().len(), 2);
}
