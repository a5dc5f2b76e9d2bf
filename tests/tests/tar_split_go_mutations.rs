//! Differential test against the Go tar-split on mutated archives: header bytes of the shared
//! fixtures are changed at random (checksums sometimes repaired, streams sometimes cut), and our
//! disassembler must accept exactly what Go's accepts, recording the same entries (except the
//! documented partial padding at the end). Skipped when the Go tool is missing.

use std::fs;
use std::path::Path;
use std::process::Command;

use store_tests::archives;
use tar_split::json::JsonReader;
use tar_split::{disassemble, Entry, Error, VecSink};

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn fix_checksums(t: &mut [u8]) {
    for b in (0..t.len().saturating_sub(511)).step_by(512) {
        if &t[b + 257..b + 262] == b"ustar" {
            t[b + 148..b + 156].copy_from_slice(b"        ");
            let sum: u32 = t[b..b + 512].iter().map(|&c| u32::from(c)).sum();
            t[b + 148..b + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        }
    }
}

/// Go's verdict: its entries (final empty segment of v0.11.x dropped) or `None` when it fails.
fn go_disasm(tar: &[u8], dir: &Path) -> Option<Vec<Entry>> {
    let input = dir.join("in.tar");
    let meta = dir.join("meta.json.gz");
    fs::write(&input, tar).unwrap();
    let _ = fs::remove_file(&meta);
    let status = Command::new("tar-split")
        .args(["disasm", "--no-stdout", "--output"])
        .arg(&meta)
        .arg(&input)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    if !status.success() {
        return None;
    }
    let mut entries: Vec<Entry> = JsonReader::new(fs::File::open(&meta).unwrap())
        .collect::<Result<_, _>>()
        .unwrap();
    if entries.last() == Some(&Entry::Segment(Vec::new())) {
        entries.pop();
    }
    Some(entries)
}

#[test]
fn mutated_archives_accepted_and_recorded_like_go() {
    if !archives::have("tar-split") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<Vec<u8>> = [
        "01-ustar-basic",
        "02-gnu-longname",
        "03-pax-xattrs",
        "04-sparse-gnu-oldS",
        "05-sparse-pax-0.0",
        "08-hardlink",
        "15-pax-global-header",
        "25-ustar-prefix",
        "26-go-writer-docker-like",
    ]
    .iter()
    .map(|s| {
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/tar-split/{s}.tar")))
            .unwrap()
    })
    .collect();
    let values = [
        0u8, b' ', b'0', b'7', b'8', 0x80, 0xff, b'x', b'L', b'S', b'g', b'1', b'5', b'\n', b'=',
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    for case in 0..300 {
        let mut t = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let block = rng.below(t.len() / 512) * 512;
            let field = [
                rng.below(512),
                124 + rng.below(12),
                156,
                148 + rng.below(8),
                345 + rng.below(155),
                482,
            ];
            let at = block + field[rng.below(field.len())];
            t[at] = if rng.below(3) == 0 {
                rng.below(256) as u8
            } else {
                values[rng.below(values.len())]
            };
        }
        if rng.below(2) == 0 {
            fix_checksums(&mut t);
        }
        if rng.below(5) == 0 {
            t.truncate(rng.below(t.len()));
        }
        let mut sink = VecSink::default();
        let ours = disassemble(&t[..], std::io::sink(), &mut sink).map(|_| sink.entries);
        let go = go_disasm(&t, dir.path());
        match (ours, go) {
            (Ok(mut ours), Some(mut go)) => {
                // Ours records a partial padding at the end (of a member or of an extension
                // header) that Go drops: as an extra segment, or at the end of the last one.
                if ours.len() == go.len() + 1 {
                    if let Some(Entry::Segment(last)) = ours.last() {
                        assert!(last.len() < 512, "case {case}");
                        ours.pop();
                    }
                }
                if let (Some(Entry::Segment(a)), Some(Entry::Segment(b))) =
                    (ours.last_mut(), go.last_mut())
                {
                    if a.len() > b.len() && a.len() - b.len() < 512 && a.starts_with(b) {
                        a.truncate(b.len());
                    }
                }
                assert!(ours == go, "case {case}: entries differ from Go's");
            }
            (Err(_), None) => {}
            // Deliberate: negative ids, and negative sizes on header-only members, are refused.
            (Err(Error::InvalidHeader { reason, .. }), Some(_))
                if reason.starts_with("negative") => {}
            (Ok(_), None) => panic!("case {case}: Go refuses, we accept"),
            (Err(e), Some(_)) => panic!("case {case}: Go accepts, we refuse: {e}"),
        }
    }
}
