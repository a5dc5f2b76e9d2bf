//! Fd-relative directory walking inside a layer: every component is opened with
//! `O_NOFOLLOW|O_DIRECTORY` from its parent's descriptor, so no symlink is ever followed and paths
//! of any depth work. The open directories of the last path walked are kept: tars list a
//! directory's entries together, so the next entry almost always reuses them.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fsutil::remove_all_at;

pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Why a walk failed: the system call's answer and the component it concerned.
#[derive(Debug)]
pub(crate) struct WalkError {
    pub(crate) errno: Errno,
    pub(crate) what: &'static str,
}

/// The layer root and a cache of the directories of the last walked path.
pub(crate) struct Walker {
    root: Arc<OwnedFd>,
    /// Names and descriptors of the directories below the root on the last walked path
    /// (shared, so a caller keeps a directory open while the cache moves on).
    stack: Vec<(Vec<u8>, Arc<OwnedFd>)>,
    /// Directories created implicitly (missing parents), as cleaned paths.
    pub(crate) created: Vec<Vec<u8>>,
    /// Make directories the caller owns writable when they are not (unprivileged applies over a
    /// parent layer's read-only directories); their modes before, by cleaned path.
    fix_perms: bool,
    checked: std::collections::HashSet<Vec<u8>>,
    pub(crate) made_writable: Vec<(Vec<u8>, u32)>,
}

impl Walker {
    pub(crate) fn new(root: OwnedFd, fix_perms: bool) -> Self {
        Self {
            root: Arc::new(root),
            stack: Vec::new(),
            created: Vec::new(),
            fix_perms,
            checked: std::collections::HashSet::new(),
            made_writable: Vec::new(),
        }
    }

    /// With `fix_perms`, makes the directory `fd` at `path` writable and searchable by its owner
    /// (once per directory), remembering its mode to restore it at the end.
    pub(crate) fn ensure_writable(
        &mut self,
        fd: BorrowedFd<'_>,
        path: &[&[u8]],
    ) -> Result<(), WalkError> {
        if !self.fix_perms {
            return Ok(());
        }
        let key = crate::apply::path::join(path);
        if self.checked.contains(&key) {
            return Ok(());
        }
        let st = rfs::fstat(fd).map_err(|errno| WalkError {
            errno,
            what: "stat directory",
        })?;
        if st.st_mode & 0o300 != 0o300 {
            rfs::fchmod(fd, Mode::from_raw_mode((st.st_mode | 0o700) & 0o7777)).map_err(
                |errno| WalkError {
                    errno,
                    what: "make directory writable",
                },
            )?;
            self.made_writable.push((key.clone(), st.st_mode & 0o7777));
        }
        self.checked.insert(key);
        Ok(())
    }

    pub(crate) fn root(&self) -> Arc<OwnedFd> {
        self.root.clone()
    }

    /// The directory at `dirs` below the root. With `create`, missing directories are made
    /// (mode 0755) and a non-directory standing where a directory is needed (a symlink, a file)
    /// is removed and replaced by a directory; without it, those are errors.
    pub(crate) fn dir(&mut self, dirs: &[&[u8]], create: bool) -> Result<Arc<OwnedFd>, WalkError> {
        let common = self
            .stack
            .iter()
            .zip(dirs)
            .take_while(|((name, _), comp)| name.as_slice() == **comp)
            .count();
        self.stack.truncate(common);
        for depth in common..dirs.len() {
            let name = dirs[depth];
            let parent = match self.stack.last() {
                Some((_, fd)) => fd.clone(),
                None => self.root.clone(),
            };
            let fd = match open_subdir(parent.as_fd(), name, create) {
                Err((Errno::ACCESS, _)) if create && self.fix_perms => {
                    self.ensure_writable(parent.as_fd(), &dirs[..depth])?;
                    open_subdir(parent.as_fd(), name, create)
                }
                other => other,
            }
            .map_err(|(errno, what)| WalkError { errno, what })?;
            if let Some(made) = fd.1 {
                if made {
                    self.created.push(crate::apply::path::join(&dirs[..=depth]));
                }
            }
            self.stack.push((name.to_vec(), Arc::new(fd.0)));
        }
        let fd = match self.stack.last() {
            Some((_, fd)) => fd.clone(),
            None => self.root.clone(),
        };
        if create {
            // The caller is about to create or replace something in it.
            self.ensure_writable(fd.as_fd(), dirs)?;
        }
        Ok(fd)
    }

    /// Records that the directory `name` was just opened as `fd` inside the directory last
    /// returned by [`Walker::dir`] for `dirs`, so the next walk below it reuses the descriptor.
    pub(crate) fn push(&mut self, dirs_len: usize, name: &[u8], fd: OwnedFd) {
        if self.stack.len() == dirs_len {
            self.stack.push((name.to_vec(), Arc::new(fd)));
        }
    }

    /// Forgets cached directories deeper than `depth` components: called after removing or
    /// replacing something inside the directory at that depth.
    pub(crate) fn forget_below(&mut self, depth: usize) {
        self.stack.truncate(depth);
    }
}

/// Opens `name` in `parent` as a directory; the bool says whether it had to be created.
fn open_subdir(
    parent: BorrowedFd<'_>,
    name: &[u8],
    create: bool,
) -> Result<(OwnedFd, Option<bool>), (Errno, &'static str)> {
    match rfs::openat(parent, name, dir_flags(), Mode::empty()) {
        Ok(fd) => return Ok((fd, Some(false))),
        Err(Errno::NOENT) if create => {}
        // ENOTDIR: a file; ELOOP: a symlink (never followed).
        Err(Errno::NOTDIR) | Err(Errno::LOOP) if create => {
            remove_all_at(parent, name).map_err(|(what, e)| (e, what))?;
        }
        Err(e) => return Err((e, "open parent directory")),
    }
    match rfs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err((e, "create parent directory")),
    }
    let fd = rfs::openat(parent, name, dir_flags(), Mode::empty())
        .map_err(|e| (e, "open created parent directory"))?;
    Ok((fd, Some(true)))
}

/// The kind of what stands at `name` in `dir`, without following a symlink; `None` if nothing.
pub(crate) fn kind_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<FileType>, Errno> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
