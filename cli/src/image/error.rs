//! Errors of reading an image: each names the image file, the member or the layer concerned.

use std::path::PathBuf;

/// What was wrong with an image, or with reading it.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image file or directory could not be read.
    #[error("reading image {path}: {source}")]
    Io {
        /// The file or directory (or member path) being read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Neither `manifest.json` (docker-archive) nor `index.json` (OCI layout) is there.
    #[error(
        "{0}: not an image: it has neither manifest.json (docker save) nor index.json (OCI layout)"
    )]
    UnknownFormat(String),
    /// A file the image names is not in it.
    #[error("{image}: {what} {path:?} is missing from the image")]
    Missing {
        /// The image.
        image: String,
        /// What the missing file is (config, manifest, layer 2 of 3, ...).
        what: String,
        /// Its path inside the image.
        path: String,
    },
    /// A path inside the image leaves the image (absolute, `..`, a link pointing out).
    #[error("{image}: {path:?} points outside the image")]
    OutsidePath {
        /// The image.
        image: String,
        /// The offending path.
        path: String,
    },
    /// A JSON document of the image does not parse or lacks a field.
    #[error("{image}: {what} is not valid: {reason}")]
    InvalidJson {
        /// The image.
        image: String,
        /// Which document (manifest.json, index.json, the config ...).
        what: String,
        /// The parser's message.
        reason: String,
    },
    /// A digest is malformed or uses an algorithm other than sha256.
    #[error("{image}: {what} has digest {digest:?}: {reason}")]
    BadDigest {
        /// The image.
        image: String,
        /// Whose digest.
        what: String,
        /// The digest as written.
        digest: String,
        /// Why it is refused.
        reason: String,
    },
    /// A blob's content does not match the digest (or size) its descriptor gives.
    #[error("{image}: {what} ({path}) does not match its descriptor: {reason}")]
    BlobMismatch {
        /// The image.
        image: String,
        /// Which blob (config, manifest, layer 2 of 3 ...).
        what: String,
        /// Its path inside the image.
        path: String,
        /// Expected versus found.
        reason: String,
    },
    /// A layer's uncompressed content does not match the config's `rootfs.diff_ids`.
    #[error(
        "{image}: layer {index} of {count} ({path}) has DiffID {actual}, \
         the image config says {expected}"
    )]
    DiffIdMismatch {
        /// The image.
        image: String,
        /// 1-based position of the layer, bottom first.
        index: usize,
        /// The number of layers.
        count: usize,
        /// The layer blob's path inside the image.
        path: String,
        /// The DiffID the config gives.
        expected: String,
        /// The DiffID of the content.
        actual: String,
    },
    /// The manifest and the config disagree, or the image is otherwise unusable.
    #[error("{image}: {reason}")]
    Invalid {
        /// The image.
        image: String,
        /// What is wrong.
        reason: String,
    },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(image: &str, reason: impl Into<String>) -> Self {
        ImageError::Invalid {
            image: image.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(image: &str, what: &str, reason: impl std::fmt::Display) -> Self {
        ImageError::InvalidJson {
            image: image.to_owned(),
            what: what.to_owned(),
            reason: reason.to_string(),
        }
    }
}
