//! The driver trait and the plain data types it exchanges with the store.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use tar_split::{FileGetter, TarReader};

use crate::check::DriverFinding;
use crate::Result;

/// Options for creating a layer.
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    /// SELinux mount label for the layer's mounts, if any.
    pub mount_label: Option<String>,
    /// Driver-specific storage options (`size=10G`, ...); unknown keys are an error.
    pub storage_opts: BTreeMap<String, String>,
}

/// Options for mounting a layer.
#[derive(Debug, Clone, Default)]
pub struct MountOpts {
    /// SELinux mount label, if any.
    pub mount_label: Option<String>,
    /// Mount read-only (committed layers are always mounted read-only).
    pub read_only: bool,
}

/// What a driver can do, so the store can decide how to use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `diff` of a layer filled by `apply_diff` reproduces the applied tar byte for byte.
    pub reproducible_diff: bool,
    /// The deepest chain of layers the driver can mount.
    pub max_depth: usize,
    /// `get` produces a real mount (the store must `put` it and may find it in mountinfo).
    pub mounts: bool,
}

/// One layer the driver holds on disk, as `layers` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerListing {
    /// The layer's ID (its directory name).
    pub id: String,
    /// Whether `finalize` completed: an incomplete layer is a leftover of an interrupted creation.
    pub complete: bool,
}

/// How a path changed between a layer and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// The path's content or metadata changed.
    Modify,
    /// The path is new.
    Add,
    /// The path was deleted.
    Delete,
}

/// A changed path, absolute from the layer's root (`/etc/passwd`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// The path, absolute from the layer's root, raw bytes joined by `/`.
    pub path: Vec<u8>,
    /// How it changed.
    pub kind: ChangeKind,
}

/// A graph driver: the filesystem work behind a layer store.
///
/// Layer IDs are opaque names chosen by the store (hex cache-IDs, `<mount-id>-init`); a driver
/// refuses IDs that cannot be a single directory name. All methods are safe to call from several
/// threads at once for different layers.
pub trait Driver: Send + Sync {
    /// The driver's name as the store records it (`overlay`, `vfs`).
    fn name(&self) -> &'static str;

    /// Key/value pairs a user can read (backing filesystem, native diff, mount API, ...).
    fn status(&self) -> Vec<(String, String)>;

    /// What this driver can do.
    fn capabilities(&self) -> Capabilities;

    /// Creates an empty layer `id` above `parent`, marked incomplete until [`Driver::finalize`].
    fn create(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()>;

    /// Creates a read-write layer `id` above `parent` (a container's layer), complete at once.
    fn create_read_write(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()>;

    /// Makes the layer's files durable and marks it complete. After it returns, a crash leaves
    /// the layer whole.
    fn finalize(&self, id: &str) -> Result<()>;

    /// Removes the layer and everything of it on disk. Removing a layer that does not exist is
    /// not an error (removal must be idempotent for crash recovery); removing a mounted one is
    /// [`crate::DriverError::Busy`].
    fn remove(&self, id: &str) -> Result<()>;

    /// Mounts the layer (or counts one more user of its mount) and returns the path of its
    /// root directory.
    fn get(&self, id: &str, opts: &MountOpts) -> Result<PathBuf>;

    /// Drops one user of the layer's mount; the last one unmounts it.
    fn put(&self, id: &str) -> Result<()>;

    /// Whether the layer exists (complete or not).
    fn exists(&self, id: &str) -> bool;

    /// Every layer directory the driver holds, complete or not: for recovery and fsck.
    fn layers(&self) -> Result<Vec<LayerListing>>;

    /// Per-layer facts for `inspect` (paths such as `UpperDir`, `LowerDir`, `WorkDir`, `MergedDir`).
    fn metadata(&self, id: &str) -> Result<BTreeMap<String, String>>;

    /// Unmounts everything this driver mounted; called when the store closes.
    fn cleanup(&self) -> Result<()>;

    /// Fills the layer from a tar stream, entry by entry, confined to the layer (see the crate's
    /// safety rules), and returns the size of what was applied. On error nothing of the tar is
    /// left in the layer that the caller could take for content: the caller removes the layer.
    fn apply_diff(&self, id: &str, parent: Option<&str>, tar: &mut TarReader<'_>) -> Result<u64>;

    /// A tar of the layer's changes against `parent`, whiteouts in OCI form.
    fn diff(&self, id: &str, parent: Option<&str>) -> Result<Box<dyn Read + Send>>;

    /// The paths that changed between `parent` and the layer, sorted by path.
    fn changes(&self, id: &str, parent: Option<&str>) -> Result<Vec<Change>>;

    /// The size of the layer's changes against `parent`, in bytes of file content.
    fn diff_size(&self, id: &str, parent: Option<&str>) -> Result<u64>;

    /// A getter of the payloads of the files the layer itself holds (not its parents'), by the
    /// names a tar-split of the layer records: for byte-exact reassembly of its tar.
    fn file_getter(&self, id: &str) -> Result<Box<dyn FileGetter + Send>>;

    /// How many users the layer's mount has, including a mount adopted from an earlier process
    /// (0: not mounted). The default, for drivers without real mounts, is 0.
    fn mount_count(&self, _id: &str) -> usize {
        0
    }

    /// Checks what only this driver knows of the layer `id`'s layout (overlay: the `link` file,
    /// the `l/` symlink, the `lower` file), given the driver IDs of the layers below it, nearest
    /// first, as the store's metadata records the chain. Changes nothing on disk. The default
    /// finds nothing: a driver without such files has nothing to add to the store's own checks.
    fn check_layer(&self, id: &str, lower_ids: &[&str]) -> Vec<DriverFinding> {
        let _ = (id, lower_ids);
        Vec::new()
    }

    /// Repairs one finding [`Driver::check_layer`] returned for the same layer and chain.
    /// `Ok(true)`: fixed; `Ok(false)`: this driver cannot fix it without loss (the store decides
    /// what to do with the layer). The default fixes nothing.
    fn repair_layer(&self, id: &str, lower_ids: &[&str], finding: &DriverFinding) -> Result<bool> {
        let _ = (id, lower_ids, finding);
        Ok(false)
    }
}
