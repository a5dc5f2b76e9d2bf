//! Counts the members of a tar stream as its bytes pass, for progress display only: it never
//! allocates, never fails, and stops counting (for good) at the first block that is not a valid
//! header where one is due (a compressed stream, or a size it could not follow).

/// Member counter over a stream fed in pieces of any size.
#[derive(Debug)]
pub struct MemberCounter {
    block: [u8; 512],
    filled: usize,
    /// Bytes of member data (and padding) still to skip before the next header.
    skip: u64,
    count: u64,
    gave_up: bool,
}

impl Default for MemberCounter {
    fn default() -> Self {
        MemberCounter {
            block: [0; 512],
            filled: 0,
            skip: 0,
            count: 0,
            gave_up: false,
        }
    }
}

impl MemberCounter {
    /// Members seen so far (extension headers — PAX, GNU long names — are not members).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the stream stopped looking like a tar.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.gave_up {
            if self.skip > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = data.len().min(512 - self.filled);
            self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == 512 {
                self.filled = 0;
                self.header();
            }
        }
    }

    fn header(&mut self) {
        let b = &self.block;
        if b.iter().all(|&x| x == 0) {
            return;
        }
        let Some(size) = (checksum_ok(b)).then(|| parse_size(&b[124..136])).flatten() else {
            self.gave_up = true;
            return;
        };
        if !matches!(b[156], b'x' | b'g' | b'L' | b'K' | b'X') {
            self.count += 1;
        }
        self.skip = size.div_ceil(512).saturating_mul(512);
    }
}

/// The header checksum: the sum of its bytes with the checksum field read as spaces.
fn checksum_ok(b: &[u8; 512]) -> bool {
    let sum: u64 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(x)
            }
        })
        .sum();
    parse_octal(&b[148..156]) == Some(sum)
}

/// A size field: octal digits, or GNU base-256 (high bit set).
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &x in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(x))?;
        }
        return Some(v);
    }
    parse_octal(field)
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field
        .iter()
        .skip_while(|&&c| c == b' ')
        .take_while(|&&c| c != 0 && c != b' ');
    let mut v: u64 = 0;
    let mut digits = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
        digits += 1;
    }
    (digits > 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(names: &[String]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let data = vec![b'x'; i * 300];
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn counts_members_in_pieces_of_any_size_and_skips_long_name_headers() {
        let names: Vec<String> = (0..7)
            .map(|i| format!("dir/{}{i}", "long-".repeat(if i == 3 { 40 } else { 1 })))
            .collect();
        let tar = tar_of(&names);
        for piece in [1, 7, 512, 513, 100_000] {
            let mut c = MemberCounter::default();
            for chunk in tar.chunks(piece) {
                c.feed(chunk);
            }
            assert_eq!(c.count(), 7, "pieces of {piece}");
            assert!(!c.gave_up());
        }
    }

    #[test]
    fn gives_up_on_what_is_not_a_tar() {
        let mut c = MemberCounter::default();
        c.feed(&zstd::encode_all(&tar_of(&["a".into()])[..], 1).unwrap());
        c.feed(&[1u8; 2048]);
        assert!(c.gave_up());
        assert_eq!(c.count(), 0);
    }
}
