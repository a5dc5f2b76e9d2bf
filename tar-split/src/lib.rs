//! tar-split: split a tar stream into metadata (raw header segments and one entry per member) and
//! the members' payloads, and put the identical stream back together from the metadata and a
//! directory holding the payloads.
//!
//! The metadata model is the Go `tar-split`'s: a sequence of [`Entry`] values, raw
//! [`Entry::Segment`]s and [`Entry::File`]s. Concatenating the segments, with each file entry
//! replaced by the bytes of the file it names, gives back the original stream.
//!
//! # What it does
//!
//! - [`TarReader`] parses a stream once, member by member ([`TarReader::next`] gives the merged
//!   [`Header`], `Read`/`BufRead` give the member's data), and records the entries into an
//!   [`EntrySink`] as it goes: the graph drivers extract from it while the metadata is written.
//! - [`disassemble`] is the Go `disasm`: it hands the identical bytes on to a writer and records
//!   the entries.
//! - [`Assembler`] (a `Read`) and [`assemble`] put the stream back from the entries and a
//!   [`FileGetter`] ([`DirGetter`] for a directory), checking each payload's length and
//!   CRC-64/GO-ISO and failing with an error that names the file.
//! - [`json`] reads and writes the Go JSON-lines format; [`binary`] is the store's compact form.
//!
//! Memory stays flat whatever the archive's size: a 256 KiB read buffer, one header (with its
//! extension data, bounded by [`Limits`]) at a time, and a set of 128-bit hashes of the names.
//!
//! # Compatibility with the Go tar-split (v0.12.1)
//!
//! Headers are parsed as Go's `archive/tar` (the reader the Go tool forks) parses them: ustar
//! (with prefix), v7, STAR, GNU and old GNU (long names and links, base-256 numbers, old sparse
//! `S` headers with extension blocks), PAX (`x` and `g`, `path`/`linkpath`/`size`/ids/times,
//! `SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`, `hdrcharset` ignored, GNU sparse 0.0, 0.1 and 1.0),
//! GNU dumpdirs (`D`, data-bearing), any blocking factor, trailing bytes after the end of the
//! archive, a missing end-of-archive marker, and empty input. The entries recorded follow the Go
//! segmentation exactly, so the Go JSON written from them equals v0.12.1's on every shared
//! fixture, with these deliberate differences:
//!
//! - **PAX 1.0 sparse members**: the sparse map at the start of the data section is recorded at
//!   the end of the member's header segment (Go drops it, so its metadata cannot reproduce the
//!   stream and `IterateHeaders` fails on it).
//! - **A stream that ends inside padding** (of the last member, or of an extension header that
//!   no member follows): the partial padding is recorded (Go drops it silently and reassembles
//!   a shorter stream).
//! - **Trailing bytes after the end of the archive** are cut into segments of at most 1 MiB at
//!   fixed 1 MiB offsets, a pure function of the bytes (Go cuts at its `Read` boundaries; the
//!   concatenation is the same).
//! - **Duplicate names** (equal after Go's lexical `filepath.Clean`) are refused as Go refuses
//!   them, but before the duplicate member is handed out rather than after its data.
//! - **Negative ids** (base-256 or PAX), and negative sizes on header-only members, are refused
//!   (Go accepts them; [`Header`] has no room for them and no driver could apply them).
//!
//! File entries record what Go records: for sparse members the **logical** size and the CRC of
//! the logical content (holes count as zeros; computed in O(log n) per hole, so a 60 GB sparse
//! member costs nothing); for header-only members (links, devices, directories, fifos) whose
//! header size field is non-zero, that size and the CRC of no data. [`Header::size`], what the
//! drivers see, is 0 for header-only kinds, and `Read` yields a sparse member's **physical**
//! data (the runs back to back; [`Header::sparse`] says where they go).
//!
//! # Sparse members in the Go-format output
//!
//! The Go-format metadata for a sparse member holds its header segment (with the old GNU
//! extension blocks, the PAX 0.x records, or, unlike Go's, the PAX 1.0 map) and one file entry
//! with the logical size and CRC. The Go assembler would write the logical content in place of
//! the physical runs (and so produce a different stream); [`Assembler`] re-parses the header
//! segment, reads only the data runs from the extracted sparse file, and reproduces the stream
//! byte for byte. It writes nothing for header-only members with a non-zero size field, which
//! is what the stream held. Go-written metadata of PAX 1.0 sparse members lacks the map; it is
//! assembled as Go does (logical content), which does not reproduce the original stream.
//! GNU dumpdirs (`D` members of incremental archives) disassemble like any data-bearing member,
//! but their data (a list of names) is not a file of an extracted tree, so a [`DirGetter`]
//! cannot supply it: as with Go, such archives reassemble only from a getter that kept it.
//!
//! # Limits
//!
//! [`Limits`] bounds what an archive can make the parser allocate: extension data (PAX records,
//! GNU long names and links, the PAX 1.0 sparse map) at 1 MiB like Go, sparse maps at 262,144
//! regions, names and link targets at 64 KiB, and all the headers of one member together (a
//! chain of extension headers, old GNU sparse extension blocks) at 16 MiB. Sizes are checked
//! before anything is allocated.
//!
//! # Security
//!
//! The input tar and the metadata are untrusted. A malicious tar can make parsing fail with a
//! typed [`Error`] (bad checksums, malformed numbers or PAX records, truncation, invalid sparse
//! maps, oversized extension headers, duplicate names), never panic, allocate beyond the limits,
//! or spend time in proportion to a sparse member's logical size. Names are returned verbatim
//! (`..`, absolute paths and non-UTF-8 bytes included): confining them when extracting is the
//! caller's job. When assembling, [`DirGetter`] refuses names with NUL and names whose `..`
//! components climb above its root, opens with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` (or an `O_NOFOLLOW` walk) so symlinks never lead out of the root, and
//! every payload is checked against the recorded length and CRC-64; a mismatch is an error that
//! names the file (payloads over 256 KiB may have been partly written before the check fails).
//! CRC-64 detects accidents, not forgeries: a store should also check the stream's digest.

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
pub use error::{Error, ErrorKind};
pub use getter::{FileGetter, Payload};
pub use header::{EntryKind, Header, SparseMap, SparseRegion, Timestamp};
pub use limits::Limits;
pub use reader::TarReader;
pub use sink::{EntrySink, NullSink, VecSink};
