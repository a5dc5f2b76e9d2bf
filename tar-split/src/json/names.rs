//! The duplicate-name rule of the Go tools: no two file entries may have names that are equal
//! after Go's lexical `filepath.Clean`.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// Go's `filepath.Clean` on Unix, byte-wise: collapses `//`, drops `.` elements, resolves
/// `x/..` lexically, keeps leading `..` of relative paths, turns `/..` into `/`, drops the
/// trailing slash, and returns `.` for an empty result.
pub(crate) fn go_clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let n = p.len();
    let rooted = p[0] == b'/';
    let mut out = Vec::with_capacity(n);
    let mut r = 0;
    // `out[..dotdot]` cannot be backtracked over: the root, or leading `..` elements.
    let mut dotdot = 0;
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        let at_end = |i: usize| i == n || p[i] == b'/';
        if p[r] == b'/' || (p[r] == b'.' && at_end(r + 1)) {
            // An empty or `.` element.
            r += 1;
        } else if p[r] == b'.' && r + 1 < n && p[r + 1] == b'.' && at_end(r + 2) {
            r += 2;
            if out.len() > dotdot {
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// The cleaned names seen so far, kept as 128-bit keyed hashes (16 bytes a name whatever its
/// length). The keys are random per set, so a hostile archive cannot aim for a collision.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    seen: HashSet<u128>,
    k1: RandomState,
    k2: RandomState,
}

impl NameSet {
    /// Records `name`; false when a name equal to it after cleaning was recorded before.
    pub(crate) fn insert(&mut self, name: &[u8]) -> bool {
        let clean = go_clean(name);
        let h = (u128::from(self.k1.hash_one(&clean)) << 64) | u128::from(self.k2.hash_one(&clean));
        self.seen.insert(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        // Cases from Go's path/filepath tests.
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
                String::from_utf8(go_clean(input.as_bytes())).unwrap(),
                *want,
                "clean({input:?})"
            );
        }
    }

    #[test]
    fn set_finds_duplicates_after_clean() {
        let mut s = NameSet::default();
        assert!(s.insert(b"./a"));
        assert!(!s.insert(b"a"));
        assert!(s.insert(b"dir"));
        assert!(!s.insert(b"dir/"));
        assert!(s.insert(b"./"));
        assert!(!s.insert(b"."));
    }
}
