//! tar-split throughput: the Go JSON codec on generated metadata (disassembly and assembly
//! benches join once the parser lands). Modest sizes: a whole run takes well under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::Compression;
use store_benches::tar_corpus::{self, Corpus};
use tar_split::json::{JsonReader, JsonWriter};
use tar_split::{Entry, EntrySink, FileEntry};

fn feed<S: EntrySink>(sink: &mut S, entries: &[Entry]) {
    for e in entries {
        match e {
            Entry::Segment(s) => sink.segment(s).unwrap(),
            Entry::File(f) => sink.file(&f.name, f.size, f.crc).unwrap(),
        }
    }
}

/// Entries shaped like a disassembly of `c` (a header segment and a file entry per member),
/// cut with the `tar` crate's offsets.
fn entries_of(c: &Corpus) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut prev = 0usize;
    let mut ar = tar::Archive::new(&c.tar[..]);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let data = e.raw_file_position() as usize;
        let size = e.header().size().unwrap();
        out.push(Entry::Segment(c.tar[prev..data].to_vec()));
        out.push(Entry::File(FileEntry {
            name: e.path_bytes().to_vec(),
            size,
            crc: Some(0x0123_4567_89ab_cdef ^ size),
        }));
        prev = data + size as usize;
    }
    out.push(Entry::Segment(c.tar[prev..].to_vec()));
    out
}

fn json_codec(c: &mut Criterion) {
    let corpus = tar_corpus::small_files(2000, 64 << 10);
    let entries = entries_of(&corpus);
    let members = (entries.len() / 2) as u64;
    let mut g = c.benchmark_group("json/2000-small-files");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(members));
    g.bench_function("write", |b| {
        b.iter(|| {
            let mut w = JsonWriter::new(Vec::new());
            feed(&mut w, &entries);
            black_box(w.finish().unwrap())
        })
    });
    g.bench_function("write-gzip6", |b| {
        b.iter(|| {
            let mut w = JsonWriter::gzip(Vec::new());
            feed(&mut w, &entries);
            black_box(w.finish_gzip().unwrap())
        })
    });
    g.bench_function("write-gzip6-parallel", |b| {
        b.iter(|| {
            let mut w = JsonWriter::gzip_parallel(Vec::new(), Compression::default()).unwrap();
            feed(&mut w, &entries);
            black_box(w.finish_parallel_gzip().unwrap())
        })
    });
    let mut w = JsonWriter::gzip(Vec::new());
    feed(&mut w, &entries);
    let gz = w.finish_gzip().unwrap();
    g.bench_function("read-gzip", |b| {
        b.iter(|| {
            for e in JsonReader::new(&gz[..]) {
                black_box(e.unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, json_codec);
criterion_main!(benches);
