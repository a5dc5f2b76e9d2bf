//! Arbitrary bytes through the compact binary metadata reader: entries or an error, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tar_split::binary::BinaryReader;

fuzz_target!(|data: &[u8]| {
    for entry in BinaryReader::new(data) {
        if entry.is_err() {
            break;
        }
    }
});
