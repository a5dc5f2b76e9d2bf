//! What can go wrong reading Go tar-split JSON metadata.

/// An error reading tar-split JSON metadata. `entry` counts the JSON objects read before the
/// faulty one (0 for the first); `offset` is a byte offset in the decompressed JSON.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The underlying reader (or the gzip decoder: a truncated or corrupt gzip stream) failed.
    #[error("reading tar-split JSON at byte {offset}: {source}")]
    Io {
        /// Decompressed bytes consumed before the failure.
        offset: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not the JSON the format allows (bad syntax, a value of the wrong type).
    #[error("tar-split JSON entry {entry}, byte {offset}: {what}")]
    Syntax {
        /// Index of the entry being read.
        entry: u64,
        /// Where the problem was found.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// An entry has no `type`, or one other than 1 (file) and 2 (segment). The Go assembler
    /// skips such entries silently; they are refused here so that no data is lost unnoticed.
    #[error("tar-split JSON entry {entry}: unknown entry type {value}")]
    UnknownType {
        /// Index of the entry.
        entry: u64,
        /// The type found (0 when the key is missing or `null`).
        value: i64,
    },
    /// A `payload` or `name_raw` value is not valid padded standard base64.
    #[error("tar-split JSON entry {entry}: field {field} is not valid base64: {reason}")]
    Base64 {
        /// Index of the entry.
        entry: u64,
        /// The field concerned.
        field: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// A value is larger than the reader's [`JsonLimits`](crate::json::JsonLimits) allow.
    #[error("tar-split JSON entry {entry}: {field} is longer than the limit of {limit} bytes")]
    TooLarge {
        /// Index of the entry.
        entry: u64,
        /// The field concerned.
        field: &'static str,
        /// The limit that was exceeded (decoded bytes).
        limit: usize,
    },
    /// A file entry has a negative `size`.
    #[error("tar-split JSON entry {entry}: file {name:?} has negative size {size}")]
    NegativeSize {
        /// Index of the entry.
        entry: u64,
        /// The file's name (lossy UTF-8).
        name: String,
        /// The size found.
        size: i64,
    },
    /// A file entry with a non-zero size carries no 8-byte CRC-64 checksum: its payload could
    /// never be verified (the Go assembler fails on it too).
    #[error("tar-split JSON entry {entry}: file {name:?} of size {size} has a {len}-byte checksum, not 8 bytes")]
    BadChecksum {
        /// Index of the entry.
        entry: u64,
        /// The file's name (lossy UTF-8).
        name: String,
        /// The file's size.
        size: u64,
        /// Length of the payload found (0 for `null`).
        len: usize,
    },
    /// Two file entries have names that are equal after Go's `filepath.Clean`, which the Go
    /// tools refuse ("duplicates of file paths not supported").
    #[error("tar-split JSON entry {entry}: duplicate file path {name:?}")]
    DuplicatePath {
        /// Index of the second entry.
        entry: u64,
        /// Its name (lossy UTF-8).
        name: String,
    },
}
