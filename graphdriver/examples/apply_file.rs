//! Applies a layer tar file to a directory with the shared engine (by hand; not part of the test
//! suite), for comparing with other extractors and timing real layers:
//!
//! ```text
//! cargo run --release -p graphdriver --example apply_file -- <layer.tar> <existing-dir> [overlay|delete]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use graphdriver::apply::{apply_tar, ApplyOptions, WhiteoutMode};
use tar_split::{NullSink, TarReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: apply_file <layer.tar> <existing-dir> [overlay|delete]";
    let tar = PathBuf::from(args.next().ok_or(usage)?);
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let mode = match args.next().as_deref() {
        None | Some("delete") => WhiteoutMode::Delete,
        Some("overlay") => WhiteoutMode::Overlay,
        Some(_) => return Err(usage.into()),
    };
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&tar)?);
    let start = Instant::now();
    let mut r = TarReader::new(file, NullSink);
    let size = apply_tar(&dir, &mut r, &ApplyOptions::new("apply_file", mode))?;
    let consumed = r.finish()?;
    println!(
        "applied {size} bytes of file content from {consumed} bytes of tar in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
