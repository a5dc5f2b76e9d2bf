//! Where a layer's pieces live under the driver's home, and the short link IDs.
//!
//! ```text
//! <home>/
//!   l/<short-id> -> ../<id>/diff     one symlink per layer, so lower chains stay short
//!   <id>/diff/                       the layer's own files (the upper directory)
//!   <id>/link                        the layer's short ID
//!   <id>/lower                       the parent chain, top first: l/<short>:l/<short>:...
//!   <id>/work/                       overlayfs' work directory (read-write mounts)
//!   <id>/merged/                     the mount point
//!   <id>/read-write                  present for read-write layers (mounted with an upper)
//!   empty/                           an empty lower, for read-only views of a base layer
//! ```

use std::path::{Path, PathBuf};

use rand::Rng;

/// The directory of `l/<short-id>` symlinks.
pub(crate) const LINK_DIR: &str = "l";
/// The layer's own files.
pub(crate) const DIFF_DIR: &str = "diff";
/// overlayfs' work directory.
pub(crate) const WORK_DIR: &str = "work";
/// The mount point.
pub(crate) const MERGED_DIR: &str = "merged";
/// The file holding the layer's short ID.
pub(crate) const LINK_FILE: &str = "link";
/// The file holding the parent chain of short links.
pub(crate) const LOWER_FILE: &str = "lower";
/// Marks a layer created with `create_read_write`: it mounts with an upper directory.
pub(crate) const READ_WRITE_MARKER: &str = "read-write";
/// An empty directory, a second lower for a base layer's read-only view: overlayfs refuses a
/// mount with a single lower and no upper.
pub(crate) const EMPTY_DIR: &str = "empty";

/// Whether `name` is one of the home's own entries, which no layer ID may take.
pub(crate) fn is_reserved(name: &str) -> bool {
    name == LINK_DIR || name == EMPTY_DIR
}

/// Length of a short ID. Changing it changes how deep a chain fits the legacy one-page option
/// string, and existing `lower` files keep the old length (they stay readable: links are read,
/// not computed).
pub(crate) const SHORT_ID_LEN: usize = 26;
const SHORT_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fresh random short ID: 26 characters of `[A-Z0-9]` (about 134 bits).
pub(crate) fn new_short_id() -> String {
    let mut rng = rand::rng();
    (0..SHORT_ID_LEN)
        .map(|_| char::from(SHORT_ID_ALPHABET[rng.random_range(0..SHORT_ID_ALPHABET.len())]))
        .collect()
}

/// Whether `s` can be a short ID: a single name of `[A-Z0-9]` characters. Names read back from
/// `link` and `lower` files are checked before they are used in paths or mount options.
pub(crate) fn is_short_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| SHORT_ID_ALPHABET.contains(&b))
}

/// The link of a short ID as it appears in `lower` files and mount options, relative to home.
pub(crate) fn link_rel(short: &str) -> String {
    format!("{LINK_DIR}/{short}")
}

/// Parses a `lower` file: `l/<short>` entries joined by `:`, top first. `None` when an entry is
/// not a short link (the file is damaged).
pub(crate) fn parse_lower(text: &str) -> Option<Vec<String>> {
    let text = text.trim_end_matches('\n');
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(':')
        .map(|entry| {
            let short = entry.strip_prefix("l/")?;
            is_short_id(short).then(|| short.to_string())
        })
        .collect()
}

/// Renders a chain of short IDs (top first) as a `lower` file's content.
pub(crate) fn render_lower(shorts: &[String]) -> String {
    shorts
        .iter()
        .map(|s| link_rel(s))
        .collect::<Vec<_>>()
        .join(":")
}

/// The paths of the driver's home.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    home: PathBuf,
}

impl Layout {
    /// The layout under `home`.
    pub(crate) fn new(home: PathBuf) -> Self {
        Layout { home }
    }

    /// The driver's home.
    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    /// `<home>/l`.
    pub(crate) fn link_dir(&self) -> PathBuf {
        self.home.join(LINK_DIR)
    }

    /// `<home>/l/<short>`.
    pub(crate) fn link(&self, short: &str) -> PathBuf {
        self.home.join(LINK_DIR).join(short)
    }

    /// `<home>/empty`.
    pub(crate) fn empty(&self) -> PathBuf {
        self.home.join(EMPTY_DIR)
    }

    /// `<home>/<id>`.
    pub(crate) fn layer(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }

    /// `<home>/<id>/diff`.
    pub(crate) fn diff(&self, id: &str) -> PathBuf {
        self.layer(id).join(DIFF_DIR)
    }

    /// `<home>/<id>/work`.
    pub(crate) fn work(&self, id: &str) -> PathBuf {
        self.layer(id).join(WORK_DIR)
    }

    /// `<home>/<id>/merged`.
    pub(crate) fn merged(&self, id: &str) -> PathBuf {
        self.layer(id).join(MERGED_DIR)
    }

    /// `<home>/<id>/link`.
    pub(crate) fn link_file(&self, id: &str) -> PathBuf {
        self.layer(id).join(LINK_FILE)
    }

    /// `<home>/<id>/lower`.
    pub(crate) fn lower_file(&self, id: &str) -> PathBuf {
        self.layer(id).join(LOWER_FILE)
    }

    /// `<home>/<id>/read-write`.
    pub(crate) fn read_write_marker(&self, id: &str) -> PathBuf {
        self.layer(id).join(READ_WRITE_MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_26_uppercase_alphanumerics_and_differ() {
        let a = new_short_id();
        let b = new_short_id();
        assert_eq!(a.len(), SHORT_ID_LEN);
        assert!(is_short_id(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn short_id_check_refuses_paths_and_lowercase() {
        for bad in ["", "../x", "ab", "A/B", "A:B", "A B"] {
            assert!(!is_short_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn lower_round_trips_top_first() {
        let chain = vec!["AAA".to_string(), "BBB".to_string()];
        let text = render_lower(&chain);
        assert_eq!(text, "l/AAA:l/BBB");
        assert_eq!(parse_lower(&text), Some(chain));
        assert_eq!(parse_lower(""), Some(vec![]));
    }

    #[test]
    fn damaged_lower_is_refused() {
        for bad in ["l/AAA:", "x/AAA", "l/../etc", "l/AAA::l/BBB"] {
            assert_eq!(parse_lower(bad), None, "{bad:?}");
        }
    }
}
