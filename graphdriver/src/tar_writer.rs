//! A streaming tar writer: ustar headers, with PAX extended headers where ustar cannot say it
//! (long names and link targets, xattrs, large ids and sizes, non-UTF-8-safe lengths). Diffs are
//! written with it; tests build hostile archives with it since it writes names verbatim.

use std::io::{self, Read, Write};

use tar_split::EntryKind;

const BLOCK: usize = 512;

/// The metadata of one member to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The member's name, raw bytes, written as given (directories conventionally end in `/`).
    pub path: Vec<u8>,
    /// The member's kind; `GlobalHeader` and `Other` are written with their typeflag.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time, whole seconds since the epoch.
    pub mtime: i64,
    /// Bytes of data that follow the header (regular files only; 0 for the rest).
    pub size: u64,
    /// Target of a symlink or hard link.
    pub link_name: Vec<u8>,
    /// Device numbers of character and block devices.
    pub dev: (u32, u32),
    /// Extended attributes, written as `SCHILY.xattr.<name>` PAX records.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EntryMeta {
    /// A member of `kind` named `path`, mode 0644 (0755 for directories), owned by 0:0, mtime 0.
    pub fn new(kind: EntryKind, path: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            kind,
            mode: if kind == EntryKind::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            link_name: Vec::new(),
            dev: (0, 0),
            xattrs: Vec::new(),
        }
    }
}

fn typeflag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Regular => b'0',
        EntryKind::HardLink => b'1',
        EntryKind::Symlink => b'2',
        EntryKind::CharDevice => b'3',
        EntryKind::BlockDevice => b'4',
        EntryKind::Directory => b'5',
        EntryKind::Fifo => b'6',
        EntryKind::GlobalHeader => b'g',
        EntryKind::Other(b) => b,
    }
}

/// Writes `value` as a NUL-terminated octal number filling `field`; false if it does not fit.
fn octal(field: &mut [u8], value: u64) -> bool {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    if s.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    true
}

/// One PAX record, `"<len> <key>=<value>\n"` where `len` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Writes tar members to `W`, one after another; [`TarWriter::finish`] writes the end-of-archive.
pub struct TarWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TarWriter<W> {
    /// A writer that writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes one member: its header (preceded by a PAX header when needed) and `meta.size` bytes
    /// of `data` (an error if `data` holds fewer), padded to the block size.
    pub fn append(&mut self, meta: &EntryMeta, data: &mut dyn Read) -> io::Result<()> {
        self.header(meta, &[], None, meta.size)?;
        self.copy_data(meta, data, meta.size)
    }

    /// Writes a regular file whose content has holes as a GNU PAX 1.0 sparse member: only the
    /// `regions` (offset, length; sorted, within `meta.size`) are stored, read from `file`, and a
    /// reader restores the holes. `meta.size` is the file's logical size.
    pub fn append_sparse(
        &mut self,
        meta: &EntryMeta,
        regions: &[(u64, u64)],
        file: &std::fs::File,
    ) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut map = format!("{}\n", regions.len()).into_bytes();
        for (offset, len) in regions {
            map.extend_from_slice(format!("{offset}\n{len}\n").as_bytes());
        }
        map.resize(map.len().div_ceil(BLOCK) * BLOCK, 0);
        let data_len: u64 = regions.iter().map(|r| r.1).sum();
        let base = meta
            .path
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(&meta.path);
        let mut name = b"GNUSparseFile.0/".to_vec();
        name.extend_from_slice(base);
        name.truncate(100);
        let real = meta.size.to_string();
        let records: [(&[u8], &[u8]); 4] = [
            (b"GNU.sparse.major", b"1"),
            (b"GNU.sparse.minor", b"0"),
            (b"GNU.sparse.name", &meta.path),
            (b"GNU.sparse.realsize", real.as_bytes()),
        ];
        let total = map.len() as u64 + data_len;
        self.header(meta, &records, Some(&name), total)?;
        self.put(&map)?;
        let mut buf = vec![0u8; 64 * 1024];
        for &(offset, len) in regions {
            let mut done = 0u64;
            while done < len {
                let want = (len - done).min(buf.len() as u64) as usize;
                let n = file.read_at(&mut buf[..want], offset + done)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{}: shrank while being written",
                            String::from_utf8_lossy(&meta.path)
                        ),
                    ));
                }
                self.put(&buf[..n])?;
                done += n as u64;
            }
        }
        self.pad(total)
    }

    /// Writes the header block (preceded by a PAX header when needed) of `meta`, with `name` in
    /// place of its path and `size` in place of its size when given, plus `extra` PAX records.
    fn header(
        &mut self,
        meta: &EntryMeta,
        extra: &[(&[u8], &[u8])],
        name: Option<&[u8]>,
        size: u64,
    ) -> io::Result<()> {
        let mut block = [0u8; BLOCK];
        let mut pax = Vec::new();
        for (k, v) in extra {
            pax_record(&mut pax, k, v);
        }
        let path = name.unwrap_or(&meta.path);
        if path.len() > 100 {
            pax_record(&mut pax, b"path", path);
        }
        let name_len = path.len().min(100);
        block[..name_len].copy_from_slice(&path[..name_len]);
        if meta.link_name.len() > 100 {
            pax_record(&mut pax, b"linkpath", &meta.link_name);
        }
        let link_len = meta.link_name.len().min(100);
        block[157..157 + link_len].copy_from_slice(&meta.link_name[..link_len]);
        octal(&mut block[100..108], u64::from(meta.mode & 0o7777));
        if !octal(&mut block[108..116], meta.uid) {
            pax_record(&mut pax, b"uid", meta.uid.to_string().as_bytes());
            octal(&mut block[108..116], 0);
        }
        if !octal(&mut block[116..124], meta.gid) {
            pax_record(&mut pax, b"gid", meta.gid.to_string().as_bytes());
            octal(&mut block[116..124], 0);
        }
        if !octal(&mut block[124..136], size) {
            pax_record(&mut pax, b"size", size.to_string().as_bytes());
            octal(&mut block[124..136], 0);
        }
        match u64::try_from(meta.mtime) {
            Ok(t) if octal(&mut block[136..148], t) => {}
            _ => {
                pax_record(&mut pax, b"mtime", meta.mtime.to_string().as_bytes());
                octal(&mut block[136..148], 0);
            }
        }
        for (name, value) in &meta.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            pax_record(&mut pax, &key, value);
        }
        block[156] = typeflag(meta.kind);
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        octal(&mut block[329..337], u64::from(meta.dev.0));
        octal(&mut block[337..345], u64::from(meta.dev.1));
        if !pax.is_empty() {
            let mut ph = [0u8; BLOCK];
            let name = b"PaxHeaders.0/entry";
            ph[..name.len()].copy_from_slice(name);
            octal(&mut ph[100..108], 0o644);
            octal(&mut ph[108..116], 0);
            octal(&mut ph[116..124], 0);
            octal(&mut ph[124..136], pax.len() as u64);
            octal(&mut ph[136..148], 0);
            ph[156] = b'x';
            ph[257..263].copy_from_slice(b"ustar\0");
            ph[263..265].copy_from_slice(b"00");
            checksum(&mut ph);
            self.put(&ph)?;
            self.put(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        checksum(&mut block);
        self.put(&block)
    }

    fn copy_data(&mut self, meta: &EntryMeta, data: &mut dyn Read, size: u64) -> io::Result<()> {
        let mut copied = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while copied < size {
            let want = (size - copied).min(buf.len() as u64) as usize;
            let n = data.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: data ended after {copied} of {} bytes",
                        String::from_utf8_lossy(&meta.path),
                        meta.size
                    ),
                ));
            }
            self.put(&buf[..n])?;
            copied += n as u64;
        }
        self.pad(size)
    }

    /// Writes raw bytes into the stream (tests use it to forge malformed archives).
    pub fn append_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.put(bytes)
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Fills the checksum field: the sum of the header's bytes with the field taken as spaces.
fn checksum(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", b"x");
        assert_eq!(out, b"9 path=x\n");
        out.clear();
        pax_record(&mut out, b"k", &[b'v'; 95]);
        assert_eq!(out.len(), 102);
        assert!(out.starts_with(b"102 k="));
    }

    #[test]
    fn round_trips_through_tar_split() {
        let mut w = TarWriter::new(Vec::new());
        let long = [b'n'; 150];
        let mut f = EntryMeta::new(EntryKind::Regular, long.to_vec());
        f.size = 3;
        f.uid = 5_000_000;
        f.xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())];
        w.append(&f, &mut &b"abc"[..]).unwrap();
        let mut l = EntryMeta::new(EntryKind::Symlink, b"l".to_vec());
        l.link_name = [b't'; 120].to_vec();
        w.append(&l, &mut io::empty()).unwrap();
        let bytes = w.finish().unwrap();
        let mut r = tar_split::TarReader::new(&bytes[..], tar_split::NullSink);
        let h = r.next().unwrap().unwrap();
        assert_eq!(h.path, long);
        assert_eq!(h.uid, 5_000_000);
        assert_eq!(h.xattrs, f.xattrs);
        let mut data = Vec::new();
        r.read_to_end(&mut data).unwrap();
        assert_eq!(data, b"abc");
        let h = r.next().unwrap().unwrap();
        assert_eq!(h.link_name, l.link_name);
        assert!(r.next().unwrap().is_none());
    }
}
