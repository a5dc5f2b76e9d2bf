//! The `tar-split-rs` command: pass-through, Go-identical metadata written atomically with mode
//! 0600, reassembly from an extracted tree, and one-line errors with a non-zero status.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{extract, fixture, fixtures, gunzip, have, ours, output};

#[test]
fn disasm_passes_through_and_writes_go_metadata() {
    let work = tempfile::tempdir().unwrap();
    for stem in [
        "01-ustar-basic",
        "09-nonutf8-name",
        "18-json-escaping",
        "20-empty-input",
    ] {
        let tar = fs::read(fixture(stem)).unwrap();
        let meta = work.path().join(format!("{stem}.json.gz"));
        let out = output(
            ours()
                .args(["disasm", "--output"])
                .arg(&meta)
                .arg(fixture(stem)),
            &[],
        );
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == tar, "{stem}: pass-through differs");
        let want = gunzip(&fixtures().join(format!("{stem}.tar-split-v0.12.1.json.gz")));
        assert!(gunzip(&meta) == want, "{stem}: metadata differs from Go's");
        let mode = fs::metadata(&meta).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{stem}");
    }
}

#[test]
fn disasm_reads_stdin_and_honours_no_stdout() {
    let work = tempfile::tempdir().unwrap();
    let tar = fs::read(fixture("02-gnu-longname")).unwrap();
    for args in [&["--no-stdout"][..], &["--no-stdout", "-"][..]] {
        // The default output name, in the current directory.
        let out = output(
            ours().current_dir(work.path()).arg("disasm").args(args),
            &tar,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        let meta = work.path().join("tar-data.json.gz");
        let want = gunzip(&fixtures().join("02-gnu-longname.tar-split-v0.12.1.json.gz"));
        assert!(gunzip(&meta) == want);
        fs::remove_file(meta).unwrap();
    }
}

#[test]
fn disasm_failure_leaves_no_metadata_behind() {
    let work = tempfile::tempdir().unwrap();
    let meta = work.path().join("m.json.gz");
    // A fresh output is not created at all.
    let out = output(
        ours()
            .args(["disasm", "--no-stdout", "--output"])
            .arg(&meta)
            .arg(fixture("13-duplicate-append")),
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tar-split-rs disasm: ") && err.contains("duplicate"),
        "{err}"
    );
    assert!(!meta.exists());
    // An existing output is left as it was, and no temporary file stays.
    fs::write(&meta, b"old").unwrap();
    let out = output(
        ours()
            .args(["disasm", "--no-stdout", "--output"])
            .arg(&meta)
            .arg(fixture("22-zero-then-garbage")),
        &[],
    );
    assert!(!out.status.success());
    assert_eq!(fs::read(&meta).unwrap(), b"old");
    assert_eq!(fs::read_dir(work.path()).unwrap().count(), 1);
    // A missing input is named.
    let out = output(ours().args(["disasm", "/nonexistent/x.tar"]), &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.tar"));
}

#[test]
fn asm_rebuilds_the_tar_from_an_extracted_tree() {
    if !have("tar") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    for stem in [
        "01-ustar-basic",
        "02-gnu-longname",
        "09-nonutf8-name",
        "25-ustar-prefix",
    ] {
        let tar = fs::read(fixture(stem)).unwrap();
        let dir = work.path().join(stem);
        assert!(extract(&fixture(stem), &dir), "{stem}");
        let meta = fixtures().join(format!("{stem}.tar-split-v0.12.1.json.gz"));
        // To stdout (the default) ...
        let out = output(
            ours()
                .args(["asm", "--input"])
                .arg(&meta)
                .arg("--path")
                .arg(&dir),
            &[],
        );
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == tar, "{stem}: stdout differs");
        // ... to a file ...
        let file = work.path().join(format!("{stem}.out"));
        let out = output(
            ours()
                .args(["asm", "--input"])
                .arg(&meta)
                .arg("--path")
                .arg(&dir)
                .arg("--output")
                .arg(&file),
            &[],
        );
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(fs::read(&file).unwrap() == tar, "{stem}: file differs");
        // ... and gzip-compressed.
        let out = output(
            ours()
                .args(["asm", "--compress", "--input"])
                .arg(&meta)
                .arg("--path")
                .arg(&dir),
            &[],
        );
        assert!(out.status.success());
        let gz = work.path().join(format!("{stem}.out.gz"));
        fs::write(&gz, out.stdout).unwrap();
        assert!(gunzip(&gz) == tar, "{stem}: --compress differs");
    }
}

#[test]
fn asm_fails_on_missing_or_changed_files_and_names_them() {
    if !have("tar") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("x");
    assert!(extract(&fixture("01-ustar-basic"), &dir));
    let meta = fixtures().join("01-ustar-basic.tar-split-v0.12.1.json.gz");
    let asm = |out: &std::path::Path| {
        output(
            ours()
                .args(["asm", "--input"])
                .arg(&meta)
                .arg("--path")
                .arg(&dir)
                .arg("--output")
                .arg(out),
            &[],
        )
    };
    fs::write(dir.join("hello.txt"), b"HELLO\n").unwrap();
    let target = work.path().join("out.tar");
    let out = asm(&target);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("tar-split-rs asm: ") && err.contains("hello.txt"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!target.exists(), "a failed asm left its output");
    fs::remove_file(dir.join("hello.txt")).unwrap();
    let out = asm(&target);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hello.txt"));
}

#[test]
fn asm_never_reads_outside_the_root() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fs::create_dir_all(root.join("abs")).unwrap();
    // Fixture 19 names ../escape.txt; Go's asm reads it from beside the root. Ours refuses.
    fs::write(work.path().join("escape.txt"), b"outside\n").unwrap();
    fs::write(root.join("abs/path.txt"), b"inside\n").unwrap();
    let meta = fixtures().join("19-dotdot-name.tar-split-v0.12.1.json.gz");
    let out = output(
        ours()
            .args(["asm", "--output", "/dev/null", "--input"])
            .arg(&meta)
            .arg("--path")
            .arg(&root),
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("escape.txt"));
}

#[test]
fn bad_metadata_is_one_line_naming_the_problem() {
    let work = tempfile::tempdir().unwrap();
    let meta = work.path().join("bad.json");
    fs::write(&meta, b"{\"type\":2,\"payload\":\"AQI=\"}\n{\"type\":3}\n").unwrap();
    let out = output(
        ours()
            .args(["asm", "--input"])
            .arg(&meta)
            .arg("--path")
            .arg(work.path()),
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown entry type 3"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
