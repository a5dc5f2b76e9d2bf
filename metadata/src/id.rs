//! Content identifiers: validated `sha256:<hex>` digests and the layer IDs built on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The only algorithm a [`Digest`] accepts, with its separator.
const PREFIX: &str = "sha256:";
/// Hex characters of a sha256 digest.
const HEX_LEN: usize = 64;
/// Longest input quoted back in an [`IdError`], so that a huge bad string does not flood a log.
const QUOTE_MAX: usize = 100;

/// Why a string is not a valid digest. Each variant quotes the (shortened) input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with `sha256:`.
    #[error("digest {input:?} does not start with \"sha256:\"")]
    Algorithm {
        /// The offending input, shortened.
        input: String,
    },
    /// The hex part is not 64 characters long.
    #[error("digest {input:?} has {len} hex characters, not 64")]
    Length {
        /// The offending input, shortened.
        input: String,
        /// Length of the part after `sha256:`.
        len: usize,
    },
    /// The hex part holds something other than `0-9a-f`.
    #[error("digest {input:?} holds a character that is not lowercase hex")]
    NotHex {
        /// The offending input, shortened.
        input: String,
    },
}

fn quote(input: &str) -> String {
    match input.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("{}...", &input[..end]),
        None => input.to_owned(),
    }
}

/// Length of the string form, `sha256:` and 64 hex characters.
const STR_LEN: usize = PREFIX.len() + HEX_LEN;

/// A sha256 content digest, `sha256:<64 lowercase hex>`.
///
/// Always valid: the only ways to build one are parsing (which checks the form) and hashing.
/// `Display`, `FromStr` and serde all use the string form. The text is held inline, so digests
/// cost no allocation (listing 100,000 layer records builds half a million of them).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; STR_LEN]);

impl Digest {
    /// Parses and validates `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let Some(hex_part) = s.strip_prefix(PREFIX) else {
            return Err(IdError::Algorithm { input: quote(s) });
        };
        if hex_part.len() != HEX_LEN {
            return Err(IdError::Length {
                input: quote(s),
                len: hex_part.len(),
            });
        }
        if !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(IdError::NotHex { input: quote(s) });
        }
        let mut text = [0u8; STR_LEN];
        text.copy_from_slice(s.as_bytes());
        Ok(Digest(text))
    }

    /// The digest whose hash bytes are `bytes`.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; STR_LEN];
        text[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
        for (i, b) in bytes.iter().enumerate() {
            text[PREFIX.len() + 2 * i] = HEX[usize::from(b >> 4)];
            text[PREFIX.len() + 2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        Digest(text)
    }

    /// The sha256 digest of `data`.
    pub fn of_bytes(data: &[u8]) -> Self {
        Self::from_sha256_bytes(&Sha256::digest(data).into())
    }

    /// The full string, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        // Always ASCII: built only from validated input or the hex table above.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 64 hex characters after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.as_str()[PREFIX.len()..]
    }

    /// The 32 hash bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // Cannot fail: the hex part is valid by construction.
        let _ = hex::decode_to_slice(self.hex(), &mut out);
        out
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.as_str())
    }
}

impl FromStr for Digest {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Defines a newtype over [`Digest`] with the same string form.
macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Digest);

        impl $name {
            /// Parses and validates `sha256:<64 lowercase hex>`.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                Digest::parse(s).map($name)
            }
            /// The full string, `sha256:<hex>`.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
            /// The 64 hex characters after `sha256:`.
            pub fn hex(&self) -> &str {
                self.0.hex()
            }
            /// The underlying digest.
            pub fn digest(&self) -> &Digest {
                &self.0
            }
            /// The 32 hash bytes.
            pub fn to_bytes(&self) -> [u8; 32] {
                self.0.to_bytes()
            }
        }

        impl From<Digest> for $name {
            fn from(d: Digest) -> Self {
                $name(d)
            }
        }

        impl From<$name> for Digest {
            fn from(id: $name) -> Digest {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.as_str())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.0.as_str()
            }
        }
    };
}

digest_newtype!(
    /// A layer's DiffID: the digest of its uncompressed tar exactly as given.
    DiffId
);

digest_newtype!(
    /// A layer's ChainID: its DiffID for a base layer, else the digest that chains the parent's
    /// ChainID with the layer's DiffID (see [`ChainId::new`]).
    ChainId
);

impl ChainId {
    /// The ChainID of a layer with DiffID `diff` above `parent`, as Docker's `CreateChainID`:
    /// `diff` itself for a base layer, else `sha256("<parent> <diff>")` over the full strings.
    pub fn new(parent: Option<&ChainId>, diff: &DiffId) -> ChainId {
        match parent {
            None => ChainId(diff.0.clone()),
            Some(p) => {
                let mut h = Sha256::new();
                h.update(p.as_str().as_bytes());
                h.update(b" ");
                h.update(diff.as_str().as_bytes());
                ChainId(Digest::from_sha256_bytes(&h.finalize().into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_and_hashes_agree() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d, Digest::of_bytes(b""));
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(Digest::from_sha256_bytes(&d.to_bytes()), d);
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn rejects_malformed() {
        let cases: &[(&str, &str)] = &[
            ("no prefix", &EMPTY[7..]),
            ("other algorithm", "sha512:00"),
            ("short", "sha256:abc"),
            ("long", &format!("{EMPTY}0")),
            (
                "uppercase",
                &EMPTY.to_uppercase().replace("SHA256", "sha256"),
            ),
            ("non hex", &EMPTY.replace('e', "g")),
            ("empty", ""),
            ("multibyte", &format!("sha256:{}", "é".repeat(32))),
        ];
        for (name, input) in cases {
            assert!(Digest::parse(input).is_err(), "{name}: {input:?} accepted");
        }
    }

    #[test]
    fn error_quotes_a_shortened_input() {
        let long = "x".repeat(10_000);
        let msg = Digest::parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 300, "{msg}");
    }

    #[test]
    fn serde_uses_the_string_and_validates() {
        let id = ChainId::parse(EMPTY).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<ChainId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<DiffId>("\"sha256:00\"").is_err());
    }

    #[test]
    fn chain_id_matches_docker() {
        // Base layer: the ChainID is the DiffID.
        let a = DiffId::parse(EMPTY).unwrap();
        let base = ChainId::new(None, &a);
        assert_eq!(base.as_str(), EMPTY);
        // Above it: sha256 of "<parent> <diff>".
        let above = ChainId::new(Some(&base), &a);
        let expected = Digest::of_bytes(format!("{EMPTY} {EMPTY}").as_bytes());
        assert_eq!(above.digest(), &expected);
    }
}
