//! Building and extracting tar archives with external tools (GNU tar, bsdtar, Python's tarfile),
//! for round-trip tests. Each builder returns `None` (after printing why) when its tool is
//! missing, so tests can skip.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether `tool` can be run (`tool --version` succeeds).
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

/// Runs `cmd`, panicking with its stderr when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Creates a small tree under `dir`: files of sizes around block boundaries, an empty file, a
/// long name, nested directories, a symlink, a hard link and a non-UTF-8 name. `with_sparse`
/// adds a sparse file (3 MiB with three small data islands).
pub fn make_tree(dir: &Path, with_sparse: bool) {
    fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    fs::write(dir.join("hello.txt"), b"hello\n").unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::write(dir.join("sub/exact512"), vec![b'x'; 512]).unwrap();
    fs::write(dir.join("sub/over512"), vec![b'y'; 513]).unwrap();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.join("sub/deeper/big.bin"), big).unwrap();
    let long = "n".repeat(120);
    fs::write(dir.join(format!("sub/{long}.txt")), b"long name\n").unwrap();
    std::os::unix::fs::symlink("hello.txt", dir.join("link-to-hello")).unwrap();
    fs::hard_link(dir.join("hello.txt"), dir.join("sub/hardlink")).unwrap();
    let raw = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9.txt");
    fs::write(dir.join(raw), b"latin-1 name\n").unwrap();
    if with_sparse {
        make_sparse(&dir.join("sparse.bin"));
    }
}

/// A 3 MiB file with data at 0, 1 MiB + 100 and 3 MiB - 10.
pub fn make_sparse(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = fs::File::create(path).unwrap();
    f.set_len(3 << 20).unwrap();
    f.write_all_at(b"island one", 0).unwrap();
    f.write_all_at(&[b'z'; 5000], (1 << 20) + 100).unwrap();
    f.write_all_at(b"the end!!!", (3 << 20) - 10).unwrap();
}

/// GNU tar's archive of `dir`'s contents with extra `args` (e.g. `--format=pax`, `-b1`).
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

/// bsdtar's archive of `dir`'s contents in `format` (`pax`, `ustar`, `gnutar`, ...).
pub fn bsdtar(dir: &Path, format: &str) -> Option<Vec<u8>> {
    bsdtar_with(dir, format, &[])
}

/// bsdtar's archive of `dir`'s contents in `format` with extra `args` (e.g. `--xattrs`).
pub fn bsdtar_with(dir: &Path, format: &str, args: &[&str]) -> Option<Vec<u8>> {
    if !have("bsdtar") {
        return None;
    }
    Some(run(Command::new("bsdtar")
        .args(["-C", dir.to_str()?, "--format", format])
        .args(args)
        .args(["-cf", "-", "."])))
}

/// Sets the extended attribute `name` to `value` on `path` with `setfattr`; false (after
/// printing why) when that is not possible here.
pub fn set_xattr(path: &Path, name: &str, value: &str) -> bool {
    let ok = Command::new("setfattr")
        .args(["-n", name, "-v", value])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: setfattr failed (no attr tools, or no user xattrs on this filesystem)");
    }
    ok
}

/// Python tarfile's archive of `dir`'s contents in `format` (`GNU`, `PAX` or `USTAR`).
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

/// Extracts `tar` into `dir` with GNU tar (as root: owners, devices and sparse files kept).
/// Returns false (with tar's complaint printed) when tar reports an error.
pub fn gnu_extract(tar: &[u8], dir: &Path) -> bool {
    fs::create_dir_all(dir).unwrap();
    let mut child = Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), "-xf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running tar");
    // tar may stop reading early on a bad archive; a broken pipe is its answer, not ours.
    let _ = child.stdin.take().unwrap().write_all(tar);
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        eprintln!("tar -x failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}
