//! Helpers for the `tar-split-rs` command tests: running the binary, the shared fixtures, and
//! archives built by GNU tar, bsdtar and Python's tarfile (each skipped, with the reason printed,
//! when its tool is missing).

#![allow(dead_code)] // Each test file uses its own subset.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `tar-split-rs` binary under test.
pub fn ours() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tar-split-rs"))
}

/// The fixtures copied from shared/tar-split/fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tar-split")
}

pub fn fixture(stem: &str) -> PathBuf {
    fixtures().join(format!("{stem}.tar"))
}

/// Whether `tool` runs; prints why a test skips when it does not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

/// Runs `cmd` with `stdin` as its input and returns its output, whatever its status.
pub fn output(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Feed stdin from a thread so a child that writes a lot before reading cannot deadlock.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Runs `cmd`, panicking with its stderr when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = output(cmd, &[]);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A small tree: sizes around block boundaries, an empty file, a long name, nested
/// directories, a symlink, a hard link, JSON-special and non-UTF-8 names (the long name only
/// with `long_name`: USTAR cannot hold it).
pub fn make_tree(dir: &Path, long_name: bool) {
    use std::os::unix::ffi::OsStrExt;
    let sub = dir.join("sub/deeper");
    fs::create_dir_all(&sub).unwrap();
    for (name, size) in [
        ("a.txt", 6usize),
        ("exact512", 512),
        ("over512", 513),
        ("empty", 0),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(dir.join(name), data).unwrap();
    }
    if long_name {
        fs::write(sub.join("x".repeat(120)), b"long name\n").unwrap();
    }
    fs::write(dir.join("q\"<&>.txt"), b"json\n").unwrap();
    fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.bin")),
        b"latin1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
    fs::hard_link(dir.join("over512"), dir.join("sub/hard")).unwrap();
}

/// GNU tar's archive of `dir` with extra `args`.
pub fn gnu_tar(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    if !have("tar") {
        return None;
    }
    Some(run(Command::new("tar")
        .args([
            "-C",
            dir.to_str()?,
            "--sort=name",
            "--mtime=@1700000000",
            "-cf",
            "-",
        ])
        .args(args)
        .arg(".")))
}

/// bsdtar's archive of `dir` in `format`.
pub fn bsdtar(dir: &Path, format: &str) -> Option<Vec<u8>> {
    if !have("bsdtar") {
        return None;
    }
    Some(run(Command::new("bsdtar").args([
        "-C",
        dir.to_str()?,
        "--format",
        format,
        "-cf",
        "-",
        ".",
    ])))
}

/// Python tarfile's archive of `dir` in `format` (`GNU`, `PAX`, `USTAR`).
pub fn python_tar(dir: &Path, format: &str) -> Option<Vec<u8>> {
    if !have("python3") {
        return None;
    }
    let script = format!(
        "import sys, tarfile, os\n\
         out = tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.{format}_FORMAT)\n\
         os.chdir(sys.argv[1])\n\
         for root, dirs, files in sorted(os.walk('.')):\n\
         \x20   dirs.sort()\n\
         \x20   for n in sorted(dirs + files):\n\
         \x20       out.add(os.path.join(root, n), recursive=False)\n\
         out.close()\n"
    );
    Some(run(Command::new("python3").arg("-c").arg(script).arg(dir)))
}

/// Extracts `tar` into `dir` with GNU tar; false when tar fails.
pub fn extract(tar: &Path, dir: &Path) -> bool {
    fs::create_dir_all(dir).unwrap();
    let out = output(
        Command::new("tar").args(["-C", dir.to_str().unwrap(), "-xf", tar.to_str().unwrap()]),
        &[],
    );
    if !out.status.success() {
        eprintln!("tar -x failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}
