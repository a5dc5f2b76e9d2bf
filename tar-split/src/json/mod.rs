//! The Go tar-split metadata format: JSON lines, usually gzip-compressed, as Docker and
//! containers/storage keep them (`tar-split.json.gz`, `*.tar-split.gz`).
//!
//! Each line is one entry: `{"type":2,"payload":"<base64 raw bytes>","position":N}` for a
//! segment, `{"type":1,"name":"<name>","size":N,"payload":"<base64 CRC-64>","position":N}` for a
//! file (`name_raw` holds the base64 of names that are not UTF-8). [`JsonWriter`] writes exactly
//! the bytes Go tar-split v0.12.1 writes; [`JsonReader`] reads what every Go version wrote.
//!
//! # Security
//! The reader takes hostile input: it holds at most one entry at a time, refuses values longer
//! than its [`JsonLimits`] before decoding them, bounds nesting in unknown values, and never
//! panics. File names are returned as recorded, `..` and absolute names included: confining them
//! is the job of the [`FileGetter`](crate::FileGetter) that opens them.

mod error;
mod escape;
mod parallel_gzip;
#[cfg(test)]
mod proptests;
mod reader;
mod writer;

pub use error::JsonError;
pub use parallel_gzip::ParallelGzip;
pub use reader::{JsonLimits, JsonReader};
pub use writer::JsonWriter;
