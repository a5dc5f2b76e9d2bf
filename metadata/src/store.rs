//! [`MetadataStore`]: opening the database and every operation outside a layer transaction.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Builder, ConcurrencyMode, ReadableTable, ReadableTableMetadata};

use crate::error::Error;
use crate::guard;
use crate::id::ChainId;
use crate::record::{LayerRecord, LayerState, MountRecord, PendingRecord};
use crate::shared::{self, Db, RedbContext, Shared};
use crate::tables::{
    LAYERS, META, META_DRIVER, META_SCHEMA, MOUNTS, PENDING, SCHEMA_VERSION, TAR_SPLIT,
};
use crate::tar_split_reader::TarSplitReader;
use crate::transaction::{self, MetadataTransaction};

/// The database's file name under the store root.
pub const DB_FILE: &str = "metadata.redb";
/// Where the running writer records its pid, under the store root.
pub const PID_FILE: &str = "metadata.pid";
/// A new database is built under this name and linked to [`DB_FILE`] once initialised, so that
/// [`DB_FILE`] always holds a whole store and an empty one is damage, never a crashed creation.
const NEW_DB_FILE: &str = "metadata.redb.new";
/// The default spool directory under the store root.
pub const TMP_DIR: &str = "tmp";
/// Default raw bytes per tar-split chunk: small enough that no value is large, large enough that
/// zstd compresses well and a big layer has few chunks.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;
/// Bounds for [`OpenOptions::tar_split_chunk_size`]; the upper one also bounds what a reader
/// will decompress from one chunk, so a damaged chunk cannot make it allocate without limit.
pub const CHUNK_SIZE_RANGE: std::ops::RangeInclusive<usize> = 512..=(4 << 20);
/// redb's page cache. Bounded so that streaming a large layer's tar-split data does not grow the
/// process; the layer records of a large store (100,000 layers is ~30 MiB) still fit.
const CACHE_BYTES: usize = 64 << 20;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The storage driver's name. Opening a store recorded with another driver fails with
    /// [`Error::DriverMismatch`]; empty accepts the store's own driver (see
    /// [`MetadataStore::driver`]) but cannot create a store.
    pub driver: String,
    /// Open without writing: many read-only openers may follow a running writer.
    pub read_only: bool,
    /// Where tar-split spools go; `<root>/tmp` when `None`.
    pub tmp_dir: Option<PathBuf>,
    /// Raw bytes per stored tar-split chunk, clamped to [`CHUNK_SIZE_RANGE`]. Changing it does
    /// not affect data already stored.
    pub tar_split_chunk_size: usize,
    /// Verify every page of the file while opening (writers only; slow on a large store). Use
    /// it when damage is suspected; a plain open trusts a cleanly closed file.
    pub check_integrity: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            driver: String::new(),
            read_only: false,
            tmp_dir: None,
            tar_split_chunk_size: DEFAULT_CHUNK_SIZE,
            check_integrity: false,
        }
    }
}

impl OpenOptions {
    /// Options to open (or create) a writable store for `driver`.
    pub fn new(driver: impl Into<String>) -> Self {
        OpenOptions {
            driver: driver.into(),
            ..Self::default()
        }
    }

    /// Options to open an existing store read-only, whatever its driver.
    pub fn read_only() -> Self {
        OpenOptions {
            read_only: true,
            ..Self::default()
        }
    }
}

/// The metadata of one layer store: layer, mount and pending records in `<root>/metadata.redb`.
///
/// One process writes a store at a time; a second writer is refused at once with
/// [`Error::InUse`]. Any number of processes may open it read-only beside the writer and see
/// each of its commits. Every change is one durable redb commit: after a crash the store holds
/// exactly the commits that returned.
pub struct MetadataStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("path", &self.shared.path)
            .field("driver", &self.shared.driver)
            .field("read_only", &self.is_read_only())
            .finish()
    }
}

/// Nanoseconds since the Unix epoch, for record timestamps.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn builder(opts: &OpenOptions) -> Builder {
    let mut b = Builder::new();
    // SingleWriter: one writing process, and read-only processes that follow its commits.
    // ExclusiveWriter would lock readers out while a writer runs; MultiWriter would let a second
    // writer in.
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b.set_cache_size(CACHE_BYTES);
    if opts.check_integrity && !opts.read_only {
        b.set_check_integrity_on_open(true);
    }
    b
}

/// Maps a failed open of `path`.
fn open_error(path: &Path, pid_path: &Path, e: redb::DatabaseError) -> Error {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if matches!(
                io.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Error::Corrupt {
                record: format!("database file {}", path.display()),
                reason: io.to_string(),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => Error::Corrupt {
            record: format!("database file {}", path.display()),
            reason,
        },
        redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse {
            path: path.to_owned(),
            pid: shared::read_pid(pid_path),
        },
        redb::DatabaseError::RepairAborted => Error::NeedsRecovery {
            path: path.to_owned(),
        },
        other => Error::Open {
            path: path.to_owned(),
            source: other,
        },
    }
}

/// Runs a redb open with panics on a damaged file turned into errors naming it.
fn contained_open<T>(
    path: &Path,
    pid_path: &Path,
    f: impl FnOnce() -> Result<T, redb::DatabaseError>,
) -> Result<T, Error> {
    guard::contain(&|| format!("database file {}", path.display()), || {
        f().map_err(|e| open_error(path, pid_path, e))
    })
}

impl MetadataStore {
    /// Opens `<root>/metadata.redb`. A writable open creates the root, the database and the
    /// spool directory (`<root>/tmp`) when missing, takes the store's single writer lock (or
    /// fails with [`Error::InUse`] naming the holder's pid), and recovers the file if the last
    /// writer crashed. Every open checks the schema version and the driver name.
    pub fn open(root: &Path, opts: &OpenOptions) -> Result<MetadataStore, Error> {
        let path = root.join(DB_FILE);
        let pid_path = root.join(PID_FILE);
        let tmp_dir = opts.tmp_dir.clone().unwrap_or_else(|| root.join(TMP_DIR));
        let chunk_size = opts
            .tar_split_chunk_size
            .clamp(*CHUNK_SIZE_RANGE.start(), *CHUNK_SIZE_RANGE.end());

        let db = if opts.read_only {
            Self::open_reader(&path, &pid_path, opts)?
        } else {
            Self::open_writer(root, &path, &pid_path, &tmp_dir, opts)?
        };
        let writer = matches!(db, Db::Writer(_));
        let mut shared = Shared::new(db, path, pid_path, tmp_dir, String::new(), chunk_size);
        if writer {
            shared::write_pid(&shared.pid_path);
            shared.owns_pid_file = true;
        }
        shared.driver = Self::check_meta(&shared, &opts.driver)?;
        Ok(MetadataStore {
            shared: Arc::new(shared),
        })
    }

    fn open_reader(path: &Path, pid_path: &Path, opts: &OpenOptions) -> Result<Db, Error> {
        match fs::metadata(path) {
            Ok(m) if m.len() == 0 => return Err(empty_file(path)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    what: format!("metadata database {}", path.display()),
                })
            }
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        }
        let b = builder(opts);
        contained_open(path, pid_path, || b.open_read_only(path)).map(Db::Reader)
    }

    fn open_writer(
        root: &Path,
        path: &Path,
        pid_path: &Path,
        tmp_dir: &Path,
        opts: &OpenOptions,
    ) -> Result<Db, Error> {
        fs::create_dir_all(root)
            .map_err(|e| Error::io(format!("creating store directory {}", root.display()), e))?;
        fs::create_dir_all(tmp_dir)
            .map_err(|e| Error::io(format!("creating spool directory {}", tmp_dir.display()), e))?;
        let b = builder(opts);
        match fs::metadata(path) {
            Ok(m) if m.len() == 0 => Err(empty_file(path)),
            Ok(_) => contained_open(path, pid_path, || b.open(path)).map(Db::Writer),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Self::create(root, path, pid_path, &b, &opts.driver)
            }
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Builds a new database under a temporary name and links it into place, so that a crash
    /// never leaves a half-made `metadata.redb` and two racing creators cannot both win.
    fn create(
        root: &Path,
        path: &Path,
        pid_path: &Path,
        b: &Builder,
        driver: &str,
    ) -> Result<Db, Error> {
        if driver.is_empty() {
            return Err(Error::Invalid {
                what: "open options".into(),
                reason: format!("creating a store at {} needs a driver name", root.display()),
            });
        }
        let new_path = root.join(NEW_DB_FILE);
        let db = match contained_open(&new_path, pid_path, || b.create(&new_path)) {
            Ok(db) => db,
            Err(Error::InUse { pid, .. }) => {
                return Err(Error::InUse {
                    path: path.to_owned(),
                    pid,
                })
            }
            // A leftover of a creation that crashed part way: nobody holds it, start again.
            Err(_) => {
                let _ = fs::remove_file(&new_path);
                contained_open(&new_path, pid_path, || b.create(&new_path))?
            }
        };
        let shared = Shared::new(
            Db::Writer(db),
            new_path.clone(),
            pid_path.to_owned(),
            PathBuf::new(),
            driver.to_owned(),
            DEFAULT_CHUNK_SIZE,
        );
        let (sh, op) = (&shared, "initialising the store");
        sh.write(op, |w| {
            {
                let mut meta = w.open_table(META).ctx(sh, op)?;
                let version = SCHEMA_VERSION.to_string();
                meta.insert(META_SCHEMA, version.as_str()).ctx(sh, op)?;
                meta.insert(META_DRIVER, driver).ctx(sh, op)?;
            }
            w.open_table(LAYERS).ctx(sh, op)?;
            w.open_table(TAR_SPLIT).ctx(sh, op)?;
            w.open_table(MOUNTS).ctx(sh, op)?;
            w.open_table(PENDING).ctx(sh, op)?;
            Ok(())
        })?;
        let linked = fs::hard_link(&new_path, path);
        // Still holding the lock, so the name points at this file and no one else's.
        let _ = fs::remove_file(&new_path);
        match linked {
            Ok(()) => {
                fs::File::open(root)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::io(format!("syncing directory {}", root.display()), e))?;
                shared.into_db().ok_or_else(|| Error::InUse {
                    path: path.to_owned(),
                    pid: None,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Another process created the store meanwhile: open that one instead.
                drop(shared);
                contained_open(path, pid_path, || b.open(path)).map(Db::Writer)
            }
            Err(e) => Err(Error::io(
                format!("linking {} to {}", new_path.display(), path.display()),
                e,
            )),
        }
    }

    /// Checks the schema version and the driver; returns the store's driver name.
    fn check_meta(shared: &Shared, requested: &str) -> Result<String, Error> {
        let op = "reading the meta table";
        let (version, driver) = shared.read(op, |txn| {
            let Some(meta) = shared.open_ro(txn, META)? else {
                return Err(shared.corrupt("meta table", "missing".into()));
            };
            let get = |key: &str| -> Result<Option<String>, Error> {
                Ok(meta
                    .get(key)
                    .map_err(|e| shared.redb(op, e))?
                    .map(|v| v.value().to_owned()))
            };
            Ok((get(META_SCHEMA)?, get(META_DRIVER)?))
        })?;
        let version =
            version.ok_or_else(|| shared.corrupt("meta table", "no schema_version".into()))?;
        let version: u32 = version.parse().map_err(|_| {
            shared.corrupt(
                "meta table",
                format!("schema_version {version:?} is not a number"),
            )
        })?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: shared.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            return Err(shared.corrupt("meta table", "schema_version 0".into()));
        }
        let driver = driver.ok_or_else(|| shared.corrupt("meta table", "no driver".into()))?;
        if !requested.is_empty() && requested != driver {
            return Err(Error::DriverMismatch {
                path: shared.path.clone(),
                store: driver,
                requested: requested.to_owned(),
            });
        }
        Ok(driver)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The storage driver the store was created for.
    pub fn driver(&self) -> &str {
        &self.shared.driver
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.is_read_only()
    }

    /// A transaction that records one layer. It takes no lock until
    /// [`MetadataTransaction::commit`]: many may be filled at once, on other threads.
    pub fn begin(&self) -> Result<MetadataTransaction, Error> {
        if self.is_read_only() {
            return Err(self.shared.read_only_error());
        }
        Ok(MetadataTransaction::new(Arc::clone(&self.shared)))
    }

    /// Commits several transactions of this store in one durable redb commit, all or nothing,
    /// in order (a layer may stand on one earlier in the batch). Each is checked as
    /// [`MetadataTransaction::commit`] checks one; the first failure records nothing. One commit
    /// costs one set of disk syncs however many layers it holds, so loading an image's layers
    /// this way is much faster than one commit each.
    pub fn commit_batch(&self, txns: Vec<(MetadataTransaction, ChainId)>) -> Result<(), Error> {
        transaction::commit_batch(&self.shared, txns)
    }

    /// The record of layer `id`, or `None` when there is none.
    pub fn layer(&self, id: &ChainId) -> Result<Option<LayerRecord>, Error> {
        let sh = &*self.shared;
        let op = "reading a layer record";
        sh.with_snapshot(op, |snap| {
            let Some(t) = &snap.layers else {
                return Ok(None);
            };
            let Some(v) = t.get(id.as_str()).ctx(sh, op)? else {
                return Ok(None);
            };
            LayerRecord::decode(id.as_str(), v.value())
                .map(Some)
                .map_err(|reason| sh.corrupt(format_args!("layer record {id}"), reason))
        })
    }

    /// Every layer record, in ChainID order. An undecodable record fails the whole listing with
    /// an error naming it; use [`Self::layers_raw`] to see the rest.
    pub fn layers(&self) -> Result<Vec<LayerRecord>, Error> {
        self.scan(LAYERS, "layer record", LayerRecord::decode, |_, rec| rec)
    }

    /// Every layer record as stored, decodable or not (for fsck): the key and the record or the
    /// error naming it.
    #[allow(clippy::type_complexity)]
    pub fn layers_raw(&self) -> Result<Vec<(String, Result<LayerRecord, Error>)>, Error> {
        self.scan(LAYERS, "layer record", LayerRecord::decode, |key, rec| {
            Ok((key.to_owned(), rec))
        })
    }

    /// Maps every record of `table` (key and decoded value, or the error naming the record)
    /// through `each`, in key order.
    fn scan<R, T>(
        &self,
        table: redb::TableDefinition<&str, &[u8]>,
        what: &str,
        decode: fn(&str, &[u8]) -> Result<R, String>,
        mut each: impl FnMut(&str, Result<R, Error>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let sh = &*self.shared;
        let op = format!("listing {what}s");
        let op = op.as_str();
        sh.read(op, |txn| {
            let Some(t) = sh.open_ro(txn, table)? else {
                return Ok(Vec::new());
            };
            // Bounded: a damaged file must not make the listing allocate without limit.
            let hint = t.len().ctx(sh, op)?.min(1 << 20);
            let mut out = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
            for item in t.iter().ctx(sh, op)? {
                let (k, v) = item.ctx(sh, op)?;
                let key = k.value();
                let rec = decode(key, v.value())
                    .map_err(|reason| sh.corrupt(format_args!("{what} {key:?}"), reason));
                out.push(each(key, rec)?);
            }
            Ok(out)
        })
    }

    /// Streams layer `id`'s stored tar-split bytes, decompressed. The reader checks the stored
    /// size and digest at the end: a mismatch or a missing chunk is a read error (an
    /// [`std::io::Error`] wrapping [`Error::Corrupt`] that names the layer and the chunk), so a
    /// damaged stream is never taken for a good one.
    pub fn tar_split(&self, id: &ChainId) -> Result<TarSplitReader, Error> {
        TarSplitReader::open(Arc::clone(&self.shared), id)?.ok_or_else(|| not_found_layer(id))
    }

    /// Sets layer `id`'s state, in one commit.
    pub fn set_state(&self, id: &ChainId, state: LayerState) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "setting a layer's state";
        sh.write(op, |w| {
            let mut t = w.open_table(LAYERS).ctx(sh, op)?;
            let mut rec = {
                let v = t
                    .get(id.as_str())
                    .ctx(sh, op)?
                    .ok_or_else(|| not_found_layer(id))?;
                LayerRecord::decode(id.as_str(), v.value())
                    .map_err(|reason| sh.corrupt(format_args!("layer record {id}"), reason))?
            };
            rec.state = state;
            t.insert(id.as_str(), rec.encode().as_slice()).ctx(sh, op)?;
            Ok(())
        })
    }

    /// Removes layer `id`'s record and its tar-split chunks in one commit. The record may be
    /// undecodable (fsck removes damaged records this way).
    pub fn remove_layer(&self, id: &ChainId) -> Result<(), Error> {
        self.remove_layer_key(id.as_str())
    }

    /// Removes the layer record stored under `key` (as [`Self::layers_raw`] reports it, even if
    /// it is not a valid ChainID) and its tar-split chunks, in one commit.
    pub fn remove_layer_key(&self, key: &str) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "removing a layer";
        sh.write(op, |w| {
            let removed = w
                .open_table(LAYERS)
                .ctx(sh, op)?
                .remove(key)
                .ctx(sh, op)?
                .is_some();
            if !removed {
                return Err(Error::NotFound {
                    what: format!("layer {key}"),
                });
            }
            w.open_table(TAR_SPLIT)
                .ctx(sh, op)?
                .retain_in((key, 0u32)..=(key, u32::MAX), |_, _| false)
                .ctx(sh, op)?;
            Ok(())
        })
    }

    /// Records that this process is creating a layer in driver directory `cache_id`, in one
    /// commit. [`MetadataTransaction::commit`] clears it; after a crash it is left for the next
    /// open to roll back.
    pub fn begin_creation(&self, cache_id: &str) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "recording a layer creation";
        let rec = PendingRecord {
            cache_id: cache_id.to_owned(),
            pid: std::process::id(),
            started_unix_nanos: now_unix_nanos(),
        };
        sh.write(op, |w| {
            w.open_table(PENDING)
                .ctx(sh, op)?
                .insert(cache_id, rec.encode().as_slice())
                .ctx(sh, op)?;
            Ok(())
        })
    }

    /// Every layer creation begun and not committed or cleared.
    pub fn pending(&self) -> Result<Vec<PendingRecord>, Error> {
        self.scan(PENDING, "pending record", PendingRecord::decode, |_, r| r)
    }

    /// Every pending record as stored, decodable or not (for fsck): the key (a cache-ID) and the
    /// record or the error naming it.
    #[allow(clippy::type_complexity)]
    pub fn pending_raw(&self) -> Result<Vec<(String, Result<PendingRecord, Error>)>, Error> {
        self.scan(PENDING, "pending record", PendingRecord::decode, |k, r| {
            Ok((k.to_owned(), r))
        })
    }

    /// Forgets the pending creation of `cache_id` (after rolling it back), in one commit. Clearing
    /// one that is not recorded is not an error.
    pub fn clear_pending(&self, cache_id: &str) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "clearing a pending creation";
        sh.write(op, |w| {
            w.open_table(PENDING)
                .ctx(sh, op)?
                .remove(cache_id)
                .ctx(sh, op)?;
            Ok(())
        })
    }

    /// Writes mount record `m` whole (replacing one of the same name), in one commit.
    pub fn set_mount(&self, m: &MountRecord) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "writing a mount record";
        sh.write(op, |w| {
            w.open_table(MOUNTS)
                .ctx(sh, op)?
                .insert(m.name.as_str(), m.encode().as_slice())
                .ctx(sh, op)?;
            Ok(())
        })
    }

    /// The mount record named `name`, or `None`.
    pub fn mount(&self, name: &str) -> Result<Option<MountRecord>, Error> {
        let sh = &*self.shared;
        let op = "reading a mount record";
        sh.with_snapshot(op, |snap| {
            let Some(t) = &snap.mounts else {
                return Ok(None);
            };
            let Some(v) = t.get(name).ctx(sh, op)? else {
                return Ok(None);
            };
            MountRecord::decode(name, v.value())
                .map(Some)
                .map_err(|reason| sh.corrupt(format_args!("mount record {name:?}"), reason))
        })
    }

    /// Every mount record, in name order.
    pub fn mounts(&self) -> Result<Vec<MountRecord>, Error> {
        self.scan(MOUNTS, "mount record", MountRecord::decode, |_, r| r)
    }

    /// Every mount record as stored, decodable or not (for fsck): the name and the record or the
    /// error naming it.
    #[allow(clippy::type_complexity)]
    pub fn mounts_raw(&self) -> Result<Vec<(String, Result<MountRecord, Error>)>, Error> {
        self.scan(MOUNTS, "mount record", MountRecord::decode, |k, r| {
            Ok((k.to_owned(), r))
        })
    }

    /// Tar-split data without a layer record (for fsck): each layer key found in the chunk
    /// table with no record, and its number of chunks. A commit writes both or neither, so these
    /// can only come from damage or a bug.
    pub fn orphan_tar_split(&self) -> Result<Vec<(String, u32)>, Error> {
        let sh = &*self.shared;
        let op = "listing tar-split chunks";
        sh.read(op, |txn| {
            let (Some(chunks), layers) = (sh.open_ro(txn, TAR_SPLIT)?, sh.open_ro(txn, LAYERS)?)
            else {
                return Ok(Vec::new());
            };
            let mut out: Vec<(String, u32)> = Vec::new();
            for item in chunks.iter().ctx(sh, op)? {
                let (k, _) = item.ctx(sh, op)?;
                let (key, _) = k.value();
                match out.last_mut() {
                    Some((last, n)) if last == key => *n += 1,
                    _ => {
                        let recorded = match &layers {
                            Some(l) => l.get(key).ctx(sh, op)?.is_some(),
                            None => false,
                        };
                        if recorded {
                            continue;
                        }
                        out.push((key.to_owned(), 1));
                    }
                }
            }
            Ok(out)
        })
    }

    /// Removes the tar-split chunks stored under layer key `key` that have no layer record, in
    /// one commit. [`Error::Invalid`] if the layer is recorded (use [`Self::remove_layer_key`]).
    pub fn remove_orphan_tar_split(&self, key: &str) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "removing orphan tar-split chunks";
        sh.write(op, |w| {
            if w.open_table(LAYERS)
                .ctx(sh, op)?
                .get(key)
                .ctx(sh, op)?
                .is_some()
            {
                return Err(Error::Invalid {
                    what: format!("tar-split chunks of {key}"),
                    reason: "the layer is recorded".into(),
                });
            }
            w.open_table(TAR_SPLIT)
                .ctx(sh, op)?
                .retain_in((key, 0u32)..=(key, u32::MAX), |_, _| false)
                .ctx(sh, op)?;
            Ok(())
        })
    }

    /// Removes mount record `name`, in one commit; [`Error::NotFound`] if there is none.
    pub fn remove_mount(&self, name: &str) -> Result<(), Error> {
        let sh = &*self.shared;
        let op = "removing a mount record";
        sh.write(op, |w| {
            let removed = w
                .open_table(MOUNTS)
                .ctx(sh, op)?
                .remove(name)
                .ctx(sh, op)?
                .is_some();
            if removed {
                Ok(())
            } else {
                Err(Error::NotFound {
                    what: format!("mount {name:?}"),
                })
            }
        })
    }

    /// Runs redb's integrity check over the whole file, repairing what it can (writers only; no
    /// transaction or tar-split reader of this store may be open). `Ok(true)` when the file was
    /// clean, `Ok(false)` when it was damaged and has been repaired, [`Error::Corrupt`] naming the
    /// file when it cannot be repaired.
    pub fn check_integrity(&mut self) -> Result<bool, Error> {
        let path = self.shared.path.clone();
        let Some(shared) = Arc::get_mut(&mut self.shared) else {
            return Err(Error::Busy {
                path,
                what: "checking integrity: transactions or tar-split readers are still open".into(),
            });
        };
        let pid_path = shared.pid_path.clone();
        shared.drop_snapshot();
        let Some(db) = shared.writer_mut() else {
            return Err(Error::ReadOnly { path });
        };
        guard::contain(&|| format!("database file {}", path.display()), || {
            db.check_integrity()
                .map_err(|e| shared::redb_error(&path, &pid_path, "checking integrity", e.into()))
        })
    }
}

fn not_found_layer(id: &ChainId) -> Error {
    Error::NotFound {
        what: format!("layer {id}"),
    }
}

fn empty_file(path: &Path) -> Error {
    Error::Corrupt {
        record: format!("database file {}", path.display()),
        reason: "the file is empty".into(),
    }
}
