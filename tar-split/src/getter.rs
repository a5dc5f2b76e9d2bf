//! Where an assembler finds the members' payloads.

use std::io::{Read, Seek};

/// A member's payload as a [`FileGetter`] hands it out: readable and seekable (sparse members are
/// read region by region).
pub trait Payload: Read + Seek + Send {}

impl<T: Read + Seek + Send> Payload for T {}

/// Hands out the payload of a member by the name recorded in its [`crate::FileEntry`].
///
/// Implementations must never give access to anything outside their root: names with `..`
/// components that climb out, absolute names, NUL bytes and symlinks that lead out are refused
/// (or resolved inside the root), never followed.
pub trait FileGetter {
    /// Opens the payload of the member recorded as `name`.
    fn get(&mut self, name: &[u8]) -> std::io::Result<Box<dyn Payload + '_>>;
}
