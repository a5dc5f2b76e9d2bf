//! Errors of the graph drivers.

use std::path::PathBuf;

/// A driver operation's result.
pub type Result<T, E = DriverError> = std::result::Result<T, E>;

/// What went wrong in a driver, with the layer or path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The driver cannot work here; the reason says why (no overlay in the kernel, ...).
    #[error("driver {driver} is not supported here: {reason}")]
    NotSupported {
        /// The driver's name.
        driver: &'static str,
        /// Why it cannot run.
        reason: String,
    },
    /// A program, kernel feature or privilege the driver needs is missing.
    #[error("driver {driver}: prerequisites missing: {reason}")]
    PrerequisitesMissing {
        /// The driver's name.
        driver: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The filesystem under the driver's home cannot back this driver (overlay on overlay, no d_type).
    #[error("driver {driver}: incompatible backing filesystem at {path}: {reason}")]
    IncompatibleFs {
        /// The driver's name.
        driver: &'static str,
        /// The driver's home.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No layer with this ID exists in the driver.
    #[error("unknown layer {id}")]
    UnknownLayer {
        /// The layer's ID.
        id: String,
    },
    /// A layer with this ID exists already.
    #[error("layer {id} exists already")]
    LayerExists {
        /// The layer's ID.
        id: String,
    },
    /// The layer is mounted (or otherwise in use) and cannot be removed or changed now.
    #[error("layer {id} is busy: {reason}")]
    Busy {
        /// The layer's ID.
        id: String,
        /// Why.
        reason: String,
    },
    /// `put` of a layer that has no mount user counted.
    #[error("layer {id} is not mounted")]
    NotMounted {
        /// The layer's ID.
        id: String,
    },
    /// An ID that cannot name a directory (empty, `/`, `..`, NUL, too long).
    #[error("invalid layer id {id:?}")]
    InvalidId {
        /// The offending ID.
        id: String,
    },
    /// A layer tar was refused or could not be applied; nothing of it is left in the layer.
    #[error("applying a tar to layer {id}: entry {entry:?}: {reason}")]
    Apply {
        /// The layer's ID.
        id: String,
        /// The member's path as the tar gives it (lossily decoded for display).
        entry: String,
        /// Why it was refused or what failed.
        reason: String,
        /// The underlying I/O error, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The tar stream itself is malformed.
    #[error("layer {id}: malformed tar stream: {source}")]
    Tar {
        /// The layer's ID.
        id: String,
        /// The parser's error.
        #[source]
        source: tar_split::Error,
    },
    /// A mount or unmount failed.
    #[error("layer {id}: {op} failed: {source}")]
    Mount {
        /// The layer's ID.
        id: String,
        /// `mount` or `unmount` (and how).
        op: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// Any other I/O failure, with the operation and the path it concerned.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A coarse classification of driver errors, for callers that map errors to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The driver cannot run here.
    NotSupported,
    /// The named layer does not exist.
    NotFound,
    /// The named layer exists already.
    AlreadyExists,
    /// The layer is in use.
    Busy,
    /// The input (ID or tar) was refused.
    InvalidInput,
    /// Anything else (I/O, mounts).
    Io,
}

impl DriverError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DriverError::NotSupported { .. }
            | DriverError::PrerequisitesMissing { .. }
            | DriverError::IncompatibleFs { .. } => ErrorKind::NotSupported,
            DriverError::UnknownLayer { .. } => ErrorKind::NotFound,
            DriverError::LayerExists { .. } => ErrorKind::AlreadyExists,
            DriverError::Busy { .. } => ErrorKind::Busy,
            DriverError::InvalidId { .. }
            | DriverError::Apply { .. }
            | DriverError::Tar { .. }
            | DriverError::NotMounted { .. } => ErrorKind::InvalidInput,
            DriverError::Mount { .. } | DriverError::Io { .. } => ErrorKind::Io,
        }
    }
}
