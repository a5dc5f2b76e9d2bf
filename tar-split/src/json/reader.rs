//! Reads Go tar-split JSON lines (plain or gzip-compressed) back into entries, as leniently as
//! the Go reader where that loses nothing, and strictly where Go would lose data silently.

use std::io::{self, Chain, Cursor, Read};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use flate2::read::MultiGzDecoder;

use super::JsonError;
use crate::clean::SeenNames;
use crate::{Entry, FileEntry};

/// Go's `base64.StdEncoding`: padding required, non-zero trailing bits tolerated.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Deepest nesting of arrays and objects accepted inside unknown keys' values.
const MAX_DEPTH: usize = 64;
/// Longest key accepted (the format's keys are at most 8 bytes; unknown ones are skipped).
const MAX_KEY: usize = 4096;
/// Longest number literal accepted.
const MAX_NUMBER: usize = 64;
const BUF_SIZE: usize = 64 * 1024;
/// Default cap on a segment (see [`JsonLimits::max_segment`]).
const MAX_SEGMENT: usize = 17 << 20;

/// Size caps of a [`JsonReader`]: values above them are refused before they are held whole, so
/// hostile metadata cannot make the reader allocate more than about these sizes per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Largest decoded segment payload, in bytes. Default 17 MiB: the largest segment the
    /// disassembler writes is one member's headers (at most [`Limits::max_header_size`],
    /// 16 MiB) after the previous member's padding; Go's are smaller still (1 MiB per extension
    /// header, 1 MiB chunks of trailing bytes).
    ///
    /// [`Limits::max_header_size`]: crate::Limits::max_header_size
    pub max_segment: usize,
    /// Largest file name, in bytes. Default 1 MiB (the Go tar reader's cap on PAX records).
    pub max_name: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_segment: MAX_SEGMENT,
            max_name: 1 << 20,
        }
    }
}

/// The input, sniffed on first use: gzip when it starts with the gzip magic, plain JSON otherwise.
enum Input<R: Read> {
    Undetected(R),
    Plain(R),
    Gzip(Box<MultiGzDecoder<Chain<Cursor<Vec<u8>>, R>>>),
    Taken,
}

/// Reads entries from Go tar-split JSON metadata: an [`Iterator`] of entries in stream order.
///
/// The input may be plain JSON or gzip (one or several members; detected by its magic bytes).
/// Accepted, as the Go reader accepts them: any whitespace (or none) between objects, missing or
/// inconsistent `position`, unknown keys, keys in any letter case, `"name":""` and `"size":0` on
/// segments, `null` or `""` payloads, empty segments (dropped: v0.11.3 and older end with one),
/// and `name_raw` winning over `name`.
///
/// Refused, each with a [`JsonError`]: syntax errors, a `type` other than the integers 1 and 2
/// (Go silently skips unknown types), unpadded base64, negative sizes, a file of non-zero size
/// without an 8-byte checksum, two file names equal after Go's `filepath.Clean`, and values
/// larger than the [`JsonLimits`]. After an error the iterator ends.
pub struct JsonReader<R: Read> {
    input: Input<R>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Decompressed bytes before `buf[0]`.
    base: u64,
    limits: JsonLimits,
    names: SeenNames,
    /// Objects read so far.
    entry: u64,
    done: bool,
    text: Vec<u8>,
    key: Vec<u8>,
    /// Whether the last string read had an escape sequence.
    saw_escape: bool,
}

impl<R: Read> std::fmt::Debug for JsonReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonReader")
            .field("offset", &self.offset())
            .field("entry", &self.entry)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A number literal's text, kept on the stack.
struct Number {
    bytes: [u8; MAX_NUMBER],
    len: usize,
}

impl Default for Number {
    fn default() -> Self {
        Number {
            bytes: [0; MAX_NUMBER],
            len: 0,
        }
    }
}

impl Number {
    fn as_str(&self) -> &str {
        // Only ASCII digits, signs, dots and exponents are ever stored.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

/// One JSON object, as far as the format's keys go.
#[derive(Default)]
struct RawEntry {
    kind: Option<i64>,
    name: Option<Vec<u8>>,
    name_raw: Option<Vec<u8>>,
    size: i64,
    payload: Option<Vec<u8>>,
}

#[derive(Clone, Copy)]
enum Key {
    Type,
    Name,
    NameRaw,
    Size,
    Payload,
    Position,
    Unknown,
}

impl<R: Read> JsonReader<R> {
    /// A reader of `input` (plain or gzip-compressed JSON) with the default [`JsonLimits`].
    pub fn new(input: R) -> Self {
        Self::with_limits(input, JsonLimits::default())
    }

    /// A reader of `input` (plain or gzip-compressed JSON) with the given limits.
    pub fn with_limits(input: R, limits: JsonLimits) -> Self {
        JsonReader {
            input: Input::Undetected(input),
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            limits,
            names: SeenNames::default(),
            entry: 0,
            done: false,
            text: Vec::new(),
            key: Vec::new(),
            saw_escape: false,
        }
    }

    /// Bytes of (decompressed) JSON consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn io_err(&self, source: io::Error) -> JsonError {
        JsonError::Io {
            offset: self.offset(),
            source,
        }
    }

    fn syntax(&self, what: impl Into<String>) -> JsonError {
        JsonError::Syntax {
            entry: self.entry,
            offset: self.offset(),
            what: what.into(),
        }
    }

    /// Makes at least one unread byte available; false at the end of the input.
    fn fill(&mut self) -> Result<bool, JsonError> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            let res = match &mut self.input {
                Input::Plain(r) => r.read(&mut self.buf),
                Input::Gzip(r) => r.read(&mut self.buf),
                Input::Undetected(_) => return self.detect(),
                Input::Taken => Ok(0),
            };
            match res {
                Ok(n) => {
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(e)),
            }
        }
    }

    /// Reads the first bytes and chooses plain JSON or gzip.
    fn detect(&mut self) -> Result<bool, JsonError> {
        let Input::Undetected(mut r) = std::mem::replace(&mut self.input, Input::Taken) else {
            return Ok(false);
        };
        let mut n = 0;
        while n < 2 {
            match r.read(&mut self.buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
        if n >= 2 && self.buf[0] == 0x1f && self.buf[1] == 0x8b {
            let head = Cursor::new(self.buf[..n].to_vec());
            self.input = Input::Gzip(Box::new(MultiGzDecoder::new(head.chain(r))));
            self.fill()
        } else {
            self.input = Input::Plain(r);
            self.len = n;
            Ok(n > 0)
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, JsonError> {
        if self.fill()? {
            Ok(Some(self.buf[self.pos]))
        } else {
            Ok(None)
        }
    }

    /// The next byte, consumed; end of input is a syntax error.
    fn next_byte(&mut self, context: &str) -> Result<u8, JsonError> {
        match self.peek()? {
            Some(b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.syntax(format!("unexpected end of input in {context}"))),
        }
    }

    /// Skips JSON whitespace and returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Result<Option<u8>, JsonError> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            while self.pos < self.len {
                let b = self.buf[self.pos];
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
        }
    }

    fn expect(&mut self, want: u8, context: &str) -> Result<(), JsonError> {
        let got = self.skip_ws()?;
        if got == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(format!(
                "expected '{}' in {context}, found {}",
                want as char,
                describe(got)
            )))
        }
    }

    /// Reads a string's contents after its opening quote, unescaped, into `out` (when given).
    /// More than `cap` bytes is an error naming `field`.
    fn string(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        cap: usize,
        field: &'static str,
    ) -> Result<(), JsonError> {
        if let Some(o) = out.as_deref_mut() {
            o.clear();
        }
        self.saw_escape = false;
        let mut stored = 0usize;
        loop {
            if !self.fill()? {
                return Err(self.syntax("unexpected end of input in a string"));
            }
            let chunk = &self.buf[self.pos..self.len];
            let stop = find_special(chunk);
            let run = stop.unwrap_or(chunk.len());
            stored += run;
            if stored > cap {
                return Err(JsonError::TooLarge {
                    entry: self.entry,
                    field,
                    limit: cap,
                });
            }
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[..run]);
            }
            self.pos += run;
            let Some(_) = stop else { continue };
            match self.buf[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.pos += 1;
                    self.saw_escape = true;
                    let mut tmp = [0u8; 8];
                    let bytes = self.escape(&mut tmp)?;
                    stored += bytes.len();
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(bytes);
                    }
                }
                c => return Err(self.syntax(format!("control byte 0x{c:02x} in a string"))),
            }
        }
    }

    /// Decodes one escape sequence (after its backslash) into `tmp`, returning the bytes.
    fn escape<'t>(&mut self, tmp: &'t mut [u8; 8]) -> Result<&'t [u8], JsonError> {
        let c = self.next_byte("an escape sequence")?;
        match c {
            b'u' => {
                let hi = self.hex4()?;
                let mut n = 0;
                let ch = if (0xD800..0xDC00).contains(&hi) && self.peek()? == Some(b'\\') {
                    // A high surrogate combines with a following low one. Otherwise Go writes
                    // U+FFFD for it and decodes the next escape on its own.
                    self.pos += 1;
                    let c2 = self.next_byte("an escape sequence")?;
                    if c2 != b'u' {
                        n = '\u{FFFD}'.encode_utf8(&mut tmp[..]).len();
                        tmp[n] = self.simple_escape(c2)?;
                        return Ok(&tmp[..n + 1]);
                    }
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            .unwrap_or('\u{FFFD}')
                    } else {
                        n = '\u{FFFD}'.encode_utf8(&mut tmp[..]).len();
                        char::from_u32(lo).unwrap_or('\u{FFFD}')
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                };
                n += ch.encode_utf8(&mut tmp[n..]).len();
                Ok(&tmp[..n])
            }
            c => {
                tmp[0] = self.simple_escape(c)?;
                Ok(&tmp[..1])
            }
        }
    }

    /// The byte a one-letter escape (`\"`, `\n`, ...) stands for.
    fn simple_escape(&self, c: u8) -> Result<u8, JsonError> {
        Ok(match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            other => {
                return Err(self.syntax(format!("invalid escape '\\{}'", other.escape_ascii())))
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.next_byte("a \\u escape")?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax("invalid hex digit in a \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Reads an integer value for `field`: `null` gives None; floats, strings and the rest are
    /// errors (Go decodes these fields into integers and refuses `2.0` or `"2"`).
    fn integer(&mut self, field: &str) -> Result<Option<i64>, JsonError> {
        match self.skip_ws()? {
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(None)
            }
            Some(b'-' | b'0'..=b'9') => {
                let (lit, integral) = self.number()?;
                let lit = lit.as_str();
                if !integral {
                    return Err(self.syntax(format!("{field} must be an integer, found {lit}")));
                }
                lit.parse::<i64>()
                    .map(Some)
                    .map_err(|_| self.syntax(format!("{field} {lit} does not fit an int64")))
            }
            other => Err(self.syntax(format!(
                "{field} must be an integer, found {}",
                describe(other)
            ))),
        }
    }

    /// Reads a number literal; returns its text and whether it is written as an integer.
    fn number(&mut self) -> Result<(Number, bool), JsonError> {
        let mut lit = Number::default();
        while let Some(b) = self.peek()? {
            if !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                break;
            }
            if lit.len >= MAX_NUMBER {
                return Err(self.syntax("number literal too long"));
            }
            lit.bytes[lit.len] = b;
            lit.len += 1;
            self.pos += 1;
        }
        if !valid_number(lit.as_str().as_bytes()) {
            return Err(self.syntax(format!("invalid number {}", lit.as_str())));
        }
        let integral = !lit.as_str().contains(['.', 'e', 'E']);
        Ok((lit, integral))
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        for &want in word {
            if self.next_byte("a literal")? != want {
                return Err(self.syntax(format!(
                    "invalid literal, expected {}",
                    String::from_utf8_lossy(word)
                )));
            }
        }
        Ok(())
    }

    /// Skips any JSON value (an unknown key's).
    fn skip_value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.syntax("values nested too deeply"));
        }
        match self.skip_ws()? {
            Some(b'"') => {
                self.pos += 1;
                self.string(None, usize::MAX, "value")
            }
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            Some(open @ (b'{' | b'[')) => {
                self.pos += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                if self.skip_ws()? == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.expect(b'"', "an object key")?;
                        self.string(None, usize::MAX, "key")?;
                        self.expect(b':', "an object")?;
                    }
                    self.skip_value(depth + 1)?;
                    match self.skip_ws()? {
                        Some(b',') => self.pos += 1,
                        Some(c) if c == close => {
                            self.pos += 1;
                            return Ok(());
                        }
                        other => {
                            return Err(self.syntax(format!(
                                "expected ',' or '{}', found {}",
                                close as char,
                                describe(other)
                            )))
                        }
                    }
                }
            }
            other => Err(self.syntax(format!("expected a value, found {}", describe(other)))),
        }
    }

    /// Reads a base64 string value (or `null`) for `field`, decoded, at most `cap` bytes.
    fn base64(&mut self, field: &'static str, cap: usize) -> Result<Option<Vec<u8>>, JsonError> {
        match self.skip_ws()? {
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(None)
            }
            Some(b'"') => {
                self.pos += 1;
                let mut text = std::mem::take(&mut self.text);
                // Newlines inside base64 are skipped by Go's decoder; allow a little for them.
                let text_cap = cap.div_ceil(3) * 4 + 1024;
                let res = self.string(Some(&mut text), text_cap, field);
                let res = res.and_then(|()| {
                    // Raw control bytes are refused in strings, so a newline can only come
                    // from an escape.
                    if self.saw_escape {
                        text.retain(|&b| b != b'\n' && b != b'\r');
                    }
                    let mut out = Vec::with_capacity(text.len() / 4 * 3);
                    GO_STD_BASE64
                        .decode_vec(&text, &mut out)
                        .map_err(|e| JsonError::Base64 {
                            entry: self.entry,
                            field,
                            reason: e.to_string(),
                        })?;
                    if out.len() > cap {
                        return Err(JsonError::TooLarge {
                            entry: self.entry,
                            field,
                            limit: cap,
                        });
                    }
                    Ok(Some(out))
                });
                self.text = text;
                res
            }
            other => Err(self.syntax(format!(
                "{field} must be a base64 string or null, found {}",
                describe(other)
            ))),
        }
    }

    /// Reads one JSON object (the opening brace is next).
    fn object(&mut self) -> Result<RawEntry, JsonError> {
        self.pos += 1;
        let mut raw = RawEntry::default();
        if self.skip_ws()? == Some(b'}') {
            self.pos += 1;
            return Ok(raw);
        }
        loop {
            self.expect(b'"', "an entry's key")?;
            let mut key = std::mem::take(&mut self.key);
            let res = self.string(Some(&mut key), MAX_KEY, "key");
            let which = classify(&key);
            self.key = key;
            res?;
            self.expect(b':', "an entry")?;
            match which {
                Key::Type => {
                    if let Some(v) = self.integer("type")? {
                        raw.kind = Some(v);
                    }
                }
                Key::Size => {
                    if let Some(v) = self.integer("size")? {
                        raw.size = v;
                    }
                }
                Key::Position => {
                    self.integer("position")?;
                }
                Key::Name => match self.skip_ws()? {
                    Some(b'n') => self.literal(b"null")?,
                    Some(b'"') => {
                        self.pos += 1;
                        let mut name = Vec::new();
                        self.string(Some(&mut name), self.limits.max_name, "name")?;
                        raw.name = Some(name);
                    }
                    other => {
                        return Err(self
                            .syntax(format!("name must be a string, found {}", describe(other))))
                    }
                },
                Key::NameRaw => {
                    if let Some(v) = self.base64("name_raw", self.limits.max_name)? {
                        raw.name_raw = Some(v);
                    }
                }
                // `null` resets a byte slice in Go, so a later null payload wins.
                Key::Payload => raw.payload = self.base64("payload", self.limits.max_segment)?,
                Key::Unknown => self.skip_value(0)?,
            }
            match self.skip_ws()? {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(raw);
                }
                other => {
                    return Err(self.syntax(format!(
                        "expected ',' or '}}' in an entry, found {}",
                        describe(other)
                    )))
                }
            }
        }
    }

    /// Turns a parsed object into an entry; None for an empty segment (dropped).
    fn convert(&mut self, raw: RawEntry) -> Result<Option<Entry>, JsonError> {
        match raw.kind {
            Some(2) => Ok(raw.payload.filter(|p| !p.is_empty()).map(Entry::Segment)),
            Some(1) => {
                let name = match raw.name_raw {
                    Some(n) if !n.is_empty() => n,
                    _ => match raw.name {
                        // Go's decoder turns invalid UTF-8 inside a JSON string into U+FFFD.
                        Some(n) => match String::from_utf8(n) {
                            Ok(s) => s.into_bytes(),
                            Err(e) => String::from_utf8_lossy(e.as_bytes())
                                .into_owned()
                                .into_bytes(),
                        },
                        None => Vec::new(),
                    },
                };
                let lossy = || String::from_utf8_lossy(&name).into_owned();
                if raw.size < 0 {
                    return Err(JsonError::NegativeSize {
                        entry: self.entry,
                        name: lossy(),
                        size: raw.size,
                    });
                }
                let size = raw.size as u64;
                let payload = raw.payload.unwrap_or_default();
                let crc = match payload.len() {
                    8 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&payload);
                        Some(u64::from_be_bytes(b))
                    }
                    // Go ignores the payload of empty files, so anything goes there.
                    _ if size == 0 => None,
                    len => {
                        return Err(JsonError::BadChecksum {
                            entry: self.entry,
                            name: lossy(),
                            size,
                            len,
                        })
                    }
                };
                if !self.names.insert(&name) {
                    return Err(JsonError::DuplicatePath {
                        entry: self.entry,
                        name: lossy(),
                    });
                }
                Ok(Some(Entry::File(FileEntry { name, size, crc })))
            }
            other => Err(JsonError::UnknownType {
                entry: self.entry,
                value: other.unwrap_or(0),
            }),
        }
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, JsonError> {
        loop {
            match self.skip_ws()? {
                None => return Ok(None),
                Some(b'{') => {
                    let raw = self.object()?;
                    let entry = self.convert(raw)?;
                    self.entry += 1;
                    if entry.is_some() {
                        return Ok(entry);
                    }
                }
                other => {
                    return Err(self.syntax(format!(
                        "expected an entry object, found {}",
                        describe(other)
                    )))
                }
            }
        }
    }
}

impl<R: Read> Iterator for JsonReader<R> {
    type Item = Result<Entry, JsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for JsonReader<R> {}

/// Which of the format's keys `key` is, matched as Go's `encoding/json` does: exactly, or
/// case-insensitively with its special folds (U+017F long s folds to `s`, U+212A Kelvin to `k`).
fn classify(key: &[u8]) -> Key {
    let mut folded = [0u8; 8];
    let mut n = 0;
    let Ok(s) = std::str::from_utf8(key) else {
        return Key::Unknown;
    };
    for ch in s.chars() {
        let c = match ch {
            '\u{017F}' => 's',
            '\u{212A}' => 'k',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            _ => return Key::Unknown,
        };
        if n == folded.len() {
            return Key::Unknown;
        }
        folded[n] = c as u8;
        n += 1;
    }
    match &folded[..n] {
        b"type" => Key::Type,
        b"name" => Key::Name,
        b"name_raw" => Key::NameRaw,
        b"size" => Key::Size,
        b"payload" => Key::Payload,
        b"position" => Key::Position,
        _ => Key::Unknown,
    }
}

/// The index of the first byte that ends a plain run inside a JSON string: a quote, a backslash
/// or a control byte. Checks 32-byte blocks with a branch-free test the compiler vectorizes
/// (most strings are long base64 runs), then finds the byte within the block.
fn find_special(chunk: &[u8]) -> Option<usize> {
    let special = |b: u8| (b == b'"') | (b == b'\\') | (b < 0x20);
    let mut start = 0;
    for block in chunk.chunks_exact(32) {
        if block.iter().fold(false, |acc, &b| acc | special(b)) {
            break;
        }
        start += 32;
    }
    chunk[start..]
        .iter()
        .position(|&b| special(b))
        .map(|i| start + i)
}

/// JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn valid_number(s: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == s.len()
}

fn describe(b: Option<u8>) -> String {
    match b {
        None => "end of input".to_string(),
        Some(b) if b.is_ascii_graphic() => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Vec<Entry>, JsonError> {
        JsonReader::new(json.as_bytes()).collect()
    }

    fn file(name: &[u8], size: u64, crc: Option<u64>) -> Entry {
        Entry::File(FileEntry {
            name: name.to_vec(),
            size,
            crc,
        })
    }

    #[test]
    fn accepts_what_go_accepts() {
        let cases: &[(&str, Vec<Entry>)] = &[
            // No position, no newlines, other whitespace.
            (
                r#"{"type":2,"payload":"AQI="}{"type":1,"name":"a","size":1,"payload":"AAAAAAAAAAE="}"#,
                vec![Entry::Segment(vec![1, 2]), file(b"a", 1, Some(1))],
            ),
            (
                " \t\r\n{ \"type\" : 2 , \"payload\" : \"AQI=\" } \n\n",
                vec![Entry::Segment(vec![1, 2])],
            ),
            // Name and size on segments, unknown keys of every kind, upper-case keys.
            (
                r#"{"TYPE":2,"Name":"","SIZE":0,"x":[1,{"y":null},true,false,-1.5e3,"s\"\\"],"payload":"AQI=","Position":7}"#,
                vec![Entry::Segment(vec![1, 2])],
            ),
            // Go's special key folds: U+017F long s matches "s".
            (
                "{\"type\":1,\"name\":\"a\",\"\u{17f}ize\":1,\"payload\":\"AAAAAAAAAAE=\"}",
                vec![file(b"a", 1, Some(1))],
            ),
            // Empty segments (null or "") are dropped, as is v0.11's final one.
            (
                r#"{"type":2,"payload":null}{"type":2,"payload":""}{"type":2,"payload":"AQI=","position":0}{"type":2,"payload":"","position":1}"#,
                vec![Entry::Segment(vec![1, 2])],
            ),
            // name_raw wins over name; empty name_raw does not.
            (
                r#"{"type":1,"name":"x","name_raw":"/w==","payload":null}{"type":1,"name":"y","name_raw":"","payload":null}"#,
                vec![file(b"\xff", 0, None), file(b"y", 0, None)],
            ),
            // Escapes in names, surrogate pairs, lone surrogates as U+FFFD.
            (
                r#"{"type":1,"name":"a\u003cb\u2028\ud83d\ude00\ud800\/\b","payload":null}"#,
                vec![file(
                    "a<b\u{2028}\u{1F600}\u{FFFD}/\u{8}".as_bytes(),
                    0,
                    None,
                )],
            ),
            // A size-0 file's payload is kept when it is a checksum, ignored otherwise.
            (
                r#"{"type":1,"name":"l","payload":"AAAAAAAAAAA="}{"type":1,"name":"m","payload":"AQ=="}"#,
                vec![file(b"l", 0, Some(0)), file(b"m", 0, None)],
            ),
            // Newlines inside base64 are skipped, as Go's decoder does.
            (
                r#"{"type":2,"payload":"AQ\nI="}"#,
                vec![Entry::Segment(vec![1, 2])],
            ),
            ("", vec![]),
            ("  \n", vec![]),
        ];
        for (json, want) in cases {
            match read(json) {
                Ok(got) => assert_eq!(&got, want, "{json}"),
                Err(e) => panic!("{json}: {e}"),
            }
        }
    }

    #[test]
    fn refuses_what_would_lose_data() {
        type Check = fn(&JsonError) -> bool;
        let cases: &[(&str, Check)] = &[
            (r#"{"type":3,"payload":"AQI="}"#, |e| {
                matches!(e, JsonError::UnknownType { value: 3, .. })
            }),
            (r#"{"payload":"AQI="}"#, |e| {
                matches!(e, JsonError::UnknownType { value: 0, .. })
            }),
            (r#"{"type":2.0,"payload":"AQI="}"#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            (r#"{"type":"2","payload":"AQI="}"#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            (r#"{"type":2,"payload":"AQI"}"#, |e| {
                matches!(e, JsonError::Base64 { .. })
            }),
            (r#"{"type":1,"name":"a","size":-1,"payload":null}"#, |e| {
                matches!(e, JsonError::NegativeSize { .. })
            }),
            (r#"{"type":1,"name":"a","size":3,"payload":null}"#, |e| {
                matches!(e, JsonError::BadChecksum { len: 0, .. })
            }),
            (
                r#"{"type":1,"name":"./a","payload":null}{"type":1,"name":"a","payload":null}"#,
                |e| matches!(e, JsonError::DuplicatePath { entry: 1, .. }),
            ),
            (
                r#"{"type":1,"name":"dir","payload":null}{"type":1,"name_raw":"ZGlyLw==","payload":null}"#,
                |e| matches!(e, JsonError::DuplicatePath { .. }),
            ),
            (r#"{"type":2,"payload":"AQI=""#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            (r#"{"type":2,"payload":"AQI="}x"#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            (r#"[{"type":2,"payload":"AQI="}]"#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            ("{\"type\":1,\"name\":\"a\nb\",\"payload\":null}", |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
            (
                r#"{"type":1,"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
                |e| matches!(e, JsonError::Syntax { .. }),
            ),
            (r#"{"type":99999999999999999999}"#, |e| {
                matches!(e, JsonError::Syntax { .. })
            }),
        ];
        for (json, check) in cases {
            match read(json) {
                Ok(v) => panic!("{json}: accepted as {v:?}"),
                Err(e) => assert!(check(&e), "{json}: wrong error {e:?}"),
            }
        }
    }

    #[test]
    fn default_caps_hold_what_the_disassembler_writes() {
        let limits = crate::Limits::default();
        // One member's headers after the previous member's padding (up to 511 bytes).
        assert!(JsonLimits::default().max_segment as u64 >= limits.max_header_size + 511);
        assert!(JsonLimits::default().max_name >= limits.max_path_len);
    }

    #[test]
    fn caps_sizes_before_holding_them() {
        let limits = JsonLimits {
            max_segment: 6,
            max_name: 3,
        };
        let read = |json: &str| -> Result<Vec<Entry>, JsonError> {
            JsonReader::with_limits(json.as_bytes(), limits).collect()
        };
        assert!(read(r#"{"type":2,"payload":"AAAAAAAA"}"#).is_ok());
        assert!(matches!(
            read(r#"{"type":2,"payload":"AAAAAAAAAAA="}"#),
            Err(JsonError::TooLarge {
                field: "payload",
                ..
            })
        ));
        assert!(matches!(
            read(r#"{"type":1,"name":"abcd","payload":null}"#),
            Err(JsonError::TooLarge { field: "name", .. })
        ));
        assert!(matches!(
            read(r#"{"type":1,"name_raw":"YWJjZA==","payload":null}"#),
            Err(JsonError::TooLarge {
                field: "name_raw",
                ..
            })
        ));
    }

    #[test]
    fn reads_multi_member_gzip() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut all = Vec::new();
        for part in [
            r#"{"type":2,"payload":"AQI="}"#,
            r#"{"type":1,"name":"a","payload":null}"#,
        ] {
            let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part.as_bytes()).unwrap();
            all.extend(enc.finish().unwrap());
        }
        let got: Vec<Entry> = JsonReader::new(&all[..]).map(Result::unwrap).collect();
        assert_eq!(got, vec![Entry::Segment(vec![1, 2]), file(b"a", 0, None)]);
        // A truncated gzip stream is an I/O error, not a silent end.
        let res: Result<Vec<Entry>, _> = JsonReader::new(&all[..all.len() - 3]).collect();
        assert!(matches!(res, Err(JsonError::Io { .. })), "{res:?}");
    }

    #[test]
    fn never_panics_on_prefixes() {
        let json = r#"{"type":1,"name":"a\u00e9\ud83d\ude00","size":2,"payload":"AAAAAAAAAAE=","position":0}{"type":2,"payload":"AQI="}"#;
        for cut in 0..json.len() {
            let _ = JsonReader::new(&json.as_bytes()[..cut]).count();
        }
    }
}
