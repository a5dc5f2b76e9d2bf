//! Checking a store for every inconsistency, and repairing it safely: the logic `store-fsck`
//! runs.
//!
//! A check ([`Checker::check`]) reads; it opens the store read-only when asked to (it then runs
//! beside a live writer, and takes what that writer is doing for what it is: a creation in
//! progress is a note, not a finding). A repair ([`Checker::repair`]) needs the store to itself:
//! [`Checker::open`] with `writable` takes the single writer lock, or fails with
//! [`metadata::Error::InUse`] naming the process that holds it.
//!
//! # Findings
//! Each finding has a stable code, the object it concerns (a ChainID, a read-write layer's
//! name, a driver ID or a path) and a message. The codes:
//!
//! Metadata
//! - `record-undecodable`: a layer record does not decode.
//! - `chain-id-mismatch`: a ChainID is not the one computed from the parent's ChainID and the DiffID.
//! - `parent-missing`: a layer's parent has no record.
//! - `parent-cycle`: following a layer's parents comes back to a layer already seen.
//! - `depth-exceeded`: a layer stands deeper than the maximum depth.
//! - `cache-id-shared`: two layers (or read-write layers) name one driver directory.
//! - `layer-being-created`: a layer creation was interrupted (its process is gone).
//! - `layer-being-removed`: a layer removal was interrupted.
//! - `tar-split-missing`: a layer's tar-split data, or a chunk of it, is missing.
//! - `tar-split-corrupt`: a layer's tar-split data does not decompress or decode.
//! - `tar-split-digest-mismatch`: the tar-split data does not match its stored digest or size.
//! - `tar-split-size-mismatch`: the file sizes it records do not add up to the layer's diff size.
//! - `mount-records-unreadable`: the read-write layer records cannot be read.
//! - `mount-record-undecodable`: a read-write layer record does not decode.
//! - `tar-split-orphan`: tar-split data stored for a layer that has no record.
//! - `mount-parent-missing`: a read-write layer stands on a layer that has no record.
//! - `mount-dir-missing`: a read-write layer's driver directory is missing.
//! - `init-dir-missing`: a read-write layer's init layer directory is missing.
//!
//! Driver
//! - `layer-dir-missing`: a layer's driver directory is missing.
//! - `layer-dir-incomplete`: a layer's driver directory carries the incomplete marker.
//! - `orphan-dir`: a complete driver directory that no record names.
//! - `staging-leftover`: an incomplete driver directory that no record or creation names.
//! - `temp-leftover`: a leftover in the store's `tmp/` directory.
//! - `stale-mount`: a mount under the store's root that no layer or read-write layer accounts for.
//! - `link-missing`, `link-wrong`: (overlay) a layer's `link` file is missing, or does not hold
//!   a short ID that leads back to the layer.
//! - `short-link-missing`, `short-link-dangling`: (overlay) the `l/<short-id>` symlink of a layer
//!   is missing, or does not lead to the layer's `diff` directory.
//! - `lower-mismatch`: (overlay) a layer's `lower` file disagrees with the chain in the metadata.
//! - `diff-dir-missing`: (overlay) a layer directory without its `diff` directory.
//!
//! Deep (`--deep`)
//! - `content-mismatch`: a layer's tar, reassembled from its tar-split and its files, does not
//!   match its DiffID; the message names the first file whose size or CRC-64 differs, or that
//!   is missing.
//!
//! Database
//! - `database-corrupt`: the database file fails redb's integrity check.
//!
//! # Repair
//! [`Checker::repair`] prints nothing itself: it hands each [`Plan`] to the caller before acting.
//! The order is safe: first recreate what can be recreated without loss (driver layout files,
//! init layers; roll back half-done creations, finish half-done removals), then remove what is
//! damaged beyond repair, deepest first (a layer that stands under other layers or read-write
//! layers only with `force`, and then with them), then clear leftovers (stale mounts, orphan and
//! staged directories, temp files). It never unmounts a mount a read-write layer holds and never
//! removes a mounted read-write layer, and it never removes a layer that verifies. After acting
//! it checks again (and repeats while steps succeed, at most [`MAX_PASSES`] times) and reports
//! what is left.
//!
//! Damaged beyond repair means: the layer's content does not verify (`--deep`), its directory or
//! its tar-split data is missing or broken, its record does not decode, or its chain is broken
//! (parent missing, cycle) so that its ChainID cannot be verified nor the chain mounted. What
//! only the operator can judge (a ChainID that does not compute, a shared cache-ID, a chain
//! deeper than the maximum, a tar-split size sum that disagrees) is reported and left alone.
//!
//! # Exit statuses
//! As e2fsck: [`EXIT_CLEAN`], [`EXIT_CORRECTED`], [`EXIT_UNCORRECTED`], [`EXIT_OPERATIONAL`].

mod deep;
mod finding;
mod graph;
mod layout;
mod open;
mod plan;
mod repair;
mod tar_split_check;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::Driver;
use metadata::{LayerState, MetadataStore};

pub use deep::{Progress, ProgressFn};
pub use finding::{codes, Counters, Finding, Report};
pub use plan::{Action, Phase, Plan};
pub use repair::Outcome;

use crate::error::Result;
use deep::DeepItem;
use finding::Hint;
use graph::Graph;
use layout::LayoutInput;

/// Exit status: nothing wrong was found.
pub const EXIT_CLEAN: i32 = 0;
/// Exit status: errors were found and all of them corrected.
pub const EXIT_CORRECTED: i32 = 1;
/// Exit status: errors were left uncorrected.
pub const EXIT_UNCORRECTED: i32 = 4;
/// Exit status: the check itself could not run (no store, store in use, I/O error).
pub const EXIT_OPERATIONAL: i32 = 8;

/// How many times a repair acts and checks again while its steps succeed: a step can reveal
/// work for another (a recreated init layer needs its read-write layer's `lower` file fixed).
pub const MAX_PASSES: usize = 3;

/// What a check covers.
#[derive(Clone, Default)]
pub struct CheckOptions {
    /// Reassemble and hash every layer's tar (slow: reads every file).
    pub deep: bool,
    /// Threads for the deep check; 0 means one per CPU.
    pub jobs: usize,
    /// The deepest chain that is not a finding; 0 means [`crate::DEFAULT_MAX_DEPTH`].
    pub max_depth: usize,
    /// Called as the deep check progresses.
    pub progress: Option<Arc<ProgressFn>>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("deep", &self.deep)
            .field("jobs", &self.jobs)
            .field("max_depth", &self.max_depth)
            .finish_non_exhaustive()
    }
}

/// The whole of a repair: the first check, each pass's plan and outcomes, and the last check.
#[derive(Debug, Clone)]
pub struct Session {
    /// What the first check found.
    pub first: Report,
    /// Each pass: the plan and what became of its steps.
    pub passes: Vec<(Plan, Vec<Outcome>)>,
    /// What the check after the last pass found: what is left.
    pub last: Report,
}

impl Session {
    /// Steps carried out.
    pub fn corrected(&self) -> usize {
        self.passes
            .iter()
            .flat_map(|(_, o)| o)
            .filter(|o| o.result.is_ok())
            .count()
    }

    /// The e2fsck-style exit status of the repair.
    pub fn exit_status(&self) -> i32 {
        if !self.last.is_clean() {
            EXIT_UNCORRECTED
        } else if self.corrected() > 0 || self.first.counters.database_repaired {
            EXIT_CORRECTED
        } else {
            EXIT_CLEAN
        }
    }
}

impl Report {
    /// The e2fsck-style exit status of a check without repair.
    pub fn exit_status(&self) -> i32 {
        if self.is_clean() {
            EXIT_CLEAN
        } else {
            EXIT_UNCORRECTED
        }
    }
}

/// Checks and repairs one store.
pub struct Checker {
    root: PathBuf,
    meta: MetadataStore,
    driver: Arc<dyn Driver>,
    /// Opened for checking only (the metadata may be a recovered copy, which is writable).
    read_only: bool,
    /// The scratch directory of a recovered copy of the database, removed on drop.
    scratch: Option<PathBuf>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("root", &self.root)
            .field("driver", &self.driver.name())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Checker {
    /// Opens the store at `root` for checking: read-only unless `writable`, with the store's own
    /// driver. Nothing is recovered on open: what a crash left is for the check to find. A
    /// writable open fails with [`metadata::Error::InUse`] (naming the pid) while another
    /// process writes the store.
    ///
    /// A read-only open of a store whose last writer crashed (redb needs to recover the file)
    /// checks a recovered copy of the database instead, leaving the store's file as it is.
    pub fn open(root: &Path, writable: bool) -> Result<Checker> {
        let opened = open::open(root, writable)?;
        let mut checker = Checker::new(root, opened.meta, opened.driver);
        checker.read_only = !writable;
        checker.scratch = opened.recovered_copy;
        Ok(checker)
    }

    /// A checker over an already open metadata store and driver (whose home is under `root`);
    /// it repairs only if the metadata store is writable.
    pub fn new(root: &Path, meta: MetadataStore, driver: Arc<dyn Driver>) -> Checker {
        Checker {
            root: root.to_owned(),
            read_only: meta.is_read_only(),
            meta,
            driver,
            scratch: None,
        }
    }

    /// The store's driver.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// Whether the store is open read-only (no repair possible).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The store's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks everything (and with `opts.deep`, every layer's content). Changes nothing on
    /// disk, except that a writable open lets redb repair damage its integrity check finds
    /// (reported as a note and counted in [`Counters::database_repaired`]).
    pub fn check(&mut self, opts: &CheckOptions) -> Result<Report> {
        let mut report = Report::default();
        let live_writer = self.is_read_only() && open::live_writer(&self.root);
        if self.scratch.is_some() {
            report.notes.push(
                "the database was not closed cleanly (a writer crashed): a recovered copy of it \
                 was checked; --repair recovers the file itself"
                    .to_owned(),
            );
        }
        self.check_database(live_writer, &mut report);

        // The driver's directories first, then the records: a layer a live writer commits in
        // between is named by the records, never taken for an orphan.
        let listing = self.driver.layers()?;
        let (graph, pending) = self.read_records(&mut report)?;
        report.counters.driver_dirs = listing.len();
        report.counters.layers = graph.layers.len() + graph.undecodable.len();
        report.counters.mounts = graph.mounts.len();
        report.counters.pending = pending.len();

        let max_depth = if opts.max_depth == 0 {
            crate::DEFAULT_MAX_DEPTH
        } else {
            opts.max_depth
        };
        report
            .findings
            .extend(graph::check_records(&graph, max_depth));
        for record in graph.layers.values() {
            if record.state == LayerState::Committed {
                if let Some(f) = tar_split_check::check_tar_split(&self.meta, record) {
                    report.push(f);
                }
            }
        }
        let input = LayoutInput {
            root: &self.root,
            driver: self.driver.as_ref(),
            graph: &graph,
            listing: &listing,
            pending: &pending,
            live_writer,
        };
        let layout = layout::check_layout(&input, &mut report.notes);
        report.findings.extend(layout);
        self.check_mounts(&graph, &pending, &mut report);
        if live_writer {
            self.confirm(&mut report)?;
        }
        if opts.deep {
            self.check_deep(&graph, opts, &mut report);
        }
        mark_needs_force(&graph, &mut report);
        Ok(report)
    }

    /// Plans the repair of what `report` found (without acting).
    pub fn plan(&self, report: &Report, force: bool) -> Result<Plan> {
        let mut scratch = Report::default();
        let (graph, _) = self.read_records(&mut scratch)?;
        let mounted = self.mounted_rw_layers(&graph);
        Ok(plan::build(&graph, &report.findings, force, &mounted))
    }

    /// Checks, then repairs in passes (each plan handed to `on_plan` with the report it was made
    /// from, before it runs), checking again after each, until nothing more can be done. Needs a
    /// writable open.
    pub fn repair(
        &mut self,
        opts: &CheckOptions,
        force: bool,
        mut on_plan: impl FnMut(&Report, &Plan),
    ) -> Result<Session> {
        if self.is_read_only() {
            return Err(crate::StoreError::ReadOnly(self.root.clone()));
        }
        let first = self.check(opts)?;
        let mut last = first.clone();
        let mut passes = Vec::new();
        for _ in 0..MAX_PASSES {
            if last.is_clean() {
                break;
            }
            let plan = self.plan(&last, force)?;
            if plan.actions.is_empty() {
                break;
            }
            on_plan(&last, &plan);
            let outcomes = repair::execute(&self.meta, self.driver.as_ref(), &plan);
            let progressed = outcomes.iter().any(|o| o.result.is_ok());
            passes.push((plan, outcomes));
            last = self.check(opts)?;
            if !progressed {
                break;
            }
        }
        Ok(Session {
            first,
            passes,
            last,
        })
    }

    /// Every record, decodable or not; unreadable mount records are a finding.
    fn read_records(&self, report: &mut Report) -> Result<(Graph, Vec<metadata::PendingRecord>)> {
        let raw = self
            .meta
            .layers_raw()?
            .into_iter()
            .map(|(k, r)| (k, r.map_err(|e| e.to_string())))
            .collect();
        let mut mounts = Vec::new();
        match self.meta.mounts_raw() {
            Ok(raw) => {
                for (name, record) in raw {
                    match record {
                        Ok(m) => mounts.push(m),
                        Err(e) => report.push(
                            Finding::new(
                                codes::MOUNT_RECORD_UNDECODABLE,
                                &name,
                                format!("the read-write layer record does not decode: {e}"),
                            )
                            .fix(Hint::DropMountRecord { name: name.clone() }),
                        ),
                    }
                }
            }
            Err(e) => report.push(Finding::new(
                codes::MOUNT_RECORDS_UNREADABLE,
                self.meta.path().display().to_string(),
                format!("the read-write layer records cannot be read: {e}"),
            )),
        }
        // An undecodable pending record still names its directory (the key): it is rolled back
        // like any other, its process unknown (pid 0).
        let pending = self
            .meta
            .pending_raw()?
            .into_iter()
            .map(|(key, record)| {
                record.unwrap_or(metadata::PendingRecord {
                    cache_id: key,
                    pid: 0,
                    started_unix_nanos: 0,
                })
            })
            .collect();
        for (key, chunks) in self.meta.orphan_tar_split()? {
            report.push(
                Finding::new(
                    codes::TAR_SPLIT_ORPHAN,
                    &key,
                    format!("{chunks} tar-split chunk(s) stored for a layer that has no record"),
                )
                .fix(Hint::RemoveOrphanTarSplit { key: key.clone() }),
            );
        }
        Ok((Graph::new(raw, mounts), pending))
    }

    /// redb's integrity check: on the file itself when open for writing, on a copy when nobody
    /// writes the store, skipped (with a note) beside a live writer.
    fn check_database(&mut self, live_writer: bool, report: &mut Report) {
        let path = self.root.join(metadata::DB_FILE).display().to_string();
        let result = if !self.meta.is_read_only() {
            // The store's own file, or a recovered copy of it.
            self.meta.check_integrity()
        } else if live_writer {
            report
                .notes
                .push("the database integrity check was skipped: a writer is running".to_owned());
            return;
        } else {
            match open::check_copy_integrity(&self.root) {
                Ok(r) => r,
                Err(e) => {
                    report
                        .notes
                        .push(format!("the database integrity check could not run: {e}"));
                    return;
                }
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) if !self.is_read_only() => {
                report.counters.database_repaired = true;
                report
                    .notes
                    .push(format!("redb found damage in {path} and repaired it"));
            }
            Ok(false) => report.push(
                Finding::new(
                    codes::DATABASE_CORRUPT,
                    &path,
                    "the database file fails redb's integrity check; redb can repair it \
                     (run with --repair)",
                )
                .fix(Hint::None),
            ),
            Err(e) => report.push(Finding::new(
                codes::DATABASE_CORRUPT,
                &path,
                format!("the database file fails redb's integrity check: {e}"),
            )),
        }
    }

    /// Stale mounts under the root.
    fn check_mounts(
        &self,
        graph: &Graph,
        pending: &[metadata::PendingRecord],
        report: &mut Report,
    ) {
        let mut known: BTreeSet<String> =
            graph.layers.values().map(|r| r.cache_id.clone()).collect();
        for m in graph.mounts.values() {
            known.insert(m.mount_id.clone());
            known.extend(m.init_id.clone());
        }
        known.extend(pending.iter().map(|p| p.cache_id.clone()));
        let home = self.root.join(self.driver.name());
        match layout::stale_mounts(&self.root, &home, &known, &mut report.counters.mounts_seen) {
            Ok(found) => report.findings.extend(found),
            Err(e) => report
                .notes
                .push(format!("mounts could not be checked: {e}")),
        }
    }

    /// Read-write layers with something mounted in their directory now.
    fn mounted_rw_layers(&self, graph: &Graph) -> BTreeSet<String> {
        let home = self.root.join(self.driver.name());
        let home = home.canonicalize().unwrap_or(home);
        let Ok(mounts) = graphdriver::mountinfo::mounts_under(&home) else {
            return BTreeSet::new();
        };
        graph
            .mounts
            .values()
            .filter(|m| {
                let dir = home.join(&m.mount_id);
                mounts.iter().any(|mi| mi.mount_point.starts_with(&dir))
            })
            .map(|m| m.name.clone())
            .collect()
    }

    /// Beside a live writer, drops directory findings that a second look no longer confirms (the
    /// writer finished a creation or a removal meanwhile).
    fn confirm(&self, report: &mut Report) -> Result<()> {
        let listing = self.driver.layers()?;
        let mut scratch = Report::default();
        let (graph, pending) = self.read_records(&mut scratch)?;
        let mut named: BTreeSet<&str> =
            graph.layers.values().map(|r| r.cache_id.as_str()).collect();
        for m in graph.mounts.values() {
            named.insert(&m.mount_id);
            named.extend(m.init_id.as_deref());
        }
        named.extend(pending.iter().map(|p| p.cache_id.as_str()));
        let complete = |id: &str| listing.iter().find(|l| l.id == id).map(|l| l.complete);
        let home = self.root.join(self.driver.name());
        let home = home.canonicalize().unwrap_or(home);
        // A mount below a directory the records name now (a read-write layer created and
        // mounted meanwhile) is accounted for.
        let mount_known = |path: &str| {
            Path::new(path).strip_prefix(&home).is_ok_and(|rel| {
                rel.components()
                    .take(2)
                    .filter_map(|c| c.as_os_str().to_str())
                    .any(|name| named.contains(name))
            })
        };
        let still = |f: &Finding| -> bool {
            match f.code {
                codes::ORPHAN_DIR | codes::STAGING_LEFTOVER => {
                    !named.contains(f.object.as_str()) && complete(&f.object).is_some()
                }
                codes::LAYER_DIR_MISSING | codes::LAYER_DIR_INCOMPLETE => {
                    match metadata::ChainId::parse(&f.object)
                        .ok()
                        .and_then(|id| graph.layers.get(&id))
                    {
                        None => false,
                        Some(r) => {
                            let now = complete(&r.cache_id);
                            if f.code == codes::LAYER_DIR_MISSING {
                                now.is_none()
                            } else {
                                now == Some(false)
                            }
                        }
                    }
                }
                codes::STALE_MOUNT => !mount_known(&f.object),
                _ => true,
            }
        };
        report.findings.retain(still);
        Ok(())
    }

    /// Reassembles every sound, committed layer on the configured threads.
    fn check_deep(&self, graph: &Graph, opts: &CheckOptions, report: &mut Report) {
        let damaged: BTreeSet<&str> = report
            .findings
            .iter()
            .filter(|f| matches!(f.hint, Hint::Damaged { .. }))
            .map(|f| f.object.as_str())
            .collect();
        let items: Vec<DeepItem> = graph
            .layers
            .values()
            .filter(|r| r.state == LayerState::Committed && !damaged.contains(r.chain_id.as_str()))
            .map(|r| DeepItem {
                chain_id: r.chain_id.clone(),
                diff_id: r.diff_id.clone(),
                cache_id: r.cache_id.clone(),
                size: r.size,
            })
            .collect();
        let jobs = if opts.jobs == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.jobs
        };
        let outcome = deep::deep_check(
            &self.meta,
            self.driver.as_ref(),
            items,
            jobs,
            opts.progress.as_deref(),
        );
        report.counters.deep_layers = outcome.layers;
        report.counters.deep_bytes = outcome.bytes;
        report.findings.extend(outcome.findings);
    }
}

/// Marks damaged layers that other layers or read-write layers stand on: removing them takes
/// those too, which only `force` allows.
fn mark_needs_force(graph: &Graph, report: &mut Report) {
    for f in &mut report.findings {
        if let Hint::Damaged { key } = &f.hint {
            let (layers, mounts) = graph.descendants(key);
            f.needs_force = !layers.is_empty() || !mounts.is_empty();
        }
    }
}
