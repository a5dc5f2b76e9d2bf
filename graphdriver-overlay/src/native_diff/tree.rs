//! A walk over a directory tree with fd-relative calls: no symlink is followed, and trees
//! deeper than `PATH_MAX` work. Layer trees hold whatever hostile tars put there.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Flags to open a directory for walking: never through a symlink.
pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens `path` (the walk's root, a path the driver made) as a directory.
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    // The root may be reached through `l/<short>` links, which the driver made: follow those.
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The names in a directory, `.` and `..` left out, sorted bytewise.
pub(crate) fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut entries = Dir::read_from(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

/// One entry met by [`walk`].
pub(crate) struct Entry<'a> {
    /// The entry's path from the root, `/`-separated and starting with `/`.
    pub path: &'a [u8],
    /// The directory holding it.
    pub dir: BorrowedFd<'a>,
    /// Its name in that directory.
    pub name: &'a [u8],
    /// Its `lstat`.
    pub stat: &'a Stat,
}

impl Entry<'_> {
    /// The entry's file type.
    pub(crate) fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode)
    }
}

struct Level {
    fd: OwnedFd,
    names: Vec<Vec<u8>>,
    next: usize,
    path_len: usize,
}

/// Visits every entry below `root` depth first, each directory's names in byte order, a
/// directory before its contents. `visit` returns whether to descend into a directory.
pub(crate) fn walk(
    root: &Path,
    mut visit: impl FnMut(&Entry<'_>) -> io::Result<bool>,
) -> io::Result<()> {
    let fd = open_root(root)?;
    let names = sorted_names(fd.as_fd())?;
    let mut stack = vec![Level {
        fd,
        names,
        next: 0,
        path_len: 0,
    }];
    let mut path = Vec::new();
    while let Some(level) = stack.last_mut() {
        if level.next == level.names.len() {
            stack.pop();
            continue;
        }
        let name = std::mem::take(&mut level.names[level.next]);
        level.next += 1;
        path.truncate(level.path_len);
        path.push(b'/');
        path.extend_from_slice(&name);
        let stat = match rfs::statat(&level.fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            // Removed while walking (a mounted upper changes): nothing to report.
            Err(Errno::NOENT) => continue,
            Err(err) => return Err(err.into()),
        };
        let entry = Entry {
            path: &path,
            dir: level.fd.as_fd(),
            name: &name,
            stat: &stat,
        };
        let descend = visit(&entry)? && entry.file_type() == FileType::Directory;
        if descend {
            let child = rfs::openat(&level.fd, name.as_slice(), dir_flags(), Mode::empty())?;
            let names = sorted_names(child.as_fd())?;
            let path_len = path.len();
            stack.push(Level {
                fd: child,
                names,
                next: 0,
                path_len,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_in_order_without_following_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("a"), b"").unwrap();
        std::fs::write(root.join("b/c/f"), b"").unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("b/up")).unwrap();
        let mut seen = Vec::new();
        walk(&root, |e| {
            seen.push(String::from_utf8_lossy(e.path).into_owned());
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, ["/a", "/b", "/b/c", "/b/c/f", "/b/up"]);
    }
}
