//! The records the database holds, and their versioned binary encoding.
//!
//! Every value starts with a version byte. A decoder accepts only the versions it knows and
//! refuses trailing bytes, so a value written by a newer program or damaged on disk is reported
//! (naming its key) instead of being misread. Raising a record version needs a schema bump in
//! [`crate::tables::SCHEMA_VERSION`] too, so that older programs refuse the whole store first.

use serde::{Deserialize, Serialize};

use crate::codec::{Dec, Enc};
use crate::descriptor::Descriptor;
use crate::id::{ChainId, DiffId, Digest};

/// Version byte of the layer record encoding.
const LAYER_V1: u8 = 1;
/// Version byte of the mount record encoding.
const MOUNT_V1: u8 = 1;
/// Version byte of the pending record encoding.
const PENDING_V1: u8 = 1;

/// Where a committed layer is in its life. A layer being created has no record yet: it lives in
/// the pending table ([`PendingRecord`]) until its transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerState {
    /// The layer is complete and usable.
    Committed,
    /// Removal has begun: the record stays until the driver directory is gone, so that a crash
    /// in between can be finished on the next open.
    Removing,
}

impl LayerState {
    fn to_byte(self) -> u8 {
        match self {
            LayerState::Committed => 1,
            LayerState::Removing => 2,
        }
    }
    fn from_byte(b: u8) -> Result<Self, String> {
        match b {
            1 => Ok(LayerState::Committed),
            2 => Ok(LayerState::Removing),
            other => Err(format!("unknown layer state {other}")),
        }
    }
}

/// What is stored of a layer's tar-split data, for reading it back and for fsck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TarSplitInfo {
    /// Number of stored chunks, numbered from 0.
    pub chunks: u32,
    /// Bytes stored in the database (compressed), over all chunks.
    pub stored_bytes: u64,
    /// Bytes of the raw (decompressed) tar-split stream.
    pub raw_bytes: u64,
    /// sha256 of the raw stream.
    pub sha256: Digest,
    /// The sum of the file sizes the tar-split data records, as the caller reported it.
    pub file_sizes: u64,
}

impl TarSplitInfo {
    /// What an empty tar-split stream is recorded as.
    pub fn empty() -> Self {
        TarSplitInfo {
            chunks: 0,
            stored_bytes: 0,
            raw_bytes: 0,
            sha256: Digest::of_bytes(b""),
            file_sizes: 0,
        }
    }
}

/// Everything the store knows about one committed layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The layer's ChainID (the record's key).
    pub chain_id: ChainId,
    /// The digest of the layer's uncompressed tar.
    pub diff_id: DiffId,
    /// The layer below, `None` for a base layer.
    pub parent: Option<ChainId>,
    /// The layer's own content size (Docker's "size" of the diff).
    pub size: u64,
    /// The driver's directory name for the layer.
    pub cache_id: String,
    /// The OCI descriptor the layer was registered with, if any.
    pub descriptor: Option<Descriptor>,
    /// When the layer was committed, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
    /// Where the layer is in its life.
    pub state: LayerState,
    /// What is stored of its tar-split data.
    pub tar_split: TarSplitInfo,
}

impl LayerRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(160 + self.cache_id.len());
        e.u8(LAYER_V1);
        e.digest(self.diff_id.digest());
        e.opt_digest(self.parent.as_ref().map(ChainId::digest));
        e.u64(self.size);
        e.str(&self.cache_id);
        e.u64(self.created_unix_nanos);
        e.u8(self.state.to_byte());
        let t = &self.tar_split;
        e.u32(t.chunks);
        e.u64(t.stored_bytes);
        e.u64(t.raw_bytes);
        e.digest(&t.sha256);
        e.u64(t.file_sizes);
        match &self.descriptor {
            None => e.u8(0),
            Some(d) => {
                e.u8(1);
                // Serialising plain strings and maps into a Vec cannot fail.
                e.bytes(&serde_json::to_vec(d).unwrap_or_default());
            }
        }
        e.0
    }

    /// Decodes the value stored under `key`; the error is a reason naming the bad field.
    pub(crate) fn decode(key: &str, value: &[u8]) -> Result<LayerRecord, String> {
        let chain_id = ChainId::parse(key).map_err(|e| format!("bad key: {e}"))?;
        let mut d = Dec::new(value);
        let version = d.u8("version")?;
        if version != LAYER_V1 {
            return Err(format!("unknown layer record version {version}"));
        }
        let diff_id = DiffId::from(d.digest("diff_id")?);
        let parent = d.opt_digest("parent")?.map(ChainId::from);
        let size = d.u64("size")?;
        let cache_id = d.str("cache_id")?;
        let created_unix_nanos = d.u64("created")?;
        let state = LayerState::from_byte(d.u8("state")?)?;
        let tar_split = TarSplitInfo {
            chunks: d.u32("tar_split.chunks")?,
            stored_bytes: d.u64("tar_split.stored_bytes")?,
            raw_bytes: d.u64("tar_split.raw_bytes")?,
            sha256: d.digest("tar_split.sha256")?,
            file_sizes: d.u64("tar_split.file_sizes")?,
        };
        let descriptor = if d.flag("descriptor")? {
            let json = d.bytes("descriptor")?;
            Some(serde_json::from_slice(json).map_err(|e| format!("descriptor: {e}"))?)
        } else {
            None
        };
        d.finish()?;
        Ok(LayerRecord {
            chain_id,
            diff_id,
            parent,
            size,
            cache_id,
            descriptor,
            created_unix_nanos,
            state,
            tar_split,
        })
    }
}

/// A read-write layer: the name it was created under and the driver IDs that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// The caller's name for the read-write layer (the record's key).
    pub name: String,
    /// The driver ID of the read-write layer.
    pub mount_id: String,
    /// The driver ID of its init layer, if it has one.
    pub init_id: Option<String>,
    /// The layer it stands on, `None` for an empty base.
    pub parent: Option<ChainId>,
    /// When it was created, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
}

impl MountRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(128);
        e.u8(MOUNT_V1);
        e.str(&self.mount_id);
        e.opt_str(self.init_id.as_deref());
        e.opt_digest(self.parent.as_ref().map(ChainId::digest));
        e.u64(self.created_unix_nanos);
        e.0
    }

    pub(crate) fn decode(key: &str, value: &[u8]) -> Result<MountRecord, String> {
        let mut d = Dec::new(value);
        let version = d.u8("version")?;
        if version != MOUNT_V1 {
            return Err(format!("unknown mount record version {version}"));
        }
        let mount_id = d.str("mount_id")?;
        let init_id = d.opt_str("init_id")?;
        let parent = d.opt_digest("parent")?.map(ChainId::from);
        let created_unix_nanos = d.u64("created")?;
        d.finish()?;
        Ok(MountRecord {
            name: key.to_owned(),
            mount_id,
            init_id,
            parent,
            created_unix_nanos,
        })
    }
}

/// A layer being created: its driver directory may exist, its record does not yet. Opening a
/// store after a crash rolls these back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    /// The driver directory name being filled.
    pub cache_id: String,
    /// The process that began the creation.
    pub pid: u32,
    /// When it began, in nanoseconds since the Unix epoch.
    pub started_unix_nanos: u64,
}

impl PendingRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(13);
        e.u8(PENDING_V1);
        e.u32(self.pid);
        e.u64(self.started_unix_nanos);
        e.0
    }

    pub(crate) fn decode(key: &str, value: &[u8]) -> Result<PendingRecord, String> {
        let mut d = Dec::new(value);
        let version = d.u8("version")?;
        if version != PENDING_V1 {
            return Err(format!("unknown pending record version {version}"));
        }
        let pid = d.u32("pid")?;
        let started_unix_nanos = d.u64("started")?;
        d.finish()?;
        Ok(PendingRecord {
            cache_id: key.to_owned(),
            pid,
            started_unix_nanos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(descriptor: Option<Descriptor>, parent: bool) -> LayerRecord {
        let diff_id = DiffId::from(Digest::of_bytes(b"diff"));
        let p = ChainId::from(Digest::of_bytes(b"parent"));
        let chain_id = ChainId::new(parent.then_some(&p), &diff_id);
        LayerRecord {
            chain_id,
            diff_id,
            parent: parent.then_some(p),
            size: 1234,
            cache_id: "ab".repeat(32),
            descriptor,
            created_unix_nanos: 1_700_000_000_000_000_000,
            state: LayerState::Removing,
            tar_split: TarSplitInfo {
                chunks: 3,
                stored_bytes: 100,
                raw_bytes: 5000,
                sha256: Digest::of_bytes(b"ts"),
                file_sizes: 42,
            },
        }
    }

    #[test]
    fn layer_record_round_trips() {
        let desc = Descriptor {
            media_type: "m".into(),
            digest: "sha256:0".into(),
            size: 3,
            urls: vec!["u".into()],
            annotations: [("a".to_string(), "b".to_string())].into(),
        };
        for r in [sample(None, false), sample(Some(desc), true)] {
            let bytes = r.encode();
            assert_eq!(LayerRecord::decode(r.chain_id.as_str(), &bytes).unwrap(), r);
        }
    }

    #[test]
    fn damaged_layer_values_are_errors_not_panics() {
        let r = sample(None, true);
        let bytes = r.encode();
        let key = r.chain_id.as_str();
        for len in 0..bytes.len() {
            assert!(LayerRecord::decode(key, &bytes[..len]).is_err());
        }
        let mut newer = bytes.clone();
        newer[0] = 9;
        assert!(LayerRecord::decode(key, &newer)
            .unwrap_err()
            .contains("version 9"));
        assert!(LayerRecord::decode("not-a-digest", &bytes)
            .unwrap_err()
            .contains("bad key"));
        // Every single-byte corruption decodes to something or fails cleanly.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = LayerRecord::decode(key, &b);
        }
    }

    #[test]
    fn mount_and_pending_round_trip() {
        let m = MountRecord {
            name: "ctr".into(),
            mount_id: "m".repeat(64),
            init_id: Some("m-init".into()),
            parent: Some(ChainId::from(Digest::of_bytes(b"p"))),
            created_unix_nanos: 7,
        };
        assert_eq!(MountRecord::decode("ctr", &m.encode()).unwrap(), m);
        let m2 = MountRecord {
            init_id: None,
            parent: None,
            ..m
        };
        assert_eq!(MountRecord::decode("ctr", &m2.encode()).unwrap(), m2);

        let p = PendingRecord {
            cache_id: "c".into(),
            pid: 42,
            started_unix_nanos: 9,
        };
        assert_eq!(PendingRecord::decode("c", &p.encode()).unwrap(), p);
        assert!(PendingRecord::decode("c", &p.encode()[..5]).is_err());
    }

    proptest::proptest! {
        /// Arbitrary bytes and damaged encodings decode to a record or an error, never a panic;
        /// a valid encoding always round-trips.
        #[test]
        fn decoding_anything_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            flips in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 0..4),
            cut in 0usize..400,
        ) {
            let key = ChainId::from(Digest::of_bytes(b"k"));
            let _ = LayerRecord::decode(key.as_str(), &bytes);
            let _ = MountRecord::decode("m", &bytes);
            let _ = PendingRecord::decode("p", &bytes);

            let r = sample(Some(Descriptor::default()), true);
            let mut enc = r.encode();
            proptest::prop_assert_eq!(&LayerRecord::decode(r.chain_id.as_str(), &enc).unwrap(), &r);
            for (at, x) in flips {
                let len = enc.len();
                enc[at % len] ^= x;
            }
            enc.truncate(cut.max(1));
            let _ = LayerRecord::decode(r.chain_id.as_str(), &enc);
        }
    }
}
