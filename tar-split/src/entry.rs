//! The metadata entries: what tar-split records of a stream.

/// One record of tar-split metadata, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Bytes of the stream kept verbatim: headers, extension headers and their data, padding,
    /// end-of-archive blocks and any bytes after the end of the archive.
    Segment(Vec<u8>),
    /// A member of the archive whose data is kept outside the metadata, as a file named `name`.
    File(FileEntry),
}

/// A member of the archive whose payload lives outside the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The member's name as the tar headers give it, raw bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// The member's size as the Go tar reader reports it: the logical size for sparse members.
    pub size: u64,
    /// CRC-64/GO-ISO of the member's (logical) content; `None` when `size` is 0.
    pub crc: Option<u64>,
}
