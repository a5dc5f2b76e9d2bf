//! A tar member's header, parsed and merged with its extension headers (PAX, GNU long names,
//! sparse maps): everything a graph driver needs to recreate the member on disk.

/// What kind of filesystem object a member describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (typeflag `0`, `\0` or `7`), sparse or not.
    Regular,
    /// A hard link to an earlier member (`1`); the target is [`Header::link_name`].
    HardLink,
    /// A symbolic link (`2`); the target is [`Header::link_name`].
    Symlink,
    /// A character device (`3`).
    CharDevice,
    /// A block device (`4`).
    BlockDevice,
    /// A directory (`5`, or GNU dumpdir `D`).
    Directory,
    /// A named pipe (`6`).
    Fifo,
    /// A PAX global header (`g`): carries defaults, not a filesystem object.
    GlobalHeader,
    /// Any other typeflag, kept as the raw byte: drivers refuse or skip it.
    Other(u8),
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds since the epoch (negative before it).
    pub secs: i64,
    /// Nanoseconds within the second, below 1_000_000_000.
    pub nanos: u32,
}

/// One run of data in a sparse file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseRegion {
    /// Offset of the run in the logical file.
    pub offset: u64,
    /// Length of the run in bytes.
    pub length: u64,
}

/// The layout of a sparse member: the data runs, in increasing offset order, and the logical size.
/// The member's data section holds the runs back to back; everything between them is a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseMap {
    /// The data runs.
    pub regions: Vec<SparseRegion>,
    /// The file's logical size (holes included).
    pub real_size: u64,
}

/// A member's header with its extension headers applied (PAX records, GNU long name and link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The member's kind.
    pub kind: EntryKind,
    /// The member's path, raw bytes as the archive gives them (nothing cleaned or checked here).
    pub path: Vec<u8>,
    /// The link target of hard links and symlinks, raw bytes; empty for other kinds.
    pub link_name: Vec<u8>,
    /// Permission bits with setuid, setgid and sticky (the low 12 bits of the mode field).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Owner name, when the archive names one.
    pub uname: Vec<u8>,
    /// Group name, when the archive names one.
    pub gname: Vec<u8>,
    /// Modification time (PAX `mtime` gives sub-second precision).
    pub mtime: Timestamp,
    /// Access time, when the archive records one.
    pub atime: Option<Timestamp>,
    /// Device major number (character and block devices).
    pub dev_major: u32,
    /// Device minor number (character and block devices).
    pub dev_minor: u32,
    /// Extended attributes (`SCHILY.xattr.*`, and `LIBARCHIVE.xattr.*` decoded), in archive order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The member's logical size: bytes of content a reader of the extracted file sees. 0 for
    /// header-only kinds whatever the header's size field says.
    pub size: u64,
    /// The sparse layout, for sparse members (GNU old `S`, PAX 0.0, 0.1 and 1.0).
    pub sparse: Option<SparseMap>,
}
