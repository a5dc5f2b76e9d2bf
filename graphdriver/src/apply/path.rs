//! Lexical cleaning of member names: what keeps every entry inside the layer directory before
//! any system call sees the name.

/// A member name cleaned lexically into components: a leading `/` is dropped, empty and `.`
/// components vanish, and `..` removes the previous component but never climbs above the root
/// (a `..` at the root is dropped). The empty list is the layer root itself.
pub(crate) fn clean(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `path` has a `..` component anywhere (whiteouts with one are refused, not cleaned).
pub(crate) fn has_dotdot(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|c| c == b"..")
}

/// Components joined by `/`: the key under which a cleaned path is remembered.
pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_never_climbs_above_the_root() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"a/b/c", &[b"a", b"b", b"c"]),
            (b"./a//b/", &[b"a", b"b"]),
            (b"/etc/passwd", &[b"etc", b"passwd"]),
            (b"../../etc/passwd", &[b"etc", b"passwd"]),
            (b"a/../../b", &[b"b"]),
            (b"a/b/../c", &[b"a", b"c"]),
            (b"./", &[]),
            (b"..", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(
                clean(input),
                want.to_vec(),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(has_dotdot(b"a/../b"));
        assert!(!has_dotdot(b"a/..b/c.."));
        assert_eq!(join(&[b"a", b"b"]), b"a/b");
    }
}
