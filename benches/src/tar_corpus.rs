//! Generated tar archives for the tar-split benches: many small files of varied sizes (like a
//! `/usr` tree) or a few large ones, with their payloads kept for an in-memory file getter.

use std::collections::HashMap;
use std::io::{self, Cursor};

use tar_split::{FileGetter, Payload};

/// A generated archive and the payload of each regular member, by member name.
pub struct Corpus {
    /// The archive (GNU format, no compression).
    pub tar: Vec<u8>,
    /// Each regular member's content, keyed by its name in the archive.
    pub files: HashMap<Vec<u8>, Vec<u8>>,
}

impl Corpus {
    /// A [`FileGetter`] handing out the members' payloads from memory.
    pub fn getter(&self) -> MemGetter<'_> {
        MemGetter { files: &self.files }
    }
}

/// A [`FileGetter`] over a [`Corpus`]'s payloads; unknown names are `NotFound`.
pub struct MemGetter<'c> {
    files: &'c HashMap<Vec<u8>, Vec<u8>>,
}

impl FileGetter for MemGetter<'_> {
    fn get(&mut self, name: &[u8]) -> io::Result<Box<dyn Payload + '_>> {
        match self.files.get(name) {
            Some(data) => Ok(Box::new(Cursor::new(&data[..]))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no payload for {:?}", String::from_utf8_lossy(name)),
            )),
        }
    }
}

/// A small deterministic generator (xorshift64*), so corpora are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A size with a log-normal-like spread: median about 2 KiB, a tail up to `max`.
    fn file_size(&mut self, max: u64) -> u64 {
        // The sum of three uniforms approximates a normal; exponentiate it.
        let u = (0..3)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum::<f64>();
        let normal = (u - 1.5) * 2.0; // mean 0, sd 1
        ((2048.0 * (normal * 1.9).exp()) as u64).min(max)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn builder_append(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
        .expect("appending to an in-memory tar");
}

/// `count` files of varied sizes (median ~2 KiB, at most `max_size`), 50 to a directory.
pub fn small_files(count: usize, max_size: u64) -> Corpus {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut b = tar::Builder::new(Vec::new());
    let mut files = HashMap::new();
    for i in 0..count {
        let mut data = vec![0u8; rng.file_size(max_size) as usize];
        rng.fill(&mut data);
        let name = format!("usr/lib/d{:03}/file{:05}.so", i / 50, i);
        builder_append(&mut b, &name, &data);
        files.insert(name.into_bytes(), data);
    }
    Corpus {
        tar: b.into_inner().expect("finishing an in-memory tar"),
        files,
    }
}

/// `count` random files of `size` bytes each.
pub fn large_files(count: usize, size: usize) -> Corpus {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut b = tar::Builder::new(Vec::new());
    let mut files = HashMap::new();
    for i in 0..count {
        let mut data = vec![0u8; size];
        rng.fill(&mut data);
        let name = format!("big{i}.bin");
        builder_append(&mut b, &name, &data);
        files.insert(name.into_bytes(), data);
    }
    Corpus {
        tar: b.into_inner().expect("finishing an in-memory tar"),
        files,
    }
}
