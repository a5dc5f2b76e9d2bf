//! The crate's error type: what went wrong, and where (byte offset in the stream, member name).

use std::io;

/// What can go wrong while parsing, disassembling or assembling a tar stream.
///
/// Offsets count bytes from the start of the stream. Member names are shown lossily as UTF-8.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("reading the tar stream at byte {offset}: {source}")]
    Io {
        /// Bytes consumed before the failing read.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The stream ended inside a header, an extension header or a member's data.
    #[error("tar stream truncated at byte {offset}: it ends inside {what}")]
    UnexpectedEof {
        /// Bytes consumed when the end was hit.
        offset: u64,
        /// What was being read, with the member's name where known.
        what: String,
    },
    /// A header block whose checksum does not match its contents (or is not a number): not a tar
    /// header.
    #[error("invalid tar header at byte {offset}: bad checksum")]
    BadChecksum {
        /// Offset of the header block.
        offset: u64,
    },
    /// A header block that is malformed (non-octal numbers, negative size, a zero block followed
    /// by a non-zero block, ...).
    #[error("invalid tar header at byte {offset}: {reason}")]
    InvalidHeader {
        /// Offset of the header block.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A PAX extension header or GNU long name/link whose data exceeds
    /// [`crate::Limits::max_extension_size`]; refused before anything is allocated.
    #[error(
        "{kind} extension header at byte {offset} claims {size} bytes, over the limit of {limit}"
    )]
    ExtensionTooLarge {
        /// Offset of the extension header block.
        offset: u64,
        /// Which extension: "PAX", "PAX global", "GNU long name", "GNU long link", "sparse map".
        kind: &'static str,
        /// The size the header claims.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A member name or link target longer than [`crate::Limits::max_path_len`].
    #[error(
        "member at byte {offset}: name or link target of {len} bytes, over the limit of {limit}"
    )]
    PathTooLong {
        /// Offset of the member's header block.
        offset: u64,
        /// The length found.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Two members whose names are equal after Go's `filepath.Clean` (the Go tar-split refuses
    /// these too: "duplicates of file paths not supported").
    #[error(
        "duplicate path {name:?} (member at byte {offset}): duplicates of file paths not supported"
    )]
    DuplicatePath {
        /// The second member's name.
        name: String,
        /// Offset of the second member's header block.
        offset: u64,
    },
    /// A malformed PAX extended header: bad record syntax, NUL in a key or in a path, link
    /// path, user or group name, or a bad number.
    #[error("invalid PAX header at byte {offset}: {reason}")]
    InvalidPax {
        /// Offset of the PAX header block.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// An invalid sparse map: unsorted or overlapping regions, regions beyond the real size, too
    /// many regions, or data that does not match the map.
    #[error("invalid sparse member {name:?} at byte {offset}: {reason}")]
    InvalidSparse {
        /// The member's name.
        name: String,
        /// Offset of the member's header block.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The entry sink failed.
    #[error("recording tar-split entries: {0}")]
    Sink(#[source] io::Error),
    /// Writing the pass-through or assembled stream failed.
    #[error("writing the output stream: {0}")]
    Output(#[source] io::Error),
    /// The file getter could not open or read a member's payload.
    #[error("payload of {name:?}: {source}")]
    Getter {
        /// The member's name.
        name: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A payload's length or CRC-64 differs from what the metadata recorded.
    #[error("payload of {name:?} does not match the metadata: {reason}")]
    PayloadMismatch {
        /// The member's name.
        name: String,
        /// What differs.
        reason: String,
    },
    /// The metadata could not be read (a JSON or binary decoding error).
    #[error("reading tar-split metadata: {0}")]
    Metadata(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The metadata is inconsistent or cannot be used (described by the message).
    #[error("invalid tar-split metadata: {0}")]
    InvalidMetadata(String),
}

/// Coarse classes of [`Error`], for callers that map errors to exit statuses or messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The tar stream or the metadata is malformed, hostile or over a limit: retrying will not
    /// help.
    InvalidInput,
    /// A payload is missing, unreadable or differs from what the metadata recorded.
    PayloadMismatch,
    /// Reading the input, writing the output or recording the entries failed.
    Io,
}

impl From<crate::json::JsonError> for Error {
    fn from(e: crate::json::JsonError) -> Self {
        Error::Metadata(Box::new(e))
    }
}

impl From<crate::binary::BinaryError> for Error {
    fn from(e: crate::binary::BinaryError) -> Self {
        Error::Metadata(Box::new(e))
    }
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::Sink(_) | Error::Output(_) => ErrorKind::Io,
            Error::Getter { .. } | Error::PayloadMismatch { .. } => ErrorKind::PayloadMismatch,
            Error::UnexpectedEof { .. }
            | Error::BadChecksum { .. }
            | Error::InvalidHeader { .. }
            | Error::ExtensionTooLarge { .. }
            | Error::PathTooLong { .. }
            | Error::DuplicatePath { .. }
            | Error::InvalidPax { .. }
            | Error::InvalidSparse { .. }
            | Error::Metadata(_)
            | Error::InvalidMetadata(_) => ErrorKind::InvalidInput,
        }
    }

    /// Converts into an `io::Error` (for `Read` implementations), keeping `self` as the source.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Error::Io { ref source, .. } => io::Error::new(source.kind(), self),
            Error::UnexpectedEof { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, self),
            Error::Getter { .. } | Error::Sink(_) | Error::Output(_) => io::Error::other(self),
            _ => io::Error::new(io::ErrorKind::InvalidData, self),
        }
    }
}

/// A name for messages: lossy UTF-8.
pub(crate) fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
