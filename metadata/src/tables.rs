//! The database's tables and schema constants. Changing a table's name or key/value types, or a
//! record encoding, makes existing stores unreadable: bump [`SCHEMA_VERSION`] and migrate.

use redb::TableDefinition;

/// The schema version this program writes and the newest it reads. A store with a higher
/// version is refused with [`crate::Error::SchemaTooNew`] rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

/// `meta`: small string settings. Its types never change, so any version can read the version.
pub(crate) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Key in [`META`] holding [`SCHEMA_VERSION`] as decimal.
pub(crate) const META_SCHEMA: &str = "schema_version";
/// Key in [`META`] holding the storage driver's name.
pub(crate) const META_DRIVER: &str = "driver";

/// `layers`: ChainID string -> encoded [`crate::LayerRecord`].
pub(crate) const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
/// `tar_split`: (ChainID string, chunk number) -> zstd-compressed chunk of the raw stream.
pub(crate) const TAR_SPLIT: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("tar_split");
/// `mounts`: read-write layer name -> encoded [`crate::MountRecord`].
pub(crate) const MOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("mounts");
/// `pending`: cache-ID -> encoded [`crate::PendingRecord`] of a layer being created.
pub(crate) const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending");
