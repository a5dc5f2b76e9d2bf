//! Measures `apply_tar` on a layer of many small files (by hand; not part of the test suite):
//!
//! ```text
//! cargo run --release -p graphdriver --example apply_many -- <dir-on-the-target-fs> [files] [bytes]
//! ```
//! Writes the tar to `<dir>/many.tar` (so GNU tar can extract the same bytes for comparison),
//! applies it to `<dir>/layer` and prints the time, files per second and MB/s.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use graphdriver::apply::{apply_tar, ApplyOptions, WhiteoutMode};
use graphdriver::tar_writer::{EntryMeta, TarWriter};
use tar_split::{EntryKind, NullSink, TarReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: apply_many <dir> [files] [bytes]")?,
    );
    let files: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(75_000);
    let bytes: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);

    let tar_path = dir.join("many.tar");
    let mut w = TarWriter::new(std::io::BufWriter::new(std::fs::File::create(&tar_path)?));
    let data = vec![b'x'; bytes];
    for d in 0..files.div_ceil(250) {
        let mut m = EntryMeta::new(EntryKind::Directory, format!("usr/share/d{d:04}/"));
        m.mtime = 1_700_000_000;
        w.append(&m, &mut std::io::empty())?;
        for f in 0..250.min(files - d * 250) {
            let mut m = EntryMeta::new(
                EntryKind::Regular,
                format!("usr/share/d{d:04}/file-{f:03}.txt"),
            );
            m.size = bytes as u64;
            m.mtime = 1_700_000_000;
            w.append(&m, &mut &data[..])?;
        }
    }
    w.finish()?.flush()?;
    let tar = std::fs::read(&tar_path)?;

    let layer = dir.join("layer");
    if layer.exists() {
        graphdriver::fsutil::remove_all(&layer)?;
    }
    std::fs::create_dir(&layer)?;
    let start = Instant::now();
    let mut r = TarReader::new(&tar[..], NullSink);
    let size = apply_tar(
        &layer,
        &mut r,
        &ApplyOptions::new("bench", WhiteoutMode::Delete),
    )?;
    r.finish()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "applied {files} files ({size} bytes of content, {} bytes of tar) in {secs:.3} s: {:.0} files/s, {:.1} MB/s of tar",
        tar.len(),
        files as f64 / secs,
        tar.len() as f64 / secs / 1e6
    );
    let start = Instant::now();
    graphdriver::fsutil::remove_all(&layer)?;
    println!("removed in {:.3} s", start.elapsed().as_secs_f64());
    Ok(())
}
