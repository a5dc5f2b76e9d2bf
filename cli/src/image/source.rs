//! Where an image's files come from: a directory (an OCI layout, or an unpacked `docker save`)
//! or a tar of one (plain, gzip or zstd), read in place without unpacking it.
//!
//! Paths inside an image come from its JSON documents and are hostile input: every path is
//! cleaned lexically and refused if it climbs out of the image, and links (symlinks in a
//! directory, symlinks and hard links in a tar) are followed only while they stay inside.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::ImageError;

/// JSON documents (index, manifests, configs) larger than this are refused before they are read.
pub const MAX_JSON: u64 = 32 << 20;
/// Links followed in a row before a path is refused as a loop.
const MAX_LINK_HOPS: usize = 16;

/// A readable member of an image: its content and its size.
pub type Member = (Box<dyn Read + Send>, u64);

/// Read access to the files of one image.
pub trait ImageSource {
    /// The image as the user named it, for messages.
    fn name(&self) -> &str;

    /// Opens the file at `path` (relative to the image's top); `None` when there is none.
    fn open(&self, path: &str) -> Result<Option<Member>, ImageError>;

    /// Reads a small file (a JSON document) whole; `None` when there is none. `what` names it
    /// in errors.
    fn read_small(&self, path: &str, what: &str) -> Result<Option<Vec<u8>>, ImageError> {
        let Some((reader, size)) = self.open(path)? else {
            return Ok(None);
        };
        if size > MAX_JSON {
            return Err(ImageError::invalid(
                self.name(),
                format!("{what} {path:?} is {size} bytes, more than the {MAX_JSON} allowed"),
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| ImageError::io(format!("{}: {path}", self.name()), e))?;
        Ok(Some(bytes))
    }
}

impl std::fmt::Debug for dyn ImageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSource")
            .field("name", &self.name())
            .finish()
    }
}

/// Cleans `path` lexically (`./`, `//`, `a/..`) into a relative path inside the image; `None`
/// when it is absolute or climbs out.
pub fn clean_path(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// Opens the image at `path`: a directory, or a (possibly compressed) tar file.
pub fn open_source(path: &Path) -> Result<Box<dyn ImageSource>, ImageError> {
    let meta = std::fs::metadata(path).map_err(|e| ImageError::io(path, e))?;
    if meta.is_dir() {
        Ok(Box::new(DirSource::open(path)?))
    } else {
        Ok(Box::new(TarSource::open(path)?))
    }
}

/// An image unpacked in a directory.
pub struct DirSource {
    name: String,
    root: PathBuf,
}

impl DirSource {
    /// The image in directory `path`.
    pub fn open(path: &Path) -> Result<DirSource, ImageError> {
        let root = path.canonicalize().map_err(|e| ImageError::io(path, e))?;
        Ok(DirSource {
            name: path.display().to_string(),
            root,
        })
    }
}

impl ImageSource for DirSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&self, path: &str) -> Result<Option<Member>, ImageError> {
        let outside = || ImageError::OutsidePath {
            image: self.name.clone(),
            path: path.to_owned(),
        };
        let rel = clean_path(path).ok_or_else(outside)?;
        let full = self.root.join(&rel);
        // Symlinks (docker save writes `<id>/layer.tar -> ../blobs/...`) are resolved, and the
        // result must still be inside the image.
        let real = match full.canonicalize() {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ImageError::io(&full, e)),
        };
        if !real.starts_with(&self.root) {
            return Err(outside());
        }
        let file = File::open(&real).map_err(|e| ImageError::io(&real, e))?;
        let meta = file.metadata().map_err(|e| ImageError::io(&real, e))?;
        if !meta.is_file() {
            return Err(ImageError::invalid(
                &self.name,
                format!("{path:?} is not a regular file"),
            ));
        }
        Ok(Some((Box::new(file), meta.len())))
    }
}

/// What a tar member is, as far as reading the image goes.
#[derive(Debug, Clone)]
enum TarMember {
    /// A regular file's data: where it starts in the tar and how long it is.
    File { offset: u64, size: u64 },
    /// A symbolic link (target relative to the link's directory).
    Symlink(String),
    /// A hard link (target relative to the archive's top).
    Hardlink(String),
}

/// An image in a tar file, indexed once and read in place.
pub struct TarSource {
    name: String,
    file: Arc<File>,
    members: HashMap<String, TarMember>,
}

impl TarSource {
    /// Indexes the tar at `path`. A gzip- or zstd-compressed tar is decompressed once into an
    /// anonymous temporary file first, since its members must be read out of order.
    pub fn open(path: &Path) -> Result<TarSource, ImageError> {
        let io_err = |e| ImageError::io(path, e);
        let mut file = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let file = match &magic[..got] {
            [0x1f, 0x8b, ..] => spool(flate2::read::MultiGzDecoder::new(file)).map_err(io_err)?,
            [0x28, 0xb5, 0x2f, 0xfd] => {
                spool(zstd::stream::read::Decoder::new(file).map_err(io_err)?).map_err(io_err)?
            }
            _ => file,
        };
        let name = path.display().to_string();
        let members = index_tar(&file)
            .map_err(|e| ImageError::invalid(&name, format!("not a readable tar archive: {e}")))?;
        Ok(TarSource {
            name,
            file: Arc::new(file),
            members,
        })
    }

    /// Follows links from `path` to a regular file's data.
    fn resolve(&self, path: &str) -> Result<Option<(u64, u64)>, ImageError> {
        let outside = || ImageError::OutsidePath {
            image: self.name.clone(),
            path: path.to_owned(),
        };
        let mut current = clean_path(path).ok_or_else(outside)?;
        for _ in 0..MAX_LINK_HOPS {
            let Some(member) = self.members.get(&current) else {
                return Ok(None);
            };
            current = match member {
                TarMember::File { offset, size } => return Ok(Some((*offset, *size))),
                TarMember::Symlink(target) => {
                    let dir = current.rsplit_once('/').map_or("", |(d, _)| d);
                    if target.starts_with('/') {
                        return Err(outside());
                    }
                    clean_path(&format!("{dir}/{target}")).ok_or_else(outside)?
                }
                TarMember::Hardlink(target) => clean_path(target).ok_or_else(outside)?,
            };
        }
        Err(ImageError::invalid(
            &self.name,
            format!("{path:?}: too many links in a row (a loop?)"),
        ))
    }
}

impl ImageSource for TarSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn open(&self, path: &str) -> Result<Option<Member>, ImageError> {
        Ok(self.resolve(path)?.map(|(offset, size)| {
            let reader = RangeReader {
                file: Arc::clone(&self.file),
                pos: offset,
                end: offset + size,
            };
            (Box::new(reader) as Box<dyn Read + Send>, size)
        }))
    }
}

/// Reads `[pos, end)` of a shared file with positional reads, so that several members can be
/// open at once.
struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the image tar ends inside a member",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Decompresses into an anonymous temporary file (removed when closed).
fn spool(mut input: impl Read) -> io::Result<File> {
    let mut out = tempfile::tempfile()?;
    io::copy(&mut input, &mut out)?;
    out.seek(SeekFrom::Start(0))?;
    Ok(out)
}

/// Lists the members of the tar in `file`: where each regular file's data lies, and links.
fn index_tar(file: &File) -> io::Result<HashMap<String, TarMember>> {
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        let raw_name = entry.path_bytes();
        let Some(name) = clean_path(&String::from_utf8_lossy(&raw_name)) else {
            continue;
        };
        let header = entry.header();
        let kind = header.entry_type();
        let link = || -> io::Result<String> {
            let target = entry.link_name_bytes().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{name}: link without target"),
                )
            })?;
            Ok(String::from_utf8_lossy(&target).into_owned())
        };
        let member = if kind.is_file() || kind == tar::EntryType::Continuous {
            TarMember::File {
                offset: entry.raw_file_position(),
                size: entry.size(),
            }
        } else if kind.is_symlink() {
            TarMember::Symlink(link()?)
        } else if kind.is_hard_link() {
            TarMember::Hardlink(link()?)
        } else {
            continue;
        };
        members.insert(name, member);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_keeps_paths_inside() {
        assert_eq!(clean_path("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean_path("a/../b").as_deref(), Some("b"));
        assert_eq!(clean_path("../b"), None);
        assert_eq!(clean_path("a/../../b"), None);
        assert_eq!(clean_path("/etc/passwd"), None);
        assert_eq!(clean_path("."), None);
    }

    /// A member: name, data (a regular file) or link target (a symlink).
    type TestMember<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

    fn tar_with(entries: &[TestMember<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match (data, link) {
                (Some(d), _) => {
                    h.set_size(d.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, name, *d).unwrap();
                }
                (None, Some(l)) => {
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, name, l).unwrap();
                }
                _ => unreachable!(),
            }
        }
        b.into_inner().unwrap()
    }

    fn read_member(src: &dyn ImageSource, path: &str) -> Option<Vec<u8>> {
        src.open(path).unwrap().map(|(mut r, size)| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            assert_eq!(v.len() as u64, size);
            v
        })
    }

    #[test]
    fn tar_source_reads_members_and_follows_links_inside_only() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tar_with(&[
            ("blobs/sha256/aa", Some(b"layer bytes"), None),
            ("./manifest.json", Some(b"[]"), None),
            ("abc/layer.tar", None, Some("../blobs/sha256/aa")),
            ("evil", None, Some("../../etc/passwd")),
        ]);
        for (suffix, data) in [
            ("plain", bytes.clone()),
            ("gz", {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                std::io::Write::write_all(&mut e, &bytes).unwrap();
                e.finish().unwrap()
            }),
            ("zst", zstd::encode_all(&bytes[..], 1).unwrap()),
        ] {
            let path = dir.path().join(format!("image.{suffix}"));
            std::fs::write(&path, data).unwrap();
            let src = open_source(&path).unwrap();
            assert_eq!(read_member(&*src, "manifest.json").unwrap(), b"[]");
            assert_eq!(read_member(&*src, "abc/layer.tar").unwrap(), b"layer bytes");
            assert!(read_member(&*src, "nothing").is_none());
            assert!(matches!(
                src.open("evil"),
                Err(ImageError::OutsidePath { .. })
            ));
            assert!(matches!(
                src.open("../x"),
                Err(ImageError::OutsidePath { .. })
            ));
        }
    }

    #[test]
    fn dir_source_refuses_links_out_of_the_image() {
        let outer = tempfile::tempdir().unwrap();
        let img = outer.path().join("img");
        std::fs::create_dir_all(img.join("blobs")).unwrap();
        std::fs::write(img.join("blobs/x"), b"x").unwrap();
        std::fs::write(outer.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink("../secret", img.join("out")).unwrap();
        std::os::unix::fs::symlink("blobs/x", img.join("in")).unwrap();
        let src = DirSource::open(&img).unwrap();
        assert_eq!(read_member(&src, "in").unwrap(), b"x");
        assert!(read_member(&src, "missing").is_none());
        assert!(matches!(
            src.open("out"),
            Err(ImageError::OutsidePath { .. })
        ));
        assert!(matches!(
            src.open("../secret"),
            Err(ImageError::OutsidePath { .. })
        ));
    }
}
