//! Bounds on what a hostile archive can make the parser allocate.

/// Limits the parser enforces before allocating anything an archive asks for. Exceeding one is
/// an error naming the limit, never a large allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest data of one extension header: a PAX `x` or `g` header, a GNU long name (`L`) or
    /// long link (`K`), or a PAX 1.0 sparse map. Default 1 MiB, as Go's `archive/tar`
    /// (`maxSpecialFileSize`); the Go tar-split refuses bigger ones too (from v0.11.7).
    pub max_extension_size: u64,
    /// Most data runs in one sparse member's map (each costs 16 bytes in [`crate::SparseMap`]).
    /// Default 262,144 (4 MiB of map).
    pub max_sparse_regions: usize,
    /// Longest member name or link target, after extension headers are applied. Default 64 KiB
    /// (Linux paths are at most 4 KiB, but archives may name longer paths for tools that walk
    /// directory by directory).
    pub max_path_len: usize,
    /// Largest total of one member's headers: its extension headers with their data and padding,
    /// its own header, and its sparse extension blocks or map, all of which are held in memory
    /// until the member's segment is recorded. Default 16 MiB (room for a full PAX header, long
    /// names and the largest sparse map the region limit allows).
    pub max_header_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_extension_size: 1 << 20,
            max_sparse_regions: 1 << 18,
            max_path_len: 64 << 10,
            max_header_size: 16 << 20,
        }
    }
}
