//! What the commands print. The JSON field names are part of the command-line contract
//! (README, "JSON output"): fields may be added, never renamed or removed.

use std::collections::BTreeMap;
use std::io::Write;

use layer_store::{Descriptor, LayerInfo, LayerMetadata, MountRecord};
use serde::Serialize;

use crate::error::CliError;

/// A layer as `register`, `load`, `ls` and `rw commit` print it in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerJson {
    /// The layer's ChainID.
    pub chain_id: String,
    /// Its DiffID (sha256 of its uncompressed tar).
    pub diff_id: String,
    /// Its parent's ChainID; `null` for a base layer.
    pub parent: Option<String>,
    /// The size of the whole chain's content, in bytes.
    pub size: u64,
    /// The size of this layer's own content, in bytes.
    pub diff_size: u64,
    /// The driver's directory ID of the layer.
    pub cache_id: String,
}

impl From<&LayerInfo> for LayerJson {
    fn from(info: &LayerInfo) -> Self {
        LayerJson {
            chain_id: info.chain_id.to_string(),
            diff_id: info.diff_id.to_string(),
            parent: info.parent.as_ref().map(ToString::to_string),
            size: info.size,
            diff_size: info.diff_size,
            cache_id: info.cache_id.clone(),
        }
    }
}

/// `inspect`'s object: the register fields and everything else the store knows of the layer.
#[derive(Debug, Serialize)]
pub struct InspectJson {
    /// The register fields.
    #[serde(flatten)]
    pub layer: LayerJson,
    /// 1 for a base layer.
    pub depth: usize,
    /// Layers and read-write layers standing on it.
    pub children: usize,
    /// The OCI descriptor it was registered with (`load` records the manifest's).
    pub descriptor: Option<Descriptor>,
    /// When it was registered, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
    /// What is stored of its tar-split data.
    pub tar_split: TarSplitJson,
    /// The graph driver's name.
    pub driver: String,
    /// The driver's facts of the layer (its directories).
    pub driver_metadata: BTreeMap<String, String>,
}

/// The stored tar-split data's figures.
#[derive(Debug, Serialize)]
pub struct TarSplitJson {
    /// Chunks in the database.
    pub chunks: u32,
    /// Bytes stored (compressed).
    pub stored_bytes: u64,
    /// Bytes of the raw tar-split stream.
    pub raw_bytes: u64,
}

/// A deleted layer, as `rm` and `rw rm` print it in JSON.
#[derive(Debug, Serialize)]
pub struct RemovedJson {
    /// The deleted layer's ChainID.
    pub chain_id: String,
    /// Its DiffID.
    pub diff_id: String,
    /// The size of its own content.
    pub diff_size: u64,
}

impl From<&LayerMetadata> for RemovedJson {
    fn from(m: &LayerMetadata) -> Self {
        RemovedJson {
            chain_id: m.chain_id.to_string(),
            diff_id: m.diff_id.to_string(),
            diff_size: m.diff_size,
        }
    }
}

/// A read-write layer, as `rw create` and `rw ls` print it in JSON.
#[derive(Debug, Serialize)]
pub struct RwJson {
    /// Its name.
    pub name: String,
    /// The driver's directory ID of the writable layer.
    pub mount_id: String,
    /// The driver's directory ID of its init layer.
    pub init_id: Option<String>,
    /// The ChainID of the layer it stands on; `null` for none.
    pub parent: Option<String>,
    /// When it was created, in nanoseconds since the Unix epoch.
    pub created_unix_nanos: u64,
    /// Whether its merged directory is mounted now.
    pub mounted: bool,
    /// The merged directory (where it is, or will be, mounted).
    pub path: Option<String>,
}

impl RwJson {
    /// The JSON of `record`, with what the driver says of its mount.
    pub fn new(record: &MountRecord, mounted: bool, path: Option<String>) -> Self {
        RwJson {
            name: record.name.clone(),
            mount_id: record.mount_id.clone(),
            init_id: record.init_id.clone(),
            parent: record.parent.as_ref().map(ToString::to_string),
            created_unix_nanos: record.created_unix_nanos,
            mounted,
            path,
        }
    }
}

/// `rw mount`'s object.
#[derive(Debug, Serialize)]
pub struct MountJson {
    /// The read-write layer's name.
    pub name: String,
    /// The merged directory.
    pub path: String,
}

/// One changed path of `rw changes`.
#[derive(Debug, Serialize)]
pub struct ChangeJson {
    /// `A` added, `C` changed, `D` deleted (as `docker diff`).
    pub kind: &'static str,
    /// The path, absolute from the layer's root.
    pub path: String,
}

/// `status`'s object.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// The store's directory.
    pub root: String,
    /// Whether the store exists yet (it is created by the first command that writes).
    pub exists: bool,
    /// The graph driver's name (`null` when the store does not exist yet).
    pub driver: Option<String>,
    /// The driver's status, key to value.
    pub driver_status: BTreeMap<String, String>,
    /// The number of layers.
    pub layers: usize,
    /// The number of read-write layers.
    pub rw_layers: usize,
    /// The sum of the layers' own content sizes, in bytes.
    pub content_bytes: u64,
    /// The deepest chain the store accepts.
    pub max_depth: usize,
}

/// Prints `value` as one JSON document and a newline on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| CliError::io("writing JSON to standard output", e.into()))?;
    writeln!(out).map_err(|e| CliError::io("writing to standard output", e))?;
    out.flush()
        .map_err(|e| CliError::io("writing to standard output", e))
}

/// Prints lines on stdout.
pub fn print_lines<I, S>(lines: I) -> Result<(), CliError>
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}").map_err(|e| CliError::io("writing to standard output", e))?;
    }
    out.flush()
        .map_err(|e| CliError::io("writing to standard output", e))
}

/// A byte count for people: `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
