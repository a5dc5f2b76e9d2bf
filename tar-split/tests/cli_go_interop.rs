//! `tar-split-rs` against the Go `tar-split` command (Debian's package, 0.11.2), both ways and
//! byte for byte: our `disasm` reassembled by Go's `asm --path`, Go's `disasm` reassembled by
//! our `asm`, on archives from GNU tar, bsdtar and Python's tarfile plus the shared fixtures.
//! Our JSON equals Go's, less the final empty segment that Go before 0.11.4 writes. Skipped,
//! with the reason printed, when the Go tool or GNU tar is missing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bsdtar, extract, fixture, gnu_tar, gunzip, have, make_tree, ours, python_tar, run};

const GO: &str = "/usr/bin/tar-split";

fn have_go() -> bool {
    if Path::new(GO).exists() {
        true
    } else {
        eprintln!("skipped: the Go tar-split ({GO}) is not installed");
        false
    }
}

/// (description, tar file) for every archive both tools reproduce from an extracted tree.
fn cases(work: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = [
        "01-ustar-basic",
        "02-gnu-longname",
        "03-pax-xattrs",
        "08-hardlink",
        "09-nonutf8-name",
        "10-trailing-garbage",
        "11-no-eoa",
        "12-one-zero-block",
        "15-pax-global-header",
        "18-json-escaping",
        "21-pax-binary-name",
        "24-garbage-right-after-eoa",
        "25-ustar-prefix",
        "26-go-writer-docker-like",
    ]
    .iter()
    .map(|s| (format!("fixture {s}"), fixture(s)))
    .collect();
    let tree = work.join("tree");
    make_tree(&tree, true);
    let short = work.join("short-names");
    make_tree(&short, false);
    let mut built: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for args in [
        &["--format=gnu"][..],
        &["--format=oldgnu"],
        &["--format=pax"],
        &["--format=gnu", "-b64"],
    ] {
        built.push((format!("GNU tar {}", args.join(" ")), gnu_tar(&tree, args)));
    }
    built.push((
        "GNU tar --format=ustar -b1".into(),
        gnu_tar(&short, &["--format=ustar", "-b1"]),
    ));
    built.push((
        "GNU tar --format=v7".into(),
        gnu_tar(&short, &["--format=v7"]),
    ));
    for format in ["pax", "gnutar"] {
        built.push((format!("bsdtar --format {format}"), bsdtar(&tree, format)));
    }
    for format in ["GNU", "PAX"] {
        built.push((
            format!("Python tarfile {format}"),
            python_tar(&tree, format),
        ));
    }
    for (i, (what, tar)) in built.into_iter().enumerate() {
        if let Some(tar) = tar {
            let path = work.join(format!("built{i}.tar"));
            fs::write(&path, tar).unwrap();
            out.push((what, path));
        }
    }
    out
}

/// Go's JSON less its final empty segment (written by versions before 0.11.4).
fn without_final_empty_segment(json: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&json);
    let body = text.trim_end_matches('\n');
    match body.rfind('\n').map(|i| &body[i + 1..]).or(Some(body)) {
        Some(last) if last.starts_with("{\"type\":2,\"payload\":\"\",\"position\":") => {
            json[..json.len() - last.len() - 1].to_vec()
        }
        _ => json,
    }
}

#[test]
fn both_tools_reassemble_each_others_metadata() {
    if !have_go() || !have("tar") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    for (what, tar_path) in cases(work.path()) {
        let tar = fs::read(&tar_path).unwrap();
        let dir = work.path().join("x");
        let _ = fs::remove_dir_all(&dir);
        assert!(
            extract(&tar_path, &dir),
            "{what}: GNU tar cannot extract it"
        );
        let ours_meta = work.path().join("ours.json.gz");
        let go_meta = work.path().join("go.json.gz");
        run(ours()
            .args(["disasm", "--no-stdout", "--output"])
            .arg(&ours_meta)
            .arg(&tar_path));
        run(Command::new(GO)
            .args(["disasm", "--no-stdout", "--output"])
            .arg(&go_meta)
            .arg(&tar_path));

        let go_rebuilt = run(Command::new(GO)
            .args(["asm", "--input"])
            .arg(&ours_meta)
            .arg("--path")
            .arg(&dir));
        assert!(
            go_rebuilt == tar,
            "{what}: Go's asm of our metadata differs"
        );

        let ours_rebuilt = run(ours()
            .args(["asm", "--input"])
            .arg(&go_meta)
            .arg("--path")
            .arg(&dir));
        assert!(
            ours_rebuilt == tar,
            "{what}: our asm of Go's metadata differs"
        );

        let ours_json = gunzip(&ours_meta);
        let go_json = without_final_empty_segment(gunzip(&go_meta));
        assert!(
            ours_json == go_json,
            "{what}: JSON differs\nours: {}\n  go: {}",
            String::from_utf8_lossy(&ours_json),
            String::from_utf8_lossy(&go_json)
        );
    }
}

#[test]
fn go_and_we_refuse_the_same_duplicates() {
    if !have_go() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    for stem in [
        "13-duplicate-append",
        "14-dotslash-dup",
        "16-two-global-headers",
        "23-trailing-slash-dup",
    ] {
        let go = common::output(
            Command::new(GO)
                .args(["disasm", "--no-stdout", "--output"])
                .arg(work.path().join("go.gz"))
                .arg(fixture(stem)),
            &[],
        );
        let ours = common::output(
            ours()
                .args(["disasm", "--no-stdout", "--output"])
                .arg(work.path().join("ours.gz"))
                .arg(fixture(stem)),
            &[],
        );
        assert!(!go.status.success() && !ours.status.success(), "{stem}");
        // Go leaves a truncated gzip stub behind; we leave nothing.
        assert!(!work.path().join("ours.gz").exists(), "{stem}");
    }
}
