//! The command's errors, and how they are printed: one line on stderr naming what failed and
//! why, and an exit status (2 for a command line that makes no sense, 1 for everything else).

use std::error::Error as StdError;
use std::path::PathBuf;

use layer_store::StoreError;

use crate::image::ImageError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line cannot be acted on (a malformed ChainID, no store directory, ...).
    #[error("{0}")]
    Usage(String),
    /// A store operation failed (the store's error names the layer or mount).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image could not be read or does not verify.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Registering one layer of an image failed.
    #[error("{image}: layer {index} of {count} ({path}): {source}")]
    LoadLayer {
        /// The image.
        image: String,
        /// 1-based position of the layer, bottom first.
        index: usize,
        /// The number of layers.
        count: usize,
        /// The layer blob's path inside the image.
        path: String,
        /// What failed.
        #[source]
        source: Box<CliError>,
    },
    /// Undoing a failed load failed too: both are kept.
    #[error("{cause}; and removing what the load had registered failed: {cleanup}")]
    RollbackFailed {
        /// Why the load failed.
        cause: Box<CliError>,
        /// Why the rollback failed.
        cleanup: Box<CliError>,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What was being done (`reading`, `writing`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another I/O failure, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether this is a write into a closed pipe (`layer-store export X | head`): the reader
    /// went away on purpose, so the command ends quietly, as if killed by SIGPIPE.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// The error and its causes on one line: each cause is appended unless the message already
/// says it (errors often repeat their source in their own message).
pub fn one_line(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_appended_once_on_one_line() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = CliError::io("reading x", inner);
        assert_eq!(one_line(&err), "reading x: no such file");
        let wrapped = CliError::LoadLayer {
            image: "img.tar".into(),
            index: 2,
            count: 3,
            path: "blobs/sha256/ab".into(),
            source: Box::new(CliError::Usage("bad\nthing".into())),
        };
        assert_eq!(
            one_line(&wrapped),
            "img.tar: layer 2 of 3 (blobs/sha256/ab): bad; thing"
        );
        assert_eq!(wrapped.exit_code(), 1);
    }
}
