//! The command-line contract: register (file and stdin, with a parent), ls, inspect, export,
//! tar-split, rm, status, errors on one line with a non-zero status, help with examples.

mod common;

use common::image_builder::{chain_ids, layer_tar, sha256, Member};
use common::{binary, Store};

fn two_layers() -> (Vec<u8>, Vec<u8>) {
    let base = layer_tar(&[
        Member::Dir("bin/"),
        Member::Exec("bin/tool", b"#!/bin/sh\necho tool\n".to_vec()),
    ]);
    let top = layer_tar(&[
        Member::Dir("etc/"),
        Member::File("etc/conf", b"x=1\n".to_vec()),
    ]);
    (base, top)
}

#[test]
fn register_ls_inspect_export_rm() {
    let store = Store::new("vfs");
    let (base, top) = two_layers();
    let expected = chain_ids(&[sha256(&base), sha256(&top)]);

    // A file, then stdin with --parent; each prints the ChainID.
    let base_file = store.scratch("base.tar");
    std::fs::write(&base_file, &base).unwrap();
    let printed = store.ok(&["register", base_file.to_str().unwrap()]);
    assert_eq!(printed.trim(), expected[0]);
    let out = store.run_with_input(&["--json", "register", "--parent", &expected[0], "-"], &top);
    common::assert_success(&["register"], &out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["chain_id"], expected[1].as_str());
    assert_eq!(json["diff_id"], sha256(&top).as_str());
    assert_eq!(json["parent"], expected[0].as_str());
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "chain_id",
        "diff_id",
        "parent",
        "size",
        "diff_size",
        "cache_id",
    ] {
        assert!(keys.contains(&key), "{key} missing from {json}");
    }

    // ls: one line per layer, bottom first: CHAIN PARENT DIFF_SIZE SIZE.
    let ls = store.ok(&["ls"]);
    let lines: Vec<Vec<&str>> = ls.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0][0], expected[0]);
    assert_eq!(lines[0][1], "-");
    assert_eq!(lines[1][0], expected[1]);
    assert_eq!(lines[1][1], expected[0]);

    // inspect is JSON with the driver's metadata; a ChainID without "sha256:" is accepted.
    let inspect: serde_json::Value =
        serde_json::from_str(&store.ok(&["inspect", &expected[1]["sha256:".len()..]])).unwrap();
    assert_eq!(inspect["chain_id"], expected[1].as_str());
    assert_eq!(inspect["depth"], 2);
    assert!(inspect["driver_metadata"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));

    // export, byte for byte.
    assert_eq!(store.ok_bytes(&["export", &expected[0]]), base);
    assert_eq!(store.ok_bytes(&["export", &expected[1]]), top);

    // tar-split: Go JSON lines, positions counting from 0, a file entry per member with data.
    let lines = store.ok(&["tar-split", &expected[1]]);
    let entries: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["position"], i);
    }
    assert!(entries
        .iter()
        .any(|e| e["type"] == 1 && e["name"] == "etc/conf" && e["size"] == 4));

    // rm: a layer with a child is refused; the top goes alone, then the base.
    let err = store.fails(&["rm", &expected[0]]);
    assert!(err.contains(&expected[0]) && err.contains("child"), "{err}");
    assert_eq!(store.ok(&["rm", &expected[1]]).trim(), expected[1]);
    assert_eq!(store.chain_ids(), vec![expected[0].clone()]);
    store.ok(&["rm", &expected[0]]);
    assert_eq!(store.chain_ids(), Vec::<String>::new());
    assert_eq!(store.driver_dirs(), Vec::<String>::new());
}

#[test]
fn errors_are_one_line_with_a_non_zero_status() {
    let store = Store::new("vfs");
    let (base, _) = two_layers();
    store.run_with_input(&["register"], &base);
    let missing = format!("sha256:{}", "0".repeat(64));
    let err = store.fails(&["export", &missing]);
    assert!(
        err.contains(&missing) && err.contains("does not exist"),
        "{err}"
    );
    let err = store.fails(&["inspect", "nonsense"]);
    assert!(err.contains("nonsense"), "{err}");
    assert_eq!(store.run(&["inspect", "nonsense"]).status.code(), Some(2));
    let err = store.fails(&["register", "--parent", &missing, "/nonexistent/file.tar"]);
    assert!(err.contains("/nonexistent/file.tar"), "{err}");
    let err = store.fails(&["load", store.scratch("").to_str().unwrap()]);
    assert!(err.contains("not an image"), "{err}");
    let err = store.fails(&["rw", "mount", "nobody"]);
    assert!(err.contains("nobody"), "{err}");
    // Not a tar: refused, and nothing stays.
    let out = store.run_with_input(&["register"], b"this is not a tar archive, not at all");
    common::assert_failure(&["register"], &out);
    assert_eq!(store.chain_ids().len(), 1);
}

#[test]
fn status_before_and_after_the_store_exists() {
    let store = Store::new("vfs");
    let status = store.json(&["status"]);
    assert_eq!(status["exists"], false);
    assert_eq!(status["layers"], 0);
    assert_eq!(store.json(&["ls"]), serde_json::json!([]));
    let (base, _) = two_layers();
    common::assert_success(&["register"], &store.run_with_input(&["register"], &base));
    let status = store.json(&["status"]);
    assert_eq!(status["exists"], true);
    assert_eq!(status["driver"], "vfs");
    assert_eq!(status["layers"], 1);
    assert_eq!(status["root"], store.root.to_str().unwrap());
    let text = store.ok(&["status"]);
    assert!(text.contains("Driver: vfs"), "{text}");
}

#[test]
fn root_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(binary())
        .args(["--json", "status"])
        .env("LAYER_STORE_ROOT", dir.path())
        .output()
        .unwrap();
    common::assert_success(&["status"], &out);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["root"], dir.path().to_str().unwrap());
}

#[test]
fn every_command_has_help_with_an_example() {
    let commands: &[&[&str]] = &[
        &["register"],
        &["load"],
        &["ls"],
        &["inspect"],
        &["export"],
        &["tar-split"],
        &["rm"],
        &["status"],
        &["rw"],
        &["rw", "create"],
        &["rw", "mount"],
        &["rw", "unmount"],
        &["rw", "changes"],
        &["rw", "diff"],
        &["rw", "commit"],
        &["rw", "rm"],
        &["rw", "ls"],
    ];
    for args in commands {
        let out = std::process::Command::new(binary())
            .args(*args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Example"),
            "{args:?} help has no example:\n{help}"
        );
    }
}

#[test]
fn read_only_commands_work_beside_a_live_writer() {
    let store = Store::new("vfs");
    let (base, top) = two_layers();
    common::assert_success(&["register"], &store.run_with_input(&["register"], &base));
    // A writer that waits for its input holds the store.
    let mut writer = std::process::Command::new(binary())
        .arg("--root")
        .arg(&store.root)
        .args(["--driver", "vfs", "register", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = writer.stdin.take().unwrap();
    // The writer holds the store once its pid is in metadata.pid.
    let pid_file = store.root.join("metadata.pid");
    let pid = writer.id().to_string();
    for _ in 0..200 {
        let held = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if held.trim() == pid {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let refused = store.fails(&["register", "/dev/null"]);
    assert!(refused.contains("in use"), "{refused}");
    // Meanwhile the read-only commands work.
    assert_eq!(store.chain_ids().len(), 1);
    assert_eq!(store.ok_bytes(&["export", &sha256(&base)]), base);
    store.json(&["status"]);
    std::io::Write::write_all(&mut input, &top).unwrap();
    drop(input);
    let out = writer.wait_with_output().unwrap();
    common::assert_success(&["register", "-"], &out);
    assert_eq!(store.chain_ids().len(), 2);
}
