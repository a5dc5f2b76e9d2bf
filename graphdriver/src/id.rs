//! Layer IDs: opaque names chosen by the store that must be usable as one directory name.

use crate::{DriverError, Result};

/// The suffix of the marker file that flags a layer directory as incomplete (see
/// [`crate::fsutil::incomplete_marker`]); an ID ending with it could be taken for a marker.
pub(crate) const INCOMPLETE_SUFFIX: &str = ".incomplete";

/// The longest ID accepted: the longest file name Linux filesystems take.
pub const MAX_ID_LEN: usize = 255;

/// Checks that `id` can name a layer: one non-empty path component of at most [`MAX_ID_LEN`]
/// bytes, without `/` or NUL, not `.` or `..`, and not ending in `.incomplete` (the marker
/// suffix). Every driver calls it before turning an ID into a path.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = id.is_empty()
        || id.len() > MAX_ID_LEN
        || id == "."
        || id == ".."
        || id.bytes().any(|b| b == b'/' || b == 0)
        || id.ends_with(INCOMPLETE_SUFFIX);
    if bad {
        return Err(DriverError::InvalidId { id: id.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cache_ids_and_init_layers() {
        for id in ["a", "0123abcd", "abc-init", "x.y", &"f".repeat(255)] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_what_is_not_one_component() {
        let long = "f".repeat(256);
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "/",
            "a\0b",
            "x.incomplete",
            long.as_str(),
        ] {
            assert!(
                matches!(validate_id(id), Err(DriverError::InvalidId { .. })),
                "{id:?}"
            );
        }
    }
}
