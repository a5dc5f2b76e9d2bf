//! The copy-based graph driver: works on any filesystem and as any user.
//!
//! # Layout
//! ```text
//! <home>/                    the driver's home, <root>/vfs
//!   dir/<id>/                the layer's whole tree: a copy of its parent's, then its own changes
//!   dir/<id>.incomplete      present while the layer is being created or removed
//! ```
//! A layer is a full copy of its parent (reflinked where the filesystem can) with its tar applied
//! in place: whiteouts delete, opaque markers empty the directory of what the parent held. `get`
//! mounts nothing: it hands out the directory and counts its users, so `remove` of a layer in
//! use is refused as it is for real mounts. Diffs compare a layer's tree with its parent's.
//! There is no read-only view: `MountOpts::read_only` cannot be enforced without a mount, so
//! the store must not write into a committed layer's directory.
//!
//! Known limits: a diff writes a sparse file's holes as zeros (the layer on disk stays sparse);
//! reflinks are used only where the filesystem supports `FICLONE` (btrfs, XFS), elsewhere files
//! are copied in the kernel (`copy_file_range`) extent by extent.
//!
//! # Invariants
//! A `dir/<id>` without its marker is complete and durable (the shared incomplete-marker
//! protocol in [`graphdriver::fsutil`]); a marker means the layer is garbage to remove.
//!
//! # Security
//! Layer tars are applied by [`graphdriver::apply`], confined to `dir/<id>`; see its notes.
//! Without root, owners are not restored, device nodes are left out and only `user.*` xattrs
//! are kept.

mod copy;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use graphdriver::apply::{apply_tar, ApplyOptions, WhiteoutMode};
use graphdriver::changes::{changes_dirs, changes_size};
use graphdriver::diff::{write_changes_tar, TarPipe};
use graphdriver::getter::DirFileGetter;
use graphdriver::{
    fsutil, validate_id, Capabilities, Change, CreateOpts, Driver, DriverError, LayerListing,
    MountOpts, MountRefs, Result,
};
use tar_split::{FileGetter, TarReader};

pub use copy::copy_tree;

/// The driver's name as the store records it.
pub const NAME: &str = "vfs";

/// How deep a chain may grow: the tree is copied, not stacked, so depth costs only disk space.
pub const MAX_DEPTH: usize = 4096;

/// The copy-based driver (see the crate docs for the layout).
#[derive(Debug)]
pub struct VfsDriver {
    home: PathBuf,
    dirs: PathBuf,
    refs: MountRefs,
    privileged: bool,
}

impl VfsDriver {
    /// Opens (creating it if needed) the driver's home, `<root>/vfs`.
    pub fn new(home: &Path) -> Result<Self> {
        let dirs = home.join("dir");
        std::fs::create_dir_all(&dirs).map_err(|source| DriverError::Io {
            op: "create driver home",
            path: dirs.clone(),
            source,
        })?;
        Ok(Self {
            home: home.to_owned(),
            dirs,
            refs: MountRefs::new(),
            privileged: rustix::process::geteuid().is_root(),
        })
    }

    /// The directory holding layer `id`'s tree.
    pub fn layer_dir(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        Ok(self.dirs.join(id))
    }

    fn existing(&self, id: &str) -> Result<PathBuf> {
        let dir = self.layer_dir(id)?;
        if dir.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
            Ok(dir)
        } else {
            Err(DriverError::UnknownLayer { id: id.to_owned() })
        }
    }

    fn parent_dir(&self, parent: Option<&str>) -> Result<Option<PathBuf>> {
        parent.map(|p| self.existing(p)).transpose()
    }

    fn check_opts(opts: &CreateOpts) -> Result<()> {
        if let Some(key) = opts.storage_opts.keys().next() {
            return Err(DriverError::NotSupported {
                driver: NAME,
                reason: format!("storage option {key:?} is not known to the vfs driver"),
            });
        }
        Ok(())
    }

    fn create_dir(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<PathBuf> {
        Self::check_opts(opts)?;
        let dir = self.layer_dir(id)?;
        let parent_dir = self.parent_dir(parent)?;
        fsutil::create_incomplete_dir(&dir)?;
        if let Some(p) = parent_dir {
            if let Err(e) = copy_tree(&p, &dir, self.privileged) {
                // Keep both: the copy's failure is the cause, a failed cleanup is left to recovery
                // (the marker is still there).
                let _ = fsutil::remove_layer_dir(&dir);
                return Err(e);
            }
        }
        Ok(dir)
    }
}

impl Driver for VfsDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn status(&self) -> Vec<(String, String)> {
        vec![
            ("Home".into(), self.home.display().to_string()),
            ("Privileged".into(), self.privileged.to_string()),
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            reproducible_diff: false,
            max_depth: MAX_DEPTH,
            mounts: false,
        }
    }

    fn create(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()> {
        self.create_dir(id, parent, opts).map(drop)
    }

    fn create_read_write(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()> {
        let dir = self.create_dir(id, parent, opts)?;
        fsutil::finalize_dir(&dir)
    }

    fn finalize(&self, id: &str) -> Result<()> {
        fsutil::finalize_dir(&self.existing(id)?)
    }

    fn remove(&self, id: &str) -> Result<()> {
        let dir = self.layer_dir(id)?;
        let users = self.refs.count(id);
        if users > 0 {
            return Err(DriverError::Busy {
                id: id.to_owned(),
                reason: format!("in use by {users} get(s) without put"),
            });
        }
        fsutil::remove_layer_dir(&dir)
    }

    fn get(&self, id: &str, _opts: &MountOpts) -> Result<PathBuf> {
        let dir = self.existing(id)?;
        self.refs.get(id, || Ok(()))?;
        Ok(dir)
    }

    fn put(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        self.refs.put(id, || Ok(())).map(drop)
    }

    fn mount_count(&self, id: &str) -> usize {
        self.refs.count(id)
    }

    fn exists(&self, id: &str) -> bool {
        self.existing(id).is_ok()
    }

    fn layers(&self) -> Result<Vec<LayerListing>> {
        let read = std::fs::read_dir(&self.dirs).map_err(|source| DriverError::Io {
            op: "list layers",
            path: self.dirs.clone(),
            source,
        })?;
        let mut out = BTreeMap::new();
        for entry in read {
            let entry = entry.map_err(|source| DriverError::Io {
                op: "list layers",
                path: self.dirs.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A marker without its directory is a creation interrupted before the mkdir.
            let id = match name.strip_suffix(".incomplete") {
                Some(id) => id.to_owned(),
                None if entry.file_type().is_ok_and(|t| t.is_dir()) => name,
                // Not a layer: nothing the driver made (fsck may report it).
                None => continue,
            };
            let complete = !fsutil::is_incomplete(&self.dirs.join(&id));
            out.insert(id.clone(), LayerListing { id, complete });
        }
        Ok(out.into_values().collect())
    }

    fn metadata(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let dir = self.existing(id)?;
        Ok(BTreeMap::from([(
            "Dir".to_owned(),
            dir.display().to_string(),
        )]))
    }

    fn cleanup(&self) -> Result<()> {
        // Nothing is mounted; forget the users so a reopened store starts from zero.
        self.refs.unmount_all(|_| Ok(()))
    }

    fn apply_diff(&self, id: &str, _parent: Option<&str>, tar: &mut TarReader<'_>) -> Result<u64> {
        let dir = self.existing(id)?;
        let mut opts = ApplyOptions::new(id, WhiteoutMode::Delete);
        opts.privileged = self.privileged;
        apply_tar(&dir, tar, &opts)
    }

    fn diff(&self, id: &str, parent: Option<&str>) -> Result<Box<dyn Read + Send>> {
        let dir = self.existing(id)?;
        let parent_dir = self.parent_dir(parent)?;
        let pipe = TarPipe::spawn(id, move |out| {
            let changes = changes_dirs(&dir, parent_dir.as_deref())?;
            write_changes_tar(&dir, &changes, out)
        })?;
        Ok(Box::new(pipe))
    }

    fn changes(&self, id: &str, parent: Option<&str>) -> Result<Vec<Change>> {
        let dir = self.existing(id)?;
        changes_dirs(&dir, self.parent_dir(parent)?.as_deref())
    }

    fn diff_size(&self, id: &str, parent: Option<&str>) -> Result<u64> {
        let dir = self.existing(id)?;
        let changes = changes_dirs(&dir, self.parent_dir(parent)?.as_deref())?;
        changes_size(&dir, &changes)
    }

    fn file_getter(&self, id: &str) -> Result<Box<dyn FileGetter + Send>> {
        Ok(Box::new(DirFileGetter::new(&self.existing(id)?)?))
    }
}

#[cfg(test)]
mod tests;
