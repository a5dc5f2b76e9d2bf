//! tar-split: split a tar stream into metadata (raw header segments and one entry per member) and
//! the members' payloads, and put the identical stream back together from the metadata and a
//! directory holding the payloads.
//!
//! The metadata model is the Go `tar-split`'s: a sequence of [`Entry`] values, raw
//! [`Entry::Segment`]s and [`Entry::File`]s. Concatenating the segments, with each file entry
//! replaced by the bytes of the file it names, gives back the original stream.

mod assemble;
pub mod binary;
mod block;
mod clean;
mod crc64;
mod dir_getter;
mod disassemble;
mod entry;
mod error;
mod getter;
mod header;
mod input;
pub mod json;
mod limits;
mod parse;
mod pax;
mod reader;
mod sink;
mod sparse;

pub use assemble::{assemble, Assembler};
pub use clean::go_clean;
pub use crc64::{crc64, Crc64};
pub use dir_getter::DirGetter;
pub use disassemble::{disassemble, disassemble_with_limits};
pub use entry::{Entry, FileEntry};
pub use error::Error;
pub use getter::{FileGetter, Payload};
pub use header::{EntryKind, Header, SparseMap, SparseRegion, Timestamp};
pub use limits::Limits;
pub use reader::TarReader;
pub use sink::{EntrySink, NullSink, VecSink};
