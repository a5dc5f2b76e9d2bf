//! File system helpers every driver shares: durability (`syncfs`, directory `fsync`), the
//! incomplete-marker protocol for layer directories, and safe recursive removal.
//!
//! # The incomplete-marker protocol
//! A layer directory `D` is created together with a marker file `D.incomplete` beside it
//! ([`incomplete_marker`]):
//! 1. [`create_incomplete_dir`] writes the marker (and makes its name durable), then creates `D`;
//! 2. the driver fills `D`;
//! 3. [`finalize_dir`] makes `D`'s files durable with `syncfs`, removes the marker and makes
//!    that removal durable.
//!
//! A crash at any point leaves either nothing, a marker alone, or `D` with its marker: a directory
//! without a marker is always complete and durable. [`remove_layer_dir`] puts the marker back
//! before it deletes anything, so an interrupted removal is seen as an incomplete layer that
//! recovery deletes, never as a damaged complete one.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::id::INCOMPLETE_SUFFIX;
use crate::{DriverError, Result};

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> DriverError + 'a {
    move |e| DriverError::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Opens `path` as a directory without following a symlink in its last component.
pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open directory", path))
}

/// Flushes the whole filesystem that holds `path` (`syncfs`): one call makes every file written
/// into a layer durable, far cheaper than an `fsync` per file.
pub fn syncfs(path: &Path) -> Result<()> {
    let fd = open_dir(path)?;
    rfs::syncfs(&fd).map_err(io_err("syncfs", path))
}

/// Makes the entries of directory `path` durable (`fsync` on the directory): needed after
/// creating, renaming or removing a name in it.
pub fn fsync_dir(path: &Path) -> Result<()> {
    let fd = open_dir(path)?;
    rfs::fsync(&fd).map_err(io_err("fsync directory", path))
}

/// The marker that flags `dir` as incomplete: the file `<dir>.incomplete` beside it.
pub fn incomplete_marker(dir: &Path) -> PathBuf {
    let mut name: OsString = dir.as_os_str().to_owned();
    name.push(INCOMPLETE_SUFFIX);
    PathBuf::from(name)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn layer_id_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_marker(marker: &Path) -> Result<()> {
    rfs::open(
        marker,
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(io_err("create marker", marker))?;
    fsync_dir(parent_of(marker))
}

/// Creates the layer directory `dir` (mode 0700 until its contents say otherwise) flagged
/// incomplete (step 1 of the protocol). Fails with [`DriverError::LayerExists`] when `dir` exists.
pub fn create_incomplete_dir(dir: &Path) -> Result<()> {
    if rfs::statat(rfs::CWD, dir, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Err(DriverError::LayerExists {
            id: layer_id_of(dir),
        });
    }
    write_marker(&incomplete_marker(dir))?;
    match rfs::mkdir(dir, Mode::from_raw_mode(0o700)) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(DriverError::LayerExists {
            id: layer_id_of(dir),
        }),
        Err(e) => Err(io_err("create directory", dir)(e)),
    }
}

/// Whether `dir` carries the incomplete marker.
pub fn is_incomplete(dir: &Path) -> bool {
    rfs::statat(rfs::CWD, incomplete_marker(dir), AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// Makes `dir`'s contents durable and marks it complete (step 3 of the protocol). After it
/// returns, a crash leaves `dir` whole.
pub fn finalize_dir(dir: &Path) -> Result<()> {
    syncfs(dir)?;
    let marker = incomplete_marker(dir);
    match rfs::unlink(&marker) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io_err("remove marker", &marker)(e)),
    }
    fsync_dir(parent_of(dir))
}

/// Removes the layer directory `dir` and its marker, marking it incomplete first so that an
/// interrupted removal is recovered as an incomplete layer. Removing what does not exist is not
/// an error.
pub fn remove_layer_dir(dir: &Path) -> Result<()> {
    let exists = rfs::statat(rfs::CWD, dir, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    let marker = incomplete_marker(dir);
    if exists {
        write_marker(&marker)?;
        remove_all(dir)?;
    }
    match rfs::unlink(&marker) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io_err("remove marker", &marker)(e)),
    }
    fsync_dir(parent_of(dir))
}

/// Removes `path` and everything beneath it, like `rm -rf`, without ever following a symlink or
/// crossing into another mount (a mount point inside the tree is an error, so a mounted layer
/// never loses its lower layers' files through it). Works on trees deeper than `PATH_MAX`, in
/// directories whose modes forbid writing (when the caller owns them), and on files flagged
/// immutable or append-only (when the caller may clear the flags). A missing `path` is not an
/// error.
pub fn remove_all(path: &Path) -> Result<()> {
    let parent = parent_of(path);
    let Some(name) = path.file_name() else {
        return Err(DriverError::Io {
            op: "remove (no final component)",
            path: path.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    };
    let parent_fd = open_dir(parent)?;
    remove_all_at(parent_fd.as_fd(), name.as_encoded_bytes()).map_err(|(op, e)| DriverError::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    })
}

type RemoveError = (&'static str, Errno);

/// Removes `name` in `dir` and, if it is a directory, everything beneath it. Descends with one
/// open directory at a time (climbing back by `..`), so depth costs neither stack nor fds; each
/// directory is read once, its files removed and its subdirectories' names kept for later.
pub(crate) fn remove_all_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> std::result::Result<(), RemoveError> {
    match unlink_entry(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(("remove", e)),
    }
    let top_dev = rfs::fstat(dir).map_err(|e| ("stat", e))?.st_dev;
    // One level per open directory below `dir`: its name and the subdirectories still to remove.
    let mut levels: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    let mut cur = open_child_dir(dir, name, top_dev)?;
    levels.push((name.to_vec(), clear_files(cur.as_fd())?));
    loop {
        let Some((done, pending)) = levels.last_mut() else {
            return Ok(());
        };
        if let Some(child) = pending.pop() {
            let next = open_child_dir(cur.as_fd(), &child, top_dev)?;
            let subdirs = clear_files(next.as_fd())?;
            levels.push((child, subdirs));
            cur = next;
            continue;
        }
        let done = std::mem::take(done);
        levels.pop();
        let parent = if levels.is_empty() {
            rfs::openat(dir, ".", dir_flags(), Mode::empty())
        } else {
            rfs::openat(&cur, "..", dir_flags(), Mode::empty())
        }
        .map_err(|e| ("open parent", e))?;
        match unlink_entry(parent.as_fd(), &done, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(("remove directory", e)),
        }
        cur = parent;
    }
}

/// Removes every non-directory in `dir` and returns the names of its subdirectories.
fn clear_files(dir: BorrowedFd<'_>) -> std::result::Result<Vec<Vec<u8>>, RemoveError> {
    let mut subdirs = Vec::new();
    let mut entries = rfs::Dir::read_from(dir).map_err(|e| ("read directory", e))?;
    while let Some(entry) = entries.read() {
        let entry = entry.map_err(|e| ("read directory", e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if entry.file_type() == rfs::FileType::Directory {
            subdirs.push(name.to_vec());
            continue;
        }
        match unlink_entry(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => subdirs.push(name.to_vec()),
            Err(e) => return Err(("remove", e)),
        }
    }
    Ok(subdirs)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens a subdirectory for removal: never through a symlink, never into another mount, making
/// it readable and writable first if its mode forbids it.
fn open_child_dir(
    parent: BorrowedFd<'_>,
    name: &[u8],
    top_dev: u64,
) -> std::result::Result<OwnedFd, RemoveError> {
    let open = || rfs::openat(parent, name, dir_flags(), Mode::empty());
    let fd = match open() {
        Err(Errno::ACCESS) => {
            rfs::chmodat(parent, name, Mode::from_raw_mode(0o700), AtFlags::empty())
                .map_err(|e| ("make directory accessible", e))?;
            open()
        }
        other => other,
    }
    .map_err(|e| ("open directory", e))?;
    let st = rfs::fstat(&fd).map_err(|e| ("stat", e))?;
    if st.st_dev != top_dev || is_mount_point(parent, name)? {
        return Err(("refusing to remove across a mount point", Errno::XDEV));
    }
    // Removing entries needs write and search permission on the directory.
    if st.st_mode & 0o300 != 0o300 {
        rfs::fchmod(&fd, Mode::from_raw_mode((st.st_mode | 0o700) & 0o7777))
            .map_err(|e| ("make directory writable", e))?;
    }
    Ok(fd)
}

/// Whether `name` in `parent` is a mount point of the same device (a bind mount): `openat2`
/// with `RESOLVE_NO_XDEV` refuses to cross it. Kernels without `openat2` skip this check.
fn is_mount_point(parent: BorrowedFd<'_>, name: &[u8]) -> std::result::Result<bool, RemoveError> {
    match rfs::openat2(
        parent,
        name,
        dir_flags(),
        Mode::empty(),
        rfs::ResolveFlags::NO_XDEV | rfs::ResolveFlags::NO_SYMLINKS | rfs::ResolveFlags::BENEATH,
    ) {
        Ok(_) => Ok(false),
        Err(Errno::XDEV) => Ok(true),
        Err(Errno::NOSYS) | Err(Errno::ACCESS) => Ok(false),
        Err(e) => Err(("open directory", e)),
    }
}

/// `unlinkat`, retrying once after clearing immutable/append-only flags (which make it fail with
/// `EPERM`) and once after making the parent writable (`EACCES`).
fn unlink_entry(dir: BorrowedFd<'_>, name: &[u8], flags: AtFlags) -> rustix::io::Result<()> {
    match rfs::unlinkat(dir, name, flags) {
        Err(Errno::PERM) if flags.is_empty() || flags == AtFlags::REMOVEDIR => {
            clear_inode_flags(dir, name);
            clear_flags_of(dir);
            rfs::unlinkat(dir, name, flags)
        }
        Err(Errno::ACCESS) => {
            if let Ok(st) = rfs::fstat(dir) {
                let _ = rfs::fchmod(dir, Mode::from_raw_mode((st.st_mode | 0o700) & 0o7777));
            }
            rfs::unlinkat(dir, name, flags)
        }
        other => other,
    }
}

fn clear_inode_flags(dir: BorrowedFd<'_>, name: &[u8]) {
    // Only regular files and directories carry these flags; symlinks cannot be opened here.
    if let Ok(fd) = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        clear_flags_of(fd.as_fd());
    }
}

fn clear_flags_of(fd: BorrowedFd<'_>) {
    if let Ok(flags) = rfs::ioctl_getflags(fd) {
        let sticky = rfs::IFlags::IMMUTABLE | rfs::IFlags::APPEND;
        if flags.intersects(sticky) {
            let _ = rfs::ioctl_setflags(fd, flags - sticky);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn marker_protocol_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layer1");
        create_incomplete_dir(&dir).unwrap();
        assert!(dir.is_dir());
        assert!(is_incomplete(&dir));
        assert!(matches!(
            create_incomplete_dir(&dir),
            Err(DriverError::LayerExists { id }) if id == "layer1"
        ));
        fs::write(dir.join("f"), b"x").unwrap();
        finalize_dir(&dir).unwrap();
        assert!(!is_incomplete(&dir));
        remove_layer_dir(&dir).unwrap();
        assert!(!dir.exists());
        assert!(!incomplete_marker(&dir).exists());
        remove_layer_dir(&dir).unwrap();
    }

    #[test]
    fn remove_all_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"k").unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("a/link")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("a/b/link2")).unwrap();
        fs::write(tree.join("a/b/f"), b"f").unwrap();
        remove_all(&tree).unwrap();
        assert!(!tree.exists());
        assert!(outside.join("keep").exists());
        remove_all(&tree).unwrap();
    }

    #[test]
    fn remove_all_handles_deep_and_unwritable_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("deep");
        fs::create_dir(&tree).unwrap();
        // Deeper than PATH_MAX (4096): 300 components of 20 bytes, built fd-relative.
        let mut fd = open_dir(&tree).unwrap();
        let name = "d".repeat(20);
        for _ in 0..300 {
            rfs::mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
            fd = rfs::openat(&fd, name.as_str(), dir_flags(), Mode::empty()).unwrap();
        }
        rfs::openat(
            &fd,
            "file",
            OFlags::CREATE | OFlags::WRONLY,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        rfs::fchmod(&fd, Mode::from_raw_mode(0o500)).unwrap();
        remove_all(&tree).unwrap();
        assert!(!tree.exists());
    }

    #[test]
    fn remove_all_refuses_to_cross_a_mount() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        let mnt = tree.join("merged");
        fs::create_dir_all(&mnt).unwrap();
        rustix::mount::mount(
            "tmpfs",
            &mnt,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .unwrap();
        fs::write(mnt.join("lower-file"), b"must survive").unwrap();
        let err = remove_all(&tree).unwrap_err();
        assert!(err.to_string().contains("mount point"), "{err}");
        assert_eq!(fs::read(mnt.join("lower-file")).unwrap(), b"must survive");
        rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).unwrap();
        remove_all(&tree).unwrap();
        assert!(!tree.exists());
    }
}
