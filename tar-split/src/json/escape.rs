//! Go `encoding/json` string escaping with HTML escaping on, as `json.Encoder` writes it.

/// What a byte needs when it appears inside a JSON string written by Go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Copied as is.
    Raw,
    /// Written as `\X` (quote, backslash, `\n`, `\r`, `\t`).
    Short(u8),
    /// Written as `\u00XX` with lowercase hex: other controls and the HTML characters `<>&`.
    /// go1.19 writes `\b` and `\f` this way too (Go 1.22 changed that; both are valid JSON).
    Unicode,
    /// First byte of a 3-byte UTF-8 sequence that may be U+2028 or U+2029 (`E2 80 A8/A9`).
    MaybeLineSep,
}

const fn build_table() -> [Class; 256] {
    let mut t = [Class::Raw; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = Class::Unicode;
        i += 1;
    }
    t[b'\n' as usize] = Class::Short(b'n');
    t[b'\r' as usize] = Class::Short(b'r');
    t[b'\t' as usize] = Class::Short(b't');
    t[b'"' as usize] = Class::Short(b'"');
    t[b'\\' as usize] = Class::Short(b'\\');
    t[b'<' as usize] = Class::Unicode;
    t[b'>' as usize] = Class::Unicode;
    t[b'&' as usize] = Class::Unicode;
    t[0xE2] = Class::MaybeLineSep;
    t
}

static TABLE: [Class; 256] = build_table();
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` (valid UTF-8) to `out` as a quoted JSON string, escaped byte for byte as Go's
/// `json.Encoder` with `SetEscapeHTML(true)` (the default) writes it.
pub(crate) fn push_go_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Copy unescaped runs in one go: names are mostly plain ASCII.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match TABLE[b as usize] {
            Class::Raw => {
                i += 1;
                continue;
            }
            Class::MaybeLineSep => {
                // `s` is valid UTF-8, so an 0xE2 lead byte is followed by two continuation bytes.
                if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9))
                {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            Class::Short(c) => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[b'\\', c]);
            }
            Class::Unicode => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xF) as usize],
                ]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::push_go_string;

    fn esc(s: &str) -> String {
        let mut v = Vec::new();
        push_go_string(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_go_1_19() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("a<b>&c.txt", r#""a\u003cb\u003e\u0026c.txt""#),
            ("line\u{2028}sep\u{2029}", r#""line\u2028sep\u2029""#),
            ("tab\there", r#""tab\there""#),
            ("q\"uote\\back", r#""q\"uote\\back""#),
            ("nl\ncr\r", r#""nl\ncr\r""#),
            ("\u{8}\u{c}\u{1}\u{1f}", r#""\u0008\u000c\u0001\u001f""#),
            ("del\u{7f}", "\"del\u{7f}\""),
            ("café-日本", "\"café-日本\""),
            // U+2027 and U+202A share the lead bytes with the line separators but stay raw.
            ("\u{2027}\u{202a}", "\"\u{2027}\u{202a}\""),
            ("", r#""""#),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input), *want, "input {input:?}");
        }
    }
}
