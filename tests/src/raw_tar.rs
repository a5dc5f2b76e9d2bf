//! Hand-made tar blocks for tests that need headers no tool writes (malformed, hostile or rare
//! variants): ustar headers with any typeflag and raw size field, PAX records, members.

/// A ustar header block for `name` (at most 100 bytes) with `typeflag` and the size field given
/// raw (at most 12 bytes); mode 0644, ids 0, mtime 0o14530232000, checksum computed.
pub fn header(name: &[u8], typeflag: u8, size_field: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..124 + size_field.len()].copy_from_slice(size_field);
    h[136..147].copy_from_slice(b"14530232000");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    fix_checksum(&mut h);
    h
}

/// Recomputes the checksum of a header block after it was changed.
pub fn fix_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// An 11-digit octal size field.
pub fn octal_size(n: u64) -> Vec<u8> {
    format!("{n:011o}").into_bytes()
}

/// A member: header, data, padding to a whole block.
pub fn member(name: &[u8], typeflag: u8, data: &[u8]) -> Vec<u8> {
    let mut out = header(name, typeflag, &octal_size(data.len() as u64)).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// One PAX record, `"%d %s=%s\n"`, its length computed.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut n = body_len + 1;
    while n.to_string().len() + body_len != n {
        n += 1;
    }
    let mut r = format!("{n} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// The end-of-archive marker: two zero blocks.
pub fn eoa() -> Vec<u8> {
    vec![0; 1024]
}
