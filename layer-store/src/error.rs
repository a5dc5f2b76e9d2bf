//! Errors of the layer store: each names the layer, mount or file concerned.

use metadata::ChainId;

/// A store operation's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No layer with this ChainID is in the store.
    #[error("layer {0} does not exist")]
    LayerDoesNotExist(ChainId),
    /// The layer handle was already released (or never referenced).
    #[error("layer {0} is not retained: it was already released")]
    LayerNotRetained(ChainId),
    /// The layer has child layers or read-write layers on top of it.
    #[error("layer {chain_id} has {children} child layer(s) or read-write layer(s) on top of it")]
    LayerHasChildren {
        /// The layer.
        chain_id: ChainId,
        /// How many layers and read-write layers stand on it.
        children: usize,
    },
    /// No read-write layer with this name exists.
    #[error("read-write layer {0:?} does not exist")]
    MountDoesNotExist(String),
    /// A read-write layer with this name exists already.
    #[error("read-write layer {0:?} exists already")]
    MountNameConflict(String),
    /// The read-write layer is mounted and cannot be released.
    #[error("read-write layer {name:?} is mounted ({count} mount(s)); unmount it first")]
    ActiveMount {
        /// The read-write layer's name.
        name: String,
        /// Its mount count.
        count: usize,
    },
    /// Unmount of a read-write layer that is not mounted.
    #[error("read-write layer {0:?} is not mounted")]
    NotMounted(String),
    /// The new layer would stand deeper than the store allows.
    #[error("layer on {parent} would be at depth {depth}, beyond the maximum of {max}")]
    MaxDepthExceeded {
        /// The parent layer.
        parent: ChainId,
        /// The depth the new layer would have.
        depth: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The layer is not an ancestor of the layer it was asked about.
    #[error("layer {ancestor} is not a parent of layer {layer}")]
    NotAncestor {
        /// The layer asked about.
        layer: ChainId,
        /// The supposed ancestor (boxed: ChainIDs are stored inline and large).
        ancestor: Box<ChainId>,
    },
    /// The operation is not supported (by this driver, in read-only mode, ...).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The store was opened read-only.
    #[error("the store at {0} is open read-only")]
    ReadOnly(std::path::PathBuf),
    /// The layer tar was refused or could not be read.
    #[error("registering a layer on {parent}: {reason}")]
    InvalidLayer {
        /// The parent the layer was to stand on (`none` for a base layer).
        parent: String,
        /// What was wrong.
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The exported content of a layer does not match its DiffID or its tar-split.
    #[error("layer {chain_id} is corrupt: {reason}")]
    Corrupt {
        /// The layer.
        chain_id: ChainId,
        /// What did not verify (the first file whose size or CRC differs, or the digest).
        reason: String,
    },
    /// The metadata database failed (boxed: it is large, and errors travel on every path).
    #[error(transparent)]
    Metadata(Box<metadata::Error>),
    /// The graph driver failed.
    #[error(transparent)]
    Driver(Box<graphdriver::DriverError>),
    /// An I/O failure, with what was being done.
    #[error("{op}: {source}")]
    Io {
        /// What was being done, with the path or layer.
        op: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A cleanup after a failure failed too: both errors are kept.
    #[error("{cause}; and cleaning up after it failed: {cleanup}")]
    CleanupFailed {
        /// The original failure.
        cause: Box<StoreError>,
        /// The failure of the cleanup.
        cleanup: Box<StoreError>,
    },
}

impl From<metadata::Error> for StoreError {
    fn from(err: metadata::Error) -> Self {
        StoreError::Metadata(Box::new(err))
    }
}

impl From<graphdriver::DriverError> for StoreError {
    fn from(err: graphdriver::DriverError) -> Self {
        StoreError::Driver(Box::new(err))
    }
}

/// A coarse classification, for callers that map errors to exit statuses or HTTP codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named layer or mount does not exist.
    NotFound,
    /// The name is taken.
    AlreadyExists,
    /// The operation's precondition does not hold (children, mounts, depth, retained).
    FailedPrecondition,
    /// The input was refused.
    InvalidInput,
    /// Not supported here.
    NotSupported,
    /// Stored data does not verify.
    DataLoss,
    /// Anything else.
    Io,
}

impl StoreError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::LayerDoesNotExist(_) | StoreError::MountDoesNotExist(_) => {
                ErrorKind::NotFound
            }
            StoreError::MountNameConflict(_) => ErrorKind::AlreadyExists,
            StoreError::LayerNotRetained(_)
            | StoreError::LayerHasChildren { .. }
            | StoreError::ActiveMount { .. }
            | StoreError::NotMounted(_)
            | StoreError::MaxDepthExceeded { .. }
            | StoreError::NotAncestor { .. }
            | StoreError::ReadOnly(_) => ErrorKind::FailedPrecondition,
            StoreError::InvalidLayer { .. } => ErrorKind::InvalidInput,
            StoreError::NotSupported(_) => ErrorKind::NotSupported,
            StoreError::Corrupt { .. } => ErrorKind::DataLoss,
            StoreError::Metadata(_)
            | StoreError::Driver(_)
            | StoreError::Io { .. }
            | StoreError::CleanupFailed { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            op: op.into(),
            source,
        }
    }

    /// Keeps both the original failure and the failure of the cleanup after it.
    pub(crate) fn with_cleanup(self, cleanup: Option<StoreError>) -> Self {
        match cleanup {
            None => self,
            Some(cleanup) => StoreError::CleanupFailed {
                cause: Box::new(self),
                cleanup: Box::new(cleanup),
            },
        }
    }
}
