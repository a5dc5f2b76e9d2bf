//! The crate's error type: each variant names the file, record or layer concerned.

use std::io;
use std::path::PathBuf;

use crate::id::ChainId;

/// A coarse classification of [`Error`], for mapping to exit statuses and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The layer, mount or store does not exist.
    NotFound,
    /// The layer already exists.
    AlreadyExists,
    /// Another process (or handle) holds the store, or transactions are still open.
    InUse,
    /// The store cannot be used this way: read-only, another driver, a newer schema, or it needs
    /// a writer to recover it first.
    Precondition,
    /// The caller passed something unusable (a transaction without a DiffID, an empty driver name
    /// for a new store, ...).
    Invalid,
    /// The database file or a record in it is damaged.
    Corrupt,
    /// An I/O or database failure.
    Io,
}

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database file could not be opened.
    #[error("cannot open metadata database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::DatabaseError,
    },
    /// Another writer has the store open.
    #[error("metadata store {} is in use by {}", path.display(),
            pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}")))]
    InUse {
        /// The database file.
        path: PathBuf,
        /// The writer's pid, when it recorded one.
        pid: Option<u32>,
    },
    /// The file was not closed cleanly and no writer is running to recover it; a read-only
    /// open cannot repair it.
    #[error("metadata database {} needs recovery after an unclean shutdown: open the store \
             read-write once", path.display())]
    NeedsRecovery {
        /// The database file.
        path: PathBuf,
    },
    /// The store was written by a newer program.
    #[error("metadata database {} has schema version {found}; this program supports up to \
             {supported}", path.display())]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this program reads.
        supported: u32,
    },
    /// The store belongs to another storage driver.
    #[error("metadata store {} belongs to driver {store:?}, not {requested:?}", path.display())]
    DriverMismatch {
        /// The database file.
        path: PathBuf,
        /// The driver recorded in the store.
        store: String,
        /// The driver asked for.
        requested: String,
    },
    /// A layer, mount or file does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `layer sha256:...`.
        what: String,
    },
    /// A commit named a ChainID that is already recorded.
    #[error("layer {chain} already exists")]
    AlreadyExists {
        /// The ChainID taken.
        chain: ChainId,
    },
    /// A record, chunk or the database file itself is damaged or unreadable.
    #[error("corrupt {record}: {reason}")]
    Corrupt {
        /// What is damaged, e.g. `layer record sha256:... in /x/metadata.redb`.
        record: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A change was asked of a store opened read-only.
    #[error("metadata store {} is open read-only", path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The caller's input cannot be used.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: String,
        /// Why.
        reason: String,
    },
    /// The store has open transactions or readers, so it cannot be checked now.
    #[error("metadata database {}: {what}", path.display())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What is still open.
        what: String,
    },
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// redb failed for a reason other than damage.
    #[error("metadata database {}: {op}: {source}", path.display())]
    Redb {
        /// The database file.
        path: PathBuf,
        /// The operation that failed.
        op: String,
        /// What redb reported.
        #[source]
        source: Box<redb::Error>,
    },
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::InUse { .. } | Error::Busy { .. } => ErrorKind::InUse,
            Error::NeedsRecovery { .. }
            | Error::SchemaTooNew { .. }
            | Error::DriverMismatch { .. }
            | Error::ReadOnly { .. } => ErrorKind::Precondition,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Open { .. } | Error::Io { .. } | Error::Redb { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps this error for a `Read` or `Write` implementation; `Error::from_io` gets it back.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self.kind() {
            ErrorKind::Corrupt => io::ErrorKind::InvalidData,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}
