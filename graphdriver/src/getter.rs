//! A [`FileGetter`] over one layer directory, confined to it: what tar-split reassembly reads a
//! layer's file payloads from.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use tar_split::{FileGetter, Payload};

use crate::apply::path::clean;
use crate::{tree, Result};

/// Opens files by member name beneath one directory: names are cleaned lexically (absolute
/// names and `..` stay inside), every component is opened with `O_NOFOLLOW`, so a symlink in the
/// layer (even one that points inside) is never followed: a name that crosses one is an error.
pub struct DirFileGetter {
    root: OwnedFd,
    /// The directory of the last file opened (its cleaned path and fd): a tar lists a
    /// directory's files together, so most lookups need no directory walk at all.
    last_dir: Option<(Vec<u8>, OwnedFd)>,
}

impl DirFileGetter {
    /// A getter over the existing directory `root`.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(Self {
            root: crate::fsutil::open_dir(root)?,
            last_dir: None,
        })
    }

    /// Makes `last_dir` the directory `dirs` (cleaned components under the root, not empty),
    /// from the cache or by a walk that opens every component with `O_NOFOLLOW`.
    fn enter_dir(&mut self, dirs: &[&[u8]], name: &[u8]) -> io::Result<()> {
        let key = crate::apply::path::join(dirs);
        if self.last_dir.as_ref().is_some_and(|(k, _)| *k == key) {
            return Ok(());
        }
        self.last_dir = None;
        let mut dir: Option<OwnedFd> = None;
        for d in dirs {
            let parent = dir.as_ref().map_or(self.root.as_fd(), |f| f.as_fd());
            dir = Some(tree::open_subdir(parent, d).map_err(named(name))?);
        }
        self.last_dir = dir.map(|fd| (key, fd));
        Ok(())
    }
}

impl FileGetter for DirFileGetter {
    fn get(&mut self, name: &[u8]) -> io::Result<Box<dyn Payload + '_>> {
        if name.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NUL byte in name",
            ));
        }
        let comps = clean(name);
        let Some((last, dirs)) = comps.split_last() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "names the layer root",
            ));
        };
        if !dirs.is_empty() {
            self.enter_dir(dirs, name)?;
        }
        let parent = match (&self.last_dir, dirs.is_empty()) {
            (Some((_, fd)), false) => fd.as_fd(),
            _ => self.root.as_fd(),
        };
        let file = tree::open_file(parent, last).map_err(named(name))?;
        let st = rustix::fs::fstat(&file).map_err(named(name))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", String::from_utf8_lossy(name)),
            ));
        }
        Ok(Box::new(file))
    }
}

fn named(name: &[u8]) -> impl FnOnce(Errno) -> io::Error + '_ {
    move |e| {
        let e = io::Error::from(e);
        io::Error::new(e.kind(), format!("{}: {e}", String::from_utf8_lossy(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn confined_and_never_through_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("layer");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"pw").unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink("etc", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
        let mut g = DirFileGetter::new(&root).unwrap();
        for name in [
            "etc/passwd",
            "./etc/passwd",
            "/etc/passwd",
            "../../etc/passwd",
        ] {
            let mut s = String::new();
            g.get(name.as_bytes())
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "pw", "{name}");
        }
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        // A FIFO is refused, never opened (the open would block until a writer came).
        for name in ["link/passwd", "out", "../secret", "etc", "", "fifo"] {
            assert!(g.get(name.as_bytes()).is_err(), "{name}");
        }
    }
}
