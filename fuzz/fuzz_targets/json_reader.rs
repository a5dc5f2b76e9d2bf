//! Arbitrary bytes (plain or gzip) through the Go JSON metadata reader: it must end with entries
//! or an error, never panic, and whatever it accepts must re-encode and read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tar_split::json::{JsonReader, JsonWriter};
use tar_split::{Entry, EntrySink};

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = JsonReader::new(data).collect::<Result<Vec<Entry>, _>>() else {
        return;
    };
    let mut w = JsonWriter::new(Vec::new());
    for e in &entries {
        match e {
            Entry::Segment(s) => w.segment(s).expect("writing to a Vec"),
            Entry::File(f) => w
                .file(&f.name, f.size, f.crc)
                .expect("sizes read fit int64"),
        }
    }
    let json = w.finish().expect("writing to a Vec");
    let again: Vec<Entry> = JsonReader::new(&json[..])
        .collect::<Result<_, _>>()
        .expect("re-encoded metadata reads back");
    assert_eq!(again, entries);
});
