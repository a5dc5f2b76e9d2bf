//! The open database shared by a store, its transactions and its readers, with the helpers that
//! run redb calls contained (see [`crate::guard`]) and map redb's errors to ours.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redb::{
    Database, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction, ReadableDatabase, TableDefinition,
    TableError, TableHandle, WriteTransaction,
};

use crate::error::Error;
use crate::guard;
use crate::tables::{LAYERS, MOUNTS};

/// A read snapshot of the layer and mount tables, for point reads.
pub(crate) struct Snapshot {
    /// The write generation it was taken at.
    generation: u64,
    /// `None` where the table does not exist (yet).
    pub(crate) layers: Option<ReadOnlyTable<&'static str, &'static [u8]>>,
    pub(crate) mounts: Option<ReadOnlyTable<&'static str, &'static [u8]>>,
}

/// The two ways a store holds its database.
pub(crate) enum Db {
    /// The one writer; it reads too.
    Writer(Database),
    /// A read-only follower of whichever process writes.
    Reader(ReadOnlyDatabase),
}

/// Everything an open store shares with its transactions and tar-split readers.
pub(crate) struct Shared {
    /// `None` only while being dropped.
    db: Option<Db>,
    /// The database file.
    pub(crate) path: PathBuf,
    /// Where a writer records its pid, for the "in use" message of a refused writer.
    pub(crate) pid_path: PathBuf,
    /// Where tar-split spools are created.
    pub(crate) tmp_dir: PathBuf,
    /// The store's storage driver.
    pub(crate) driver: String,
    /// Raw bytes per tar-split chunk.
    pub(crate) chunk_size: usize,
    /// Whether this handle wrote the pid file (and removes it when closed).
    pub(crate) owns_pid_file: bool,
    /// Bumped after every write transaction of this handle.
    generation: AtomicU64,
    /// Write transactions of this handle under way.
    writing: AtomicUsize,
    /// The writer's cached snapshot for point reads. Beginning a read transaction costs several
    /// file-lock syscalls in redb's multi-process modes, far more than the lookup; in the one
    /// writing process nothing else changes the file, so a snapshot stays current until this
    /// handle's next write. Dropped when a write begins, so that it never pins old pages for long.
    snapshot: Mutex<Option<Arc<Snapshot>>>,
}

impl Shared {
    pub(crate) fn new(
        db: Db,
        path: PathBuf,
        pid_path: PathBuf,
        tmp_dir: PathBuf,
        driver: String,
        chunk_size: usize,
    ) -> Self {
        Shared {
            db: Some(db),
            path,
            pid_path,
            tmp_dir,
            driver,
            chunk_size,
            owns_pid_file: false,
            generation: AtomicU64::new(0),
            writing: AtomicUsize::new(0),
            snapshot: Mutex::new(None),
        }
    }

    /// Runs `f` on a snapshot of the layer and mount tables: the writer's cached one when it is
    /// current, else a new one (a read-only handle always takes a new one, since another
    /// process writes).
    pub(crate) fn with_snapshot<T>(
        &self,
        op: &str,
        f: impl FnOnce(&Snapshot) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let writer = matches!(self.db, Some(Db::Writer(_)));
        let generation = self.generation.load(Ordering::Acquire);
        if writer {
            let cached = self
                .snapshot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(snap) = cached.filter(|s| s.generation == generation) {
                return self.contain(|| f(&snap));
            }
        }
        let snap = Arc::new(self.read(op, |txn| {
            Ok(Snapshot {
                generation,
                layers: self.open_ro(txn, LAYERS)?,
                mounts: self.open_ro(txn, MOUNTS)?,
            })
        })?);
        if writer
            && self.writing.load(Ordering::Acquire) == 0
            && self.generation.load(Ordering::Acquire) == generation
        {
            *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(snap.clone());
        }
        self.contain(|| f(&snap))
    }

    /// Drops the cached snapshot (needed before an integrity check, which wants no reader).
    pub(crate) fn drop_snapshot(&mut self) {
        *self
            .snapshot
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Takes the database out, for a caller that built this only to initialise it.
    pub(crate) fn into_db(mut self) -> Option<Db> {
        self.db.take()
    }

    pub(crate) fn is_read_only(&self) -> bool {
        matches!(self.db, Some(Db::Reader(_)) | None)
    }

    pub(crate) fn writer_mut(&mut self) -> Option<&mut Database> {
        match &mut self.db {
            Some(Db::Writer(db)) => Some(db),
            _ => None,
        }
    }

    /// How the database file is named in errors.
    pub(crate) fn file_record(&self) -> String {
        format!("database file {}", self.path.display())
    }

    /// Runs `f` with redb panics turned into errors about the database file.
    pub(crate) fn contain<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        guard::contain(&|| self.file_record(), f)
    }

    /// Maps a redb error met while doing `op`.
    pub(crate) fn redb(&self, op: &str, e: impl Into<redb::Error>) -> Error {
        redb_error(&self.path, &self.pid_path, op, e.into())
    }

    /// A damaged record: names the record and the file.
    pub(crate) fn corrupt(&self, what: impl std::fmt::Display, reason: String) -> Error {
        Error::Corrupt {
            record: format!("{what} in {}", self.path.display()),
            reason,
        }
    }

    pub(crate) fn read_only_error(&self) -> Error {
        Error::ReadOnly {
            path: self.path.clone(),
        }
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T>(
        &self,
        op: &str,
        f: impl FnOnce(&ReadTransaction) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.contain(|| {
            let txn = match &self.db {
                Some(Db::Writer(db)) => db.begin_read(),
                Some(Db::Reader(db)) => db.begin_read(),
                None => return Err(self.read_only_error()),
            }
            .map_err(|e| self.redb(op, e))?;
            f(&txn)
        })
    }

    /// Runs `f` in a write transaction, committed (durably) when `f` succeeds and aborted when it
    /// fails.
    pub(crate) fn write<T>(
        &self,
        op: &str,
        f: impl FnOnce(&WriteTransaction) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(Db::Writer(db)) = &self.db else {
            return Err(self.read_only_error());
        };
        self.writing.fetch_add(1, Ordering::AcqRel);
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let result = self.write_inner(db, op, f);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.writing.fetch_sub(1, Ordering::AcqRel);
        result
    }

    fn write_inner<T>(
        &self,
        db: &Database,
        op: &str,
        f: impl FnOnce(&WriteTransaction) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.contain(|| {
            let txn = db.begin_write().map_err(|e| self.redb(op, e))?;
            match f(&txn) {
                Ok(v) => {
                    txn.commit().map_err(|e| self.redb(op, e))?;
                    Ok(v)
                }
                Err(e) => {
                    // The transaction's own failure is the one worth reporting.
                    let _ = txn.abort();
                    Err(e)
                }
            }
        })
    }

    /// Opens a table for reading; a table that does not exist yet reads as empty (`None`).
    pub(crate) fn open_ro<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<Option<ReadOnlyTable<K, V>>, Error> {
        match txn.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.redb(&format!("opening table {}", def.name()), e)),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.drop_snapshot();
        let db = self.db.take();
        if self.owns_pid_file {
            // Removed while the lock is still held, so it is not another writer's file yet.
            let _ = fs::remove_file(&self.pid_path);
        }
        // Closing flushes and may touch damaged pages; never let that unwind out of a drop.
        let _ = self.contain(move || {
            drop(db);
            Ok(())
        });
    }
}

/// Maps a redb error about the database at `path`.
pub(crate) fn redb_error(path: &Path, pid_path: &Path, op: &str, e: redb::Error) -> Error {
    match e {
        redb::Error::Corrupted(reason) => Error::Corrupt {
            record: format!("database file {}", path.display()),
            reason,
        },
        redb::Error::DatabaseAlreadyOpen => Error::InUse {
            path: path.to_owned(),
            pid: read_pid(pid_path),
        },
        redb::Error::RepairAborted => Error::NeedsRecovery {
            path: path.to_owned(),
        },
        redb::Error::TransactionInProgress => Error::Busy {
            path: path.to_owned(),
            what: format!("{op}: transactions or tar-split readers are still open"),
        },
        other => Error::Redb {
            path: path.to_owned(),
            op: op.to_owned(),
            source: Box::new(other),
        },
    }
}

/// The pid recorded by the running writer, if it recorded one and that process still exists.
pub(crate) fn read_pid(pid_path: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pid_path).ok()?.trim().parse().ok()?;
    // A stale file (a writer that was killed) names a pid that may be gone; where /proc is
    // mounted, only name a live one.
    let proc_root = Path::new("/proc/self");
    if proc_root.exists() && !Path::new(&format!("/proc/{pid}")).exists() {
        return None;
    }
    Some(pid)
}

/// Records this process as the writer. Best effort: the file only improves a message.
pub(crate) fn write_pid(pid_path: &Path) {
    let me = std::process::id();
    let tmp = pid_path.with_extension(format!("pid.{me}"));
    if fs::write(&tmp, format!("{me}\n")).is_ok() && fs::rename(&tmp, pid_path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Maps redb errors of a result, naming the operation and the database.
pub(crate) trait RedbContext<T> {
    /// The result with its error mapped by [`Shared::redb`].
    fn ctx(self, sh: &Shared, op: &str) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> RedbContext<T> for Result<T, E> {
    fn ctx(self, sh: &Shared, op: &str) -> Result<T, Error> {
        self.map_err(|e| sh.redb(op, e))
    }
}
