//! How a store is opened and how read-write layers are created.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::Driver;

/// Docker's default maximum depth of a layer chain.
pub const DEFAULT_MAX_DEPTH: usize = 125;

/// Which graph driver a store uses.
#[derive(Clone, Default)]
pub enum DriverChoice {
    /// The store's own driver when it exists; else overlay where it works, else vfs.
    #[default]
    Auto,
    /// The overlayfs driver (fails where overlayfs cannot run).
    Overlay,
    /// The copy-based driver (any filesystem, any user).
    Vfs,
    /// A driver the caller built (its home should be under the store's root).
    Custom(Arc<dyn Driver>),
}

impl std::fmt::Debug for DriverChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverChoice::Auto => f.write_str("Auto"),
            DriverChoice::Overlay => f.write_str("Overlay"),
            DriverChoice::Vfs => f.write_str("Vfs"),
            DriverChoice::Custom(d) => write!(f, "Custom({})", d.name()),
        }
    }
}

/// Options for [`crate::Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The store's root directory (holds `metadata.redb`, the driver's home and `tmp/`).
    pub root: PathBuf,
    /// The graph driver.
    pub driver: DriverChoice,
    /// The deepest chain a layer may stand in (1 for a base layer).
    pub max_depth: usize,
    /// Open without writing anything: for listing, inspecting, exporting and checking beside a
    /// live writer.
    pub read_only: bool,
}

impl StoreOptions {
    /// Options for a writable store at `root` with the default driver choice and depth.
    pub fn new(root: impl AsRef<Path>) -> Self {
        StoreOptions {
            root: root.as_ref().to_path_buf(),
            driver: DriverChoice::Auto,
            max_depth: DEFAULT_MAX_DEPTH,
            read_only: false,
        }
    }

    /// The same options with another driver choice.
    pub fn driver(mut self, driver: DriverChoice) -> Self {
        self.driver = driver;
        self
    }

    /// The same options, read-only.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The same options with another maximum depth.
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

/// Prepares a read-write layer's init layer: called with the init layer's mounted root.
pub type InitFn = Box<dyn FnOnce(&Path) -> std::io::Result<()> + Send>;

/// Options for [`crate::Store::create_rw_layer`].
#[derive(Default)]
pub struct RwLayerOpts {
    /// SELinux mount label for the layer's mounts.
    pub mount_label: Option<String>,
    /// Prepares the init layer (the files every container gets: `/etc/hosts`, ...).
    pub init: Option<InitFn>,
    /// Driver-specific storage options.
    pub storage_opts: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for RwLayerOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLayerOpts")
            .field("mount_label", &self.mount_label)
            .field("init", &self.init.as_ref().map(|_| "fn"))
            .field("storage_opts", &self.storage_opts)
            .finish()
    }
}
