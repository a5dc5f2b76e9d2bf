//! Prints the size of a tar's tar-split metadata in the Go JSON form and in the compact binary
//! form, raw, gzip'd (level 6, as Go writes it) and zstd'd (level 3), per member and in all.
//!
//! `cargo run --release -p store-benches --example tar_split_sizes -- FILE.tar`

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use tar_split::binary::BinaryWriter;
use tar_split::json::JsonWriter;
use tar_split::{disassemble, Entry, EntrySink, VecSink};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: tar_split_sizes FILE.tar")?;
    let mut sink = VecSink::default();
    disassemble(std::fs::File::open(&path)?, io::sink(), &mut sink)?;
    let members = sink
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::File(_)))
        .count()
        .max(1);

    let mut json = JsonWriter::new(Vec::new());
    let mut bin = BinaryWriter::new(Vec::new());
    for e in &sink.entries {
        for s in [&mut json as &mut dyn EntrySink, &mut bin] {
            match e {
                Entry::Segment(seg) => s.segment(seg)?,
                Entry::File(f) => s.file(&f.name, f.size, f.crc)?,
            }
        }
    }
    let json = json.finish()?;
    let bin = bin.finish()?;

    println!("{path}: {} entries, {members} members", sink.entries.len());
    println!(
        "{:<8} {:>14} {:>14} {:>14}",
        "form", "raw", "gzip -6", "zstd -3"
    );
    for (name, bytes) in [("json", &json), ("binary", &bin)] {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(bytes)?;
        let gz = gz.finish()?.len();
        let zst = zstd::encode_all(&bytes[..], 3)?.len();
        let show = |n: usize| format!("{n} ({:.1}/m)", n as f64 / members as f64);
        println!(
            "{name:<8} {:>14} {:>14} {:>14}",
            show(bytes.len()),
            show(gz),
            show(zst)
        );
    }
    Ok(())
}
