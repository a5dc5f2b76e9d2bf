//! [`DirGetter`]: payloads from a directory (e.g. an extracted layer), confined to it.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstat, open, openat, openat2, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::clean::go_clean;
use crate::{FileGetter, Payload};

/// A [`FileGetter`] over a directory: `name` is opened relative to the root, never outside it.
///
/// Names with a NUL byte and names whose `..` components climb above the root are refused
/// (`InvalidInput`); a leading `/` is ignored (absolute names are taken from the root, as the Go
/// getter does). Opening uses `openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so
/// symlinks inside the tree resolve within the root; where the kernel lacks `openat2`, each
/// component is opened with `O_NOFOLLOW` instead (symlinks are then refused).
#[derive(Debug)]
pub struct DirGetter {
    root: OwnedFd,
    /// `openat2` returned `ENOSYS` once: walk component by component.
    no_openat2: bool,
}

impl DirGetter {
    /// A getter over the directory `root`.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let fd = open(
            root.as_ref(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self::from_fd(fd))
    }

    /// A getter over the directory open as `root`.
    pub fn from_fd(root: OwnedFd) -> Self {
        DirGetter {
            root,
            no_openat2: false,
        }
    }

    fn open_confined(&mut self, rel: &[u8]) -> io::Result<OwnedFd> {
        // Non-blocking, so that a fifo where a file should be cannot hang the open.
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        if !self.no_openat2 {
            let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
            for _ in 0..16 {
                match openat2(self.root.as_fd(), rel, flags, Mode::empty(), resolve) {
                    // The kernel asks for a retry when a rename raced the lookup.
                    Err(Errno::AGAIN) => continue,
                    Err(Errno::NOSYS) => {
                        self.no_openat2 = true;
                        break;
                    }
                    other => return other.map_err(Into::into),
                }
            }
            if !self.no_openat2 {
                return Err(Errno::AGAIN.into());
            }
        }
        self.walk(rel, flags)
    }

    /// Opens `rel` one component at a time, never following a symlink.
    fn walk(&self, rel: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let comps: Vec<&[u8]> = rel
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let Some((last, dirs)) = comps.split_last() else {
            return openat(self.root.as_fd(), ".", flags, Mode::empty()).map_err(Into::into);
        };
        let mut dir: Option<OwnedFd> = None;
        for comp in dirs {
            let at = dir.as_ref().map_or(self.root.as_fd(), |d| d.as_fd());
            let next = openat(
                at,
                *comp,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            dir = Some(next);
        }
        let at = dir.as_ref().map_or(self.root.as_fd(), |d| d.as_fd());
        Ok(openat(at, *last, flags | OFlags::NOFOLLOW, Mode::empty())?)
    }
}

/// The name relative to the root, cleaned; `None` when it has a NUL or climbs out.
fn confine(name: &[u8]) -> Option<Vec<u8>> {
    if name.contains(&0) {
        return None;
    }
    let clean = go_clean(name);
    let rel = clean.strip_prefix(b"/").unwrap_or(&clean);
    if rel == b".." || rel.starts_with(b"../") {
        return None;
    }
    Some(if rel.is_empty() {
        b".".to_vec()
    } else {
        rel.to_vec()
    })
}

impl FileGetter for DirGetter {
    fn get(&mut self, name: &[u8]) -> io::Result<Box<dyn Payload + '_>> {
        let rel = confine(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing {:?}: a NUL byte or a path that leaves the root",
                    String::from_utf8_lossy(name)
                ),
            )
        })?;
        let fd = self.open_confined(&rel)?;
        // Payloads are regular files: a fifo or device there would block or never end.
        if !FileType::from_raw_mode(fstat(&fd)?.st_mode).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{:?} is not a regular file", String::from_utf8_lossy(name)),
            ));
        }
        Ok(Box::new(File::from(fd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn confinement() {
        assert_eq!(confine(b"a/b"), Some(b"a/b".to_vec()));
        assert_eq!(confine(b"/abs/path.txt"), Some(b"abs/path.txt".to_vec()));
        assert_eq!(confine(b"./a/../b"), Some(b"b".to_vec()));
        assert_eq!(confine(b"../escape.txt"), None);
        assert_eq!(confine(b"a/../../x"), None);
        assert_eq!(confine(b"/../x"), Some(b"x".to_vec()));
        assert_eq!(confine(b"a\0b"), None);
    }

    #[test]
    fn opens_inside_and_refuses_escapes() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"inside").unwrap();
        std::fs::write(outer.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("d/link")).unwrap();
        std::os::unix::fs::symlink("/secret", root.join("abslink")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        for walk in [false, true] {
            let mut g = DirGetter::new(&root).unwrap();
            g.no_openat2 = walk;
            let mut s = String::new();
            g.get(b"./d/f").unwrap().read_to_string(&mut s).unwrap();
            assert_eq!(s, "inside");
            assert!(g.get(b"../secret").is_err());
            assert!(g.get(b"d").is_err(), "a directory is not a payload");
            assert!(g.get(b"fifo").is_err(), "a fifo is not a payload");
            // A symlink pointing out resolves inside the root (openat2) or is refused (walk):
            // either way the outside file is never read.
            for link in [&b"d/link"[..], b"abslink"] {
                if let Ok(mut f) = g.get(link) {
                    let mut s = String::new();
                    let _ = f.read_to_string(&mut s);
                    assert_ne!(s, "outside");
                }
            }
        }
    }
}
