//! A content-addressed store of container image layers.
//!
//! ```text
//! <root>/metadata.redb     every fact about layers and read-write layers (one redb database)
//! <root>/<driver>/...      the graph driver's directories (overlay: <cache-id>/{diff,link,lower,work,merged})
//! <root>/tmp/              spools of open metadata transactions
//! ```
//!
//! [`Store::register`] takes an uncompressed (or gzip/zstd) layer tar on top of a parent layer in
//! one pass: the DiffID (sha256 of the tar) is computed on one core while the other parses it,
//! records its tar-split and has the driver extract it. The ChainID follows Docker's
//! `CreateChainID`; an identical chain registered twice is one layer with two references.
//! [`Layer::tar_stream`] gives back the registered tar byte for byte, verified against the DiffID.
//!
//! # Crash safety
//! Metadata never names a driver directory that is not complete and durable: the layer's files
//! are synced (syncfs) before the one redb commit that makes the layer exist. A crash before
//! the commit leaves a pending record that the next open rolls back; a removal marks the layer
//! first and the next open finishes it.
//!
//! # Security
//! Layer tars are hostile input. The driver confines every entry to the layer's directory (no
//! symlink is followed, `..` cannot climb out), the tar parser bounds every header before it
//! allocates, and a refused tar leaves no layer, no directory and no metadata behind.

mod chain;
pub mod check;
mod error;
mod export;
mod ingest;
mod layer;
mod options;
mod recovery;
mod register;
mod rwlayer;
mod store;
mod writeback;

pub use chain::{chain_id_of, create_chain_id};
pub use error::{ErrorKind, Result, StoreError};
pub use export::TarStream;
pub use layer::{Layer, LayerInfo, LayerMetadata};
pub use metadata::{ChainId, Descriptor, DiffId, MountRecord};
pub use options::{DriverChoice, InitFn, RwLayerOpts, StoreOptions, DEFAULT_MAX_DEPTH};
pub use recovery::Recovery;
pub use rwlayer::RwLayer;
pub use store::Store;
