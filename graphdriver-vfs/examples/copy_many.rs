//! Measures the copy a vfs layer makes of its parent (by hand; not part of the test suite):
//!
//! ```text
//! cargo run --release -p graphdriver-vfs --example copy_many -- <dir-on-the-target-fs> [files] [bytes]
//! ```
//! Builds `<dir>/src` with `files` files of `bytes` bytes in directories of 250, copies it to
//! `<dir>/dst` with [`graphdriver_vfs::copy_tree`] and prints the time.

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: copy_many <dir> [files] [bytes]")?,
    );
    let files: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(75_000);
    let bytes: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    for p in [&src, &dst] {
        if p.exists() {
            graphdriver::fsutil::remove_all(p)?;
        }
    }
    let data = vec![b'x'; bytes];
    for i in 0..files {
        let d = src.join(format!("d{:04}", i / 250));
        if i % 250 == 0 {
            std::fs::create_dir_all(&d)?;
        }
        std::fs::write(d.join(format!("f{:03}", i % 250)), &data)?;
    }
    std::fs::create_dir(&dst)?;
    let privileged = rustix::process::geteuid().is_root();
    let start = Instant::now();
    graphdriver_vfs::copy_tree(&src, &dst, privileged)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "copied {files} files of {bytes} bytes in {secs:.3} s: {:.0} files/s",
        files as f64 / secs
    );
    graphdriver::fsutil::remove_all(&src)?;
    graphdriver::fsutil::remove_all(&dst)?;
    Ok(())
}
