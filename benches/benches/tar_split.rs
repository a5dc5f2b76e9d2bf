//! tar-split throughput on generated archives: disassembly (into Go JSON, gzip'd as the CLI
//! writes it, into the binary form, or recording nothing), assembly from an in-memory getter,
//! and the JSON codec alone. Modest sizes: a whole run takes well under a minute.

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use flate2::Compression;
use store_benches::tar_corpus::{self, Corpus};
use tar_split::binary::BinaryWriter;
use tar_split::json::{JsonReader, JsonWriter};
use tar_split::{assemble, disassemble, Entry, EntrySink, NullSink, VecSink};

fn feed<S: EntrySink>(sink: &mut S, entries: &[Entry]) {
    for e in entries {
        match e {
            Entry::Segment(s) => sink.segment(s).unwrap(),
            Entry::File(f) => sink.file(&f.name, f.size, f.crc).unwrap(),
        }
    }
}

fn entries_of(c: &Corpus) -> Vec<Entry> {
    let mut sink = VecSink::default();
    disassemble(&c.tar[..], io::sink(), &mut sink).unwrap();
    sink.entries
}

fn quick<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn disasm_and_asm(c: &mut Criterion) {
    let corpora = [
        ("2000-small-files", tar_corpus::small_files(2000, 256 << 10)),
        ("2x32MiB-files", tar_corpus::large_files(2, 32 << 20)),
    ];
    for (name, corpus) in &corpora {
        let mut g = c.benchmark_group(format!("tar-split/{name}"));
        quick(&mut g);
        g.throughput(Throughput::Bytes(corpus.tar.len() as u64));
        g.bench_function("disasm-null", |b| {
            b.iter(|| disassemble(&corpus.tar[..], io::sink(), NullSink).unwrap())
        });
        g.bench_function("disasm-json-gzip", |b| {
            b.iter(|| {
                let mut w = JsonWriter::gzip_parallel(Vec::new(), Compression::default()).unwrap();
                disassemble(&corpus.tar[..], io::sink(), &mut w).unwrap();
                black_box(w.finish_parallel_gzip().unwrap())
            })
        });
        g.bench_function("disasm-binary", |b| {
            b.iter(|| {
                let mut w = BinaryWriter::new(Vec::new());
                disassemble(&corpus.tar[..], io::sink(), &mut w).unwrap();
                black_box(w.finish().unwrap())
            })
        });
        let entries = entries_of(corpus);
        g.bench_function("asm", |b| {
            b.iter(|| {
                let it = entries.iter().cloned().map(Ok::<_, tar_split::Error>);
                assemble(it, Box::new(corpus.getter()), &mut io::sink()).unwrap()
            })
        });
        g.finish();
    }
}

fn json_codec(c: &mut Criterion) {
    let corpus = tar_corpus::small_files(2000, 64 << 10);
    let entries = entries_of(&corpus);
    let members = (entries.len() / 2) as u64;
    let mut g = c.benchmark_group("json/2000-small-files");
    quick(&mut g);
    g.throughput(Throughput::Elements(members));
    g.bench_function("write", |b| {
        b.iter(|| {
            let mut w = JsonWriter::new(io::sink());
            feed(&mut w, &entries);
            w.finish().unwrap()
        })
    });
    g.bench_function("write-gzip6", |b| {
        b.iter(|| {
            let mut w = JsonWriter::gzip(Vec::new());
            feed(&mut w, &entries);
            black_box(w.finish_gzip().unwrap())
        })
    });
    g.bench_function("write-gzip1", |b| {
        b.iter(|| {
            let mut w = JsonWriter::gzip_with_level(Vec::new(), Compression::fast());
            feed(&mut w, &entries);
            black_box(w.finish_gzip().unwrap())
        })
    });
    let mut w = JsonWriter::new(Vec::new());
    feed(&mut w, &entries);
    let json = w.finish().unwrap();
    g.bench_function("read", |b| {
        b.iter(|| {
            for e in JsonReader::new(&json[..]) {
                black_box(e.unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, disasm_and_asm, json_codec);
criterion_main!(benches);
