//! Layer and mount metadata of a layer store, kept in one redb database and changed only through
//! transactions that commit whole or not at all.
//!
//! # On disk
//! ```text
//! <root>/metadata.redb      the database (redb, SingleWriter mode)
//!        meta               schema_version, driver
//!        layers             ChainID -> layer record (DiffID, parent, sizes, cache-ID, descriptor,
//!                           created, state, tar-split summary)
//!        tar_split          (ChainID, chunk number) -> zstd-compressed chunk of tar-split data
//!        mounts             name -> mount record (mount-ID, init-ID, parent)
//!        pending            cache-ID -> layer being created (pid, started)
//! <root>/metadata.pid       the running writer's pid, for the "in use" message
//! <root>/tmp/               anonymous spool files of open transactions
//! ```
//!
//! # Invariants
//! - Every change is one durable redb commit: after a crash the database holds exactly the
//!   commits that returned, so a layer record and its tar-split chunks appear and disappear
//!   together.
//! - One process writes a store at a time; a second writer gets [`Error::InUse`] at once.
//!   Read-only openers may run beside the writer and follow its commits.
//! - A store written by a newer schema, or for another driver, is refused, never misread. An
//!   undecodable record is an error naming it, never skipped; a damaged file is an error naming
//!   it, never a panic (see the `guard` module for how redb panics are contained).
//! - A layer's tar-split data is never held whole in memory: it is written through a chunking,
//!   compressing writer and read back through a verifying reader.
//!
//! # Costs
//! A commit is durable (redb's two-phase commit: a few disk syncs), so a caller recording many
//! layers at once uses [`MetadataStore::commit_batch`]. Point reads in the writing process are
//! served from a snapshot kept until its next write (about a microsecond); a read-only handle
//! begins a read transaction per call, which in redb's multi-process mode costs a few file-lock
//! system calls.

mod codec;
mod descriptor;
mod error;
mod guard;
mod id;
mod record;
mod shared;
mod store;
mod tables;
mod tar_split_reader;
mod transaction;

pub use descriptor::Descriptor;
pub use error::{Error, ErrorKind};
pub use id::{ChainId, DiffId, Digest, IdError};
pub use record::{LayerRecord, LayerState, MountRecord, PendingRecord, TarSplitInfo};
pub use store::{
    MetadataStore, OpenOptions, CHUNK_SIZE_RANGE, DB_FILE, DEFAULT_CHUNK_SIZE, PID_FILE, TMP_DIR,
};
pub use tables::SCHEMA_VERSION;
pub use tar_split_reader::TarSplitReader;
pub use transaction::{MetadataTransaction, TarSplitWriter};

#[cfg(test)]
mod tests;
