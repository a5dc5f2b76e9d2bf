//! Go's lexical `filepath.Clean` on raw bytes, and the set of cleaned names seen in a stream (the
//! Go tar-split refuses a stream where two members clean to the same name).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// Go's `filepath.Clean` (Unix): collapses `//`, drops `.` elements, resolves `x/..`, turns a
/// leading `/..` into `/`, keeps leading `..` of relative paths, drops trailing slashes, and
/// maps `""` to `"."`.
pub fn go_clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    if rooted {
        out.push(b'/');
    }
    // Length of `out` below which `..` cannot back up (after the root or leading `..`s).
    let mut dotdot = out.len();
    for elem in path.split(|&c| c == b'/') {
        match elem {
            b"" | b"." => {}
            b".." => {
                if out.len() > dotdot {
                    // Back up to the previous separator.
                    let cut = out[dotdot..]
                        .iter()
                        .rposition(|&c| c == b'/')
                        .map_or(dotdot, |p| dotdot + p);
                    out.truncate(cut);
                } else if !rooted {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(b"..");
                    dotdot = out.len();
                }
            }
            _ => {
                if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                    out.push(b'/');
                }
                out.extend_from_slice(elem);
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// The cleaned names seen so far, kept as 128-bit keyed hashes so memory stays small whatever the
/// names' lengths. The keys are random per set, so crafted names cannot force a collision.
#[derive(Debug, Default)]
pub(crate) struct SeenNames {
    hashers: (RandomState, RandomState),
    seen: HashSet<u128>,
}

impl SeenNames {
    /// Records `name`; returns false when a name that cleans the same was recorded before.
    pub fn insert(&mut self, name: &[u8]) -> bool {
        let clean = go_clean(name);
        let hi = self.hashers.0.hash_one(&clean);
        let lo = self.hashers.1.hash_one(&clean);
        self.seen.insert(u128::from(hi) << 64 | u128::from(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        let cases: &[(&str, &str)] = &[
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("../../", "../.."),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("//abc//", "/abc"),
            ("abc//", "abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
            ("./a", "a"),
            ("dir/", "dir"),
        ];
        for (input, want) in cases {
            assert_eq!(
                go_clean(input.as_bytes()),
                want.as_bytes(),
                "clean({input:?})"
            );
        }
    }

    #[test]
    fn seen_names() {
        let mut s = SeenNames::default();
        assert!(s.insert(b"./a"));
        assert!(!s.insert(b"a"));
        assert!(s.insert(b"dir"));
        assert!(!s.insert(b"dir/"));
        assert!(s.insert(b"./"));
        assert!(!s.insert(b"."));
    }
}
