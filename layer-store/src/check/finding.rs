//! What a check finds: a stable code, the object concerned, a message, and whether a repair can
//! fix it; and the counters of what was checked.

use std::path::PathBuf;

use graphdriver::DriverFinding;

/// The stable codes of every finding (documented one line each in the module docs). Scripts
/// match on these strings: a published code never changes meaning.
pub mod codes {
    /// A layer record that does not decode.
    pub const RECORD_UNDECODABLE: &str = "record-undecodable";
    /// A layer's ChainID is not the one computed from its parent's ChainID and its DiffID.
    pub const CHAIN_ID_MISMATCH: &str = "chain-id-mismatch";
    /// A layer's parent has no record.
    pub const PARENT_MISSING: &str = "parent-missing";
    /// A layer is its own ancestor.
    pub const PARENT_CYCLE: &str = "parent-cycle";
    /// A layer stands deeper than the maximum chain depth.
    pub const DEPTH_EXCEEDED: &str = "depth-exceeded";
    /// Two layers (or read-write layers) name one driver directory.
    pub const CACHE_ID_SHARED: &str = "cache-id-shared";
    /// A layer creation was interrupted (a pending record whose process is gone).
    pub const LAYER_BEING_CREATED: &str = "layer-being-created";
    /// A layer removal was interrupted (a record left in state `removing`).
    pub const LAYER_BEING_REMOVED: &str = "layer-being-removed";
    /// A layer's tar-split data (or one of its chunks) is missing.
    pub const TAR_SPLIT_MISSING: &str = "tar-split-missing";
    /// A layer's tar-split data does not decompress or decode.
    pub const TAR_SPLIT_CORRUPT: &str = "tar-split-corrupt";
    /// A layer's tar-split data does not match the digest stored with it.
    pub const TAR_SPLIT_DIGEST_MISMATCH: &str = "tar-split-digest-mismatch";
    /// The file sizes a layer's tar-split records do not add up to the recorded diff size.
    pub const TAR_SPLIT_SIZE_MISMATCH: &str = "tar-split-size-mismatch";
    /// Mount records that cannot be read.
    pub const MOUNT_RECORDS_UNREADABLE: &str = "mount-records-unreadable";
    /// A read-write layer record that does not decode.
    pub const MOUNT_RECORD_UNDECODABLE: &str = "mount-record-undecodable";
    /// Tar-split data stored for a layer that has no record.
    pub const TAR_SPLIT_ORPHAN: &str = "tar-split-orphan";
    /// A read-write layer stands on a layer that has no record.
    pub const MOUNT_PARENT_MISSING: &str = "mount-parent-missing";
    /// A read-write layer's driver directory is missing.
    pub const MOUNT_DIR_MISSING: &str = "mount-dir-missing";
    /// A read-write layer's init layer directory is missing.
    pub const INIT_DIR_MISSING: &str = "init-dir-missing";
    /// A layer's driver directory is missing.
    pub const LAYER_DIR_MISSING: &str = "layer-dir-missing";
    /// A layer's driver directory still carries the incomplete marker.
    pub const LAYER_DIR_INCOMPLETE: &str = "layer-dir-incomplete";
    /// A complete driver directory that no record names.
    pub const ORPHAN_DIR: &str = "orphan-dir";
    /// An incomplete (staged) driver directory that no record or pending creation names.
    pub const STAGING_LEFTOVER: &str = "staging-leftover";
    /// A leftover in the store's `tmp/` directory.
    pub const TEMP_LEFTOVER: &str = "temp-leftover";
    /// A mount under the store's root that no layer or read-write layer accounts for.
    pub const STALE_MOUNT: &str = "stale-mount";
    /// A layer's tar, reassembled from its tar-split and its files, does not match its DiffID.
    pub const CONTENT_MISMATCH: &str = "content-mismatch";
    /// The database file failed redb's integrity check.
    pub const DATABASE_CORRUPT: &str = "database-corrupt";
}

/// What a repair would do about a finding; filled by the check that found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Hint {
    /// Nothing automatic: the operator decides.
    #[default]
    None,
    /// The driver fixes its own layout files of layer `id`.
    DriverFix {
        id: String,
        lower_ids: Vec<String>,
        finding: DriverFinding,
    },
    /// Roll back the interrupted creation of driver directory `cache_id`.
    RollBack { cache_id: String },
    /// Finish the interrupted removal of layer `key`.
    FinishRemoval { key: String },
    /// Layer `key` is damaged beyond repair: remove it (with what stands on it, under `--force`).
    Damaged { key: String },
    /// Read-write layer `name` has lost its directory: drop its record and init layer.
    DropMount { name: String },
    /// Read-write layer record `name` does not decode: drop it (its directories, named by no
    /// record, are orphans).
    DropMountRecord { name: String },
    /// Remove tar-split chunks stored under `key` with no layer record.
    RemoveOrphanTarSplit { key: String },
    /// Read-write layer `name` is unusable: remove it, only under `--force` (it holds data).
    DamagedMount { name: String },
    /// Recreate the (empty) init layer of read-write layer `name`.
    RecreateInit { name: String },
    /// Remove driver directory `id` that nothing names.
    RemoveDir { id: String },
    /// Remove a leftover under `tmp/`.
    RemoveTemp { path: PathBuf },
    /// Unmount a mount nothing accounts for.
    Unmount { path: PathBuf },
}

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Its stable kebab-case code (see [`codes`], or a driver's own codes).
    pub code: &'static str,
    /// What it concerns: a layer's ChainID, a read-write layer's name, a driver ID, or a path.
    pub object: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Whether `--repair` has a safe way to deal with it (some need `--force`: see
    /// [`Finding::needs_force`]).
    pub repairable: bool,
    /// Dealing with it removes data that other layers or read-write layers depend on, which
    /// only `--force` allows.
    pub needs_force: bool,
    /// What a repair would do about it.
    pub(crate) hint: Hint,
}

impl Finding {
    pub(crate) fn new(
        code: &'static str,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            object: object.into(),
            message: message.into(),
            repairable: false,
            needs_force: false,
            hint: Hint::None,
        }
    }

    /// The same finding with what a repair would do about it.
    pub(crate) fn fix(mut self, hint: Hint) -> Self {
        self.repairable = !matches!(hint, Hint::None);
        self.hint = hint;
        self
    }
}

/// What a check looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Layer records read (decodable or not).
    pub layers: usize,
    /// Read-write layer records read.
    pub mounts: usize,
    /// Driver directories listed.
    pub driver_dirs: usize,
    /// Pending creations found.
    pub pending: usize,
    /// Mounts under the store's root seen in mountinfo.
    pub mounts_seen: usize,
    /// Layers whose tar was reassembled and hashed (`--deep`).
    pub deep_layers: usize,
    /// Bytes of tar reassembled and hashed (`--deep`).
    pub deep_bytes: u64,
    /// redb's integrity check found damage in the database file and repaired it (writable
    /// opens only).
    pub database_repaired: bool,
}

/// The result of one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every inconsistency, in the order the checks ran.
    pub findings: Vec<Finding>,
    /// What was checked.
    pub counters: Counters,
    /// Things seen that are not errors, or checks that could not run here, one sentence each
    /// (a creation in progress by a live process, the integrity check of a read-only open).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the check found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    pub(crate) fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}
